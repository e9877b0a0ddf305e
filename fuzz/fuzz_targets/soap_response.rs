//! SOAP answer parsing (responses, faults, events inside them).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for status in [200u16, 500] {
        if let Ok(element) = vcgate::vsphere::soap::parse_response(status, text) {
            for child in element.children_named("returnval") {
                let _ = vcgate::vsphere::VcEvent::parse(child);
            }
        }
    }
});
