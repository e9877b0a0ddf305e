//! EventManager: querying vCenter's event history and event collectors.
//!
//! Owns: [`EventFilterSpec`] (named after, and written as, vSphere's
//! EventFilterSpec: elements in XSD order, or vCenter rejects the request),
//! [`VcEvent`] parsing, and the client-side rules that
//! make results reliable: QueryEvents is always sent with `maxCount=1000`
//! (govmomi's simulator ignores the time filter and returns a capped page in
//! no useful order, and real vCenters cap pages too), then events are
//! filtered by time and sorted by key here. Event keys are int32 on the wire
//! and may wrap; sorting unwraps them. Must not: map events to vcgate's
//! Event model (that is `normalize`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ManagedObjectRef;
use super::client::Client;
use super::error::VsphereError;
use super::soap::Body;
use super::xml::Element;

/// Page size sent with every QueryEvents (the server's maximum).
pub const QUERY_PAGE: i32 = 1000;

/// A reference to an entity inside an event, with the name vCenter recorded
/// at the time of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRef {
    /// MOID, e.g. `vm-42` (the type is implied by the field it sits in).
    pub moref: String,
    pub name: String,
}

/// One vCenter event: the fields vcgate uses, and the whole element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcEvent {
    pub key: i64,
    /// Concrete class from `xsi:type`, e.g. `VmCreatedEvent`.
    pub class: String,
    /// `eventTypeId` of EventEx/ExtendedEvent (`com.vmware.vc.…`); their
    /// class alone says little.
    pub event_type_id: Option<String>,
    pub created_time: OffsetDateTime,
    /// Empty user names (system events) are `None`.
    pub user_name: Option<String>,
    /// `fullFormattedMessage`.
    pub message: Option<String>,
    pub chain_id: Option<i64>,
    pub datacenter: Option<NamedRef>,
    pub compute_resource: Option<NamedRef>,
    pub host: Option<NamedRef>,
    pub vm: Option<NamedRef>,
    pub datastore: Option<NamedRef>,
    /// `VmDeployedEvent.srcTemplate`.
    pub src_template: Option<NamedRef>,
    /// `VmClonedEvent.sourceVm`.
    pub source_vm: Option<NamedRef>,
    /// `AlarmEvent.alarm`.
    pub alarm: Option<NamedRef>,
    /// `AlarmStatusChangedEvent.entity` (the object whose alarm changed).
    pub entity: Option<NamedRef>,
    /// `AlarmStatusChangedEvent.from` / `.to` (`green`, `yellow`, `red`, `gray`).
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// The whole event element as received, for consumers that need more
    /// than the fields above (VEBA's `data` is the entire event). It is the
    /// answer's own subtree, moved here, so it is bounded by the answer's
    /// limits (`xml::MAX_DEPTH`, the tree budget of `max_response`).
    pub tree: Element,
}

/// `EventFilterSpec.entity.recursion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventRecursion {
    /// The entity itself only.
    SelfOnly,
    /// Its children only.
    Children,
    /// The entity and all its descendants.
    #[default]
    All,
}

impl EventRecursion {
    fn wire(self) -> &'static str {
        match self {
            EventRecursion::SelfOnly => "self",
            EventRecursion::Children => "children",
            EventRecursion::All => "all",
        }
    }
}

/// What to ask the EventManager for (vSphere's `EventFilterSpec`; not the
/// store's `EventQuery`, which lists stored events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilterSpec {
    /// Only events about this entity (and, per `recursion`, its descendants).
    pub entity: Option<ManagedObjectRef>,
    pub recursion: EventRecursion,
    /// Inclusive bounds on `createdTime`; also enforced client-side.
    pub begin_time: Option<OffsetDateTime>,
    pub end_time: Option<OffsetDateTime>,
    /// Only these classes (base classes match subclasses, e.g. `VmEvent`).
    pub event_type_ids: Vec<String>,
    /// Only this event chain; enforced client-side too.
    pub chain_id: Option<i64>,
    /// Keep at most this many events — the newest ones — after filtering.
    pub max_count: Option<usize>,
}

impl EventFilterSpec {
    /// Writes `<filter>` (EventFilterSpec) in XSD order: entity, time,
    /// userName, eventChainId, alarm, scheduledTask, disableFullMessage,
    /// category, type, tag, eventTypeId, maxCount. `type` is never sent: it
    /// must not be combined with `eventTypeId`.
    pub(crate) fn write_filter(
        &self,
        body: &mut Body,
        max_count: Option<i32>,
    ) -> Result<(), VsphereError> {
        body.open("filter");
        if let Some(entity) = &self.entity {
            body.open("entity")
                .moref("entity", entity)
                .text("recursion", self.recursion.wire())
                .close("entity");
        }
        if self.begin_time.is_some() || self.end_time.is_some() {
            body.open("time");
            if let Some(t) = self.begin_time {
                body.text("beginTime", format_time(t)?);
            }
            if let Some(t) = self.end_time {
                body.text("endTime", format_time(t)?);
            }
            body.close("time");
        }
        if let Some(chain) = self.chain_id {
            body.text("eventChainId", chain);
        }
        for id in &self.event_type_ids {
            body.text("eventTypeId", id);
        }
        if let Some(n) = max_count {
            body.text("maxCount", n);
        }
        body.close("filter");
        Ok(())
    }

    /// Client-side filter: time bounds and chain id.
    fn matches(&self, e: &VcEvent) -> bool {
        self.begin_time.is_none_or(|t| e.created_time >= t)
            && self.end_time.is_none_or(|t| e.created_time <= t)
            && self.chain_id.is_none_or(|c| e.chain_id == Some(c))
    }
}

fn format_time(t: OffsetDateTime) -> Result<String, VsphereError> {
    t.format(&Rfc3339)
        .map_err(|e| VsphereError::Protocol(format!("cannot format time {t}: {e}")))
}

/// Parses `2026-11-25T11:48:29.222399169Z`; tolerates a missing zone (UTC).
fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()
}

impl VcEvent {
    /// Parses one event element (`returnval` of QueryEvents/ReadNextEvents).
    /// `None` when key or createdTime is missing or malformed.
    pub fn parse(el: &Element) -> Option<VcEvent> {
        Self::from_element(el.clone())
    }

    /// [`VcEvent::parse`], keeping `el` itself as the event's tree.
    pub fn from_element(el: Element) -> Option<VcEvent> {
        let mut event = Self::fields(&el)?;
        event.tree = el;
        Some(event)
    }

    fn fields(el: &Element) -> Option<VcEvent> {
        let text = |name: &str| {
            el.child_text(name)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        // An event argument is `<tag><name>N</name><inner type="T">moid</inner></tag>`.
        let arg = |tag: &str, inner: &str| -> Option<NamedRef> {
            let a = el.child(tag)?;
            Some(NamedRef {
                moref: a.child_text(inner)?.trim().to_owned(),
                name: a.child_text("name").unwrap_or_default().to_owned(),
            })
        };
        Some(VcEvent {
            key: el.child("key")?.as_i64()?,
            class: el.xsi_type.clone().unwrap_or_else(|| "Event".to_owned()),
            event_type_id: text("eventTypeId"),
            created_time: parse_time(el.child_text("createdTime")?)?,
            user_name: text("userName"),
            message: text("fullFormattedMessage"),
            chain_id: el.child("chainId").and_then(Element::as_i64),
            datacenter: arg("datacenter", "datacenter"),
            compute_resource: arg("computeResource", "computeResource"),
            host: arg("host", "host"),
            vm: arg("vm", "vm"),
            datastore: arg("ds", "datastore"),
            src_template: arg("srcTemplate", "vm"),
            source_vm: arg("sourceVm", "vm"),
            alarm: arg("alarm", "alarm"),
            entity: arg("entity", "entity"),
            from_status: text("from"),
            to_status: text("to"),
            tree: Element::default(),
        })
    }
}

/// Parses every `returnval` event, skipping (and logging) malformed ones.
fn parse_events(res: Element) -> Vec<VcEvent> {
    res.children
        .into_iter()
        .filter(|el| el.name == "returnval")
        .filter_map(|el| {
            let class = el.xsi_type.clone();
            let ev = VcEvent::from_element(el);
            if ev.is_none() {
                tracing::warn!(?class, "skipping event without key or createdTime");
            }
            ev
        })
        .collect()
}

/// Sorts by key in posting order, even across an int32 wrap: when the keys
/// span more than half the int32 range, negative keys are the newer ones.
pub fn sort_by_key(events: &mut [VcEvent]) {
    let (min, max) = events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| {
        (lo.min(e.key), hi.max(e.key))
    });
    let wrapped = !events.is_empty() && max - min > i64::from(i32::MAX);
    events.sort_by_key(|e| {
        if wrapped && e.key < 0 {
            e.key + (1i64 << 32)
        } else {
            e.key
        }
    });
}

impl Client {
    fn event_manager(sc: &super::ServiceContent) -> Result<ManagedObjectRef, VsphereError> {
        sc.event_manager
            .clone()
            .ok_or_else(|| VsphereError::Protocol("server has no EventManager".into()))
    }

    /// QueryEvents with `maxCount=1000`, then time/chain filtering, key order
    /// (oldest first) and `max_count` (newest kept) applied here.
    pub async fn query_events(
        &self,
        query: &EventFilterSpec,
    ) -> Result<Vec<VcEvent>, VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("QueryEvents", &Self::event_manager(&sc)?);
        query.write_filter(&mut body, Some(QUERY_PAGE))?;
        let res = self.invoke(body).await?;
        let mut events: Vec<VcEvent> = parse_events(res)
            .into_iter()
            .filter(|e| query.matches(e))
            .collect();
        sort_by_key(&mut events);
        if let Some(n) = query.max_count {
            let drop = events.len().saturating_sub(n);
            events.drain(..drop);
        }
        Ok(events)
    }

    /// CreateCollectorForEvents. The caller must [`Client::destroy_collector`]
    /// it: vCenter allows only a few per session. A collector belongs to the
    /// session: after a transparent re-login (session expired, vCenter
    /// restarted) it is gone and calls on it fail with
    /// [`VsphereError::ManagedObjectNotFound`]; create a new one and resume
    /// from your own checkpoint.
    pub async fn create_event_collector(
        &self,
        query: &EventFilterSpec,
    ) -> Result<ManagedObjectRef, VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("CreateCollectorForEvents", &Self::event_manager(&sc)?);
        let page = query
            .max_count
            .map(|n| i32::try_from(n.min(QUERY_PAGE as usize)).unwrap_or(QUERY_PAGE));
        query.write_filter(&mut body, page)?;
        let res = self.invoke(body).await?;
        Self::returnval(&res, "CreateCollectorForEvents")?
            .as_moref()
            .ok_or_else(|| VsphereError::Protocol("CreateCollectorForEvents: no collector".into()))
    }

    /// ReadNextEvents: up to `max` events after the collector's position,
    /// the page sorted by key (wrap-aware; vCenter already sends them in
    /// order, the simulator does not). Empty when there is nothing new. The
    /// time filter is not re-applied here (the simulator ignores it).
    pub async fn read_next_events(
        &self,
        collector: &ManagedObjectRef,
        max: i32,
    ) -> Result<Vec<VcEvent>, VsphereError> {
        let mut body = Body::new("ReadNextEvents", collector);
        body.text("maxCount", max.max(1));
        let res = self.invoke(body).await?;
        let mut events = parse_events(res);
        sort_by_key(&mut events);
        Ok(events)
    }

    /// DestroyCollector.
    pub async fn destroy_collector(
        &self,
        collector: &ManagedObjectRef,
    ) -> Result<(), VsphereError> {
        self.invoke(Body::new("DestroyCollector", collector))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml;
    use time::macros::datetime;

    const XSI: &str = r#"xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance""#;

    // Captured from the simulator (QueryEvents answers), one per shape.
    fn created() -> String {
        format!(
            concat!(
                r#"<returnval {} XMLSchema-instance:type="VmCreatedEvent"><key>5</key><chainId>5</chainId>"#,
                r#"<createdTime>2026-11-25T11:48:12.744662356Z</createdTime><userName></userName>"#,
                r#"<datacenter><name>DC0</name><datacenter type="Datacenter">datacenter-2</datacenter></datacenter>"#,
                r#"<computeResource><name>DC0_H0</name><computeResource type="ComputeResource">computeresource-23</computeResource></computeResource>"#,
                r#"<host><name>DC0_H0</name><host type="HostSystem">host-21</host></host>"#,
                r#"<vm><name>DC0_H0_VM0</name><vm type="VirtualMachine">vm-57</vm></vm>"#,
                r#"<fullFormattedMessage>Created virtual machine DC0_H0_VM0 on DC0_H0 in DC0</fullFormattedMessage>"#,
                r#"<template>false</template><futureField><x>1</x></futureField></returnval>"#
            ),
            XSI
        )
    }

    fn deployed() -> String {
        format!(
            concat!(
                r#"<returnval {} XMLSchema-instance:type="VmDeployedEvent"><key>29</key><chainId>29</chainId>"#,
                r#"<createdTime>2026-11-25T11:48:38.949519848Z</createdTime><userName>alice</userName>"#,
                r#"<vm><name>DC0_H0_VM0</name><vm type="VirtualMachine">vm-57</vm></vm>"#,
                r#"<fullFormattedMessage>Template DC0_H0_VM1 deployed on host DC0_H0</fullFormattedMessage>"#,
                r#"<template>false</template><srcTemplate><name>DC0_H0_VM1</name><vm type="VirtualMachine">vm-60</vm></srcTemplate></returnval>"#
            ),
            XSI
        )
    }

    // Shape from the vSphere API reference (the simulator has no alarms).
    const ALARM: &str = concat!(
        r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AlarmStatusChangedEvent">"#,
        r#"<key>-2147483000</key><chainId>-2147483000</chainId><createdTime>2026-11-25T12:00:00Z</createdTime>"#,
        r#"<userName>  </userName><alarm><name>Host connection state</name><alarm type="Alarm">alarm-7</alarm></alarm>"#,
        r#"<source><name>Datacenters</name><entity type="Folder">group-d1</entity></source>"#,
        r#"<entity><name>esx1</name><entity type="HostSystem">host-9</entity></entity>"#,
        r#"<from>green</from><to>red</to></returnval>"#
    );

    fn parse(s: &str) -> VcEvent {
        VcEvent::parse(&xml::parse(s).unwrap()).unwrap()
    }

    #[test]
    fn parses_vm_created_event_ignoring_unknown_children() {
        let e = parse(&created());
        assert_eq!(e.key, 5);
        assert_eq!(e.class, "VmCreatedEvent");
        assert_eq!(e.created_time, datetime!(2026-11-25 11:48:12.744662356 UTC));
        assert_eq!(e.user_name, None);
        assert_eq!(
            e.vm,
            Some(NamedRef {
                moref: "vm-57".into(),
                name: "DC0_H0_VM0".into()
            })
        );
        assert_eq!(e.host.unwrap().moref, "host-21");
        assert_eq!(e.compute_resource.unwrap().name, "DC0_H0");
        assert_eq!(e.datacenter.unwrap().moref, "datacenter-2");
        assert_eq!(
            e.message.as_deref(),
            Some("Created virtual machine DC0_H0_VM0 on DC0_H0 in DC0")
        );
    }

    #[test]
    fn parses_deployed_and_alarm_events() {
        let d = parse(&deployed());
        assert_eq!(d.class, "VmDeployedEvent");
        assert_eq!(d.user_name.as_deref(), Some("alice"));
        assert_eq!(d.src_template.unwrap().name, "DC0_H0_VM1");
        let a = parse(ALARM);
        assert_eq!(a.class, "AlarmStatusChangedEvent");
        assert_eq!(a.key, -2147483000);
        assert_eq!(a.user_name, None);
        assert_eq!(a.alarm.unwrap().moref, "alarm-7");
        assert_eq!(a.entity.unwrap().name, "esx1");
        assert_eq!(a.from_status.as_deref(), Some("green"));
        assert_eq!(a.to_status.as_deref(), Some("red"));
    }

    #[test]
    fn skips_malformed_events() {
        let res = xml::parse(&format!(
            r#"<QueryEventsResponse>{}<returnval><key>x</key></returnval><returnval><key>1</key><createdTime>yesterday</createdTime></returnval></QueryEventsResponse>"#,
            created()
        ))
        .unwrap();
        let events = parse_events(res);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn filter_elements_follow_xsd_order_and_are_escaped() {
        let q = EventFilterSpec {
            entity: Some(ManagedObjectRef::new("HostSystem", "host-21")),
            recursion: EventRecursion::SelfOnly,
            begin_time: Some(datetime!(2026-01-01 00:00 UTC)),
            end_time: Some(datetime!(2026-01-02 00:00 UTC)),
            event_type_ids: vec!["VmCreatedEvent".into(), "a<b".into()],
            chain_id: Some(7),
            max_count: Some(5),
        };
        let mut body = Body::new(
            "QueryEvents",
            &ManagedObjectRef::new("EventManager", "EventManager"),
        );
        q.write_filter(&mut body, Some(QUERY_PAGE)).unwrap();
        let s = body.finish();
        let filter = s.split_once("<filter>").unwrap().1;
        let order: Vec<usize> = [
            "<entity>",
            "<recursion>self<",
            "<time>",
            "<beginTime>2026-01-01T00:00:00Z<",
            "<endTime>",
            "<eventChainId>7<",
            "<eventTypeId>VmCreatedEvent<",
            "<eventTypeId>a&lt;b<",
            "<maxCount>1000<",
        ]
        .iter()
        .map(|tag| {
            filter
                .find(tag)
                .unwrap_or_else(|| panic!("{tag} missing in {s}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{s}");
        assert!(!filter.contains("<type>"));
        // The whole envelope must stay well-formed.
        xml::parse(&crate::vsphere::soap::envelope(&s)).unwrap();
    }

    #[test]
    fn client_side_filter_and_wrap_aware_sort() {
        let mut events: Vec<VcEvent> = [i32::MAX as i64 - 1, -2147483000, i32::MAX as i64, 10]
            .iter()
            .map(|&k| VcEvent {
                key: k,
                ..parse(&created())
            })
            .collect();
        // The batch spans > 2^31, so it is read as a wrap: the negative key
        // came after i32::MAX; small positive keys are from long before.
        sort_by_key(&mut events);
        let keys: Vec<i64> = events.iter().map(|e| e.key).collect();
        assert_eq!(keys, vec![10, 2147483646, 2147483647, -2147483000]);

        let mut plain: Vec<VcEvent> = [3, 1, 2]
            .iter()
            .map(|&k| VcEvent {
                key: k,
                ..parse(&created())
            })
            .collect();
        sort_by_key(&mut plain);
        assert_eq!(
            plain.iter().map(|e| e.key).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );

        let e = parse(&created());
        let q = |b, en| EventFilterSpec {
            begin_time: b,
            end_time: en,
            ..EventFilterSpec::default()
        };
        assert!(q(Some(e.created_time), Some(e.created_time)).matches(&e));
        assert!(!q(Some(e.created_time + time::Duration::NANOSECOND), None).matches(&e));
        assert!(!q(None, Some(e.created_time - time::Duration::SECOND)).matches(&e));
    }
}
