//! The XML reader with nesting in mind: the first two bytes choose a depth
//! (up to 20 000 levels, far past `xml::MAX_DEPTH`) at which the rest of the
//! input is wrapped, alternating plain and namespaced elements, so the fuzzer
//! explores deep documents it would never reach by mutation alone. A parsed
//! tree must respect the depth bound; nothing may panic or overflow the stack.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vcgate::vsphere::xml::{self, Element, MAX_DEPTH};

fn depth(e: &Element) -> usize {
    1 + e.children.iter().map(depth).max().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let levels = usize::from(u16::from_le_bytes([data[0], data[1]])) % 20_000;
    let Ok(inner) = std::str::from_utf8(&data[2..]) else {
        return;
    };
    let mut doc = String::with_capacity(levels * 30 + inner.len());
    for i in 0..levels {
        doc.push_str(if i % 2 == 0 { "<a>" } else { r#"<v:b xmlns:v="urn:vim25">"# });
    }
    doc.push_str(inner);
    for i in (0..levels).rev() {
        doc.push_str(if i % 2 == 0 { "</a>" } else { "</v:b>" });
    }
    if let Ok(root) = xml::parse(&doc) {
        assert!(depth(&root) <= MAX_DEPTH, "a tree deeper than the bound");
    }
    let _ = xml::parse_bounded(&doc, 64 * 1024);
    let _ = vcgate::vsphere::soap::parse_response(200, &doc);
});
