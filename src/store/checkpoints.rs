//! The vCenter event stream's aggregate: one checkpoint per vCenter,
//! committed together with the events it covers.
//!
//! Owns: [`CheckpointStore`] and [`StreamCheckpoint`]. Must not: know SQL.
//!
//! Why one write: the checkpoint says which vCenter events are in the store.
//! Committing it in the same transaction as the events it covers means a
//! crash can never leave a checkpoint past an event that was not stored (lost
//! event) — and idempotency by `(source, delivery_id)` makes the replay after
//! a crash before the commit harmless (at-least-once, stored exactly once).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AcceptOutcome, StoreError};
use crate::model::{Event, Source};

#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Commits `events` (same semantics as `EventStore::accept_many`) and
    /// moves the stream checkpoint of `vcenter` to `checkpoint`, in one
    /// transaction: either both are durable or neither is.
    async fn accept_with_checkpoint(
        &self,
        events: Vec<Event>,
        vcenter: String,
        checkpoint: StreamCheckpoint,
    ) -> Result<Vec<AcceptOutcome>, StoreError>;

    /// The last committed checkpoint of `vcenter`'s event stream.
    async fn stream_checkpoint(
        &self,
        vcenter: &str,
    ) -> Result<Option<StreamCheckpoint>, StoreError>;

    /// Which of `delivery_ids` are already stored for `source`.
    async fn known_deliveries(
        &self,
        source: Source,
        delivery_ids: Vec<String>,
    ) -> Result<HashSet<String>, StoreError>;
}

/// Where a vCenter event stream stands: the last delivered event's key and
/// vCenter `createdTime` (committed with the events it covers). Kept to the
/// nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    pub key: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

impl StreamCheckpoint {
    /// A checkpoint as backends store it: the key and the time in Unix
    /// nanoseconds.
    pub fn from_stored(key: i64, ns: i64) -> Result<Self, StoreError> {
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
            .map_err(|e| StoreError::Corrupt(format!("stream checkpoint time {ns}: {e}")))?;
        Ok(Self { key, time })
    }
}
