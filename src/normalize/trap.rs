//! SNMP notification → `Event`, with the VMware MIB knowledge built in.
//!
//! Input is `TrapNotification`, our own decoded form (v1 traps already mapped
//! to v2 form per RFC 3584 by the receiver), so this module stays pure and
//! fuzzable. Knows: VMWARE-VC-EVENT-MIB (vpxdAlarmInfo, vpxdAlarm,
//! vpxdDiagnostic), the legacy SMIv1 vpxdTrap (new status *before* old),
//! VMWARE-VMINFO-MIB VM traps and VMWARE-ENV-MIB hardware traps. Anything else
//! is accepted as `snmp.trap` with its OID and varbinds.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::model::{
    Alarm, AlarmStatus, EntityKind, Event, EventType, RawPayload, Source, StatusText,
};

/// `vmwVC` notifications prefix and varbind prefix.
pub const VC_NOTIFICATIONS: &str = "1.3.6.1.4.1.6876.4.3.0";
pub const VC_VARBINDS: &str = "1.3.6.1.4.1.6876.4.3";
pub const VPXD_ALARM: &str = "1.3.6.1.4.1.6876.4.3.0.201";
pub const VPXD_DIAGNOSTIC: &str = "1.3.6.1.4.1.6876.4.3.0.202";
pub const VPXD_ALARM_INFO: &str = "1.3.6.1.4.1.6876.4.3.0.203";
/// Legacy SMIv1 vpxdTrap (enterprise 1.3.6.1.4.1.6876, specific 201) in v2 form.
pub const LEGACY_VPXD_TRAP: &str = "1.3.6.1.4.1.6876.0.201";
pub const LEGACY_VARBINDS: &str = "1.3.6.1.4.1.6876.50";
/// ESXi notifications (VM and hardware traps).
pub const ESX_NOTIFICATIONS: &str = "1.3.6.1.4.1.6876.4.1.0";
pub const VM_DISPLAY_NAME: &str = "1.3.6.1.4.1.6876.2.1.1.2";

/// One varbind as we store it (JSON) and re-emit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Varbind {
    pub oid: String,
    #[serde(flatten)]
    pub value: VarValue,
}

/// SNMP value, typed as on the wire. Octet strings that are not UTF-8 are hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum VarValue {
    Integer(i64),
    String(String),
    Hex(String),
    Oid(String),
    IpAddress(String),
    Counter32(u32),
    Gauge32(u32),
    Timeticks(u32),
    Counter64(u64),
    Opaque(String),
    Null,
    Other(String),
}

impl VarValue {
    /// Text form for display and mapping (hex for binary strings).
    pub fn as_text(&self) -> String {
        match self {
            VarValue::String(s) | VarValue::Hex(s) | VarValue::Oid(s) | VarValue::IpAddress(s) => {
                s.clone()
            }
            VarValue::Opaque(s) | VarValue::Other(s) => s.clone(),
            VarValue::Integer(i) => i.to_string(),
            VarValue::Counter32(n) | VarValue::Gauge32(n) | VarValue::Timeticks(n) => n.to_string(),
            VarValue::Counter64(n) => n.to_string(),
            VarValue::Null => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnmpVersion {
    V1,
    V2c,
    V3,
}

/// A notification as received and authenticated, in v2 form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrapNotification {
    pub version: SnmpVersion,
    /// True for an InformRequest.
    pub inform: bool,
    /// UDP source address.
    pub source: IpAddr,
    /// SNMPv1 agent-addr field, when it was a v1 trap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_address: Option<String>,
    pub trap_oid: String,
    pub uptime: u32,
    /// Varbinds after sysUpTime.0 and snmpTrapOID.0.
    pub varbinds: Vec<Varbind>,
    /// SNMPv3 user name (never the community: that is a shared secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_name: Option<String>,
}

impl TrapNotification {
    /// The first varbind whose OID is `prefix.x` or `prefix.x.<instance>`.
    fn var(&self, prefix: &str, x: u32) -> Option<&VarValue> {
        // Compared arc by arc, not against a formatted OID: this runs a few
        // times per trap on the hot path, and formatting allocated twice.
        let is_x = |oid: &str| {
            oid.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.'))
                .map(|rest| rest.split_once('.').map_or(rest, |(arc, _)| arc))
                .is_some_and(|arc| arc_is(arc, x))
        };
        self.varbinds
            .iter()
            .find(|vb| is_x(&vb.oid))
            .map(|vb| &vb.value)
    }

    fn text(&self, prefix: &str, x: u32) -> Option<String> {
        self.var(prefix, x)
            .map(VarValue::as_text)
            .filter(|s| !s.is_empty())
    }

    /// The address that originated the notification (v1 agent-addr when set).
    pub fn agent(&self) -> String {
        self.agent_address
            .clone()
            .filter(|a| a != "0.0.0.0")
            .unwrap_or_else(|| self.source.to_string())
    }
}

/// Whether `arc` is the decimal text of `x` exactly (no sign, no leading zero).
fn arc_is(arc: &str, x: u32) -> bool {
    arc.bytes().all(|b| b.is_ascii_digit())
        && (arc == "0" || !arc.starts_with('0'))
        && arc.parse::<u32>().is_ok_and(|a| a == x)
}

/// Maps one notification to an Event for `vcenter`.
pub fn normalize(n: &TrapNotification, vcenter: &str, received_at: OffsetDateTime) -> Event {
    let mut event = match n.trap_oid.as_str() {
        VPXD_ALARM_INFO => alarm_info(n, vcenter),
        VPXD_ALARM => vpxd_alarm(n, vcenter, VC_VARBINDS, false),
        LEGACY_VPXD_TRAP => vpxd_alarm(n, vcenter, LEGACY_VARBINDS, true),
        VPXD_DIAGNOSTIC => {
            let mut e =
                Event::unfingerprinted(Source::Snmp, vcenter, type_named("vpxd.diagnostic"));
            e.message = Some("vCenter diagnostic (liveness) notification".to_owned());
            e
        }
        oid => match oid
            .strip_prefix(ESX_NOTIFICATIONS)
            .and_then(|rest| rest.strip_prefix('.'))
        {
            Some(arc) => esx_trap(n, vcenter, arc),
            None => unknown(n, vcenter),
        },
    };
    event.received_at = received_at;
    event
        .metadata
        .insert("trap_oid".into(), Value::String(n.trap_oid.clone()));
    event
        .metadata
        .insert("agent_address".into(), Value::String(n.agent()));
    event.raw = RawPayload::encode(n);
    if let Some(status) = event.alarm.as_ref().and_then(|a| a.new_status.as_ref()) {
        event.category = Some(
            match status.status {
                AlarmStatus::Red => "error",
                AlarmStatus::Yellow => "warning",
                _ => "info",
            }
            .to_owned(),
        );
    }
    event.fingerprint = event.compute_fingerprint();
    event
}

fn type_named(name: &str) -> EventType {
    EventType::parse(name).unwrap_or_else(|_| EventType::parse("snmp.trap").expect("literal"))
}

/// vpxdAlarmInfo: targetObjType, oldStatus, newStatus, objValue, targetObj.
fn alarm_info(n: &TrapNotification, vcenter: &str) -> Event {
    let mut e = Event::unfingerprinted(Source::Snmp, vcenter, EventType::alarm_status_changed());
    let obj_value = n.text(VC_VARBINDS, 306);
    e.entity.name = n.text(VC_VARBINDS, 307);
    e.entity.kind = match n.var(VC_VARBINDS, 308) {
        Some(VarValue::Integer(2)) => Some(EntityKind::HostSystem),
        Some(VarValue::Integer(3)) => Some(EntityKind::VirtualMachine),
        Some(VarValue::Integer(4)) => Some(EntityKind::Other),
        _ => None,
    };
    e.alarm = Some(Alarm {
        name: obj_value.as_deref().and_then(alarm_name_from_obj_value),
        moref: None,
        old_status: n.text(VC_VARBINDS, 304).map(|s| StatusText::parse(&s)),
        new_status: n.text(VC_VARBINDS, 305).map(|s| StatusText::parse(&s)),
    });
    e.message = obj_value;
    if e.entity.kind == Some(EntityKind::VirtualMachine) {
        put(&mut e.metadata, "vm_name", e.entity.name.clone());
    }
    e
}

/// vpxdAlarm (…4.3.0.201) or the legacy vpxdTrap, whose status varbinds are
/// swapped (new before old).
fn vpxd_alarm(n: &TrapNotification, vcenter: &str, prefix: &str, legacy: bool) -> Event {
    let mut e = Event::unfingerprinted(Source::Snmp, vcenter, EventType::alarm_status_changed());
    let (old_arc, new_arc) = if legacy { (305, 304) } else { (304, 305) };
    let host = n.text(prefix, 302);
    let vm = n.text(prefix, 303);
    let obj_value = n.text(prefix, 306);
    if let Some(vm) = &vm {
        e.entity.kind = Some(EntityKind::VirtualMachine);
        e.entity.name = Some(vm.clone());
        put(&mut e.metadata, "vm_name", Some(vm.clone()));
    } else if let Some(host) = &host {
        e.entity.kind = Some(EntityKind::HostSystem);
        e.entity.name = Some(host.clone());
    }
    put(&mut e.metadata, "host", host);
    put(&mut e.metadata, "trap_type", n.text(prefix, 301));
    e.alarm = Some(Alarm {
        name: obj_value.as_deref().and_then(alarm_name_from_obj_value),
        moref: None,
        old_status: n.text(prefix, old_arc).map(|s| StatusText::parse(&s)),
        new_status: n.text(prefix, new_arc).map(|s| StatusText::parse(&s)),
    });
    e.message = obj_value;
    e
}

/// ESXi VM traps (VMWARE-VMINFO-MIB) and hardware traps (VMWARE-ENV-MIB).
fn esx_trap(n: &TrapNotification, vcenter: &str, arc: &str) -> Event {
    let Some(name) = esx_type_name(arc) else {
        return unknown(n, vcenter);
    };
    let mut e = Event::unfingerprinted(Source::Snmp, vcenter, type_named(name));
    if name.starts_with("vm.") {
        esx_vm_subject(&mut e, n);
    } else {
        esx_host_subject(&mut e, n);
    }
    e.message
        .get_or_insert_with(|| format!("ESXi notification {name} from {}", n.agent()));
    e
}

/// The VM an ESXi VM trap is about (display name, id, config file).
fn esx_vm_subject(e: &mut Event, n: &TrapNotification) {
    e.entity.kind = Some(EntityKind::VirtualMachine);
    let display = n
        .varbinds
        .iter()
        .find(|vb| vb.oid.starts_with(&format!("{VM_DISPLAY_NAME}.")))
        .map(|vb| vb.value.as_text());
    e.entity.name = display.clone();
    put(&mut e.metadata, "vm_name", display);
    put(&mut e.metadata, "esx_vm_id", n.text(LEGACY_VARBINDS, 101));
    put(
        &mut e.metadata,
        "vm_config_file",
        n.text(LEGACY_VARBINDS, 102),
    );
}

/// The host an ESXi hardware trap is about; its varbinds' text is the message.
fn esx_host_subject(e: &mut Event, n: &TrapNotification) {
    e.entity.kind = Some(EntityKind::HostSystem);
    e.entity.name = Some(n.agent());
    let texts: Vec<String> = n
        .varbinds
        .iter()
        .map(|vb| vb.value.as_text())
        .filter(|t| !t.is_empty())
        .collect();
    if !texts.is_empty() {
        e.message = Some(texts.join("; "));
    }
}

/// The event type of an ESXi trap (`ESX_NOTIFICATIONS.<arc>`); `None` for
/// an arc vcgate does not know.
fn esx_type_name(arc: &str) -> Option<&'static str> {
    Some(match arc {
        "1" => "vm.powered.on",
        "2" => "vm.powered.off",
        "3" => "vm.hb.lost",
        "4" => "vm.hb.detected",
        "5" => "vm.suspended",
        "302" => "esx.hardware.alert",
        "303" => "esx.battery.alert",
        "304" => "esx.chassis.alert",
        "305" => "esx.thermal.alert",
        "306" => "esx.disk.alert",
        "307" => "esx.power.alert",
        "308" => "esx.processor.alert",
        "309" => "esx.memory.alert",
        "310" => "esx.bios.alert",
        "400" => "esx.ipmi.memory.raised",
        "401" => "esx.ipmi.memory.cleared",
        "410" => "esx.power.supply.raised",
        "411" => "esx.power.supply.cleared",
        "420" => "esx.fan.raised",
        "421" => "esx.fan.cleared",
        "430" => "esx.cpu.raised",
        "431" => "esx.cpu.cleared",
        _ => return None,
    })
}

fn unknown(n: &TrapNotification, vcenter: &str) -> Event {
    let mut e = Event::unfingerprinted(Source::Snmp, vcenter, type_named("snmp.trap"));
    e.message = Some(format!(
        "SNMP notification {} from {}",
        n.trap_oid,
        n.agent()
    ));
    e.metadata.insert(
        "varbinds".into(),
        json!(
            n.varbinds
                .iter()
                .map(|vb| json!({"oid": vb.oid, "value": vb.value.as_text()}))
                .collect::<Vec<_>>()
        ),
    );
    e
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v));
    }
}

/// vCenter's objValue often starts with the alarm's system name
/// (`alarm.VmMemoryUsageAlarm - Metric …`) or quotes it (`Alarm 'Host down' on …`).
pub fn alarm_name_from_obj_value(text: &str) -> Option<String> {
    let text = text.trim();
    if text.starts_with("alarm.") {
        let end = text.find([' ', '\t', '\n']).unwrap_or(text.len());
        return Some(text[..end].to_owned());
    }
    let rest = text.strip_prefix("Alarm '")?;
    let end = rest.find('\'')?;
    (end > 0).then(|| rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vb(oid: &str, value: VarValue) -> Varbind {
        Varbind {
            oid: oid.into(),
            value,
        }
    }

    fn s(text: &str) -> VarValue {
        VarValue::String(text.into())
    }

    fn notification(trap_oid: &str, varbinds: Vec<Varbind>) -> TrapNotification {
        TrapNotification {
            version: SnmpVersion::V2c,
            inform: false,
            source: "10.1.2.3".parse().unwrap(),
            agent_address: None,
            trap_oid: trap_oid.into(),
            uptime: 100,
            varbinds,
            security_name: None,
        }
    }

    fn vc(x: u32) -> String {
        format!("{VC_VARBINDS}.{x}.0")
    }

    #[test]
    fn alarm_info_vm_red() {
        let n = notification(
            VPXD_ALARM_INFO,
            vec![
                vb(&vc(308), VarValue::Integer(3)),
                vb(&vc(304), s("Green")),
                vb(&vc(305), s("Red")),
                vb(
                    &vc(306),
                    s("alarm.VmMemoryUsageAlarm - Metric Memory Host consumed % = 97%"),
                ),
                vb(&vc(307), s("testvm01")),
            ],
        );
        let e = normalize(&n, "vc1", OffsetDateTime::now_utc());
        assert_eq!(e.event_type.as_str(), "alarm.status.changed");
        assert_eq!(e.entity.kind, Some(EntityKind::VirtualMachine));
        assert_eq!(e.entity.name.as_deref(), Some("testvm01"));
        let alarm = e.alarm.unwrap();
        assert_eq!(alarm.name.as_deref(), Some("alarm.VmMemoryUsageAlarm"));
        assert_eq!(alarm.old_status.unwrap().status, AlarmStatus::Green);
        assert_eq!(alarm.new_status.unwrap().status, AlarmStatus::Red);
        assert_eq!(e.metadata["trap_oid"], VPXD_ALARM_INFO);
        assert_eq!(e.raw.to_value()["varbinds"][4]["value"], "testvm01");
    }

    #[test]
    fn legacy_trap_swaps_statuses() {
        let l = |x: u32| format!("{LEGACY_VARBINDS}.{x}");
        let n = notification(
            LEGACY_VPXD_TRAP,
            vec![
                vb(&l(301), s("Alarm")),
                vb(&l(302), s("esx01")),
                vb(&l(303), s("")),
                vb(&l(304), s("Red")),
                vb(&l(305), s("Green")),
                vb(&l(306), s("Alarm 'Host connection' on esx01 changed")),
            ],
        );
        let e = normalize(&n, "vc1", OffsetDateTime::now_utc());
        let alarm = e.alarm.unwrap();
        assert_eq!(alarm.new_status.unwrap().status, AlarmStatus::Red);
        assert_eq!(alarm.old_status.unwrap().status, AlarmStatus::Green);
        assert_eq!(alarm.name.as_deref(), Some("Host connection"));
        assert_eq!(e.entity.kind, Some(EntityKind::HostSystem));
        assert_eq!(e.entity.name.as_deref(), Some("esx01"));
    }

    #[test]
    fn localized_status_is_kept_raw() {
        let n = notification(
            VPXD_ALARM_INFO,
            vec![vb(&vc(305), s("红色")), vb(&vc(307), s("主机"))],
        );
        let e = normalize(&n, "vc1", OffsetDateTime::now_utc());
        let status = e.alarm.unwrap().new_status.unwrap();
        assert_eq!(status.status, AlarmStatus::Unknown);
        assert_eq!(status.raw, "红色");
    }

    #[test]
    fn esx_and_unknown_traps() {
        let n = notification(
            "1.3.6.1.4.1.6876.4.1.0.1",
            vec![
                vb("1.3.6.1.4.1.6876.50.101.0", VarValue::Integer(7)),
                vb(&format!("{VM_DISPLAY_NAME}.7"), s("db01")),
            ],
        );
        let e = normalize(&n, "vc1", OffsetDateTime::now_utc());
        assert_eq!(e.event_type.as_str(), "vm.powered.on");
        assert_eq!(e.entity.name.as_deref(), Some("db01"));
        let hw = normalize(
            &notification("1.3.6.1.4.1.6876.4.1.0.305", vec![]),
            "vc1",
            OffsetDateTime::now_utc(),
        );
        assert_eq!(hw.event_type.as_str(), "esx.thermal.alert");
        let other = normalize(
            &notification(
                "1.3.6.1.6.3.1.1.5.3",
                vec![vb("1.3.6.1.2.1.2.2.1.1.2", VarValue::Integer(2))],
            ),
            "vc1",
            OffsetDateTime::now_utc(),
        );
        assert_eq!(other.event_type.as_str(), "snmp.trap");
        assert_eq!(other.metadata["trap_oid"], "1.3.6.1.6.3.1.1.5.3");
        assert_eq!(other.metadata["varbinds"][0]["value"], "2");
    }

    #[test]
    fn diagnostic() {
        let e = normalize(
            &notification(VPXD_DIAGNOSTIC, vec![]),
            "vc1",
            OffsetDateTime::now_utc(),
        );
        assert_eq!(e.event_type.as_str(), "vpxd.diagnostic");
    }

    #[test]
    fn hook_and_trap_of_same_builtin_alarm_share_identity() {
        let n = notification(
            VPXD_ALARM_INFO,
            vec![
                vb(&vc(305), s("Red")),
                vb(&vc(306), s("alarm.HostConnectionStateAlarm")),
                vb(&vc(307), s("esx01")),
            ],
        );
        let trap = normalize(&n, "vc1", OffsetDateTime::now_utc());
        let body = serde_json::to_vec(&json!({"delivery_id": "d1", "vcenter": "vc1", "env": {
            "VMWARE_ALARM_NAME": "alarm.HostConnectionStateAlarm", "VMWARE_ALARM_TARGET_NAME": "esx01",
            "VMWARE_ALARM_TARGET_ID": "host-9", "VMWARE_ALARM_NEWSTATUS": "Red"}}))
        .unwrap();
        let hook = crate::normalize::alarm_hook::normalize(&body, "vc1", OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(trap.dedup_identity(), hook.dedup_identity());
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = VarValue> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(VarValue::Integer),
            "\\PC{0,40}".prop_map(VarValue::String),
            "[0-9a-f]{0,20}".prop_map(VarValue::Hex),
            "[0-9.]{0,30}".prop_map(VarValue::Oid),
            any::<u32>().prop_map(VarValue::Timeticks),
            Just(VarValue::Null),
        ]
    }

    proptest::proptest! {
        /// The varbind lookup finds what the formatted-OID lookup it
        /// replaced found: `prefix.x` or `prefix.x.<anything>`.
        #[test]
        fn var_lookup_matches_the_formatted_oid_rule(
            arcs in proptest::collection::vec("(0|7|30|301|0301|\\+301|304|3045|x)", 0..4),
            tail in "(|\\.0|\\.1\\.2|0)",
            x in proptest::sample::select(vec![0u32, 7, 30, 301, 304]),
        ) {
            let oid = format!("1.3.6{}{tail}", arcs.iter().map(|a| format!(".{a}")).collect::<String>());
            let n = TrapNotification {
                version: SnmpVersion::V2c,
                inform: false,
                source: std::net::IpAddr::from([127, 0, 0, 1]),
                agent_address: None,
                trap_oid: String::new(),
                uptime: 0,
                varbinds: vec![Varbind { oid: oid.clone(), value: VarValue::Integer(1) }],
                security_name: None,
            };
            let exact = format!("1.3.6.{x}");
            let formatted = oid == exact || oid.starts_with(&format!("{exact}."));
            proptest::prop_assert_eq!(n.var("1.3.6", x).is_some(), formatted, "{}", oid);
        }

        /// Any notification — VMware OIDs with arbitrary varbinds included —
        /// normalizes without panicking into an event with a valid type.
        #[test]
        fn any_notification_normalizes(
            arc in proptest::sample::select(vec!["4.3.0.201", "4.3.0.202", "4.3.0.203", "0.201", "4.1.0.1", "4.1.0.305", "4.1.0.999", "9.9"]),
            vbs in proptest::collection::vec((proptest::sample::select(vec!["4.3.301.0", "4.3.304.0", "4.3.305.0", "4.3.306.0", "4.3.307.0", "4.3.308.0", "50.101", "50.304", "2.1.1.2.7"]), arb_value()), 0..8),
        ) {
            let n = notification(
                &format!("1.3.6.1.4.1.6876.{arc}"),
                vbs.into_iter().map(|(oid, value)| vb(&format!("1.3.6.1.4.1.6876.{oid}"), value)).collect(),
            );
            let e = normalize(&n, "vc1", OffsetDateTime::now_utc());
            proptest::prop_assert!(EventType::parse(e.event_type.as_str()).is_ok());
            // Built unfingerprinted; the fingerprint is set once, from every field.
            proptest::prop_assert!(!e.fingerprint.0.is_empty());
            proptest::prop_assert_eq!(&e.fingerprint, &e.compute_fingerprint());
            let back: TrapNotification = e.raw.decode().unwrap();
            proptest::prop_assert_eq!(back, n);
        }
    }
}
