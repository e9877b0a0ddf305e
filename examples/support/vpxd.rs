//! The vpxdAlarmInfo notification the SNMP load generators send (`trapgen`,
//! `informgen`): distinct per target VM, so dedup never merges two of them
//! and every one is real work for the receiver.

use async_snmp::message::CommunityMessage;
use async_snmp::pdu::NotificationPdu;
use async_snmp::{Oid, Value, VarBind, Version};

/// vpxdAlarmInfo (VMWARE-VC-EVENT-MIB).
const TRAP_OID: &str = "1.3.6.1.4.1.6876.4.3.0.203";
const VARBIND_OIDS: [&str; 5] = [
    "1.3.6.1.4.1.6876.4.3.308.0", // vpxdTrapType
    "1.3.6.1.4.1.6876.4.3.304.0", // vpxdOldStatus
    "1.3.6.1.4.1.6876.4.3.305.0", // vpxdNewStatus
    "1.3.6.1.4.1.6876.4.3.306.0", // vpxdObjValue
    "1.3.6.1.4.1.6876.4.3.307.0", // vpxdObjName
];

/// Encodes v2c vpxdAlarmInfo traps or informs, one per VM number.
pub struct AlarmInfoEncoder {
    trap_oid: Oid,
    oids: Vec<Oid>,
    community: String,
    inform: bool,
}

impl AlarmInfoEncoder {
    pub fn new(community: &str, inform: bool) -> Result<Self, String> {
        let parse = |s: &str| Oid::parse(s).map_err(|e| format!("{s}: {e}"));
        Ok(Self {
            trap_oid: parse(TRAP_OID)?,
            oids: VARBIND_OIDS
                .iter()
                .map(|s| parse(s))
                .collect::<Result<_, _>>()?,
            community: community.to_owned(),
            inform,
        })
    }

    /// The datagram about VM `<vm_prefix>-<i>`, with request id `request_id`.
    pub fn encode(&self, vm_prefix: &str, i: u64, request_id: i32) -> Result<Vec<u8>, String> {
        let octets = |s: String| Value::OctetString(s.into_bytes().into());
        let values = [
            Value::Integer(3),
            octets("Green".into()),
            octets("Red".into()),
            octets("alarm.VmMemoryUsageAlarm - Metric Memory = 97%".into()),
            octets(format!("{vm_prefix}-{i}")),
        ];
        let varbinds = self
            .oids
            .iter()
            .cloned()
            .zip(values)
            .map(|(oid, value)| VarBind::new(oid, value))
            .collect();
        let uptime = (i % u32::MAX as u64) as u32;
        let pdu = if self.inform {
            NotificationPdu::inform(Version::V2c, request_id, uptime, &self.trap_oid, varbinds)
        } else {
            NotificationPdu::trap_v2(Version::V2c, request_id, uptime, &self.trap_oid, varbinds)
        }
        .map_err(|e| format!("building notification {i}: {e}"))?;
        let message = CommunityMessage::v2c(self.community.as_str(), pdu)
            .map_err(|e| format!("building message {i}: {e}"))?;
        message
            .encode()
            .map(|b| b.to_vec())
            .map_err(|e| format!("encoding notification {i}: {e}"))
    }
}
