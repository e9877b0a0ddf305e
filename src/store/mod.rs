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
/// Operator copies of the store: `vcgate backup`, `restore`, `check-store`.
pub use sqlite::backup::{
    BACKUP_DATABASE, BackupReport, CheckReport, RestoreReport, backup, check as check_store,
    restore,
};

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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    /// Insertion order; stable cursor for pagination.
    pub seq: i64,
    /// `accepted` until the pipeline has decided, then `processed`.
    pub stage: std::borrow::Cow<'static, str>,
    /// How many later arrivals were merged into this event by dedup.
    pub duplicates: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// Delivery state per monitoring target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryState>,
}

/// One queued forward of an event to a monitoring target.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct StoreStats {
    pub events: u64,
    pub pending_pipeline: u64,
    pub pending_deliveries: u64,
    pub size_bytes: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_event: Option<OffsetDateTime>,
    pub writable: bool,
}

/// Who an alert is about, as far as the events seen so far tell (a trap
/// knows names only; the hook and enrichment add morefs). Matching an event
/// to an alert uses morefs where both sides know them, names otherwise
/// (`monitoring::alerts::identity_matches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AlertIdentity {
    pub vcenter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_moref: Option<String>,
    pub entity_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_moref: Option<String>,
    pub alarm_name: String,
}

/// Where an alert stands for one monitoring target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    /// Resolved; kept (Alertmanager targets only) until every URL has taken
    /// the resolve, or the alert's last `endsAt` has passed anyway.
    Resolved,
}

/// One row of the active-alert table: an alert (identity) per monitoring
/// target, with the label set frozen when it first fired.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AlertRow {
    pub target: String,
    /// Stable row key (assigned at first fire).
    pub key: String,
    pub identity: AlertIdentity,
    /// Labels sent to Alertmanager, frozen at first fire: the resolve carries
    /// exactly these.
    pub labels: std::collections::BTreeMap<String, String>,
    pub state: AlertState,
    /// `critical` / `warning` (annotation; changes within one alert).
    pub severity: String,
    /// The alarm status as vCenter gave it (annotation).
    pub status: String,
    pub summary: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// The latest event about this alert.
    pub event_id: EventId,
    /// The last event the target was told about (`None`: the target has not
    /// been told this alert fired, e.g. it was held all along).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_event_id: Option<EventId>,
    /// What holds it back now (`maintenance:<host>`, `silence:<id>`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// Change counter, increasing across the table (set by the store).
    #[serde(default)]
    pub version: i64,
}

/// How a monitoring target takes alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Event by event (SNMP traps, CloudEvents): the firing and the clear
    /// are each one delivery of the event.
    Events,
    /// Alertmanager: the table is the state; a sender re-sends it.
    Alertmanager,
}

/// What an event does to the active-alert table (see `monitoring::alerts`).
#[derive(Debug, Clone)]
pub struct AlertInput {
    pub observation: crate::monitoring::alerts::Observation,
    /// Every monitoring target, with its kind.
    pub targets: Vec<(String, TargetKind)>,
}

/// A held alert that may now be sent (see `Store::release_alerts`).
#[derive(Debug, Clone)]
pub struct AlertRelease {
    pub target: String,
    pub key: String,
    /// Only if the row is still at this version (nothing changed meanwhile).
    pub version: i64,
    /// Tell the target (`false`: just stop holding, e.g. `resolve_on_exit = false`).
    pub send: bool,
    /// Queue a delivery of the row's latest event (event-by-event targets).
    pub queue_delivery: bool,
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
    /// The event's effect on the active-alert table, applied in the same
    /// commit; the targets it queues are added to `disposition.forward_to`.
    pub alert: Option<AlertInput>,
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
