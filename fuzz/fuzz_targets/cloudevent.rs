//! CloudEvent input (POST /api/v1/events) → Event.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = vcgate::normalize::cloudevent::normalize(data, "vc1", time::OffsetDateTime::UNIX_EPOCH) {
        let _ = event.to_cloudevent();
    }
});
