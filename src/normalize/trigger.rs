//! The vCenter event behind an alarm: which candidate triggered it
//! ([`pick_triggering`]) and copying its facts onto the `Event` ([`apply`]).
//!
//! Pure, shared by enrichment (`crate::enrich`, which fetches the candidates)
//! and the event stream (`vcenter_event`, which has the event already).

use serde_json::{Map, Value};

use crate::model::{ALARM_STATUS_CHANGED, EntityKind, Event, EventType, Moref};
use crate::vsphere::{NamedRef, VcEvent};

/// vCenter event classes that describe the alarm machinery itself, never the
/// change that triggered an alarm.
const ALARM_CLASSES: &[&str] = &[
    "AlarmStatusChangedEvent",
    "AlarmActionTriggeredEvent",
    "AlarmScriptCompleteEvent",
    "AlarmScriptFailedEvent",
    "AlarmSnmpCompletedEvent",
    "AlarmSnmpFailedEvent",
    "AlarmEmailCompletedEvent",
    "AlarmEmailFailedEvent",
    "AlarmAcknowledgedEvent",
    "AlarmClearedEvent",
];

/// Which candidate is the alarm's triggering event: the one with the event key
/// the alarm named, else the one whose text is the alarm's event description.
/// Guessing (e.g. "the newest event on the VM") is deliberately not done: a
/// metric alarm has no triggering event, and a wrong type is worse than none.
pub fn pick_triggering<'a>(event: &Event, candidates: &'a [VcEvent]) -> Option<&'a VcEvent> {
    if let Some(key) = event.event_key {
        return candidates.iter().find(|c| c.key == key);
    }
    let message = event.message.as_deref()?.trim();
    candidates
        .iter()
        .filter(|c| !ALARM_CLASSES.contains(&c.class.as_str()))
        .find(|c| c.message.as_deref().map(str::trim) == Some(message))
}

/// Copies what the triggering vCenter event knows onto `event`.
pub fn apply(event: &mut Event, trigger: &VcEvent) {
    if let Some(user) = &trigger.user_name {
        event.user = Some(user.clone());
    }
    if event.event_type.as_str() == ALARM_STATUS_CHANGED
        && !ALARM_CLASSES.contains(&trigger.class.as_str())
    {
        event.event_type = EventType::from_vcenter_class(&trigger.class);
    }
    event.event_key = Some(trigger.key);
    event.time = Some(trigger.created_time);
    if event.message.is_none() {
        event.message = trigger.message.clone();
    }
    fill_entity(event, trigger);
    add_metadata(&mut event.metadata, trigger);
}

/// The entity the trigger is about, where the event does not name it yet.
fn fill_entity(event: &mut Event, trigger: &VcEvent) {
    let subject = match event.entity.kind {
        Some(EntityKind::HostSystem) => trigger.host.as_ref(),
        Some(EntityKind::VirtualMachine) | None => trigger.vm.as_ref().or(trigger.host.as_ref()),
        _ => None,
    };
    if let Some(subject) = subject {
        if event.entity.moref.is_none() {
            event.entity.moref = Moref::parse(&subject.moref);
        }
        if event.entity.kind.is_none() {
            event.entity.kind = event.entity.moref.as_ref().and_then(Moref::entity_kind);
        }
        event
            .entity
            .name
            .get_or_insert_with(|| subject.name.clone());
    }
}

/// The trigger's related objects, class, user, key and time, as metadata.
fn add_metadata(meta: &mut Map<String, Value>, trigger: &VcEvent) {
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            meta.insert(key.to_owned(), Value::String(v));
        }
    };
    let name = |r: &Option<NamedRef>| r.as_ref().map(|r| r.name.clone());
    let id = |r: &Option<NamedRef>| r.as_ref().map(|r| r.moref.clone());
    put("vm_name", name(&trigger.vm));
    put("vm_id", id(&trigger.vm));
    put("host", name(&trigger.host));
    put("datacenter", name(&trigger.datacenter));
    put("compute_resource", name(&trigger.compute_resource));
    put("datastore", name(&trigger.datastore));
    put("src_template", name(&trigger.src_template));
    put("src_template_id", id(&trigger.src_template));
    put("source_vm", name(&trigger.source_vm));
    put("source_vm_id", id(&trigger.source_vm));
    put("vcenter_event_class", Some(trigger.class.clone()));
    put("user", trigger.user_name.clone());
    meta.insert("vcenter_event_key".into(), Value::from(trigger.key));
    meta.insert(
        "created_time".into(),
        Value::String(crate::model::format_rfc3339(trigger.created_time)),
    );
}
