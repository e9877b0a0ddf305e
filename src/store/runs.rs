//! The runs aggregate: automation runs, one per (event, subscription),
//! queued by [`super::EventStore::record_processed`], claimed by the
//! function's runner, settled, retried and recovered.
//!
//! Owns: [`RunStore`] and its rows. Must not: know SQL.
//!
//! A claim is what a shared backend must make exclusive: `claim_runs` moves a
//! run to `running` atomically, so two runners (or two nodes) never start the
//! same attempt.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::StoreError;
use crate::model::{Event, EventId};

#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    /// Atomically moves up to `limit` due runs of `function` (queued, or
    /// failed with their retry time come) to `running` (attempt + 1) and
    /// returns them with their events, oldest due first.
    async fn claim_runs(
        &self,
        function: String,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, StoreError>;

    /// How long until this function's next queued or failed run is due
    /// (zero if one is due now); `None` when it has none waiting. Meant to
    /// be cheap: idle runners ask it instead of claiming.
    async fn next_run_due(
        &self,
        function: String,
    ) -> Result<Option<std::time::Duration>, StoreError>;

    /// Records how an attempt ended.
    async fn settle_run(&self, id: String, outcome: RunOutcome) -> Result<(), StoreError>;

    /// After a restart: runs left `running` by a process that died are
    /// queued again, or `dead` when that was their last attempt (by
    /// `max_attempts` per function; a function no longer configured counts
    /// as out of attempts). Returns how many were found.
    async fn requeue_interrupted(
        &self,
        max_attempts: HashMap<String, u32>,
    ) -> Result<u64, StoreError>;

    /// Re-queues a `dead` (or waiting `failed`) run with a fresh set of attempts.
    async fn retry_run(&self, id: String) -> Result<RetryOutcome, StoreError>;

    /// Runs matching `query`, newest first.
    async fn list_runs(&self, query: RunQuery) -> Result<Vec<RunRecord>, StoreError>;

    /// One run with its event.
    async fn get_run(&self, id: String) -> Result<Option<ClaimedRun>, StoreError>;

    /// Number of runs per status (statuses without runs are absent).
    async fn run_counts(&self) -> Result<BTreeMap<RunStatus, u64>, StoreError>;
}

/// A run to queue for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub subscription: String,
    pub function: String,
    /// Names (never values) of the secret sets the function gets.
    pub secrets: Vec<String>,
}

/// Lifecycle of a run: `queued → running → succeeded`, or `running → failed`
/// (waiting for its retry) `→ running …`, and after the last attempt `dead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Dead,
}

impl RunStatus {
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
    ];

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
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Captured output of one run, bounded; `truncated` says lines were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLogs {
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    #[serde(default)]
    pub truncated: bool,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub function: String,
    pub subscription: String,
    pub event_id: EventId,
    pub status: RunStatus,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub logs: RunLogs,
    #[serde(with = "time::serde::rfc3339")]
    pub queued: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished: Option<OffsetDateTime>,
    /// When a failed run is retried next.
    #[serde(default, with = "time::serde::rfc3339::option")]
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

/// What a manual retry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Queued again with a fresh set of attempts.
    Queued,
    /// No run has this id.
    NotFound,
    /// The run is in a state that cannot be retried (queued, running,
    /// succeeded): only dead or failed runs can.
    NotRetryable(RunStatus),
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
