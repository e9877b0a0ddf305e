//! SQLite side of the events aggregate: accepting (the hot path), reading
//! events back with their deliveries, pending events for the pipeline,
//! retention and size figures. Listing is `listing.rs`; the pipeline's
//! record is `decisions.rs`.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::{SqliteStore, ms, ms_to_time, now_ms, unavailable};
use crate::model::{Event, EventId, Source};
use crate::store::events::PRUNABLE_EVENT;
use crate::store::{
    AcceptOutcome, DeliveryState, DeliveryStatus, Disposition, EventPage, EventQuery, EventStage,
    EventStore, PendingCommit, ProcessedEvent, StoreError, StoreStats, StoredEvent,
};

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn accept_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        self.submit_decided(batch).await?.await
    }

    async fn submit_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<PendingCommit, StoreError> {
        // Encoded here, not on the writer thread (the writer is the bottleneck).
        let encoded: Vec<_> = batch
            .into_iter()
            .map(|(event, decision)| {
                let body = encode_event(&event)?;
                let decision = decision.map(|d| {
                    let encoded = super::decisions::Encoded::of(&d);
                    (d, encoded)
                });
                Ok((event, body, decision))
            })
            .collect::<Result<_, StoreError>>()?;
        let committed = self
            .submit(move |conn| {
                let now = now_ms();
                let mut stmts = super::decisions::Statements::prepare(conn).map_err(unavailable)?;
                let outcomes = encoded
                    .iter()
                    .map(|(event, body, decision)| match decision {
                        None => insert_event(conn, event, body),
                        Some((outcome, enc)) => super::decisions::insert_decided(
                            conn,
                            &mut stmts,
                            now,
                            (event, body),
                            outcome,
                            enc,
                        ),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Handed back, so the batch is freed by the task that
                // built it, not on the writer thread: freeing another
                // thread's allocations was half the writer's time at
                // 20,000 traps/s (glibc `malloc_consolidate`).
                Ok((outcomes, super::writer::FreeElsewhere(encoded)))
            })
            .await?;
        let full = self.full.clone();
        Ok(Box::pin(async move {
            let result = committed
                .await
                .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?
                .map(|(outcomes, _freed_here)| outcomes);
            super::note_space(&full, &result, AcceptOutcome::is_new);
            result
        }))
    }

    async fn get_event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        let events = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!("{SELECT_EVENT} WHERE id = ?1"))?;
                let rows = stmt.query_map([id.to_string()], row_to_raw)?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let mut stored = self.decode_events(events).await?;
        Ok(stored.pop())
    }

    async fn find_delivery(
        &self,
        source: Source,
        delivery_id: String,
    ) -> Result<Option<EventId>, StoreError> {
        let id: Option<String> = self
            .read(move |conn| {
                conn.prepare_cached("SELECT id FROM events WHERE source = ?1 AND delivery_id = ?2")?
                    .query_row(params![source.as_str(), delivery_id], |r| r.get(0))
                    .optional()
            })
            .await?;
        Ok(id.and_then(|id| EventId::parse(&id)))
    }

    async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        let (raw, next_before) = self
            .read(move |conn| {
                super::listing::list_events(conn, &query, &super::listing::Budget::DEFAULT)
            })
            .await?;
        Ok(EventPage {
            events: self.decode_events(raw).await?,
            next_before,
        })
    }

    async fn pending_events(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let raw = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "{SELECT_EVENT} WHERE processed = 0 AND seq > ?1 ORDER BY seq LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![after_seq, limit as i64], row_to_raw)?;
                // Decode here, on the blocking thread, not on the async workers.
                rows.map(|r| r.map(|r| (r.seq, r.decode(Vec::new()).map(|s| s.event))))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        raw.into_iter()
            .map(|(seq, event)| Ok((seq, event?)))
            .collect()
    }

    async fn recent_originals(
        &self,
        since: OffsetDateTime,
        before_seq: i64,
        page: usize,
    ) -> Result<(Vec<Event>, Option<i64>), StoreError> {
        let since_ms = ms(since);
        let raw = self
            .read(move |conn| {
                // The first rows received since then bound the backward
                // walk: without a bound the last page would scan every
                // older row for a match. The smallest seq among the first
                // `REBUILD_PROBE` entries of `events_received` from `since`
                // on, not `min(seq)` over the window (a scan of every entry
                // in it, per page: 1.6 M entries made the rebuild take 8 s).
                // Seqs follow arrival but for the commits in flight
                // together, so the probe covers those; at worst an event
                // at the window's old edge, about to leave dedup memory
                // anyway, is not read.
                let oldest: Option<i64> = conn.query_row(
                    super::listing::SINCE_PROBE_SQL,
                    params![since_ms, REBUILD_PROBE],
                    |r| r.get(0),
                )?;
                let Some(oldest) = oldest else {
                    return Ok(Vec::new());
                };
                let mut stmt = conn.prepare_cached(&format!(
                    "{SELECT_EVENT} WHERE seq < ?1 AND seq >= ?2 AND received_ms >= ?3 ORDER BY seq DESC LIMIT ?4"
                ))?;
                let rows = stmt.query_map(
                    params![before_seq, oldest, since_ms, page as i64],
                    row_to_raw,
                )?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let lowest = raw.last().map(|r| r.seq);
        // Decoding is CPU work: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for r in raw {
                let stored = r.decode(Vec::new())?;
                // Undecided events have no disposition yet.
                if stored
                    .disposition
                    .as_ref()
                    .is_some_and(|d| d.duplicate_of.is_none())
                {
                    out.push(stored.event);
                }
            }
            Ok((out, lowest))
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn record_processed(&self, outcomes: Vec<ProcessedEvent>) -> Result<(), StoreError> {
        self.record_decisions(outcomes).await
    }

    async fn prune(&self, max_age: Duration, max_events: u64) -> Result<u64, StoreError> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        let mut deleted = 0;
        // A write per batch: commits queued meanwhile go between them.
        loop {
            let batch = self
                .write(move |conn| prune_batch(conn, cutoff, max_events))
                .await?;
            deleted += batch;
            if batch > 0 {
                // Space for new events again (see `SqliteStore::full`).
                self.full.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            if batch < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let path = self.config.path.clone();
        let writable = crate::store::Backend::is_writable(self);
        self.read(move |conn| {
            let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
            let pending: i64 =
                conn.query_row("SELECT count(*) FROM events WHERE processed = 0", [], |r| {
                    r.get(0)
                })?;
            let deliveries: i64 = conn.query_row(
                "SELECT count(*) FROM deliveries WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            let oldest: Option<i64> =
                conn.query_row("SELECT min(received_ms) FROM events", [], |r| r.get(0))?;
            let size = ["", "-wal"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
                .map(|m| m.len())
                .sum();
            Ok(StoreStats {
                events: events as u64,
                pending_pipeline: pending as u64,
                pending_deliveries: deliveries as u64,
                size_bytes: size,
                oldest_event: oldest.and_then(ms_to_time),
                writable,
            })
        })
        .await
    }
}

impl SqliteStore {
    /// Raw rows to stored events, with each event's deliveries.
    async fn decode_events(&self, raw: Vec<RawEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = raw.iter().map(|r| r.id.clone()).collect();
        let deliveries = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT target, state, attempts, last_error FROM deliveries WHERE event_id = ?1 ORDER BY target",
                )?;
                ids.iter()
                    .map(|id| {
                        stmt.query_map([id], |r| {
                            Ok(DeliveryState {
                                target: r.get(0)?,
                                state: DeliveryStatus::parse(&r.get::<_, String>(1)?)
                                    .unwrap_or(DeliveryStatus::Failed),
                                attempts: r.get::<_, i64>(2)? as u32,
                                last_error: r.get(3)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        raw.into_iter()
            .zip(deliveries)
            .map(|(r, deliveries)| r.decode(deliveries))
            .collect()
    }
}

pub(super) fn encode_all(events: Vec<Event>) -> Result<Vec<(Event, String)>, StoreError> {
    events
        .into_iter()
        .map(|e| encode_event(&e).map(|body| (e, body)))
        .collect()
}

/// JSON for the events table, encoded before the event reaches the writer thread.
fn encode_event(event: &Event) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(|e| StoreError::Unavailable(e.to_string()))
}

pub(super) fn insert_event(
    conn: &Connection,
    event: &Event,
    body: &str,
) -> Result<AcceptOutcome, StoreError> {
    let received_ms = ms(event.received_at);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO events (id, source, vcenter, type, received_ms, fingerprint, delivery_id, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                event.id.to_string(),
                event.source.as_str(),
                event.vcenter,
                event.event_type.as_str(),
                received_ms,
                event.fingerprint.0,
                event.delivery_id,
                body,
            ])
        })
        .map_err(unavailable)?;
    if inserted == 1 {
        return Ok(AcceptOutcome::Accepted(event.id));
    }
    earlier_delivery(conn, event)
}

/// The event an insert conflicted with: the same delivery stored earlier.
pub(super) fn earlier_delivery(
    conn: &Connection,
    event: &Event,
) -> Result<AcceptOutcome, StoreError> {
    let existing: Option<String> = conn
        .query_row(
            "SELECT id FROM events WHERE source = ?1 AND delivery_id = ?2",
            params![event.source.as_str(), event.delivery_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    existing
        .and_then(|id| EventId::parse(&id))
        .map(AcceptOutcome::AlreadyAccepted)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {} conflicted but no earlier delivery found",
                event.id
            ))
        })
}

/// Index entries `recent_originals` reads to bound its walk back.
const REBUILD_PROBE: i64 = 4096;

pub(super) const SELECT_EVENT: &str = "SELECT seq, id, source, vcenter, type, received_ms, body, processed, duplicates, last_seen_ms, disposition FROM events";

/// One `SELECT_EVENT` row, decoded later (off the read connection).
pub(super) struct RawEvent {
    pub(super) seq: i64,
    pub(super) id: String,
    body: String,
    processed: bool,
    duplicates: i64,
    last_seen_ms: Option<i64>,
    disposition: Option<String>,
}

pub(super) fn row_to_raw(r: &rusqlite::Row<'_>) -> Result<RawEvent, rusqlite::Error> {
    Ok(RawEvent {
        seq: r.get(0)?,
        id: r.get(1)?,
        body: r.get(6)?,
        processed: r.get::<_, i64>(7)? != 0,
        duplicates: r.get(8)?,
        last_seen_ms: r.get(9)?,
        disposition: r.get(10)?,
    })
}

impl RawEvent {
    pub(super) fn decode(self, deliveries: Vec<DeliveryState>) -> Result<StoredEvent, StoreError> {
        let event: Event = serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", self.id)))?;
        let disposition: Option<Disposition> =
            match self.disposition {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    StoreError::Corrupt(format!("event {} disposition: {e}", self.id))
                })?),
                None => None,
            };
        Ok(StoredEvent {
            event,
            seq: self.seq,
            stage: if self.processed {
                EventStage::Processed
            } else {
                EventStage::Accepted
            },
            duplicates: self.duplicates as u64,
            last_seen: self.last_seen_ms.and_then(ms_to_time),
            disposition,
            deliveries,
        })
    }
}

/// Events one pruning write deletes at most. The write holds the store's
/// writer, and every commit queued behind it, for its duration.
const PRUNE_BATCH: i64 = 2_000;

/// Deletes up to [`PRUNE_BATCH`] events, oldest first: those older than
/// `cutoff`, then those beyond the newest `max_events` that have no work
/// left ([`PRUNABLE_EVENT`]); with them their deliveries and runs.
///
/// The deliveries and runs are found by the events' ids, an index look-up
/// each. The anti-join this replaced scanned every delivery on every pass
/// that pruned anything, each minute once the store is at its retention:
/// 0.7–0.8 s with 1.9 million deliveries, on the writer. Runs were never
/// pruned at all.
fn prune_batch(conn: &Connection, cutoff: i64, max_events: u64) -> Result<u64, StoreError> {
    // `order` follows the index `candidates` is read by: no sort of every
    // candidate (millions after `max_age` is lowered) per batch.
    let delete = |candidates: &str, order: &str, bound: i64, limit: i64| {
        let sql = format!(
            "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e \
             WHERE {candidates} ORDER BY {order} LIMIT ?2) RETURNING id"
        );
        conn.prepare_cached(&sql)
            .and_then(|mut q| q.query_map(params![bound, limit], |r| r.get(0))?.collect())
            .map_err(unavailable)
    };
    let mut gone: Vec<String> = delete("e.received_ms < ?1", "e.received_ms", cutoff, PRUNE_BATCH)?;
    let room = PRUNE_BATCH - gone.len() as i64;
    if room > 0 {
        // Keep the newest `max_events`. `seq` is AUTOINCREMENT, so the cut
        // is `max(seq) - max_events`: one index look-up, where an `OFFSET
        // max_events` scan read up to a million rows every minute (and
        // delayed start-up). Events with work left stay below the cut until
        // it is done (or `max_age` takes them), so the store may hold that
        // many more for a while.
        gone.extend(delete(
            &format!("e.seq <= (SELECT max(seq) FROM events) - ?1 AND {PRUNABLE_EVENT}"),
            "e.seq",
            max_events as i64,
            room,
        )?);
    }
    let mut deliveries = conn
        .prepare_cached("DELETE FROM deliveries WHERE event_id = ?1")
        .map_err(unavailable)?;
    let mut runs = conn
        .prepare_cached("DELETE FROM runs WHERE event_id = ?1")
        .map_err(unavailable)?;
    for id in &gone {
        deliveries.execute([id]).map_err(unavailable)?;
        runs.execute([id]).map_err(unavailable)?;
    }
    Ok(gone.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{open_in, stored_seqs};
    use super::*;
    use crate::model::{EventType, Source};

    fn event(age: time::Duration) -> Event {
        let mut e = Event::new(
            Source::AlarmHook,
            "vc1",
            EventType::parse("test.prune").unwrap(),
        );
        e.received_at = OffsetDateTime::now_utc() - age;
        e
    }

    #[tokio::test]
    async fn prune_keeps_the_newest_max_events_and_drops_what_is_too_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_in(&dir);
        let day = time::Duration::days(1);
        // Two events older than the 2-day limit, then eight recent ones.
        let mut events = vec![event(day * 3), event(day * 3)];
        events.extend((0..8).map(|_| event(time::Duration::ZERO)));
        store.accept_many(events).await.unwrap();
        let all = stored_seqs(&store).await;
        assert_eq!(all.len(), 10);

        let max_age = Duration::from_secs(2 * 86_400);
        assert_eq!(store.prune(max_age, 5).await.unwrap(), 5);
        assert_eq!(stored_seqs(&store).await, all[5..].to_vec());
        // Nothing more to do; a larger cap deletes nothing.
        assert_eq!(store.prune(max_age, 5).await.unwrap(), 0);
        assert_eq!(store.prune(max_age, 100).await.unwrap(), 0);
        // The cap follows new arrivals.
        store.accept(event(time::Duration::ZERO)).await.unwrap();
        assert_eq!(store.prune(max_age, 5).await.unwrap(), 1);
        assert_eq!(stored_seqs(&store).await.len(), 5);
    }

    /// More than a batch to prune, by age and by count: one call takes it
    /// all, a write per batch.
    #[tokio::test]
    async fn prune_takes_several_batches_in_one_call() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_in(&dir);
        let n = PRUNE_BATCH as usize;
        let old = (0..n + 7).map(|_| event(time::Duration::days(3)));
        let recent = (0..n + 13).map(|_| event(time::Duration::ZERO));
        store
            .accept_many(old.chain(recent).collect())
            .await
            .unwrap();
        let all = stored_seqs(&store).await;
        let max_age = Duration::from_secs(2 * 86_400);
        assert_eq!(store.prune(max_age, 10).await.unwrap(), (2 * n + 10) as u64);
        assert_eq!(stored_seqs(&store).await, all[all.len() - 10..].to_vec());
    }
}
