//! The guard aggregate: the alarm-action guard's per-host memory, the last
//! reconcile per vCenter, and its recent actions with their reasons.
//!
//! Owns: [`GuardStore`] and the guard's persisted records (the guard decides
//! with them, `guard::decide`; the API shows them). Must not: know SQL or
//! vSphere.
//!
//! Why one write per reconcile: the memory, the reconcile record and the
//! actions taken in that reconcile commit together, so after a crash the
//! store never says "guarded" for an action it has no record of (and the
//! decision rules adopt a host disabled by an action whose commit was lost).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::model::EventId;

#[async_trait::async_trait]
pub trait GuardStore: Send + Sync {
    /// The guard's memory of one vCenter's hosts (empty on first start).
    async fn guard_memory(&self, vcenter: &str) -> Result<Memory, StoreError>;

    /// Commits one reconcile: the whole memory of `record.vcenter` (replacing
    /// the stored one), its reconcile record and the actions taken, in one
    /// transaction. A backend keeps at least the newest 1000 actions.
    async fn guard_commit(
        &self,
        memory: Memory,
        record: ReconcileRecord,
        actions: Vec<ActionRecord>,
    ) -> Result<(), StoreError>;

    /// Records a reconcile that could not read vCenter (memory unchanged).
    async fn guard_record_reconcile(&self, record: ReconcileRecord) -> Result<(), StoreError>;

    /// Everything `GET /api/v1/guard` shows: all host memories (by vCenter,
    /// then moref), the reconcile record per vCenter, and the newest `limit`
    /// actions (newest first), as of one consistent moment.
    async fn guard_snapshot(&self, limit: usize) -> Result<GuardSnapshot, StoreError>;
}

/// What the guard remembers about one host between reconciles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMemory {
    pub name: String,
    /// Last observation (after the guard's own successful actions).
    pub in_maintenance: bool,
    pub actions_enabled: Option<bool>,
    /// The guard disabled this host's actions (or adopted it) and will
    /// re-enable them once the host is out of maintenance.
    pub guarded: bool,
    /// Why the host is guarded (shown by the API).
    pub guarded_reason: Option<String>,
    /// The current maintenance episode has been dealt with (disabled, adopted,
    /// or nothing to do); reset when the host is seen out of maintenance.
    pub episode_handled: bool,
}

/// Per-host memory of one vCenter, by MOID.
pub type Memory = BTreeMap<String, HostMemory>;

/// What a guard action does to a host's alarm actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Disable,
    Enable,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
        }
    }

    /// The `alarmActionsEnabled` value this action sets.
    pub fn enables(self) -> bool {
        self == Self::Enable
    }
}

/// How the last reconcile of a vCenter went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReconcileStatus {
    /// Not reconciled yet since this vCenter was configured.
    Pending,
    /// Hosts read and every decided action done.
    Ok,
    /// vCenter unreachable: what the guard shows is as of `last_reconcile`.
    Stale,
    /// The account lacks a privilege (e.g. `Alarm.DisableActions`) or cannot log in.
    Denied,
    /// Any other failure (fault, TLS, protocol).
    Error,
}

impl ReconcileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::Stale => "stale",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// The last reconcile of one vCenter (persisted, shown by the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRecord {
    pub vcenter: String,
    pub status: ReconcileStatus,
    /// Last time hosts were read and decided on.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_reconcile: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_attempt: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub next_attempt: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub consecutive_failures: u32,
    /// Completed reconciles (hosts read), ever.
    pub reconciles: u64,
    /// Hosts seen in the last reconcile.
    pub hosts: usize,
}

impl ReconcileRecord {
    /// A vCenter not reconciled yet.
    pub fn new(vcenter: &str) -> Self {
        Self {
            vcenter: vcenter.to_owned(),
            status: ReconcileStatus::Pending,
            last_reconcile: None,
            last_attempt: None,
            next_attempt: None,
            error: None,
            consecutive_failures: 0,
            reconciles: 0,
            hosts: 0,
        }
    }
}

/// How a guard action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Done,
    Failed,
    /// `dry_run`: decided and logged, not done.
    DryRun,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::DryRun => "dry_run",
        }
    }
}

/// One action the guard took (or, with `dry_run`, would have taken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub vcenter: String,
    pub moref: String,
    pub host: String,
    pub action: ActionKind,
    pub reason: String,
    pub outcome: ActionOutcome,
    pub error: Option<String>,
    /// The `guard.alarm.actions.*` event of a done action.
    pub event_id: Option<EventId>,
}

/// One host's memory as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardHost {
    pub vcenter: String,
    pub moref: String,
    pub memory: HostMemory,
    /// When the memory was last written.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated: Option<OffsetDateTime>,
}

/// What the store holds for the API: every host, the reconcile record per
/// vCenter, recent actions (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardSnapshot {
    pub hosts: Vec<GuardHost>,
    pub reconciles: Vec<ReconcileRecord>,
    pub actions: Vec<ActionRecord>,
}
