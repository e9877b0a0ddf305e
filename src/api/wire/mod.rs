//! The JSON the HTTP API speaks, as types: every response body, and the
//! request bodies the CLI sends. The handlers serialize them, the CLI
//! (`crate::cli`) deserializes them, so a renamed field breaks the build or
//! fails loudly in the CLI instead of printing `-`.
//!
//! Owns: the shapes (field names, nesting, what is omitted when empty) and
//! the pure conversions from domain values (a `Silence`, an alert row) into
//! them. Must not: do I/O or know about axum; the handlers in `api/` fill
//! these from the store and live state.
//!
//! The shapes are a contract (`design.md`, driven by an acceptance suite).
//! Most bodies used to be built as `serde_json::Value`s, whose maps sort
//! their keys; `api::Sorted` keeps those bytes by serializing through a
//! `Value`. The tests in `tests.rs` pin each shape byte for byte.

pub mod alerts;
pub mod automation;
pub mod guard;
pub mod silences;
pub mod status;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::model::EventId;
use crate::store::StoredEvent;

/// `POST /api/v1/reload`: what the reload loaded.
pub use crate::settings::ReloadSummary;
pub use alerts::{AlertList, AlertView, GettableAlert, gettable_alerts};
pub use automation::{
    CloudEventHead, FunctionList, FunctionView, RunList, RunQueued, RunView, SubscriptionList,
    SubscriptionView,
};
pub use guard::{GuardHost, GuardVcenter, GuardView, GuardedHost};
pub use silences::{
    AlertmanagerStatus, GettableSilence, NewSilenceV1, PostableSilence, SilenceCreated,
    SilenceList, SilenceMatcher,
};
pub use status::{HostRef, SilenceSummary, Status};

/// Every error answer: `{"error": "<short>", "detail": "<human text>"}`
/// (the policy is in `api/error.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
}

/// `GET /healthz` (`ok`) and `GET /readyz` (`ready`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

/// `POST /api/v1/alarms` and `POST /api/v1/events`: the event's id;
/// `duplicate: true` (status 200) when the delivery was accepted before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub id: EventId,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// `POST /api/v1/events` with a CloudEvents batch: one [`Accepted`] per
/// event, in the batch's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedBatch {
    pub events: Vec<Accepted>,
}

/// `GET /api/v1/events`: a page of events, newest first, and the cursor
/// for the next (older) page (`?before=`), `null` on the last page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<StoredEvent>,
    pub next_before: Option<i64>,
}
