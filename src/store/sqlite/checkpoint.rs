//! SQLite side of the vCenter event stream: its per-vCenter checkpoint
//! (schema migration 4) and the atomic "events + checkpoint" write.
//!
//! Why one write: the checkpoint says which vCenter events are in the store.
//! Committing it in the same transaction as the events it covers means a
//! crash can never leave a checkpoint past an event that was not stored (lost
//! event) — and the unique `(source, delivery_id)` index makes the replay after
//! a crash before the commit harmless (at-least-once, stored exactly once).

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{Store, encode_all, insert_event, now_ms, unavailable};
use crate::model::{Event, Source};
use crate::store::{AcceptOutcome, StoreError, StreamCheckpoint};

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

impl Store {
    /// Commits `events` (same semantics as `accept_many`) and moves the
    /// stream checkpoint of `vcenter` to `checkpoint`, in one transaction:
    /// either both are durable or neither is.
    pub async fn accept_with_checkpoint(
        &self,
        events: Vec<Event>,
        vcenter: String,
        checkpoint: StreamCheckpoint,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        let encoded = encode_all(events)?;
        self.write(move |conn| {
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
        .await
    }

    /// The last committed checkpoint of `vcenter`'s event stream.
    pub async fn stream_checkpoint(
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
        row.map(|(key, ns)| {
            let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
                .map_err(|e| StoreError::Corrupt(format!("stream checkpoint time {ns}: {e}")))?;
            Ok(StreamCheckpoint { key, time })
        })
        .transpose()
    }

    /// Which of `delivery_ids` are already stored for `source`.
    pub async fn known_deliveries(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::model::EventType;

    fn stream_event(delivery: &str) -> Event {
        let mut e = Event::new(
            Source::VcenterEvents,
            "vc1",
            EventType::from_vcenter_class("VmPoweredOnEvent"),
        );
        e.delivery_id = Some(delivery.to_owned());
        e
    }

    #[tokio::test]
    async fn events_and_checkpoint_commit_together_and_replays_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.path().join("t.db"),
            ..StoreConfig::default()
        })
        .unwrap();
        assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), None);
        let t = time::macros::datetime!(2026-11-25 12:00:00.123456789 UTC);
        let cp = StreamCheckpoint {
            key: 2_147_483_647,
            time: t,
        };
        let first = store
            .accept_with_checkpoint(
                vec![stream_event("vc1:1:a"), stream_event("vc1:2:b")],
                "vc1".into(),
                cp,
            )
            .await
            .unwrap();
        assert!(
            first
                .iter()
                .all(|o| matches!(o, AcceptOutcome::Accepted(_)))
        );
        assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), Some(cp));
        assert_eq!(store.stream_checkpoint("vc2").await.unwrap(), None);

        // A replay (crash before the next checkpoint) stores nothing twice,
        // and the checkpoint may move past a wrapped (negative) key.
        let wrapped = StreamCheckpoint {
            key: -2_147_483_648,
            time: t + time::Duration::SECOND,
        };
        let replay = store
            .accept_with_checkpoint(
                vec![stream_event("vc1:2:b"), stream_event("vc1:-2147483648:c")],
                "vc1".into(),
                wrapped,
            )
            .await
            .unwrap();
        assert_eq!(replay[0], AcceptOutcome::AlreadyAccepted(first[1].id()));
        assert!(matches!(replay[1], AcceptOutcome::Accepted(_)));
        assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), Some(wrapped));

        let known = store
            .known_deliveries(
                Source::VcenterEvents,
                vec!["vc1:1:a".into(), "vc1:9:z".into()],
            )
            .await
            .unwrap();
        assert_eq!(known, HashSet::from(["vc1:1:a".to_owned()]));
        let other_source = store
            .known_deliveries(Source::AlarmHook, vec!["vc1:1:a".into()])
            .await
            .unwrap();
        assert!(other_source.is_empty());
    }
}
