//! Event filters: which events a route, a subscription, a silence or an
//! event listing selects. Pure; depends only on `model` and `veba`.
//!
//! Must not know about config, the store or any stage: config parses into
//! these types, the stages call them.

mod glob;

pub use glob::{MAX_GLOB_CHARS, check_glob, glob_match};

use crate::model::Event;

/// Whether a `type` glob (of a route or a subscription) matches any name
/// the event goes by: its Dispatch name (`vm.powered.on`), its VEBA type
/// (`com.vmware.vsphere.VmPoweredOnEvent.v0`) or its vSphere class
/// (`VmPoweredOnEvent`: VEBA's `subject`, the `topic` the older VEBA router's
/// OpenFaaS functions filtered on). See [`crate::veba::class_of`].
pub fn type_matches(pattern: &str, event: &Event) -> bool {
    if glob_match(pattern, event.event_type.as_str()) {
        return true;
    }
    let class = crate::veba::class_of(event);
    glob_match(pattern, &class.name) || glob_match(pattern, &class.type_name())
}
