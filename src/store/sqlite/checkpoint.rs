//! SQLite side of the vCenter event stream: its per-vCenter checkpoint
//! (schema migration 4) and the atomic "events + checkpoint" write (see
//! `store::checkpoints` for why one write). The unique `(source,
//! delivery_id)` index makes a replay after a crash harmless.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::events::{encode_all, insert_event};
use super::{SqliteStore, now_ms, unavailable};
use crate::model::{Event, Source};
use crate::store::{AcceptOutcome, CheckpointStore, StoreError, StreamCheckpoint};

/// Migration 4: one row per vCenter; `created_ns` is the vCenter's
/// `createdTime` of the last delivered event, in Unix nanoseconds.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS stream_checkpoints (
    vcenter    TEXT PRIMARY KEY,
    event_key  INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
"#;

/// Nanoseconds fit an i64 until the year 2262; clamp rather than fail.
fn to_ns(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl CheckpointStore for SqliteStore {
    /// Commits `events` (same semantics as `accept_many`) and moves the
    /// stream checkpoint of `vcenter` to `checkpoint`, in one transaction:
    /// either both are durable or neither is.
    async fn accept_with_checkpoint(
        &self,
        events: Vec<Event>,
        vcenter: String,
        checkpoint: StreamCheckpoint,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        let encoded = encode_all(events)?;
        let result = self.write(move |conn| {
            let outcomes = encoded
                .iter()
                .map(|(e, body)| insert_event(conn, e, body))
                .collect::<Result<Vec<_>, _>>()?;
            conn.execute(
                "INSERT INTO stream_checkpoints (vcenter, event_key, created_ns, updated_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(vcenter) DO UPDATE SET event_key = excluded.event_key, created_ns = excluded.created_ns, updated_ms = excluded.updated_ms",
                params![vcenter, checkpoint.key, to_ns(checkpoint.time), now_ms()],
            )
            .map_err(unavailable)?;
            Ok(outcomes)
        })
        .await;
        self.note_accepted(result, AcceptOutcome::is_new)
    }

    /// The last committed checkpoint of `vcenter`'s event stream.
    async fn stream_checkpoint(
        &self,
        vcenter: &str,
    ) -> Result<Option<StreamCheckpoint>, StoreError> {
        let vcenter = vcenter.to_owned();
        let row: Option<(i64, i64)> = self
            .read(move |conn| {
                conn.query_row(
                    "SELECT event_key, created_ns FROM stream_checkpoints WHERE vcenter = ?1",
                    [vcenter],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        row.map(|(key, ns)| StreamCheckpoint::from_stored(key, ns))
            .transpose()
    }

    /// Which of `delivery_ids` are already stored for `source`.
    async fn known_deliveries(
        &self,
        source: Source,
        delivery_ids: Vec<String>,
    ) -> Result<HashSet<String>, StoreError> {
        if delivery_ids.is_empty() {
            return Ok(HashSet::new());
        }
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT 1 FROM events WHERE source = ?1 AND delivery_id = ?2")?;
            let mut known = HashSet::new();
            for id in delivery_ids {
                if stmt.exists(params![source.as_str(), id])? {
                    known.insert(id);
                }
            }
            Ok(known)
        })
        .await
    }
}
