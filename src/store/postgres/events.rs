//! PostgreSQL side of the events aggregate: accepting (idempotent by the
//! unique `(source, delivery_id)` index, whichever node commits first),
//! reading back, listing, pending events for the pipeline's decider,
//! retention and size figures.

use std::time::Duration;

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, pg};
use crate::model::{Event, EventId, Source};
use crate::store::events::PRUNABLE_EVENT;
use crate::store::sqlite::{ms, ms_to_time};
use crate::store::{
    AcceptOutcome, DeliveryState, DeliveryStatus, Disposition, EventPage, EventQuery, EventStage,
    EventStore, PendingCommit, ProcessedEvent, StoreError, StoreStats, StoredEvent,
};

/// How many seqs a listing with a scanning filter examines per call (as in
/// SQLite: a bounded window, and a cursor to go on).
const SCAN_WINDOW: i64 = 20_000;

/// Events one pruning statement deletes at most (with their deliveries and
/// runs), so that it stays a short transaction.
const PRUNE_BATCH: i64 = 5_000;

/// Deletes up to `$2` events matching `candidates` (with `$1`), in `order`
/// (that of the index `candidates` is read by), with their deliveries and
/// runs, found by the events' ids: the anti-join over every delivery this
/// replaced ran on every node once a minute. Returns how many events went.
fn prune_sql(candidates: &str, order: &str) -> String {
    format!(
        "WITH gone AS (DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e \
         WHERE {candidates} ORDER BY {order} LIMIT $2) RETURNING id), \
         d AS (DELETE FROM deliveries WHERE event_id IN (SELECT id FROM gone)), \
         r AS (DELETE FROM runs WHERE event_id IN (SELECT id FROM gone)) \
         SELECT count(*) FROM gone"
    )
}

/// Up to this many events (by PostgreSQL's own figures) `stats` counts
/// them; above it, it reports those figures. A `count(*)` reads an index
/// entry per event, and per status call and `/metrics` scrape of every node
/// that is 85 ms at 2 million events once vacuumed, 0.8–1.2 s before (the
/// decider's updates leave pages not all-visible), and it grows with the
/// store (10 million by default).
const EXACT_COUNT_BELOW: i64 = 100_000;

/// The status figures; the event count as for [`EXACT_COUNT_BELOW`]. The
/// figure is the larger of the live-row counter (kept per commit, reset by
/// a crash of the database server) and the planner's row count (set by
/// vacuum and analyze, kept across one). The count's sub-select runs only
/// when chosen (PostgreSQL runs an init plan when first needed).
const STATS_SQL: &str = "SELECT CASE WHEN est.n < $1 THEN (SELECT count(*) FROM events) ELSE est.n END, \
     (SELECT count(*) FROM events WHERE NOT processed), \
     (SELECT count(*) FROM deliveries WHERE state = 'pending'), \
     (SELECT min(received_ms) FROM events), \
     pg_database_size(current_database()) \
     FROM (SELECT GREATEST(pg_stat_get_live_tuples('events'::regclass), \
        (SELECT reltuples::bigint FROM pg_class WHERE oid = 'events'::regclass)) AS n) est";

pub(super) const SELECT_EVENT: &str =
    "SELECT seq, id, body, processed, duplicates, last_seen_ms, disposition FROM events";

#[async_trait::async_trait]
impl EventStore for PgStore {
    /// Inserted undecided, then decided inside the same transaction (the
    /// decider's row lock sees the fresh row); PostgreSQL nodes decide in
    /// the pipeline, so this path is for completeness and the conformance
    /// suite, not for speed.
    ///
    /// Bounded by the node timeout (`[store] node_timeout`): a database that
    /// takes the statements but answers nothing (hung, or partitioned
    /// without resets) held the caller, an alarm's HTTP request or an
    /// inform, for as long as TCP took to give up. Past the bound the
    /// caller hears "unavailable" and the sender retries; should the commit
    /// have landed after all, the retry is recognized by its delivery id
    /// (or merged by dedup, for a trap).
    async fn accept_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        let bound = self.node.timeout;
        let commit = async {
            let mut client = self.client().await?;
            let txn = client.transaction().await.map_err(pg)?;
            let now = ms(time::OffsetDateTime::now_utc());
            let mut outcomes = Vec::with_capacity(batch.len());
            for (event, decision) in &batch {
                let outcome = insert_event(&txn, event).await?;
                if let (AcceptOutcome::Accepted(_), Some(decision)) = (outcome, decision) {
                    super::decisions::record_one(&txn, now, decision).await?;
                }
                outcomes.push(outcome);
            }
            txn.commit().await.map_err(pg)?;
            Ok(outcomes)
        };
        let result = tokio::time::timeout(bound, commit)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "PostgreSQL did not commit within {bound:?}"
                )))
            });
        self.note(&result);
        result
    }

    /// Commits before it resolves (no commit queue to keep order in).
    async fn submit_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<PendingCommit, StoreError> {
        let result = self.accept_decided(batch).await;
        Ok(Box::pin(std::future::ready(result)))
    }

    async fn get_event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("{SELECT_EVENT} WHERE id = $1"), &[&id.to_string()])
            .await
            .map_err(pg)?;
        Ok(self.decode_rows(&client, rows).await?.pop())
    }

    async fn find_delivery(
        &self,
        source: Source,
        delivery_id: String,
    ) -> Result<Option<EventId>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM events WHERE source = $1 AND delivery_id = $2",
                &[&source.as_str(), &delivery_id],
            )
            .await
            .map_err(pg)?;
        Ok(row.and_then(|r| EventId::parse(r.get(0))))
    }

    async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        let client = self.client().await?;
        // A scanning filter examines a bounded window of seqs below the cursor.
        let floor = if query.scans() {
            let top = match query.before_seq {
                Some(b) => b,
                None => client
                    .query_one("SELECT coalesce(max(seq), 0) + 1 FROM events", &[])
                    .await
                    .map_err(pg)?
                    .get::<_, i64>(0),
            };
            Some(top - SCAN_WINDOW)
        } else {
            None
        };
        let (sql, args) = listing_sql(&query, floor);
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&sql, &params).await.map_err(pg)?;
        let full = rows.len() >= query.limit.max(1);
        let events = self.decode_rows(&client, rows).await?;
        let next_before = match floor {
            _ if full => events.last().map(|e| e.seq),
            Some(floor) if floor > 1 => Some(floor),
            _ => None,
        };
        Ok(EventPage {
            events,
            next_before,
        })
    }

    async fn pending_events(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("{SELECT_EVENT} WHERE NOT processed AND seq > $1 ORDER BY seq LIMIT $2"),
                &[&after_seq, &(limit as i64)],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| Ok((r.get(0), decode(r, Vec::new())?.event)))
            .collect()
    }

    async fn recent_originals(
        &self,
        since: OffsetDateTime,
        before_seq: i64,
        page: usize,
    ) -> Result<(Vec<Event>, Option<i64>), StoreError> {
        let client = self.client().await?;
        // The first rows received since then bound the backward walk
        // (else the last page scans every older row for a match): the
        // smallest seq among the first 4,096 by received time, not
        // `min(seq)` over the window (see the SQLite side for why, and
        // what it can miss at the window's edge; with several nodes
        // writing, seqs and receive times interleave more, within the
        // probe).
        let rows = client
            .query(
                &format!(
                    "{SELECT_EVENT} WHERE seq < $1 AND received_ms >= $2 \
                     AND seq >= (SELECT min(seq) FROM (SELECT seq FROM events \
                                 WHERE received_ms >= $2 ORDER BY received_ms LIMIT 4096) AS first) \
                     ORDER BY seq DESC LIMIT $3"
                ),
                &[&before_seq, &ms(since), &(page as i64)],
            )
            .await
            .map_err(pg)?;
        let lowest = rows.last().map(|r| r.get::<_, i64>(0));
        let mut out = Vec::new();
        for r in &rows {
            let stored = decode(r, Vec::new())?;
            if stored
                .disposition
                .as_ref()
                .is_some_and(|d| d.duplicate_of.is_none())
            {
                out.push(stored.event);
            }
        }
        Ok((out, lowest))
    }

    async fn record_processed(&self, outcomes: Vec<ProcessedEvent>) -> Result<(), StoreError> {
        let result = self.record_decisions(outcomes).await;
        self.note(&result);
        result
    }

    async fn prune(&self, max_age: Duration, max_events: u64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let cutoff = ms(OffsetDateTime::now_utc()) - max_age.as_millis() as i64;
        let mut deleted = 0;
        // Short transactions: other nodes' commits wait for none of them.
        for (sql, bound) in [
            (prune_sql("e.received_ms < $1", "e.received_ms"), cutoff),
            (
                prune_sql(
                    &format!("e.seq <= (SELECT max(seq) FROM events) - $1 AND {PRUNABLE_EVENT}"),
                    "e.seq",
                ),
                max_events as i64,
            ),
        ] {
            loop {
                let row = client
                    .query_one(&sql, &[&bound, &PRUNE_BATCH])
                    .await
                    .map_err(pg)?;
                let batch = row.get::<_, i64>(0);
                deleted += batch as u64;
                if batch < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.stats_counting_below(EXACT_COUNT_BELOW).await
    }
}

impl PgStore {
    /// `stats`, counting the events when PostgreSQL's figures are below
    /// `exact_below` (a parameter for the tests).
    async fn stats_counting_below(&self, exact_below: i64) -> Result<StoreStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(STATS_SQL, &[&exact_below])
            .await
            .map_err(pg)?;
        Ok(StoreStats {
            events: row.get::<_, i64>(0) as u64,
            pending_pipeline: row.get::<_, i64>(1) as u64,
            pending_deliveries: row.get::<_, i64>(2) as u64,
            oldest_event: row.get::<_, Option<i64>>(3).and_then(ms_to_time),
            size_bytes: row.get::<_, i64>(4) as u64,
            writable: crate::store::Backend::is_writable(self),
        })
    }
}

impl PgStore {
    /// Rows of `SELECT_EVENT` to stored events, with their deliveries.
    pub(super) async fn decode_rows(
        &self,
        client: &tokio_postgres::Client,
        rows: Vec<Row>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        let deliveries = client
            .query(
                "SELECT event_id, target, state, attempts, last_error FROM deliveries WHERE event_id = ANY($1) ORDER BY target",
                &[&ids],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(1);
                let mine = deliveries
                    .iter()
                    .filter(|d| d.get::<_, &str>(0) == id)
                    .map(|d| DeliveryState {
                        target: d.get(1),
                        state: DeliveryStatus::parse(d.get(2)).unwrap_or(DeliveryStatus::Failed),
                        attempts: d.get::<_, i32>(3) as u32,
                        last_error: d.get(4),
                    })
                    .collect();
                decode(r, mine)
            })
            .collect()
    }
}

/// Inserts one event unless its delivery is stored already (by any node).
pub(super) async fn insert_event(
    txn: &tokio_postgres::Transaction<'_>,
    event: &Event,
) -> Result<AcceptOutcome, StoreError> {
    let body = serde_json::to_string(event).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let inserted = txn
        .query_opt(
            "INSERT INTO events (id, source, vcenter, type, received_ms, fingerprint, delivery_id, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING seq",
            &[
                &event.id.to_string(),
                &event.source.as_str(),
                &event.vcenter,
                &event.event_type.as_str(),
                &ms(event.received_at),
                &event.fingerprint.0,
                &event.delivery_id,
                &body,
            ],
        )
        .await
        .map_err(pg)?;
    if inserted.is_some() {
        return Ok(AcceptOutcome::Accepted(event.id));
    }
    let existing = txn
        .query_opt(
            "SELECT id FROM events WHERE (source = $1 AND delivery_id = $2) OR id = $3",
            &[
                &event.source.as_str(),
                &event.delivery_id,
                &event.id.to_string(),
            ],
        )
        .await
        .map_err(pg)?;
    existing
        .and_then(|r| EventId::parse(r.get(0)))
        .map(AcceptOutcome::AlreadyAccepted)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {} conflicted but no earlier delivery found",
                event.id
            ))
        })
}

/// One `SELECT_EVENT` row as a stored event.
pub(super) fn decode(r: &Row, deliveries: Vec<DeliveryState>) -> Result<StoredEvent, StoreError> {
    let id: &str = r.get(1);
    let event: Event = serde_json::from_str(r.get(2))
        .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?;
    let disposition: Option<Disposition> = match r.get::<_, Option<&str>>(6) {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| StoreError::Corrupt(format!("event {id} disposition: {e}")))?,
        ),
        None => None,
    };
    Ok(StoredEvent {
        event,
        seq: r.get(0),
        stage: if r.get(3) {
            EventStage::Processed
        } else {
            EventStage::Accepted
        },
        duplicates: r.get::<_, i64>(4) as u64,
        last_seen: r.get::<_, Option<i64>>(5).and_then(ms_to_time),
        disposition,
        deliveries,
    })
}

type Arg = Box<dyn ToSql + Sync + Send>;

/// The listing's SQL and arguments (`¿` marks where the next argument goes).
/// Globs (`*`, `?`, all else literal) become `LIKE`; `floor` bounds a
/// scanning filter's walk.
fn listing_sql(q: &EventQuery, floor: Option<i64>) -> (String, Vec<Arg>) {
    let mut sql = format!("{SELECT_EVENT} WHERE true");
    let mut args: Vec<Arg> = Vec::new();
    let mut push = |sql: &mut String, term: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&term.replacen('¿', &format!("${}", args.len()), 1));
    };
    if let Some(t) = &q.event_type {
        glob_term(&mut sql, &mut push, "type", t);
    }
    if let Some(s) = &q.source {
        push(&mut sql, " AND source = ¿", Box::new(s.clone()));
    }
    if let Some(since) = q.since {
        push(&mut sql, " AND received_ms >= ¿", Box::new(ms(since)));
    }
    if let Some(before) = q.before_seq {
        push(&mut sql, " AND seq < ¿", Box::new(before));
    }
    if let Some(floor) = floor {
        push(&mut sql, " AND seq >= ¿", Box::new(floor));
    }
    if let Some(p) = &q.vcenter {
        glob_term(&mut sql, &mut push, "vcenter", p);
    }
    if let Some(p) = &q.entity {
        glob_term(&mut sql, &mut push, "(body::jsonb #>> '{entity,name}')", p);
    }
    if let Some(p) = &q.alarm {
        glob_term(&mut sql, &mut push, "(body::jsonb #>> '{alarm,name}')", p);
    }
    if let Some(p) = &q.status {
        // As routes match `new_status`: the colour (pattern lowercased) or the raw text.
        push(
            &mut sql,
            " AND ((body::jsonb #>> '{alarm,new_status,status}') LIKE ¿ ESCAPE '\\'",
            Box::new(like(&p.to_ascii_lowercase())),
        );
        push(
            &mut sql,
            " OR (body::jsonb #>> '{alarm,new_status,raw}') LIKE ¿ ESCAPE '\\')",
            Box::new(like(p)),
        );
    }
    if let Some(route) = q.route {
        let name = serde_json::to_value(route)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        push(
            &mut sql,
            " AND (disposition::jsonb ->> 'route') = ¿",
            Box::new(name),
        );
    }
    let presence = |field: &str, present: bool| {
        format!(
            " AND (disposition::jsonb ->> '{field}') IS {}NULL",
            if present { "NOT " } else { "" }
        )
    };
    if let Some(held) = q.held {
        sql.push_str(&presence("held_by", held));
    }
    if let Some(duplicate) = q.duplicate {
        sql.push_str(&presence("duplicate_of", duplicate));
    }
    let limit = q.limit.max(1) as i64;
    push(&mut sql, " ORDER BY seq DESC LIMIT ¿", Box::new(limit));
    (sql, args)
}

fn glob_term(
    sql: &mut String,
    push: &mut impl FnMut(&mut String, &str, Arg),
    expr: &str,
    pattern: &str,
) {
    if pattern.contains(['*', '?']) {
        push(
            sql,
            &format!(" AND {expr} LIKE ¿ ESCAPE '\\'"),
            Box::new(like(pattern)),
        );
    } else {
        push(
            sql,
            &format!(" AND {expr} = ¿"),
            Box::new(pattern.to_owned()),
        );
    }
}

/// A routes-dialect glob as a `LIKE` pattern (escape `\`).
fn like(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 4);
    for c in glob.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cluster, config};
    use super::*;
    use crate::model::{EventType, Source};
    use crate::store::EventStore;

    /// Below the threshold the events are counted; above it PostgreSQL's
    /// figures are reported without a count. The two are told apart by
    /// deleting every row after `ANALYZE`: the planner's figure stays at
    /// what analyze saw, the count is 0.
    #[tokio::test]
    async fn stats_count_small_stores_and_report_postgres_figures_for_big_ones() {
        let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
        let c = cluster.clone();
        let config = tokio::task::spawn_blocking(move || config(&c, "n"))
            .await
            .unwrap();
        let store = PgStore::open(&config).await.unwrap();
        let events = (0..5)
            .map(|_| {
                Event::new(
                    Source::AlarmHook,
                    "vc1",
                    EventType::parse("vm.created").unwrap(),
                )
            })
            .collect();
        store.accept_many(events).await.unwrap();
        let client = store.client().await.unwrap();
        client.batch_execute("ANALYZE events").await.unwrap();
        assert_eq!(store.stats_counting_below(3).await.unwrap().events, 5);
        client.batch_execute("DELETE FROM events").await.unwrap();
        assert_eq!(store.stats_counting_below(3).await.unwrap().events, 5);
        assert_eq!(store.stats_counting_below(100_000).await.unwrap().events, 0);
        assert_eq!(store.stats().await.unwrap().events, 0);
        drop(cluster);
    }
}
