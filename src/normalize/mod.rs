//! Pure mappers from what a source received to the `Event` model.
//!
//! Owns: the alarm-hook payload (`alarm_hook`), CloudEvent input from the API
//! (`cloudevent`), SNMP notifications (`trap`) and vCenter events from the
//! event stream (`vcenter_event`). Must not do I/O; every
//! function here is deterministic given its input and `received_at`.

pub mod alarm_hook;
pub mod cloudevent;
pub mod trap;
pub mod trigger;
pub mod vcenter_event;

/// Why an input could not become an event; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NormalizeError {
    pub message: String,
}

impl NormalizeError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

// Kept at its old path: describing bad JSON without echoing it is log/input hygiene.
pub use crate::logging::{json_error, redact_quoted};
