//! Conversions between async-snmp's wire types and our own varbind model
//! (`normalize::trap::Varbind`), used by the receiver and the SNMP forwarder.
//!
//! Keeping our own model lets the normalizer stay pure and lets the original
//! varbinds be stored as JSON and re-emitted exactly.

use async_snmp::{Oid, Value, VarBind};
use bytes::Bytes;

use crate::normalize::trap::{VarValue, Varbind};

pub fn oid_text(oid: &Oid) -> String {
    use std::fmt::Write;
    // One buffer, not a String per arc plus a join: this runs several times
    // per trap (trap OID, every varbind name).
    let arcs = oid.arcs();
    let mut out = String::with_capacity(arcs.len() * 4);
    for (i, arc) in arcs.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let _ = write!(out, "{arc}");
    }
    out
}

pub fn parse_oid(text: &str) -> Option<Oid> {
    let arcs: Result<Vec<u32>, _> = text
        .trim_start_matches('.')
        .split('.')
        .map(str::parse)
        .collect();
    arcs.ok().filter(|a| !a.is_empty()).map(Oid::new)
}

/// Lowercase hex of `bytes` (lives in `model`, the lower layer: event
/// fingerprints use it too).
pub use crate::model::hex;

/// Bytes of a hex string (`None` when it is not hex).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn from_wire(vb: &VarBind) -> Varbind {
    let value = match &vb.value {
        Value::Integer(i) => VarValue::Integer(i64::from(*i)),
        Value::OctetString(b) => match std::str::from_utf8(b) {
            Ok(s) => VarValue::String(s.to_owned()),
            Err(_) => VarValue::Hex(hex(b)),
        },
        Value::Null => VarValue::Null,
        Value::ObjectIdentifier(o) => VarValue::Oid(oid_text(o)),
        Value::IpAddress(a) => VarValue::IpAddress(std::net::Ipv4Addr::from(*a).to_string()),
        Value::Counter32(n) => VarValue::Counter32(*n),
        Value::Gauge32(n) | Value::UInteger32(n) => VarValue::Gauge32(*n),
        Value::TimeTicks(n) => VarValue::Timeticks(*n),
        Value::Counter64(n) => VarValue::Counter64(*n),
        Value::Opaque(b) | Value::Nsap(b) => VarValue::Opaque(hex(b)),
        other => VarValue::Other(format!("{other:?}")),
    };
    Varbind {
        oid: oid_text(&vb.oid),
        value,
    }
}

/// Back to the wire; `None` for values that cannot be re-encoded.
pub fn to_wire(vb: &Varbind) -> Option<VarBind> {
    let oid = parse_oid(&vb.oid)?;
    let value = match &vb.value {
        VarValue::Integer(i) => Value::Integer(i32::try_from(*i).ok()?),
        VarValue::String(s) => Value::OctetString(Bytes::from(s.clone().into_bytes())),
        VarValue::Hex(h) => Value::OctetString(Bytes::from(unhex(h)?)),
        VarValue::Null => Value::Null,
        VarValue::Oid(o) => Value::ObjectIdentifier(parse_oid(o)?),
        VarValue::IpAddress(a) => Value::IpAddress(a.parse::<std::net::Ipv4Addr>().ok()?.octets()),
        VarValue::Counter32(n) => Value::Counter32(*n),
        VarValue::Gauge32(n) => Value::Gauge32(*n),
        VarValue::Timeticks(n) => Value::TimeTicks(*n),
        VarValue::Counter64(n) => Value::Counter64(*n),
        VarValue::Opaque(h) => Value::Opaque(Bytes::from(unhex(h)?)),
        VarValue::Other(_) => return None,
    };
    Some(VarBind::new(oid, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The allocation-lean encoders give exactly what the obvious ones
        /// gave (stored fingerprints and OIDs must not change).
        #[test]
        fn hex_and_oid_text_match_the_plain_encodings(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            arcs in proptest::collection::vec(any::<u32>(), 2..20),
        ) {
            let plain: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(hex(&bytes), plain);
            prop_assert_eq!(unhex(&hex(&bytes)), Some(bytes));
            let mut arcs = arcs;
            arcs[0] %= 3;
            arcs[1] %= 40;
            let text = arcs.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            let oid = parse_oid(&text).unwrap();
            prop_assert_eq!(oid_text(&oid), text);
        }
    }

    #[test]
    fn values_round_trip() {
        let cases = [
            VarBind::new(
                parse_oid("1.3.6.1.4.1.6876.4.3.308.0").unwrap(),
                Value::Integer(3),
            ),
            VarBind::new(
                parse_oid("1.3.6.1.4.1.6876.4.3.305.0").unwrap(),
                Value::OctetString(Bytes::from_static("红色".as_bytes())),
            ),
            VarBind::new(
                parse_oid("1.3.6.1.2.1.1.1.0").unwrap(),
                Value::OctetString(Bytes::from_static(&[0xff, 0x00])),
            ),
            VarBind::new(
                parse_oid("1.3.6.1.6.3.18.1.3.0").unwrap(),
                Value::IpAddress([10, 1, 2, 3]),
            ),
            VarBind::new(
                parse_oid("1.3.6.1.2.1.1.3.0").unwrap(),
                Value::TimeTicks(42),
            ),
            VarBind::new(
                parse_oid("1.3.6.1.2.1.1.2.0").unwrap(),
                Value::ObjectIdentifier(parse_oid("1.3.6.1.4.1.6876").unwrap()),
            ),
        ];
        for vb in cases {
            let ours = from_wire(&vb);
            let back = to_wire(&ours).expect("re-encodable");
            assert_eq!(back.oid, vb.oid);
            assert_eq!(back.value, vb.value);
        }
    }

    #[test]
    fn oid_parsing() {
        assert_eq!(oid_text(&parse_oid(".1.3.6.1").unwrap()), "1.3.6.1");
        assert!(parse_oid("1.x.3").is_none());
        assert!(parse_oid("").is_none());
    }
}
