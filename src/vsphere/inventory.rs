//! Inventory operations vcgate needs: hosts, VMs, custom attributes, alarm
//! actions, maintenance mode and tasks.
//!
//! Owns: the typed wrappers over PropertyCollector reads ([`HostState`]),
//! CustomFieldsManager, AlarmManager and HostSystem maintenance tasks, and
//! waiting for tasks by polling `info.state` (WaitForUpdatesEx is not used:
//! the simulator does not report every change through it, and polling a task
//! is cheap). Must not: decide policy (the guard decides when to call these).

use std::collections::BTreeMap;
use std::time::Duration;

use super::ManagedObjectRef;
use super::client::Client;
use super::error::{VsphereError, fault_to_error};
use super::props::{ObjectContent, PropValue};
use super::soap::Body;

/// What the guard needs to know about a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    pub moref: ManagedObjectRef,
    pub name: String,
    /// `runtime.inMaintenanceMode`.
    pub in_maintenance: bool,
    /// `alarmActionsEnabled`; `None` when the server does not report it.
    pub alarm_actions_enabled: Option<bool>,
}

/// The HostSystem properties behind [`HostState`].
const HOST_PATHS: &[&str] = &["name", "runtime.inMaintenanceMode", "alarmActionsEnabled"];

impl HostState {
    /// `None` when `runtime.inMaintenanceMode` is missing (e.g. no read
    /// privilege): guessing either way could make the guard act wrongly.
    fn from_content(oc: ObjectContent) -> Option<HostState> {
        Some(HostState {
            in_maintenance: oc
                .get("runtime.inMaintenanceMode")
                .and_then(PropValue::as_bool)?,
            name: oc
                .get("name")
                .and_then(PropValue::as_str)
                .unwrap_or_default()
                .to_owned(),
            alarm_actions_enabled: oc.get("alarmActionsEnabled").and_then(PropValue::as_bool),
            moref: oc.moref,
        })
    }
}

/// A custom attribute definition (`CustomFieldsManager.field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFieldDef {
    pub key: i32,
    pub name: String,
    /// Managed object type it applies to; `None` for global fields.
    pub mo_type: Option<String>,
}

/// Polling interval bounds while waiting for a task.
const TASK_POLL_START: Duration = Duration::from_millis(100);
const TASK_POLL_MAX: Duration = Duration::from_secs(2);

impl Client {
    /// Every HostSystem with name, maintenance flag and alarm-actions flag.
    /// Hosts whose maintenance state cannot be read are left out (logged).
    pub async fn hosts(&self) -> Result<Vec<HostState>, VsphereError> {
        let objects = self.list_objects("HostSystem", HOST_PATHS).await?;
        Ok(objects
            .into_iter()
            .filter_map(|oc| {
                let moref = oc.moref.clone();
                let state = HostState::from_content(oc);
                if state.is_none() {
                    tracing::warn!(vcenter = %self.name(), host = %moref, "host without runtime.inMaintenanceMode; skipped");
                }
                state
            })
            .collect())
    }

    /// One host's state; `ManagedObjectNotFound` if it is gone.
    pub async fn host(&self, host: &ManagedObjectRef) -> Result<HostState, VsphereError> {
        HostState::from_content(self.retrieve_one(host, HOST_PATHS).await?).ok_or_else(|| {
            VsphereError::Protocol(format!("host {host} without runtime.inMaintenanceMode"))
        })
    }

    /// Every VirtualMachine (templates included) with its name.
    pub async fn vms(&self) -> Result<Vec<(ManagedObjectRef, String)>, VsphereError> {
        let objects = self.list_objects("VirtualMachine", &["name"]).await?;
        Ok(objects
            .into_iter()
            .map(|oc| {
                let name = oc
                    .get("name")
                    .and_then(PropValue::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (oc.moref, name)
            })
            .collect())
    }

    /// The VM with exactly this name, if any (names are unique per folder,
    /// not per vCenter: the first match wins).
    pub async fn find_vm(&self, name: &str) -> Result<Option<ManagedObjectRef>, VsphereError> {
        Ok(self
            .vms()
            .await?
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(m, _)| m))
    }

    fn custom_fields_manager(
        &self,
        sc: &super::ServiceContent,
    ) -> Result<ManagedObjectRef, VsphereError> {
        sc.custom_fields_manager
            .clone()
            .ok_or_else(|| VsphereError::Protocol("server has no CustomFieldsManager".into()))
    }

    /// All custom attribute definitions.
    pub async fn custom_field_defs(&self) -> Result<Vec<CustomFieldDef>, VsphereError> {
        let sc = self.service_content().await?;
        let cfm = self.custom_fields_manager(&sc)?;
        let oc = self.retrieve_one(&cfm, &["field"]).await?;
        let Some(val) = oc.get("field").and_then(PropValue::as_element) else {
            return Ok(Vec::new());
        };
        Ok(val
            .children
            .iter()
            .filter_map(|def| {
                Some(CustomFieldDef {
                    key: i32::try_from(def.child("key")?.as_i64()?).ok()?,
                    name: def.child_text("name")?.to_owned(),
                    mo_type: def
                        .child_text("managedObjectType")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                })
            })
            .collect())
    }

    /// AddCustomFieldDef; returns the new key. An existing name is
    /// [`VsphereError::DuplicateName`] (see [`Client::ensure_custom_field`]).
    pub async fn add_custom_field_def(
        &self,
        name: &str,
        mo_type: Option<&str>,
    ) -> Result<i32, VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("AddCustomFieldDef", &self.custom_fields_manager(&sc)?);
        body.text("name", name);
        if let Some(t) = mo_type {
            body.text("moType", t);
        }
        let res = self.invoke(body).await?;
        let key = Self::returnval(&res, "AddCustomFieldDef")?
            .child("key")
            .and_then(|k| k.as_i64())
            .and_then(|k| i32::try_from(k).ok())
            .ok_or_else(|| VsphereError::Protocol("AddCustomFieldDef: no key".into()))?;
        Ok(key)
    }

    /// The key of the custom field `name` (for `mo_type`), creating it if
    /// needed. Safe against a concurrent creator (DuplicateName → re-read).
    pub async fn ensure_custom_field(
        &self,
        name: &str,
        mo_type: Option<&str>,
    ) -> Result<i32, VsphereError> {
        let find = |defs: Vec<CustomFieldDef>| {
            defs.into_iter()
                .find(|d| d.name == name && (mo_type.is_none() || d.mo_type.as_deref() == mo_type))
                .map(|d| d.key)
        };
        if let Some(key) = find(self.custom_field_defs().await?) {
            return Ok(key);
        }
        match self.add_custom_field_def(name, mo_type).await {
            Ok(key) => Ok(key),
            Err(VsphereError::DuplicateName { .. }) => find(self.custom_field_defs().await?)
                .ok_or_else(|| VsphereError::DuplicateName {
                    name: name.to_owned(),
                }),
            Err(e) => Err(e),
        }
    }

    /// SetField: sets custom attribute `key` on `entity` to `value`.
    pub async fn set_field(
        &self,
        entity: &ManagedObjectRef,
        key: i32,
        value: &str,
    ) -> Result<(), VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("SetField", &self.custom_fields_manager(&sc)?);
        body.moref("entity", entity)
            .text("key", key)
            .text("value", value);
        self.invoke(body).await?;
        Ok(())
    }

    /// An entity's custom attribute values by key (`customValue`). When a key
    /// appears twice (the simulator appends on every SetField) the last wins.
    pub async fn custom_values(
        &self,
        entity: &ManagedObjectRef,
    ) -> Result<BTreeMap<i32, String>, VsphereError> {
        let oc = self.retrieve_one(entity, &["customValue"]).await?;
        let mut out = BTreeMap::new();
        if let Some(val) = oc.get("customValue").and_then(PropValue::as_element) {
            for v in &val.children {
                let key = v
                    .child("key")
                    .and_then(|k| k.as_i64())
                    .and_then(|k| i32::try_from(k).ok());
                if let (Some(key), Some(value)) = (key, v.child_text("value")) {
                    out.insert(key, value.to_owned());
                }
            }
        }
        Ok(out)
    }

    fn alarm_manager(&self, sc: &super::ServiceContent) -> Result<ManagedObjectRef, VsphereError> {
        sc.alarm_manager
            .clone()
            .ok_or_else(|| VsphereError::Protocol("server has no AlarmManager".into()))
    }

    /// AlarmManager.EnableAlarmActions (privilege Alarm.DisableActions).
    pub async fn enable_alarm_actions(
        &self,
        entity: &ManagedObjectRef,
        enabled: bool,
    ) -> Result<(), VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("EnableAlarmActions", &self.alarm_manager(&sc)?);
        body.moref("entity", entity).text("enabled", enabled);
        self.invoke(body).await?;
        Ok(())
    }

    /// AlarmManager.AreAlarmActionsEnabled.
    pub async fn are_alarm_actions_enabled(
        &self,
        entity: &ManagedObjectRef,
    ) -> Result<bool, VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("AreAlarmActionsEnabled", &self.alarm_manager(&sc)?);
        body.moref("entity", entity);
        let res = self.invoke(body).await?;
        Self::returnval(&res, "AreAlarmActionsEnabled")?
            .as_bool()
            .ok_or_else(|| VsphereError::Protocol("AreAlarmActionsEnabled: not a boolean".into()))
    }

    /// EnterMaintenanceMode_Task and wait up to `wait` for it to finish
    /// (`timeout` sent to vCenter is the same number of seconds).
    pub async fn enter_maintenance_mode(
        &self,
        host: &ManagedObjectRef,
        wait: Duration,
    ) -> Result<(), VsphereError> {
        let mut body = Body::new("EnterMaintenanceMode_Task", host);
        body.text("timeout", wait.as_secs().min(i32::MAX as u64));
        let task = self.task_from(self.invoke(body).await?, "EnterMaintenanceMode_Task")?;
        self.wait_for_task(&task, wait).await.map(drop)
    }

    /// ExitMaintenanceMode_Task and wait up to `wait` for it to finish.
    pub async fn exit_maintenance_mode(
        &self,
        host: &ManagedObjectRef,
        wait: Duration,
    ) -> Result<(), VsphereError> {
        let mut body = Body::new("ExitMaintenanceMode_Task", host);
        body.text("timeout", wait.as_secs().min(i32::MAX as u64));
        let task = self.task_from(self.invoke(body).await?, "ExitMaintenanceMode_Task")?;
        self.wait_for_task(&task, wait).await.map(drop)
    }

    fn task_from(
        &self,
        res: super::Element,
        method: &str,
    ) -> Result<ManagedObjectRef, VsphereError> {
        Self::returnval(&res, method)?
            .as_moref()
            .ok_or_else(|| VsphereError::Protocol(format!("{method}: no task")))
    }

    /// Polls `info` until the task succeeds (→ `info.result`, if any) or
    /// fails (→ its fault, typed like a SOAP fault). Gives up after `wait`
    /// with a `Fault { fault_type: "Timeout" }`; the task keeps running.
    pub async fn wait_for_task(
        &self,
        task: &ManagedObjectRef,
        wait: Duration,
    ) -> Result<Option<PropValue>, VsphereError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = TASK_POLL_START;
        loop {
            let oc = self.retrieve_one(task, &["info"]).await?;
            let info = oc
                .get("info")
                .and_then(PropValue::as_element)
                .ok_or_else(|| VsphereError::Protocol(format!("task {task} without info")))?;
            if let Some(outcome) = task_outcome(task, info) {
                return outcome;
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(VsphereError::Fault {
                    code: "ClientTimeout".into(),
                    message: format!("task {task} still running after {wait:?}"),
                    fault_type: "Timeout".into(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(TASK_POLL_MAX);
        }
    }
}

/// The result of a finished task from its `info`, `None` while it is
/// queued or running. A failed task's `info.error.fault` is mapped like a
/// SOAP fault, so a task refused for lack of privilege is `NoPermission`.
fn task_outcome(
    task: &ManagedObjectRef,
    info: &super::Element,
) -> Option<Result<Option<PropValue>, VsphereError>> {
    match info.child_text("state").map(str::trim) {
        Some("success") => Some(Ok(info.child("result").map(PropValue::from_val))),
        Some("error") => {
            let err = info.child("error");
            let message = err
                .and_then(|e| e.child_text("localizedMessage"))
                .unwrap_or_default();
            Some(Err(fault_to_error(
                err.and_then(|e| e.child("fault")),
                "TaskError",
                message,
            )))
        }
        Some("queued" | "running") => None,
        other => Some(Err(VsphereError::Protocol(format!(
            "task {task} in unknown state {other:?}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(props: &[(&str, PropValue)]) -> ObjectContent {
        ObjectContent {
            moref: ManagedObjectRef::new("HostSystem", "host-1"),
            props: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            missing: Vec::new(),
        }
    }

    // Captured from the simulator: `info` of PowerOnVM_Task on a powered-on
    // VM. The fault's type uses the `XMLSchema-instance:` prefix.
    const FAILED_TASK: &str = concat!(
        r#"<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="TaskInfo">"#,
        r#"<key>task-68</key><task type="Task">task-68</task><name>PowerOn</name><descriptionId>VirtualMachine.powerOn</descriptionId>"#,
        r#"<entity type="VirtualMachine">vm-57</entity><entityName>vm-57</entityName><state>error</state>"#,
        r#"<cancelled>false</cancelled><cancelable>false</cancelable><error><fault XMLSchema-instance:type="InvalidPowerState">"#,
        r#"<requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></fault>"#,
        r#"<localizedMessage>*types.InvalidPowerState</localizedMessage></error>"#,
        r#"<reason XMLSchema-instance:type="TaskReasonUser"><userName>vcsim</userName></reason>"#,
        r#"<queueTime>2026-11-25T12:03:34.916612381Z</queueTime><eventChainId>0</eventChainId></val>"#
    );

    #[test]
    fn task_outcomes() {
        let task = ManagedObjectRef::new("Task", "task-68");
        let failed = crate::vsphere::xml::parse(FAILED_TASK).unwrap();
        match task_outcome(&task, &failed) {
            Some(Err(VsphereError::Fault {
                fault_type,
                message,
                ..
            })) => {
                assert_eq!(fault_type, "InvalidPowerState");
                assert_eq!(message, "*types.InvalidPowerState");
            }
            other => panic!("{other:?}"),
        }
        let denied = crate::vsphere::xml::parse(concat!(
            r#"<val xmlns:x="http://www.w3.org/2001/XMLSchema-instance"><state>error</state><error>"#,
            r#"<fault x:type="NoPermission"><privilegeId>Host.Config.Maintenance</privilegeId></fault>"#,
            r#"</error></val>"#
        ))
        .unwrap();
        assert!(matches!(
            task_outcome(&task, &denied),
            Some(Err(VsphereError::NoPermission { privilege: Some(p), .. })) if p == "Host.Config.Maintenance"
        ));
        let running = crate::vsphere::xml::parse("<val><state>running</state></val>").unwrap();
        assert!(task_outcome(&task, &running).is_none());
        let done = crate::vsphere::xml::parse(concat!(
            r#"<val xmlns:x="http://www.w3.org/2001/XMLSchema-instance"><state>success</state>"#,
            r#"<result x:type="ManagedObjectReference" type="VirtualMachine">vm-99</result></val>"#
        ))
        .unwrap();
        match task_outcome(&task, &done) {
            Some(Ok(Some(PropValue::ManagedObjectRef(m)))) => assert_eq!(m.value, "vm-99"),
            other => panic!("{other:?}"),
        }
        let odd = crate::vsphere::xml::parse("<val><state>paused</state></val>").unwrap();
        assert!(matches!(
            task_outcome(&task, &odd),
            Some(Err(VsphereError::Protocol(_)))
        ));
    }

    #[test]
    fn host_state_needs_the_maintenance_flag() {
        let full = content(&[
            ("name", PropValue::String("esx1".into())),
            ("runtime.inMaintenanceMode", PropValue::Bool(true)),
            ("alarmActionsEnabled", PropValue::Bool(false)),
        ]);
        assert_eq!(
            HostState::from_content(full),
            Some(HostState {
                moref: ManagedObjectRef::new("HostSystem", "host-1"),
                name: "esx1".into(),
                in_maintenance: true,
                alarm_actions_enabled: Some(false),
            })
        );
        let no_alarm_flag = content(&[("runtime.inMaintenanceMode", PropValue::Bool(false))]);
        assert_eq!(
            HostState::from_content(no_alarm_flag).map(|h| h.alarm_actions_enabled),
            Some(None)
        );
        let unknown = content(&[("name", PropValue::String("esx1".into()))]);
        assert_eq!(HostState::from_content(unknown), None);
    }
}
