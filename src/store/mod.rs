//! The durable store: the only place events, pipeline decisions, runs,
//! deliveries and the stages' memories live across restarts.
//!
//! Owns: the backend-neutral store interface the rest of the crate uses — one
//! trait per aggregate ([`EventStore`], [`DeliveryStore`], [`RunStore`],
//! [`GuardStore`], [`SilenceStore`], [`CheckpointStore`], [`AlertStore`],
//! [`KvStore`], [`SingletonStore`]), their row types with enum states, the rules a backend must
//! apply inside its own transactions (the active-alert transitions in
//! [`alerts`], Alertmanager's silence update in [`silences`]), the
//! [`Store`] handle, and the error type mapped to HTTP 503.
//! Must not: import a stage (`pipeline`, `guard`, `silence`, `monitoring`, …):
//! the store depends on `model` and `config` only; stages convert.
//!
//! Backends: SQLite (`sqlite.rs`, the embedded default) and PostgreSQL
//! (`postgres.rs`, for active/active HA: several gateways on one database);
//! they are the only modules that speak SQL. A backend is a
//! type implementing [`Backend`] (all the aggregate traits); [`open`] picks
//! one from the config at run time and wraps it in a [`Store`], a cheap clone
//! of an `Arc<dyn Backend>`. The conformance suite (`conformance.rs`) is
//! written against the traits only and runs against every backend.
//!
//! Why `async-trait`: the handle holds a `dyn Backend`, and `async fn` in a
//! trait is not dyn-compatible on stable Rust. `#[async_trait]` boxes each
//! call's future — one allocation per call, the same as a hand-written
//! `BoxFuture`, but the traits read as plain `async fn`s for the next
//! implementer. Per event it adds nothing: the hot paths (`accept`,
//! `accept_many`, `record_processed`) are one call per request or batch.
//!
//! Acceptance rule: [`EventStore::accept`] resolves only after the event's
//! commit is durable, so callers may acknowledge the sender then.

pub mod alerts;
mod checkpoints;
#[cfg(test)]
pub(crate) mod conformance;
mod deliveries;
mod events;
pub mod files;
mod guard;
mod kv;
mod postgres;
mod runs;
pub mod silences;
pub mod singletons;
mod sqlite;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::config::{StoreBackend, StoreConfig};

pub use alerts::{
    AlertIdentity, AlertInput, AlertRelease, AlertRow, AlertState, AlertStore, TargetKind,
};
pub use checkpoints::{CheckpointStore, StreamCheckpoint};
pub use deliveries::{DeliveryOutcome, DeliveryState, DeliveryStatus, DeliveryStore, DueDelivery};
pub use events::{
    AcceptOutcome, Disposition, EventPage, EventQuery, EventStage, EventStore, PendingCommit,
    ProcessedEvent, StoreStats, StoredEvent,
};
pub use guard::{
    ActionKind, ActionOutcome, ActionRecord, GuardHost, GuardSnapshot, GuardStore, HostMemory,
    Memory, ReconcileRecord, ReconcileStatus,
};
pub use kv::KvStore;
pub use postgres::{ClusterNode, ClusterStatus, SingletonHolder, migrate_only as migrate_postgres};
pub use runs::{
    ClaimedRun, NewRun, RetryOutcome, RunLogs, RunOutcome, RunQuery, RunRecord, RunStatus, RunStore,
};
pub use silences::{Matcher, Silence, SilenceState, SilenceStore};
pub use singletons::{Role, SingletonStore};
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
    /// No space left (a full disk or `[store] max_size`): nothing new can be
    /// stored until space is freed (retention, a larger `max_size`, disk).
    /// Nothing was committed.
    #[error("store unavailable: no space left: {0}")]
    Full(String),
    /// The database holds data this build cannot read.
    #[error("store data is corrupt or from an unknown version: {0}")]
    Corrupt(String),
    #[error("cannot open store: {0}")]
    Open(String),
}

/// Everything a store backend does: every aggregate, plus its health.
pub trait Backend:
    EventStore
    + DeliveryStore
    + RunStore
    + GuardStore
    + SilenceStore
    + CheckpointStore
    + AlertStore
    + KvStore
    + SingletonStore
    + Send
    + Sync
    + 'static
{
    /// False while the backend cannot take writes (after a failed commit,
    /// until the next successful one; a lost database connection).
    fn is_writable(&self) -> bool;

    /// The nodes sharing this store and who holds which singleton, as of
    /// the last heartbeat; `None` for a single-node backend (SQLite).
    fn cluster(&self) -> Option<ClusterStatus> {
        None
    }
}

/// Handle to the store the stages hold; cheap to clone (one `Arc`). Derefs
/// to the backend, so `store.accept(event)` calls the [`EventStore`] method.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    /// Wraps a backend (each backend's `open` does this).
    pub fn new(backend: impl Backend) -> Self {
        Self(Arc::new(backend))
    }

    /// Opens the store described by `config` (creating and migrating it).
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        // The one place a backend is chosen.
        match config.backend {
            StoreBackend::Sqlite => sqlite::SqliteStore::open(config).map(Self::new),
            StoreBackend::Postgres => postgres::PgStore::open(config).await.map(Self::new),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("writable", &self.is_writable())
            .finish()
    }
}

/// Opens the store described by `config` (creating and migrating it).
pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
    Store::open(config).await
}

/// JSON text of a value the store keeps as JSON (a serialization of our own
/// types cannot fail; `null` if it ever did).
fn to_json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| Value::Null.to_string())
}
