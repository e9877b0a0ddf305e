//! SNMP forwarder: re-emits an event to the NMS as a v2c or v3 trap.
//!
//! Events that came in as SNMP keep their trap OID and varbinds exactly;
//! `snmpTrapAddress.0` is added with the original agent's address (RFC 3584
//! proxy style). Events from other sources become a vpxdAlarmInfo trap built
//! from the event's fields, so the NMS sees the same shape either way.

use std::time::Duration;

use async_snmp::{Auth, Client, Value, VarBind};
use bytes::Bytes;

use super::{ForwardError, Forwarder};
use crate::config::{SnmpForwardTarget, SnmpVersion, resolve_secret};
use crate::model::{EntityKind, Event};
use crate::normalize::trap::{TrapNotification, VC_VARBINDS, VPXD_ALARM_INFO};
use crate::snmp_values::{parse_oid, to_wire};

/// snmpTrapAddress.0 (SNMP-COMMUNITY-MIB).
const SNMP_TRAP_ADDRESS: &str = "1.3.6.1.6.3.18.1.3.0";

pub struct SnmpForwarder {
    target: String,
    auth: Auth,
    /// Our engine as the authoritative sender of v3 traps (persisted boots).
    engine: Option<async_snmp::v3::AuthoritativeEngine>,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl SnmpForwarder {
    pub fn new(config: &SnmpForwardTarget, engine_file: &std::path::Path) -> anyhow::Result<Self> {
        let engine = if config.version == SnmpVersion::V3 {
            Some(crate::ingest::snmp::load_engine(
                engine_file,
                config.engine_id.as_deref(),
            )?)
        } else {
            None
        };
        let auth = match config.version {
            SnmpVersion::V3 => {
                let user = config.user.clone().ok_or_else(|| {
                    anyhow::anyhow!("monitoring.snmp {}: version 3 needs `user`", config.target)
                })?;
                let auth_password = resolve_secret(
                    "monitoring.snmp.auth_password",
                    &config.auth_password,
                    &config.auth_password_file,
                    &None,
                )?;
                let priv_password = resolve_secret(
                    "monitoring.snmp.priv_password",
                    &config.priv_password,
                    &config.priv_password_file,
                    &None,
                )?;
                let mut usm = async_snmp::UsmConfig::new(user);
                if let (Some(proto), Some(pass)) = (config.auth_protocol, auth_password) {
                    usm = match (config.priv_protocol, priv_password) {
                        (Some(pp), Some(ppass)) => usm.auth_priv(
                            crate::ingest::snmp::auth_protocol(proto),
                            pass.expose(),
                            crate::ingest::snmp::priv_protocol(pp),
                            ppass.expose(),
                        )?,
                        _ => usm.auth(crate::ingest::snmp::auth_protocol(proto), pass.expose())?,
                    };
                }
                Auth::from(usm)
            }
            SnmpVersion::V2c => Auth::v2c(
                config
                    .community
                    .as_ref()
                    .map(|c| c.expose().to_owned())
                    .unwrap_or_else(|| "public".to_owned()),
            ),
        };
        Ok(Self {
            target: config.target.clone(),
            auth,
            engine,
            client: tokio::sync::Mutex::new(None),
        })
    }
}

impl Forwarder for SnmpForwarder {
    async fn deliver(&self, event: &Event) -> Result<(), ForwardError> {
        let (trap_oid, uptime, varbinds) = trap_for(event)?;
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            let mut builder = Client::builder(self.target.clone(), self.auth.clone())
                .send_timeout(Duration::from_secs(5));
            if let Some(engine) = &self.engine {
                builder = builder.local_authoritative_engine(engine.clone());
            }
            let client = builder.connect().await.map_err(|e| {
                ForwardError::Transient(format!("connecting to {}: {e}", self.target))
            })?;
            *guard = Some(client);
        }
        let client = guard.as_ref().expect("just set");
        let result = client.send_trap(&trap_oid, uptime, varbinds).await;
        if let Err(e) = result {
            *guard = None; // reconnect next time (the target may have moved)
            return Err(ForwardError::Transient(format!(
                "sending trap to {}: {e}",
                self.target
            )));
        }
        Ok(())
    }
}

/// The trap OID, uptime and varbinds to send for `event`.
fn trap_for(event: &Event) -> Result<(async_snmp::Oid, u32, Vec<VarBind>), ForwardError> {
    if event.source == crate::model::Source::Snmp
        && let Ok(original) = event.raw.decode::<TrapNotification>()
    {
        let oid = parse_oid(&original.trap_oid).ok_or_else(|| {
            ForwardError::Permanent(format!("invalid trap OID {}", original.trap_oid))
        })?;
        let mut varbinds: Vec<VarBind> = original
            .varbinds
            .iter()
            .filter(|vb| vb.oid != SNMP_TRAP_ADDRESS)
            .filter_map(to_wire)
            .collect();
        if let Ok(ip) = original.agent().parse::<std::net::Ipv4Addr>() {
            varbinds.push(VarBind::new(
                parse_oid(SNMP_TRAP_ADDRESS).expect("literal"),
                Value::IpAddress(ip.octets()),
            ));
        }
        return Ok((oid, original.uptime, varbinds));
    }
    // Synthesized vpxdAlarmInfo.
    let text = |x: u32, value: String| {
        VarBind::new(
            parse_oid(&format!("{VC_VARBINDS}.{x}.0")).expect("literal"),
            Value::OctetString(Bytes::from(value.into_bytes())),
        )
    };
    let kind = match event.entity.kind {
        Some(EntityKind::HostSystem) => 2,
        Some(EntityKind::VirtualMachine) => 3,
        Some(_) => 4,
        None => 1,
    };
    let alarm = event.alarm.clone().unwrap_or_default();
    let obj_value = match (&alarm.name, &event.message) {
        (Some(name), Some(message)) => format!("{name} - {message}"),
        (Some(name), None) => name.clone(),
        (None, Some(message)) => message.clone(),
        (None, None) => event.event_type.to_string(),
    };
    let varbinds = vec![
        VarBind::new(
            parse_oid(&format!("{VC_VARBINDS}.308.0")).expect("literal"),
            Value::Integer(kind),
        ),
        text(304, alarm.old_status.map(|s| s.raw).unwrap_or_default()),
        text(305, alarm.new_status.map(|s| s.raw).unwrap_or_default()),
        text(306, obj_value),
        text(307, event.entity.name.clone().unwrap_or_default()),
    ];
    let uptime = (event.received_at.unix_timestamp().rem_euclid(1 << 31) as u32).wrapping_mul(100);
    Ok((
        parse_oid(VPXD_ALARM_INFO).expect("literal"),
        uptime,
        varbinds,
    ))
}
