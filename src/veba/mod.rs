//! VMware Event Broker Appliance (VEBA) compatibility: vcgate events in
//! VEBA's CloudEvent shape, so functions written for VEBA run unchanged.
//!
//! VEBA's vSphere source (vmware-tanzu/sources-for-knative,
//! `pkg/vsphere/adapter.go`) sends each vCenter event as a CloudEvent with
//! `type = com.vmware.vsphere.<Class>.v0` (an EventEx or ExtendedEvent by its
//! `eventTypeId`), `source` = the vCenter SDK URL, the extension
//! `eventclass` = `event` | `eventex` | `extendedevent`, and `data` = the
//! vSphere event as govmomi's struct serialised by encoding/json
//! ([`data`]). vcgate adds `subject` = the class (the `topic` older VEBA
//! router functions filtered on) and keeps its own stable event `id` (VEBA
//! used the vCenter event key, which wraps and repeats).
//!
//! Owns: which vSphere class an [`Event`] is ([`class_of`]), its VEBA type
//! name, its `data` — the stored vCenter event for stream events and VEBA
//! CloudEvents received, else made from what the event knows (an alarm from
//! the hook or SNMP is an `AlarmStatusChangedEvent`; other vcgate events are
//! an `EventEx` with the Dispatch name as `EventTypeId`) — and the rendering.
//! Pure: no I/O.

pub mod data;
pub mod schema;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::model::{AlarmStatus, EntityKind, Event, EventType, Source, format_rfc3339};
use crate::vsphere::{NamedRef, VcEvent};
use schema::Schema;

/// Prefix and suffix of VEBA's type names.
pub const TYPE_PREFIX: &str = "com.vmware.vsphere.";
pub const TYPE_SUFFIX: &str = ".v0";

/// Classes named by their `eventTypeId`, and their `eventclass`.
const EXTENDED: [(&str, &str); 2] = [("EventEx", "eventex"), ("ExtendedEvent", "extendedevent")];

/// Where a stream event keeps the whole vCenter event (VEBA's `data`) in
/// `Event::raw`.
pub const RAW_EVENT_KEY: &str = "event";

/// The vSphere identity of an event as VEBA names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VebaClass {
    /// The class (`VmPoweredOnEvent`), or the `eventTypeId` of an EventEx or
    /// ExtendedEvent (`com.vmware.vc.HA.DasHostFailedEvent`).
    pub name: String,
    /// The govmomi struct `data` is: the class, or `EventEx`/`ExtendedEvent`.
    pub struct_name: String,
    /// The `eventclass` extension: `event`, `eventex` or `extendedevent`.
    pub eventclass: &'static str,
}

impl VebaClass {
    fn event(class: &str) -> Self {
        Self {
            name: class.to_owned(),
            struct_name: class.to_owned(),
            eventclass: "event",
        }
    }

    fn extended(struct_name: &str, type_id: &str) -> Self {
        let eventclass = EXTENDED
            .iter()
            .find(|(s, _)| *s == struct_name)
            .map_or("eventex", |(_, c)| c);
        Self {
            name: type_id.to_owned(),
            struct_name: struct_name.to_owned(),
            eventclass,
        }
    }

    /// `com.vmware.vsphere.<name>.v0`.
    pub fn type_name(&self) -> String {
        format!("{TYPE_PREFIX}{}{TYPE_SUFFIX}", self.name)
    }
}

/// The class of a vCenter event element's `xsi:type` (and `eventTypeId`).
pub fn class_of_vcenter(class: &str, event_type_id: Option<&str>) -> VebaClass {
    match event_type_id {
        Some(id) if EXTENDED.iter().any(|(s, _)| *s == class) => VebaClass::extended(class, id),
        _ => VebaClass::event(class),
    }
}

/// Which vSphere class an event is, in this order: an alarm transition (any
/// source) is an `AlarmStatusChangedEvent`; an event that names its class
/// (stream events and enriched events: `metadata.vcenter_event_class`) is
/// that class; a Dispatch type that is some class's name (`vm.powered.on`)
/// is that class; anything else is an EventEx whose `eventTypeId` is the
/// Dispatch type (as vCenter names events that have no class).
pub fn class_of(event: &Event) -> VebaClass {
    if event.alarm.is_some() {
        return VebaClass::event("AlarmStatusChangedEvent");
    }
    let meta = |key: &str| event.metadata.get(key).and_then(Value::as_str);
    if let Some(class) = meta("vcenter_event_class") {
        return class_of_vcenter(class, meta("event_type_id"));
    }
    if let Some(class) = class_for_dispatch(event.event_type.as_str()) {
        return VebaClass::event(class);
    }
    VebaClass::extended("EventEx", event.event_type.as_str())
}

/// The VEBA type name of an event (what subscriptions may also match).
pub fn type_name(event: &Event) -> String {
    class_of(event).type_name()
}

/// The class whose Dispatch name is `dispatch` (`vm.powered.on` →
/// `VmPoweredOnEvent`), among the Event classes govmomi knows; names two
/// classes share are left out.
pub fn class_for_dispatch(dispatch: &str) -> Option<&'static str> {
    static INDEX: OnceLock<HashMap<String, Option<&'static str>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let schema = Schema::get();
        let mut index: HashMap<String, Option<&'static str>> = HashMap::new();
        for name in schema.names() {
            let is_event = name.ends_with("Event")
                && schema
                    .type_def(name)
                    .is_some_and(|d| d.fields.iter().any(|f| f.go == "CreatedTime"));
            if !is_event || EXTENDED.iter().any(|(s, _)| *s == name) {
                continue;
            }
            let key = EventType::from_vcenter_class(name).as_str().to_owned();
            index
                .entry(key)
                .and_modify(|v| *v = None)
                .or_insert(Some(name));
        }
        index
    });
    index.get(dispatch).copied().flatten()
}

/// A VEBA type name read back: `com.vmware.vsphere.VmPoweredOnEvent.v0` →
/// `VmPoweredOnEvent`; `None` for anything else.
pub fn parse_type_name(type_name: &str) -> Option<&str> {
    type_name
        .strip_prefix(TYPE_PREFIX)?
        .strip_suffix(TYPE_SUFFIX)
        .filter(|name| !name.is_empty())
}

/// The vCenter event as VEBA serialises it: stored with the event when it
/// came whole (stream, or a VEBA CloudEvent posted to the API), else made
/// from the event's fields.
pub fn data(event: &Event, class: &VebaClass) -> Value {
    let stored = match event.source {
        Source::VcenterEvents => take_key(event.raw.to_value(), RAW_EVENT_KEY),
        _ => received_veba(event).and_then(|raw| take_key(raw, "data")),
    };
    match stored {
        Some(data) if data.is_object() => data,
        _ => synthesize(event, class),
    }
}

/// `value[key]`, moved out of the object.
fn take_key(value: Value, key: &str) -> Option<Value> {
    match value {
        Value::Object(mut object) => object.remove(key),
        _ => None,
    }
}

/// A VEBA event's `data` read back into the fields vcgate keeps of a
/// vCenter event (for VEBA CloudEvents posted to the API): `class` is the
/// struct (`VmPoweredOnEvent`, `EventEx`), `time` stands in for a missing or
/// unreadable `CreatedTime`.
pub fn vc_event(class: &str, data: &Value, time: time::OffsetDateTime) -> VcEvent {
    let text = |key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    // An argument is `{"Name": n, "<Inner>": {"Type": t, "Value": moid}}`.
    let named = |key: &str, inner: &str| {
        let arg = data.get(key)?;
        let moref = arg.get(inner)?.get("Value")?.as_str()?;
        (!moref.is_empty()).then(|| NamedRef {
            moref: moref.to_owned(),
            name: arg
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    };
    let created_time = text("CreatedTime")
        .and_then(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or(time);
    VcEvent {
        key: data.get("Key").and_then(Value::as_i64).unwrap_or(0),
        class: class.to_owned(),
        event_type_id: text("EventTypeId"),
        created_time,
        user_name: text("UserName"),
        message: text("FullFormattedMessage"),
        chain_id: data.get("ChainId").and_then(Value::as_i64),
        datacenter: named("Datacenter", "Datacenter"),
        compute_resource: named("ComputeResource", "ComputeResource"),
        host: named("Host", "Host"),
        vm: named("Vm", "Vm"),
        datastore: named("Ds", "Datastore"),
        src_template: named("SrcTemplate", "Vm"),
        source_vm: named("SourceVm", "Vm"),
        alarm: named("Alarm", "Alarm"),
        entity: named("Entity", "Entity"),
        from_status: text("From"),
        to_status: text("To"),
        tree: Default::default(),
    }
}

/// The class and `eventTypeId` a VEBA type's name stands for: a class
/// (`VmPoweredOnEvent`, no id), or for a dotted name (or `eventclass` =
/// `eventex`/`extendedevent`) an EventEx or ExtendedEvent carrying it.
pub fn class_for_name<'a>(name: &'a str, eventclass: Option<&str>) -> (&'a str, Option<&'a str>) {
    match eventclass {
        Some("extendedevent") => ("ExtendedEvent", Some(name)),
        Some("eventex") => ("EventEx", Some(name)),
        _ if name.contains('.') => ("EventEx", Some(name)),
        _ => (name, None),
    }
}

/// The CloudEvent as received, when the event came to the API in VEBA's shape.
fn received_veba(event: &Event) -> Option<Value> {
    if event.source != Source::Api {
        return None;
    }
    let raw = event.raw.to_value();
    raw.get("type")
        .and_then(Value::as_str)
        .and_then(parse_type_name)
        .is_some()
        .then_some(raw)
}

/// `https://<host>/sdk` of the vCenter: its configured `url` without
/// credentials, else the vCenter name as host (the hook sends the VCSA's
/// FQDN by default).
pub fn source_url(configured_url: Option<&str>, vcenter: &str) -> String {
    match configured_url {
        Some(url) => strip_userinfo(url),
        None => format!("https://{vcenter}/sdk"),
    }
}

fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The VEBA CloudEvent (structured JSON) of an event; `source` is
/// [`source_url`] — or, for a VEBA CloudEvent received as such, the
/// `source` it came with.
pub fn cloudevent(event: &Event, source: &str) -> Value {
    let class = class_of(event);
    let received = received_veba(event);
    let source = received
        .as_ref()
        .and_then(|raw| raw.get("source"))
        .and_then(Value::as_str)
        .unwrap_or(source);
    let time = event.time.unwrap_or(event.received_at);
    json!({
        "specversion": "1.0",
        "id": event.id.to_string(),
        "source": source,
        "type": class.type_name(),
        "subject": class.name,
        "time": format_rfc3339(time),
        "datacontenttype": "application/json",
        "eventclass": class.eventclass,
        "data": data(event, &class),
    })
}

/// `data` for an event that did not come with its vCenter event: the zero
/// struct of its class, filled with what the event knows.
fn synthesize(event: &Event, class: &VebaClass) -> Value {
    let mut data = data::zero_struct(&class.struct_name);
    let Some(obj) = data.as_object_mut() else {
        return data;
    };
    let mut slots = Slots(obj);
    set_common(&mut slots, event);
    set_arguments(&mut slots, event);
    if let Some(alarm) = &event.alarm {
        set_alarm(&mut slots, alarm);
    }
    set_entity(&mut slots, event, class);
    data
}

/// The fields of a zero struct being filled in.
struct Slots<'a>(&'a mut serde_json::Map<String, Value>);

impl Slots<'_> {
    fn set(&mut self, key: &str, value: Value) {
        // Only fields the class has: never a key govmomi would not write.
        if let Some(slot) = self.0.get_mut(key) {
            *slot = value;
        }
    }
}

/// A non-empty metadata string of the event.
fn meta<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event
        .metadata
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The fields every event class has: key, chain, time, user, message.
fn set_common(slots: &mut Slots<'_>, event: &Event) {
    let key = event.event_key.unwrap_or(0);
    slots.set("Key", json!(key));
    slots.set("ChainId", json!(key));
    let time = event.time.unwrap_or(event.received_at);
    slots.set("CreatedTime", json!(data::go_time(time)));
    slots.set("UserName", json!(event.user.clone().unwrap_or_default()));
    slots.set(
        "FullFormattedMessage",
        json!(event.message.clone().unwrap_or_default()),
    );
}

/// The event's entity as `(name, moref)` when it is of `kind` and names
/// either.
fn entity_of(event: &Event, kind: EntityKind) -> Option<(Option<&str>, Option<&str>)> {
    (event.entity.kind == Some(kind))
        .then(|| {
            (
                event.entity.name.as_deref(),
                event.entity.moref.as_ref().map(|m| m.as_str()),
            )
        })
        .filter(|(n, m)| n.is_some() || m.is_some())
}

/// A pointer-valued event argument: null when unknown.
fn argument(field: &str, mor_type: &str, name: Option<&str>, id: Option<&str>) -> Value {
    if name.is_none() && id.is_none() {
        return Value::Null;
    }
    json!({"Name": name.unwrap_or_default(), field: {"Type": mor_type, "Value": id.unwrap_or_default()}})
}

/// The arguments naming related objects (VM, host, datastore, datacenter,
/// compute resource, template, source VM): from the entity when it is of
/// that kind, else from metadata.
fn set_arguments(slots: &mut Slots<'_>, event: &Event) {
    let meta = |key: &str| meta(event, key);
    let pick = |kind: EntityKind, name_key: &str, id_key: &str| {
        entity_of(event, kind).unwrap_or((meta(name_key), meta(id_key)))
    };
    let (vm_name, vm_id) = pick(EntityKind::VirtualMachine, "vm_name", "vm_id");
    slots.set("Vm", argument("Vm", "VirtualMachine", vm_name, vm_id));
    let (host, host_id) = pick(EntityKind::HostSystem, "host", "host_id");
    slots.set("Host", argument("Host", "HostSystem", host, host_id));
    let (ds, ds_id) = pick(EntityKind::Datastore, "datastore", "datastore_id");
    slots.set("Ds", argument("Datastore", "Datastore", ds, ds_id));
    slots.set(
        "Datacenter",
        argument(
            "Datacenter",
            "Datacenter",
            meta("datacenter"),
            meta("datacenter_id"),
        ),
    );
    let compute = match (meta("cluster"), meta("cluster_id")) {
        (None, None) => argument(
            "ComputeResource",
            "ComputeResource",
            meta("compute_resource"),
            meta("compute_resource_id"),
        ),
        (name, id) => argument("ComputeResource", "ClusterComputeResource", name, id),
    };
    slots.set("ComputeResource", compute);
    slots.set(
        "SrcTemplate",
        argument_or_zero(
            "Vm",
            "VirtualMachine",
            meta("src_template"),
            meta("src_template_id"),
        ),
    );
    slots.set(
        "SourceVm",
        argument_or_zero(
            "Vm",
            "VirtualMachine",
            meta("source_vm"),
            meta("source_vm_id"),
        ),
    );
}

/// The alarm and its status transition.
fn set_alarm(slots: &mut Slots<'_>, alarm: &crate::model::Alarm) {
    slots.set(
        "Alarm",
        argument_or_zero(
            "Alarm",
            "Alarm",
            alarm.name.as_deref(),
            alarm.moref.as_ref().map(|m| m.as_str()),
        ),
    );
    let status = |s: &Option<crate::model::StatusText>| match s {
        Some(s) if s.status != AlarmStatus::Unknown => s.status.as_str().to_owned(),
        Some(s) => s.raw.clone(),
        None => String::new(),
    };
    slots.set("From", json!(status(&alarm.old_status)));
    slots.set("To", json!(status(&alarm.new_status)));
}

/// The entity argument, and for an EventEx its type id, severity and object.
fn set_entity(slots: &mut Slots<'_>, event: &Event, class: &VebaClass) {
    let entity_type = event
        .entity
        .kind
        .map(crate::model::EntityKind::vsphere_type);
    if !event.entity.is_empty() {
        slots.set(
            "Entity",
            argument_or_zero(
                "Entity",
                entity_type.unwrap_or_default(),
                event.entity.name.as_deref(),
                event.entity.moref.as_ref().map(|m| m.as_str()),
            ),
        );
    }
    if class.struct_name != "EventEx" {
        return;
    }
    slots.set("EventTypeId", json!(class.name));
    slots.set(
        "Severity",
        json!(event.category.as_deref().unwrap_or("info")),
    );
    slots.set(
        "ObjectId",
        json!(
            event
                .entity
                .moref
                .as_ref()
                .map(|m| m.as_str())
                .unwrap_or_default()
        ),
    );
    slots.set("ObjectType", json!(entity_type.unwrap_or_default()));
    slots.set(
        "ObjectName",
        json!(event.entity.name.as_deref().unwrap_or_default()),
    );
}

/// A struct-valued event argument (never null in Go): zero when unknown.
fn argument_or_zero(field: &str, mor_type: &str, name: Option<&str>, id: Option<&str>) -> Value {
    let known = name.is_some() || id.is_some();
    json!({
        "Name": name.unwrap_or_default(),
        field: {
            "Type": if known { mor_type } else { "" },
            "Value": id.unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests;
