//! SNMP datagram → decode (async-snmp) → our notification model → Event.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = std::net::IpAddr::from([10, 0, 0, 1]);
    if let Some(n) = vcgate::ingest::snmp::decode_community_datagram(data, source) {
        let event = vcgate::normalize::trap::normalize(&n, "vc1", time::OffsetDateTime::UNIX_EPOCH);
        let _ = event.to_cloudevent();
    }
});
