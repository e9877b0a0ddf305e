//! Alarm-hook body (POST /api/v1/alarms) → Event → CloudEvent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = vcgate::normalize::alarm_hook::normalize(data, "vc1", time::OffsetDateTime::UNIX_EPOCH) {
        let _ = event.to_cloudevent();
        let _ = event.dedup_identity();
    }
});
