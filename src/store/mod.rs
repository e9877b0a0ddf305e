//! The durable store: the only place events, pipeline decisions and
//! deliveries live across restarts.
//!
//! Owns: the backend-neutral store API (`Store`) the stages use — accept an
//! event, read events back, record pipeline outcomes, queue and settle
//! deliveries, small key/value state — and the error type mapped to HTTP 503.
//! The SQLite backend (`sqlite.rs`) is the only module that speaks SQL; a
//! PostgreSQL backend for active/active HA can replace it behind this API.
//!
//! Acceptance rule: `Store::accept` resolves only after the event's group commit
//! is durable (per `[store] sync`), so callers may acknowledge the sender then.

pub mod files;
mod sqlite;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{RouteTarget, StoreConfig};
use crate::model::{Event, EventId};

pub use sqlite::Store;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take writes right now (disk full, read-only, I/O error,
    /// writer stopped). Nothing was committed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database holds data this build cannot read.
    #[error("store data is corrupt or from an unknown version: {0}")]
    Corrupt(String),
    #[error("cannot open store: {0}")]
    Open(String),
}

/// Result of accepting one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Newly committed under this id.
    Accepted(EventId),
    /// The same delivery (source + delivery id) was already committed earlier.
    AlreadyAccepted(EventId),
}

impl AcceptOutcome {
    pub fn id(self) -> EventId {
        match self {
            Self::Accepted(id) | Self::AlreadyAccepted(id) => id,
        }
    }
}

/// Where a vCenter event stream stands: the last delivered event's key and
/// vCenter `createdTime` (committed with the events it covers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamCheckpoint {
    pub key: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// Filter for listing events, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    pub source: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// Only events with a sequence number below this (pagination cursor).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// What the pipeline decided for an event (after dedup and routing).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Disposition {
    /// Set when this event repeated an earlier one inside the dedup window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<EventId>,
    /// Routing decision; absent for duplicates (they go nowhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTarget>,
    /// Name of the rule that decided, or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Monitoring targets a delivery was queued for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_to: Vec<String>,
    /// Subscriptions a run was queued for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
    /// What held it back from monitoring (`maintenance:<host>`,
    /// `silence:<id>`, `inhibit:<rule>`); automation is never held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

/// An event as stored, with what the pipeline did with it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    /// Insertion order; stable cursor for pagination.
    pub seq: i64,
    /// `accepted` until the pipeline has decided, then `processed`.
    pub stage: &'static str,
    /// How many later arrivals were merged into this event by dedup.
    pub duplicates: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// Delivery state per monitoring target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryState>,
}

/// One queued forward of an event to a monitoring target.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryState {
    pub target: String,
    /// `pending`, `sent` or `failed` (gave up).
    pub state: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A due delivery handed to a forwarder.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub event: Event,
    pub attempts: u32,
}

/// Store size figures for the status endpoint.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreStats {
    pub events: u64,
    pub pending_pipeline: u64,
    pub pending_deliveries: u64,
    pub size_bytes: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_event: Option<OffsetDateTime>,
    pub writable: bool,
}

/// Merge of a later duplicate into the event it repeats.
#[derive(Debug, Clone)]
pub struct ProcessedEvent {
    pub id: EventId,
    pub disposition: Disposition,
    /// When set, bump this earlier event's `duplicates` and `last_seen`.
    pub merge_into: Option<EventId>,
    pub seen_at: OffsetDateTime,
    /// Automation runs to queue.
    pub runs: Vec<NewRun>,
    /// The event as enriched, to replace the stored one.
    pub updated: Option<Event>,
}

/// A run to queue for an event.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub subscription: String,
    pub function: String,
    /// Names (never values) of the secret sets the function gets.
    pub secrets: Vec<String>,
}

/// Lifecycle of a run: `queued → running → succeeded`, or `running → failed`
/// (waiting for its retry) `→ running …`, and after the last attempt `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Dead,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Captured output of one run, bounded; `truncated` says lines were dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct RunLogs {
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    #[serde(default)]
    pub truncated: bool,
}

/// A run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub function: String,
    pub subscription: String,
    pub event_id: EventId,
    pub status: RunStatus,
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub logs: RunLogs,
    #[serde(with = "time::serde::rfc3339")]
    pub queued: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished: Option<OffsetDateTime>,
    /// When a failed run is retried next.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    /// Names of the secret sets the function got (never their values).
    pub secrets: Vec<String>,
    pub seq: i64,
}

/// A claimed run with its event, ready to execute.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub run: RunRecord,
    pub event: Event,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub reason: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub logs: RunLogs,
    /// For `Failed`: when to try again.
    pub retry_at: Option<OffsetDateTime>,
}

/// Filter for listing runs, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub function: Option<String>,
    pub status: Option<RunStatus>,
    pub event: Option<EventId>,
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// Opens the store described by `config` (creating and migrating it).
pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
    Store::open(config)
}

fn to_json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| Value::Null.to_string())
}
