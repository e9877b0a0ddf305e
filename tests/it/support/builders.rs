//! What the tests send: the hook's alarm payload and vCenter's vpxdAlarmInfo
//! trap, built once here and sent with net-snmp's real tools.

use std::process::{Command, Output};

use serde_json::{Value, json};

use super::app::TestApp;
use super::tools::require_tool;

/// vCenter's notification subtree (VMWARE-VC-EVENT-MIB `vmwVC`).
pub const VC: &str = "1.3.6.1.4.1.6876.4.3";

/// The hook's `POST /api/v1/alarms` body for one alarm transition on VM
/// `target` (moref `vm-42`), as `scripts/vcsa-alarm-hook.sh` sends it.
pub fn alarm_body(delivery_id: &str, name: &str, target: &str, new_status: &str) -> Value {
    json!({
        "delivery_id": delivery_id,
        "vcenter": "vc1",
        "sent_at": "2026-11-25T10:00:00Z",
        "env": {
            "VMWARE_ALARM_NAME": name,
            "VMWARE_ALARM_ID": "alarm-7",
            "VMWARE_ALARM_TARGET_NAME": target,
            "VMWARE_ALARM_TARGET_ID": "vm-42",
            "VMWARE_ALARM_OLDSTATUS": "Green",
            "VMWARE_ALARM_NEWSTATUS": new_status,
            "VMWARE_ALARM_TRIGGERINGSUMMARY": "Event: VM created (4711)",
            "VMWARE_ALARM_EVENTDESCRIPTION": "Created virtual machine web01",
            "VMWARE_ALARM_EVENT_USERNAME": "VSPHERE.LOCAL\\alice",
        }
    })
}

/// One vpxdAlarmInfo notification (`…4.3.0.203`): its varbinds in the order
/// vCenter sends them, each optional one left out unless set.
#[derive(Debug, Clone, Copy)]
pub struct AlarmInfo<'a> {
    /// `vpxdTrapType` (`…308.0`): 2 host, 3 VM, 4 datastore.
    pub kind: Option<i32>,
    /// `vpxdOldStatus` (`…304.0`).
    pub old_status: Option<&'a str>,
    /// `vpxdNewStatus` (`…305.0`).
    pub new_status: &'a str,
    /// `vpxdObjValue` (`…306.0`): the alarm, sometimes with its metric.
    pub obj_value: &'a str,
    /// The entity's name (`…307.0`).
    pub target: &'a str,
}

impl<'a> AlarmInfo<'a> {
    pub fn new(new_status: &'a str, obj_value: &'a str, target: &'a str) -> Self {
        Self {
            kind: None,
            old_status: None,
            new_status,
            obj_value,
            target,
        }
    }

    pub fn kind(self, kind: i32) -> Self {
        Self {
            kind: Some(kind),
            ..self
        }
    }

    pub fn old_status(self, old_status: &'a str) -> Self {
        Self {
            old_status: Some(old_status),
            ..self
        }
    }

    /// The varbinds as net-snmp's tools take them (`OID TYPE VALUE` …).
    pub fn varbinds(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |suffix: &str, kind: &str, value: String| {
            out.extend([format!("{VC}.{suffix}"), kind.to_owned(), value]);
        };
        if let Some(kind) = self.kind {
            push("308.0", "i", kind.to_string());
        }
        if let Some(old) = self.old_status {
            push("304.0", "s", old.to_owned());
        }
        push("305.0", "s", self.new_status.to_owned());
        push("306.0", "s", self.obj_value.to_owned());
        push("307.0", "s", self.target.to_owned());
        out
    }

    /// `snmptrap`/`snmpinform` arguments for this alarm as a v2c notification.
    pub fn v2c_args(&self, community: &str, options: &[&str], agent: &str) -> Vec<String> {
        v2c_args(
            community,
            options,
            agent,
            &format!("{VC}.0.203"),
            self.varbinds(),
        )
    }
}

/// `-v 2c -c COMMUNITY OPTIONS AGENT '' TRAP_OID VARBINDS` (uptime left to the tool).
pub fn v2c_args(
    community: &str,
    options: &[&str],
    agent: &str,
    trap_oid: &str,
    varbinds: Vec<String>,
) -> Vec<String> {
    let mut args: Vec<String> = ["-v", "2c", "-c", community]
        .iter()
        .chain(options)
        .map(|s| s.to_string())
        .collect();
    args.extend([agent.to_owned(), String::new(), trap_oid.to_owned()]);
    args.extend(varbinds);
    args
}

/// Runs net-snmp's `tool` (`snmptrap`, `snmpinform`) with MIB loading off
/// and a persistent directory of its own.
pub fn net_snmp(tool: &str, args: &[String]) -> Output {
    let (mut command, state) = net_snmp_command(tool);
    let out = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    let _ = std::fs::remove_dir_all(state);
    out
}

/// Starts a net-snmp tool without waiting for it (many senders at once);
/// its output is piped, for [`NetSnmpChild::wait_with_output`].
pub fn net_snmp_spawn(tool: &str, args: &[String]) -> NetSnmpChild {
    let (mut command, state) = net_snmp_command(tool);
    let child = command
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {tool}: {e}"));
    NetSnmpChild { child, state }
}

/// A running net-snmp tool and its state directory, removed once the tool
/// has exited (not before: it writes `snmpapp.conf` there on exit).
pub struct NetSnmpChild {
    child: std::process::Child,
    state: std::path::PathBuf,
}

impl NetSnmpChild {
    /// `Some` once the tool has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    pub fn wait_with_output(self) -> std::io::Result<Output> {
        let out = self.child.wait_with_output();
        let _ = std::fs::remove_dir_all(&self.state);
        out
    }
}

/// A net-snmp `tool` with MIB loading off and a fresh `SNMP_PERSISTENT_DIR`
/// (returned, for removal). One directory per invocation: net-snmp rewrites
/// `snmpapp.conf` there on every exit (engineBoots, oldEngineID), and tools
/// running in parallel tests garbled a shared file ("buffer too small to read
/// octet string (17 < 17)" on the next start, and an engineBoots that could go
/// backwards, which a v3 receiver rightly refuses as outside its time window).
fn net_snmp_command(tool: &str) -> (Command, std::path::PathBuf) {
    static INVOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = INVOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = std::env::temp_dir()
        .join("vcgate-test-snmp")
        .join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("creating {}: {e}", state.display()));
    let mut command = Command::new(require_tool(tool, "snmp"));
    command.env("MIBS", "").env("SNMP_PERSISTENT_DIR", &state);
    (command, state)
}

/// Sends `args` with `snmptrap`; panics unless it succeeded.
pub fn send_trap(args: &[String]) {
    let out = net_snmp("snmptrap", args);
    assert!(
        out.status.success(),
        "snmptrap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A v2c vpxdAlarmInfo trap (community `public`) about `target` to the gateway.
pub fn alarm_trap(app: &TestApp, kind: i32, status: &str, obj_value: &str, target: &str) {
    let info = AlarmInfo::new(status, obj_value, target).kind(kind);
    send_trap(&info.v2c_args("public", &[], &app.snmp_target()));
}
