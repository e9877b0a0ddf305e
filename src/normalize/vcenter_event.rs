//! vCenter event (from the event-stream source, [`VcEvent`]) → `Event`.
//!
//! Owns: the type (Dispatch naming of the class; EventEx/ExtendedEvent by
//! their `eventTypeId`), the subject entity (the alarm's entity for alarm
//! events, else VM, host, datastore, compute resource, datacenter — the most
//! specific object the event names), `alarm` for alarm status events, a
//! Dispatch-style category, metadata, and the `delivery_id` that makes a
//! replay idempotent. The facts shared with enrichment (user, key, time,
//! message, the VM/host/datacenter/template metadata) are copied by
//! [`super::trigger::apply`], so a hook alarm enriched from vCenter and the same
//! event read from the stream carry the same fields.
//!
//! `raw` keeps the parsed event for audit and the whole vCenter event in
//! VEBA's shape (`raw.event`), so VEBA-format functions get all of it.
//!
//! Dedup: an `AlarmStatusChangedEvent` becomes an event whose identity
//! (`Event::dedup_identity`: vcenter, entity name, alarm name, new status) is
//! the one the hook and a trap produce for the same transition, so the
//! pipeline merges them. Pure: no I/O.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::model::{
    Alarm, EntityKind, Event, EventType, Moref, RawPayload, Source, StatusText, format_rfc3339,
};
use crate::vsphere::{NamedRef, VcEvent};

/// Classes whose `eventTypeId` names the event better than the class does.
const EXTENDED_CLASSES: &[&str] = &["EventEx", "ExtendedEvent"];

/// Idempotency key of one vCenter event: vCenter name, event key and creation
/// time. The key alone is not enough: it is an int32 that wraps, and starts
/// over when a vCenter's event history is reset; the pair never repeats.
pub fn delivery_id(vcenter: &str, event: &VcEvent) -> String {
    format!(
        "{vcenter}:{}:{}",
        event.key,
        format_rfc3339(event.created_time)
    )
}

/// Dispatch-compatible type: the class name (`VmClonedEvent` → `vm.cloned`);
/// for EventEx/ExtendedEvent the `eventTypeId`, each dot-separated part named
/// the same way (`com.vmware.vc.HA.ClusterFailoverEvent` →
/// `com.vmware.vc.ha.cluster.failover`, `esx.problem.net.down` unchanged).
pub fn event_type(event: &VcEvent) -> EventType {
    type_for(&event.class, event.event_type_id.as_deref())
}

/// [`event_type`] from a class name and the `eventTypeId` it may carry.
pub fn type_for(class: &str, event_type_id: Option<&str>) -> EventType {
    if EXTENDED_CLASSES.contains(&class)
        && let Some(id) = event_type_id
    {
        let words: Vec<String> = id
            .split('.')
            .filter(|part| part.chars().any(|c| c.is_ascii_alphanumeric()))
            .map(|part| EventType::from_vcenter_class(part).as_str().to_owned())
            .collect();
        if let Ok(t) = EventType::parse(&words.join(".")) {
            return t;
        }
    }
    EventType::from_vcenter_class(class)
}

/// Entity kind of a reference: from its MOID prefix (vCenter's and the
/// simulator's conventions), else from the event field it was found in.
fn kind_of(moref: &str, field_kind: EntityKind) -> EntityKind {
    if moref.starts_with("clustercomputeresource-") {
        return EntityKind::ClusterComputeResource;
    }
    Moref::parse(moref)
        .and_then(|m| m.entity_kind())
        .unwrap_or(field_kind)
}

/// The object the event is about: the alarm's entity for alarm events, else
/// the most specific reference the event carries.
fn subject(event: &VcEvent) -> Option<(EntityKind, &NamedRef)> {
    let fields: [(Option<&NamedRef>, EntityKind); 6] = [
        (event.entity.as_ref(), EntityKind::Other),
        (event.vm.as_ref(), EntityKind::VirtualMachine),
        (event.host.as_ref(), EntityKind::HostSystem),
        (event.datastore.as_ref(), EntityKind::Datastore),
        (event.compute_resource.as_ref(), EntityKind::ComputeResource),
        (event.datacenter.as_ref(), EntityKind::Datacenter),
    ];
    fields.into_iter().find_map(|(r, kind)| {
        let r = r.filter(|r| !r.moref.is_empty())?;
        // An alarm entity's kind: prefix, else whichever field names the same object.
        let kind = if kind == EntityKind::Other {
            let same = |f: &Option<NamedRef>| f.as_ref().is_some_and(|x| x.moref == r.moref);
            let by_field = if same(&event.vm) {
                EntityKind::VirtualMachine
            } else if same(&event.host) {
                EntityKind::HostSystem
            } else if same(&event.datastore) {
                EntityKind::Datastore
            } else if same(&event.compute_resource) {
                EntityKind::ComputeResource
            } else if same(&event.datacenter) {
                EntityKind::Datacenter
            } else {
                EntityKind::Other
            };
            kind_of(&r.moref, by_field)
        } else {
            kind_of(&r.moref, kind)
        };
        Some((kind, r))
    })
}

/// Dispatch's categories are `info`, `warning`, `error` (and `user`). Without
/// vCenter's per-class descriptions: alarm colour for alarm status events,
/// the class name's wording otherwise.
fn category(event: &VcEvent, alarm: Option<&Alarm>) -> &'static str {
    if let Some(status) = alarm.and_then(|a| a.new_status.as_ref()) {
        return super::alarm_hook::category_for(status);
    }
    let class = event.event_type_id.as_deref().unwrap_or(&event.class);
    let lower = class.to_ascii_lowercase();
    if ["failed", "error", "lost", "problem", "failure"]
        .iter()
        .any(|w| lower.contains(w))
    {
        "error"
    } else if ["warning", "degraded"].iter().any(|w| lower.contains(w)) {
        "warning"
    } else {
        "info"
    }
}

/// Maps one vCenter event of `vcenter` (the configured name) to an Event.
pub fn normalize(vcenter: &str, vc: &VcEvent, received_at: OffsetDateTime) -> Event {
    let mut event = Event::unfingerprinted(Source::VcenterEvents, vcenter, event_type(vc));
    event.received_at = received_at;
    if let Some((kind, r)) = subject(vc) {
        event.entity.kind = Some(kind);
        event.entity.moref = Moref::parse(&r.moref);
        event.entity.name = Some(r.name.clone()).filter(|n| !n.is_empty());
    }
    // user, event_key, time, message, VM/host/datacenter/template metadata.
    super::trigger::apply(&mut event, vc);
    if event.entity.name.as_deref() == Some("") {
        event.entity.name = None; // vCenter sends empty names for some objects
    }

    if let Some(alarm) = &vc.alarm {
        event.alarm = Some(Alarm {
            name: Some(alarm.name.clone()).filter(|n| !n.is_empty()),
            moref: Moref::parse(&alarm.moref),
            old_status: vc.from_status.as_deref().map(StatusText::parse),
            new_status: vc.to_status.as_deref().map(StatusText::parse),
        });
    }
    event.category = Some(category(vc, event.alarm.as_ref()).to_owned());
    add_metadata(&mut event.metadata, vc);

    event.delivery_id = Some(delivery_id(vcenter, vc));
    event.raw = RawPayload::encode(&raw(vc));
    event.fingerprint = event.compute_fingerprint();
    event
}

/// The related objects' ids, the cluster, the alarm, the subject and the
/// status change, as metadata (empty values left out).
fn add_metadata(meta: &mut Map<String, Value>, vc: &VcEvent) {
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            meta.insert(key.to_owned(), Value::String(v.to_owned()));
        }
    };
    fn id(r: &Option<NamedRef>) -> Option<&str> {
        r.as_ref().map(|r| r.moref.as_str())
    }
    put("host_id", id(&vc.host));
    put("datacenter_id", id(&vc.datacenter));
    put("compute_resource_id", id(&vc.compute_resource));
    put("datastore_id", id(&vc.datastore));
    if let Some(cr) = &vc.compute_resource
        && kind_of(&cr.moref, EntityKind::ComputeResource) == EntityKind::ClusterComputeResource
    {
        put("cluster", Some(&cr.name));
        put("cluster_id", Some(&cr.moref));
    }
    if let Some(alarm) = &vc.alarm {
        put("alarm_name", Some(&alarm.name));
        put("alarm_id", Some(&alarm.moref));
    }
    if let Some(entity) = &vc.entity {
        put("entity_name", Some(&entity.name));
        put("entity_id", Some(&entity.moref));
    }
    put("from", vc.from_status.as_deref());
    put("to", vc.to_status.as_deref());
    put("event_type_id", vc.event_type_id.as_deref());
    put("message", vc.message.as_deref());
    if let Some(chain) = vc.chain_id {
        meta.insert("chain_id".into(), Value::from(chain));
    }
}

/// The parsed vCenter event, for audit, and under `event` the whole event as
/// VEBA serialises it (its `data`; see [`crate::veba::data`]). The SOAP XML
/// itself is not kept.
fn raw(vc: &VcEvent) -> Value {
    let named = |r: &Option<NamedRef>| {
        r.as_ref()
            .map(|r| json!({"name": r.name, "moref": r.moref}))
            .unwrap_or(Value::Null)
    };
    let mut out = Map::new();
    out.insert("key".into(), json!(vc.key));
    out.insert("class".into(), json!(vc.class));
    out.insert("createdTime".into(), json!(format_rfc3339(vc.created_time)));
    let fields = [
        ("eventTypeId", vc.event_type_id.as_ref().map(|s| json!(s))),
        ("userName", vc.user_name.as_ref().map(|s| json!(s))),
        (
            "fullFormattedMessage",
            vc.message.as_ref().map(|s| json!(s)),
        ),
        ("chainId", vc.chain_id.map(|c| json!(c))),
        ("datacenter", Some(named(&vc.datacenter))),
        ("computeResource", Some(named(&vc.compute_resource))),
        ("host", Some(named(&vc.host))),
        ("vm", Some(named(&vc.vm))),
        ("ds", Some(named(&vc.datastore))),
        ("srcTemplate", Some(named(&vc.src_template))),
        ("sourceVm", Some(named(&vc.source_vm))),
        ("alarm", Some(named(&vc.alarm))),
        ("entity", Some(named(&vc.entity))),
        ("from", vc.from_status.as_ref().map(|s| json!(s))),
        ("to", vc.to_status.as_ref().map(|s| json!(s))),
    ];
    for (key, value) in fields {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    if !vc.tree.name.is_empty() {
        out.insert(
            crate::veba::RAW_EVENT_KEY.into(),
            crate::veba::data::event_data(&vc.tree),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlarmStatus;
    use time::macros::datetime;

    fn named(moref: &str, name: &str) -> Option<NamedRef> {
        Some(NamedRef {
            moref: moref.into(),
            name: name.into(),
        })
    }

    fn base(key: i64, class: &str) -> VcEvent {
        VcEvent {
            key,
            class: class.into(),
            event_type_id: None,
            created_time: datetime!(2026-11-25 12:00:00.123456789 UTC),
            user_name: Some("VSPHERE.LOCAL\\alice".into()),
            message: Some("something happened".into()),
            chain_id: Some(key),
            datacenter: named("datacenter-2", "DC0"),
            compute_resource: named("clustercomputeresource-25", "DC0_C0"),
            host: named("host-30", "DC0_C0_H0"),
            vm: None,
            datastore: None,
            src_template: None,
            source_vm: None,
            alarm: None,
            entity: None,
            from_status: None,
            to_status: None,
            tree: Default::default(),
        }
    }

    #[test]
    fn vm_cloned_event_is_typed_and_fully_described() {
        let mut vc = base(42, "VmClonedEvent");
        vc.vm = named("vm-70", "clone-01");
        vc.source_vm = named("vm-57", "DC0_C0_RP0_VM0");
        vc.message = Some("Clone of DC0_C0_RP0_VM0 completed".into());
        let received = datetime!(2026-11-25 12:00:01 UTC);
        let e = normalize("vc1", &vc, received);
        assert_eq!(e.source, Source::VcenterEvents);
        assert_eq!(e.vcenter, "vc1");
        assert_eq!(e.event_type.as_str(), "vm.cloned");
        assert_eq!(e.entity.kind, Some(EntityKind::VirtualMachine));
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-70");
        assert_eq!(e.entity.name.as_deref(), Some("clone-01"));
        assert_eq!(e.user.as_deref(), Some("VSPHERE.LOCAL\\alice"));
        assert_eq!(e.event_key, Some(42));
        assert_eq!(e.time, Some(vc.created_time));
        assert_eq!(e.received_at, received);
        assert_eq!(e.category.as_deref(), Some("info"));
        assert_eq!(
            e.message.as_deref(),
            Some("Clone of DC0_C0_RP0_VM0 completed")
        );
        assert!(e.alarm.is_none());
        for (key, value) in [
            ("vm_name", "clone-01"),
            ("vm_id", "vm-70"),
            ("source_vm", "DC0_C0_RP0_VM0"),
            ("source_vm_id", "vm-57"),
            ("host", "DC0_C0_H0"),
            ("host_id", "host-30"),
            ("datacenter", "DC0"),
            ("cluster", "DC0_C0"),
            ("cluster_id", "clustercomputeresource-25"),
            ("vcenter_event_class", "VmClonedEvent"),
        ] {
            assert_eq!(e.metadata[key], value, "{key}");
        }
        assert_eq!(e.metadata["vcenter_event_key"], 42);
        assert_eq!(
            e.delivery_id.as_deref(),
            Some("vc1:42:2026-11-25T12:00:00.123456789Z")
        );
        assert_eq!(e.raw.to_value()["class"], "VmClonedEvent");
        assert_eq!(e.raw.to_value()["sourceVm"]["moref"], "vm-57");
        assert_eq!(e.fingerprint, e.compute_fingerprint());
    }

    #[test]
    fn host_cluster_and_datastore_events_name_their_subject() {
        let host = normalize(
            "vc1",
            &base(1, "EnteredMaintenanceModeEvent"),
            OffsetDateTime::now_utc(),
        );
        assert_eq!(host.event_type.as_str(), "entered.maintenance.mode");
        assert_eq!(host.entity.kind, Some(EntityKind::HostSystem));
        assert_eq!(host.entity.name.as_deref(), Some("DC0_C0_H0"));

        let mut ds = base(2, "DatastoreCapacityIncreasedEvent");
        ds.host = None;
        ds.datastore = named("datastore-61", "LocalDS_0");
        let ds = normalize("vc1", &ds, OffsetDateTime::now_utc());
        assert_eq!(ds.entity.kind, Some(EntityKind::Datastore));
        assert_eq!(ds.metadata["datastore"], "LocalDS_0");
        assert_eq!(ds.metadata["datastore_id"], "datastore-61");

        let mut cluster = base(3, "DasHostFailedEvent");
        cluster.host = None;
        let cluster = normalize("vc1", &cluster, OffsetDateTime::now_utc());
        assert_eq!(
            cluster.entity.kind,
            Some(EntityKind::ClusterComputeResource)
        );
        assert_eq!(cluster.entity.name.as_deref(), Some("DC0_C0"));
        assert_eq!(cluster.category.as_deref(), Some("error"));
        // Real vCenter MOIDs for clusters.
        let mut real = base(4, "ClusterReconfiguredEvent");
        real.host = None;
        real.compute_resource = named("domain-c7", "Prod");
        let real = normalize("vc1", &real, OffsetDateTime::now_utc());
        assert_eq!(real.entity.kind, Some(EntityKind::ClusterComputeResource));
        assert_eq!(real.metadata["cluster"], "Prod");
    }

    #[test]
    fn alarm_status_change_merges_with_the_hook_alarm() {
        let mut vc = base(-2_147_483_000, "AlarmStatusChangedEvent");
        vc.alarm = named("alarm-7", "Host connection state");
        vc.entity = named("host-30", "DC0_C0_H0");
        vc.from_status = Some("green".into());
        vc.to_status = Some("red".into());
        let e = normalize("vc1", &vc, OffsetDateTime::now_utc());
        assert_eq!(e.event_type.as_str(), "alarm.status.changed");
        assert_eq!(e.entity.kind, Some(EntityKind::HostSystem));
        let alarm = e.alarm.as_ref().unwrap();
        assert_eq!(alarm.name.as_deref(), Some("Host connection state"));
        assert_eq!(alarm.moref.as_ref().unwrap().as_str(), "alarm-7");
        assert_eq!(alarm.new_status.as_ref().unwrap().status, AlarmStatus::Red);
        assert_eq!(
            alarm.old_status.as_ref().unwrap().status,
            AlarmStatus::Green
        );
        assert_eq!(e.category.as_deref(), Some("error"));
        assert_eq!(e.metadata["alarm_name"], "Host connection state");
        assert_eq!(e.metadata["entity_name"], "DC0_C0_H0");
        assert_eq!(e.metadata["to"], "red");
        assert_eq!(e.event_key, Some(-2_147_483_000));

        let hook = crate::normalize::alarm_hook::normalize(
            &serde_json::to_vec(&json!({
                "delivery_id": "d-1",
                "vcenter": "vc1",
                "env": {
                    "VMWARE_ALARM_NAME": "Host connection state",
                    "VMWARE_ALARM_TARGET_NAME": "DC0_C0_H0",
                    "VMWARE_ALARM_OLDSTATUS": "Green",
                    "VMWARE_ALARM_NEWSTATUS": "Red",
                }
            }))
            .unwrap(),
            "vc1",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(e.dedup_identity(), hook.dedup_identity());
        // A different vCenter, alarm or colour is another identity.
        let mut yellow = vc.clone();
        yellow.to_status = Some("yellow".into());
        let yellow = normalize("vc1", &yellow, OffsetDateTime::now_utc());
        assert_ne!(yellow.dedup_identity(), hook.dedup_identity());
        assert_ne!(
            normalize("vc2", &vc, OffsetDateTime::now_utc()).dedup_identity(),
            hook.dedup_identity()
        );
    }

    #[test]
    fn extended_events_are_typed_by_event_type_id() {
        let mut vc = base(5, "EventEx");
        vc.event_type_id = Some("com.vmware.vc.HA.ClusterFailoverActionCompletedEvent".into());
        assert_eq!(
            event_type(&vc).as_str(),
            "com.vmware.vc.ha.cluster.failover.action.completed"
        );
        vc.event_type_id = Some("esx.problem.net.connectivity.lost".into());
        assert_eq!(
            event_type(&vc).as_str(),
            "esx.problem.net.connectivity.lost"
        );
        assert_eq!(
            normalize("vc1", &vc, OffsetDateTime::now_utc())
                .category
                .as_deref(),
            Some("error")
        );
        vc.event_type_id = Some("...".into());
        assert_eq!(event_type(&vc).as_str(), "ex");
    }

    #[test]
    fn delivery_id_differs_across_key_wrap_and_history_reset() {
        let a = base(5, "VmPoweredOnEvent");
        let mut later = a.clone();
        later.created_time += time::Duration::hours(1);
        assert_ne!(delivery_id("vc1", &a), delivery_id("vc1", &later));
        assert_eq!(delivery_id("vc1", &a), delivery_id("vc1", &a.clone()));
        assert_ne!(delivery_id("vc1", &a), delivery_id("vc2", &a));
    }

    #[test]
    fn sparse_events_still_get_metadata_and_no_empty_names() {
        let mut vc = base(9, "SessionTerminatedEvent");
        vc.datacenter = None;
        vc.compute_resource = None;
        vc.host = None;
        vc.message = None;
        let e = normalize("vc1", &vc, OffsetDateTime::now_utc());
        assert!(e.entity.is_empty());
        assert_eq!(e.metadata["vcenter_event_class"], "SessionTerminatedEvent");
        assert_eq!(e.metadata["user"], "VSPHERE.LOCAL\\alice");
        let mut empty_name = base(10, "VmPoweredOnEvent");
        empty_name.vm = named("vm-1", "");
        let e = normalize("vc1", &empty_name, OffsetDateTime::now_utc());
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-1");
        assert_eq!(e.entity.name, None);
    }
}
