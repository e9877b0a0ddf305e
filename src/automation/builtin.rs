//! Built-in functions that act on vCenter through the vSphere client:
//!
//! - `set-created-by`: for `vm.created`, `vm.deployed`, `vm.cloned`,
//!   `vm.registered`, make sure the custom attributes exist ("Created By" /
//!   "Created On" by default) and set them from the creating event's user and
//!   time (looked up in vCenter when the event does not carry them).
//!   Idempotent: running it again writes the same values.
//! - `alarm-actions`: enable (default) or disable alarm actions on the
//!   event's entity.

use serde_json::json;

use super::{Attempt, AttemptError};
use crate::config::{AlarmAction, BuiltinSpec};

use crate::model::{EntityKind, Event, format_rfc3339};
use crate::store::RunLogs;
use crate::vcenters::Vcenters;
use crate::vsphere::{Client, EventFilterSpec, ManagedObjectRef, VsphereError};

pub const CREATION_TYPES: &[&str] = &["vm.created", "vm.deployed", "vm.cloned", "vm.registered"];
const CREATION_CLASSES: &[&str] = &[
    "VmCreatedEvent",
    "VmDeployedEvent",
    "VmClonedEvent",
    "VmRegisteredEvent",
];

pub async fn run(spec: &BuiltinSpec, vcenters: &Vcenters, event: &Event) -> Attempt {
    let Some(client) = vcenters.get(&event.vcenter) else {
        return permanent(format!(
            "no vSphere API configured for vCenter {:?} ([[vcenter]] url)",
            event.vcenter
        ));
    };
    let result = match spec {
        BuiltinSpec::SetCreatedBy {
            created_by_attribute,
            created_on_attribute,
        } => set_created_by(created_by_attribute, created_on_attribute, client, event).await,
        BuiltinSpec::AlarmActions { action } => alarm_actions(*action, client, event).await,
    };
    match result {
        Ok((lines, output)) => Attempt::succeeded(
            RunLogs {
                stdout: lines,
                ..RunLogs::default()
            },
            Some(output),
        ),
        Err(e) => Attempt::failed(e, RunLogs::default(), None),
    }
}

fn permanent(reason: String) -> Attempt {
    Attempt::failed(AttemptError::Permanent(reason), RunLogs::default(), None)
}

/// vCenter down → retry later; refused or impossible → give up with the reason.
fn classify(action: &str, e: VsphereError) -> AttemptError {
    match e {
        VsphereError::NoPermission { privilege, .. } => AttemptError::Permanent(format!(
            "{action}: the vCenter account lacks the privilege{}",
            privilege.map(|p| format!(" {p}")).unwrap_or_default()
        )),
        e if e.is_unavailable() => {
            AttemptError::Retryable(format!("{action}: vCenter unavailable: {e}"))
        }
        e => AttemptError::Retryable(format!("{action}: {e}")),
    }
}

async fn entity_moref(
    client: &Client,
    event: &Event,
    kind: EntityKind,
) -> Result<Option<ManagedObjectRef>, AttemptError> {
    if let Some(moref) = &event.entity.moref {
        return Ok(Some(ManagedObjectRef::new(
            event.entity.kind.unwrap_or(kind).vsphere_type(),
            moref.as_str(),
        )));
    }
    let name = event.entity.name.clone().or_else(|| {
        event
            .metadata
            .get("vm_name")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    match (kind, name) {
        (EntityKind::VirtualMachine, Some(name)) => client
            .find_vm(&name)
            .await
            .map_err(|e| classify("finding the VM", e)),
        (EntityKind::HostSystem, Some(name)) => Ok(client
            .hosts()
            .await
            .map_err(|e| classify("listing hosts", e))?
            .into_iter()
            .find(|h| h.name == name)
            .map(|h| h.moref)),
        _ => Ok(None),
    }
}

async fn set_created_by(
    by_name: &str,
    on_name: &str,
    client: &Client,
    event: &Event,
) -> Result<(Vec<String>, serde_json::Value), AttemptError> {
    if !CREATION_TYPES.contains(&event.event_type.as_str()) {
        return Err(AttemptError::Permanent(format!(
            "set-created-by handles {}, not {}",
            CREATION_TYPES.join(", "),
            event.event_type
        )));
    }
    let vm = entity_moref(client, event, EntityKind::VirtualMachine)
        .await?
        .ok_or_else(|| {
            AttemptError::Retryable("the event names no VM that vCenter knows (yet)".into())
        })?;
    let (user, when) = creator(client, event, &vm).await?;
    let user = user.ok_or_else(|| {
        AttemptError::Permanent(format!("no creating user known for {}", vm.value))
    })?;
    let when = format_rfc3339(when.unwrap_or(event.received_at));
    let by_key = client
        .ensure_custom_field(by_name, Some("VirtualMachine"))
        .await
        .map_err(|e| classify("creating the custom attribute", e))?;
    let on_key = client
        .ensure_custom_field(on_name, Some("VirtualMachine"))
        .await
        .map_err(|e| classify("creating the custom attribute", e))?;
    client
        .set_field(&vm, by_key, &user)
        .await
        .map_err(|e| classify("setting Created By", e))?;
    client
        .set_field(&vm, on_key, &when)
        .await
        .map_err(|e| classify("setting Created On", e))?;
    Ok((
        vec![
            format!("{by_name} = {user} on {}", vm.value),
            format!("{on_name} = {when} on {}", vm.value),
        ],
        json!({"vm": vm.value, "created_by": user, "created_on": when}),
    ))
}

/// Who created the VM and when: from the event, else from the newest
/// creating event vCenter has for it.
async fn creator(
    client: &Client,
    event: &Event,
    vm: &ManagedObjectRef,
) -> Result<(Option<String>, Option<time::OffsetDateTime>), AttemptError> {
    let (mut user, mut when) = (event.user.clone(), event.time);
    if user.is_none() {
        let created = client
            .query_events(&EventFilterSpec {
                entity: Some(vm.clone()),
                event_type_ids: CREATION_CLASSES.iter().map(|c| c.to_string()).collect(),
                max_count: Some(1000),
                ..EventFilterSpec::default()
            })
            .await
            .map_err(|e| classify("looking up the creating event", e))?;
        if let Some(creation) = created
            .iter()
            .rev()
            .find(|c| CREATION_CLASSES.contains(&c.class.as_str()))
        {
            user = creation.user_name.clone();
            when = Some(creation.created_time);
        }
    }
    Ok((user, when))
}

async fn alarm_actions(
    action: AlarmAction,
    client: &Client,
    event: &Event,
) -> Result<(Vec<String>, serde_json::Value), AttemptError> {
    let enable = action == AlarmAction::Enable;
    let kind = event.entity.kind.unwrap_or(EntityKind::HostSystem);
    let entity = entity_moref(client, event, kind).await?.ok_or_else(|| {
        AttemptError::Permanent("the event names no entity to change alarm actions on".into())
    })?;
    client
        .enable_alarm_actions(&entity, enable)
        .await
        .map_err(|e| classify("changing alarm actions", e))?;
    let verb = if enable { "enabled" } else { "disabled" };
    Ok((
        vec![format!("alarm actions {verb} on {}", entity.value)],
        json!({"entity": entity.value, "alarm_actions_enabled": enable}),
    ))
}
