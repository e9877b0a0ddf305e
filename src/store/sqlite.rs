//! SQLite backend of the store: one writer thread doing group commits, a small
//! pool of read connections, the schema and its migrations.
//!
//! Why one writer: SQLite allows one writer at a time; funnelling every write
//! through one thread lets us batch many small writes into one transaction and
//! one fsync (group commit), which is what makes durable acceptance fast.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::{
    AcceptOutcome, DeliveryState, Disposition, DueDelivery, EventQuery, ProcessedEvent, StoreError,
    StoreStats, StoredEvent, to_json_text,
};
use crate::config::{StoreConfig, SyncMode};
use crate::model::{Event, EventId};

/// Ordered schema migrations; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    vcenter      TEXT NOT NULL,
    type         TEXT NOT NULL,
    received_ms  INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    delivery_id  TEXT,
    body         TEXT NOT NULL,
    processed    INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    last_seen_ms INTEGER,
    disposition  TEXT
);
CREATE UNIQUE INDEX events_delivery ON events(source, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX events_type_seq ON events(type, seq);
CREATE INDEX events_received ON events(received_ms);
CREATE INDEX events_pending ON events(seq) WHERE processed = 0;
CREATE INDEX events_fingerprint ON events(fingerprint, seq);
CREATE TABLE deliveries (
    event_id   TEXT NOT NULL,
    target     TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_ms    INTEGER NOT NULL,
    last_error TEXT,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX deliveries_due ON deliveries(next_ms) WHERE state = 'pending';
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 2: automation runs, one per (event, subscription).
    r#"
CREATE TABLE runs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    event_id     TEXT NOT NULL,
    subscription TEXT NOT NULL,
    function     TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    next_ms      INTEGER NOT NULL,
    queued_ms    INTEGER NOT NULL,
    started_ms   INTEGER,
    finished_ms  INTEGER,
    reason       TEXT,
    input        TEXT,
    output       TEXT,
    logs         TEXT,
    secrets      TEXT,
    UNIQUE (event_id, subscription)
);
CREATE INDEX runs_due ON runs(function, next_ms) WHERE status IN ('queued', 'failed');
CREATE INDEX runs_function ON runs(function, seq);
CREATE INDEX runs_status ON runs(status, seq);
"#,
    // 3: the alarm-action guard's memory, reconciles and actions.
    guard::SCHEMA,
    // 4: the vCenter event stream's checkpoints (see `checkpoint.rs`).
    checkpoint::SCHEMA,
    // 5: manual silences (Alertmanager's shape, kept for audit after expiry).
    r#"
CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    starts_ms  INTEGER NOT NULL,
    ends_ms    INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences(ends_ms);
"#,
    // 6: no query uses it, and its random keys cost a page write per event.
    "DROP INDEX IF EXISTS events_fingerprint;",
    // 7: `GET /api/v1/events?source=` newest first without a full scan. Cheap
    // to maintain: a source's new keys append at the end of its range.
    "CREATE INDEX events_source_seq ON events(source, seq);",
];

mod checkpoint;
mod guard;
mod runs;
mod silences;

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A unit of work for the writer: runs inside the batch transaction (in its
/// own savepoint) and returns what to tell its caller once the commit is known.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Read connections kept open in the pool. A read finding none idle opens a
/// temporary one, closed afterwards.
const READERS: usize = 4;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: Arc<std::path::PathBuf>,
    writable: Arc<AtomicBool>,
}

pub(super) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn ms_to_time(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
}

pub(super) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn open_connection(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(unavailable)?;
    let sync = match config.sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=8192;"
    ))
    .map_err(|e| StoreError::Open(e.to_string()))?;
    if let Some(max) = config.max_size {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let pages = (max.0 as i64 / page_size).max(16);
        conn.query_row(&format!("PRAGMA max_page_count={pages}"), [], |_| Ok(()))
            .map_err(|e| StoreError::Open(e.to_string()))?;
    }
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(|e| StoreError::Open(e.to_string()))? as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let txn = conn
            .transaction()
            .map_err(|e| StoreError::Open(e.to_string()))?;
        txn.execute_batch(sql)
            .and_then(|_| txn.execute_batch(&format!("PRAGMA user_version={}", i + 1)))
            .and_then(|_| txn.commit())
            .map_err(|e| StoreError::Open(format!("migration {}: {e}", i + 1)))?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}

impl Store {
    /// Opens (creating and migrating) the database and starts the writer thread.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        let mut writer_conn = open_connection(&config.path, config)?;
        // The writer touches the hot index pages on every commit: give it a
        // 16 MiB page cache; readers keep SQLite's default 2 MiB.
        writer_conn
            .execute_batch("PRAGMA cache_size=-16384;")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        migrate(&mut writer_conn)?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            readers.push(open_connection(&config.path, config)?);
        }
        let (tx, rx) = mpsc::channel::<Job>(config.max_batch * 8);
        let writable = Arc::new(AtomicBool::new(true));
        let max_batch = config.max_batch.max(1);
        let flag = writable.clone();
        std::thread::Builder::new()
            .name("vcgate-store-writer".into())
            .spawn(move || writer_loop(writer_conn, rx, max_batch, flag))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self {
            writer: tx,
            readers: Arc::new(Mutex::new(readers)),
            path: Arc::new(config.path.clone()),
            writable,
        })
    }

    /// False after a failed commit, until the next successful one.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed) && !self.writer.is_closed()
    }

    /// Runs `f` inside the next group commit and resolves once it is durable.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply_tx.send(commit.and(result));
            });
            (ok, reply)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?;
        reply_rx
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?
    }

    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => Connection::open(path.as_path()).map_err(unavailable)?,
            };
            let result = f(&conn).map_err(unavailable);
            // Keep at most `READERS` idle connections: the extras opened while
            // the pool was empty are closed here, so bursts of slow reads do not
            // grow the pool (and its open files and page caches) for good.
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// Commits a new event. An event with a delivery id already stored for the
    /// same source is not stored again; the earlier id is returned.
    pub async fn accept(&self, event: Event) -> Result<AcceptOutcome, StoreError> {
        let body = encode_event(&event)?;
        self.write(move |conn| insert_event(conn, &event, &body))
            .await
    }

    /// Commits several events in one go (same semantics as `accept`, in order).
    pub async fn accept_many(&self, events: Vec<Event>) -> Result<Vec<AcceptOutcome>, StoreError> {
        let encoded = encode_all(events)?;
        self.write(move |conn| {
            encoded
                .iter()
                .map(|(e, body)| insert_event(conn, e, body))
                .collect()
        })
        .await
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError> {
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

    pub async fn list_events(&self, query: EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let raw = self
            .read(move |conn| {
                let mut sql = format!("{SELECT_EVENT} WHERE 1=1");
                let mut args: Vec<rusqlite::types::Value> = Vec::new();
                if let Some(t) = &query.event_type {
                    if t.contains('*') {
                        sql.push_str(" AND type GLOB ?");
                    } else {
                        sql.push_str(" AND type = ?");
                    }
                    args.push(t.clone().into());
                }
                if let Some(s) = &query.source {
                    sql.push_str(" AND source = ?");
                    args.push(s.clone().into());
                }
                if let Some(since) = query.since {
                    sql.push_str(" AND received_ms >= ?");
                    args.push(((since.unix_timestamp_nanos() / 1_000_000) as i64).into());
                }
                if let Some(before) = query.before_seq {
                    sql.push_str(" AND seq < ?");
                    args.push(before.into());
                }
                sql.push_str(" ORDER BY seq DESC LIMIT ?");
                args.push((query.limit.max(1) as i64).into());
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(args), row_to_raw)?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        self.decode_events(raw).await
    }

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
                                state: r.get(1)?,
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

    /// Events the pipeline has not decided yet, oldest first (resumed at start).
    pub async fn pending_events(
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

    /// Recently processed, non-duplicate events (for rebuilding dedup state at start).
    pub async fn recent_originals(&self, since: OffsetDateTime) -> Result<Vec<Event>, StoreError> {
        let since_ms = (since.unix_timestamp_nanos() / 1_000_000) as i64;
        let raw = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "{SELECT_EVENT} WHERE processed = 1 AND received_ms >= ?1 ORDER BY seq"
                ))?;
                let rows = stmt.query_map([since_ms], row_to_raw)?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        // Decoding a window of events is CPU work: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for r in raw {
                let stored = r.decode(Vec::new())?;
                if stored
                    .disposition
                    .as_ref()
                    .is_some_and(|d| d.duplicate_of.is_none())
                {
                    out.push(stored.event);
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// Records the pipeline's decision for several events and queues their
    /// deliveries, all in one commit (so a restart never redoes a decided event
    /// and never loses a queued forward).
    pub async fn record_processed(&self, outcomes: Vec<ProcessedEvent>) -> Result<(), StoreError> {
        // Encode outside the writer thread: it is the bottleneck.
        let encoded: Vec<EncodedDecision> = outcomes
            .iter()
            .map(|o| {
                let updated = o.updated.as_ref().and_then(|e| {
                    serde_json::to_string(e)
                        .ok()
                        .map(|body| (body, e.event_type.as_str().to_owned()))
                });
                (o.id.to_string(), to_json_text(&o.disposition), updated)
            })
            .collect();
        self.write(move |conn| {
            let now = now_ms();
            let mut decide = conn
                .prepare_cached(
                    "UPDATE events SET processed = 1, disposition = ?2, body = coalesce(?3, body), type = coalesce(?4, type) WHERE id = ?1",
                )
                .map_err(unavailable)?;
            let mut merge = conn
                .prepare_cached(
                    "UPDATE events SET duplicates = duplicates + 1, last_seen_ms = max(coalesce(last_seen_ms, 0), ?2) WHERE id = ?1",
                )
                .map_err(unavailable)?;
            let mut queue_run = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO runs (id, event_id, subscription, function, status, attempt, next_ms, queued_ms, secrets) \
                     VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?6)",
                )
                .map_err(unavailable)?;
            let mut queue_delivery = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO deliveries (event_id, target, state, attempts, next_ms, updated_ms) VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
                )
                .map_err(unavailable)?;
            for (outcome, (id, disposition, updated)) in outcomes.iter().zip(&encoded) {
                let (body, event_type) = match updated {
                    Some((body, event_type)) => (Some(body.as_str()), Some(event_type.as_str())),
                    None => (None, None),
                };
                decide.execute(params![id, disposition, body, event_type]).map_err(unavailable)?;
                if let Some(original) = outcome.merge_into {
                    let seen = (outcome.seen_at.unix_timestamp_nanos() / 1_000_000) as i64;
                    merge.execute(params![original.to_string(), seen]).map_err(unavailable)?;
                }
                for run in &outcome.runs {
                    queue_run
                        .execute(params![
                            uuid::Uuid::now_v7().to_string(),
                            id,
                            run.subscription,
                            run.function,
                            now,
                            to_json_text(&run.secrets),
                        ])
                        .map_err(unavailable)?;
                }
                for target in &outcome.disposition.forward_to {
                    queue_delivery.execute(params![id, target, now]).map_err(unavailable)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Pending deliveries for `target` whose retry time has come, oldest first.
    pub async fn due_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = now_ms();
        let raw = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT e.seq, e.id, e.source, e.vcenter, e.type, e.received_ms, e.body, e.processed, e.duplicates, e.last_seen_ms, e.disposition, d.attempts \
                     FROM deliveries d JOIN events e ON e.id = d.event_id \
                     WHERE d.state = 'pending' AND d.target = ?1 AND d.next_ms <= ?2 ORDER BY d.next_ms, e.seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![target, now, limit as i64], |r| {
                    Ok((row_to_raw(r)?, r.get::<_, i64>(11)?))
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        raw.into_iter()
            .map(|(r, attempts)| {
                Ok(DueDelivery {
                    event: r.decode(Vec::new())?.event,
                    attempts: attempts as u32,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
    }

    /// Settles one delivery attempt: `Ok` → sent; `Err` → retry at `retry_at`
    /// or, when `retry_at` is `None`, give up (`failed`).
    pub async fn settle_delivery(
        &self,
        event: EventId,
        target: String,
        outcome: Result<(), String>,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let now = now_ms();
            let (state, next, error) = match (&outcome, retry_at) {
                (Ok(()), _) => ("sent", now, None),
                (Err(e), Some(at)) => ("pending", (at.unix_timestamp_nanos() / 1_000_000) as i64, Some(e.clone())),
                (Err(e), None) => ("failed", now, Some(e.clone())),
            };
            conn.execute(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, next_ms = ?4, last_error = ?5, updated_ms = ?6 WHERE event_id = ?1 AND target = ?2",
                params![event.to_string(), target, state, next, error, now],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    pub async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
        .await
    }

    pub async fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Deletes events older than `max_age` and beyond the newest `max_events`
    /// (with their deliveries). Returns how many events went.
    pub async fn prune(&self, max_age: Duration, max_events: u64) -> Result<u64, StoreError> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        self.write(move |conn| {
            let mut deleted = conn
                .execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_ms < ?1 LIMIT 50000)", [cutoff])
                .map_err(unavailable)? as u64;
            // Keep the newest `max_events`. `seq` is AUTOINCREMENT and rows
            // leave only here, from the old end, so the kept range is
            // contiguous and `max(seq) - max_events` is the exact cut-off: one
            // index look-up, where an `OFFSET max_events` scan read up to a
            // million rows every minute (and delayed start-up). (Should the
            // clock jump back, the age rule can leave a gap; this then keeps
            // a few fewer than `max_events`, never more.)
            deleted += conn
                .execute(
                    "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?1",
                    [max_events as i64],
                )
                .map_err(unavailable)? as u64;
            if deleted > 0 {
                conn.execute("DELETE FROM deliveries WHERE event_id NOT IN (SELECT id FROM events)", [])
                    .map_err(unavailable)?;
            }
            Ok(deleted)
        })
        .await
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let path = self.path.clone();
        let writable = self.is_writable();
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

/// Events paired with their encoded bodies.
/// (event id, disposition JSON, enriched (body, type) when the event changed).
type EncodedDecision = (String, String, Option<(String, String)>);

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
    let received_ms = (event.received_at.unix_timestamp_nanos() / 1_000_000) as i64;
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

const SELECT_EVENT: &str = "SELECT seq, id, source, vcenter, type, received_ms, body, processed, duplicates, last_seen_ms, disposition FROM events";

struct RawEvent {
    seq: i64,
    id: String,
    body: String,
    processed: bool,
    duplicates: i64,
    last_seen_ms: Option<i64>,
    disposition: Option<String>,
}

fn row_to_raw(r: &rusqlite::Row<'_>) -> Result<RawEvent, rusqlite::Error> {
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
    fn decode(self, deliveries: Vec<DeliveryState>) -> Result<StoredEvent, StoreError> {
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
                "processed"
            } else {
                "accepted"
            },
            duplicates: self.duplicates as u64,
            last_seen: self.last_seen_ms.and_then(ms_to_time),
            disposition,
            deliveries,
        })
    }
}

/// The writer thread: take one job, gather whatever else is queued (up to
/// `max_batch`), run all in one transaction, commit once, then answer all.
fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    writable: Arc<AtomicBool>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let commit = (|| -> Result<(), rusqlite::Error> {
            let mut txn = conn.transaction()?;
            for job in batch.drain(..) {
                let mut sp = txn.savepoint()?;
                let (ok, reply) = job(&sp);
                // A job's own failure is reported through its reply; its partial
                // writes are undone so the rest of the batch can still commit.
                if ok {
                    sp.commit()?;
                } else {
                    sp.rollback()?;
                }
                replies.push(reply);
            }
            txn.commit()
        })();
        let result = commit.map_err(unavailable);
        writable.store(result.is_ok(), Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed; nothing in this batch was acknowledged");
        }
        for reply in replies {
            reply(result.clone());
        }
        batch.clear();
    }
    tracing::info!("store writer stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, Source};

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&StoreConfig {
            path: dir.path().join("t.db"),
            ..StoreConfig::default()
        })
        .unwrap()
    }

    fn event(age: time::Duration) -> Event {
        let mut e = Event::new(
            Source::AlarmHook,
            "vc1",
            EventType::parse("test.prune").unwrap(),
        );
        e.received_at = OffsetDateTime::now_utc() - age;
        e
    }

    async fn stored_seqs(store: &Store) -> Vec<i64> {
        store
            .read(|conn| {
                conn.prepare("SELECT seq FROM events ORDER BY seq")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn prune_keeps_the_newest_max_events_and_drops_what_is_too_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_beyond_the_pool_do_not_grow_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        // READERS + 2 reads all holding a connection at the same time (the
        // barrier lets none finish before all started): two must open extras.
        let n = READERS + 2;
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (store, barrier) = (store.clone(), barrier.clone());
            tasks.spawn(async move {
                store
                    .read(move |conn| {
                        barrier.wait();
                        conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    })
                    .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap().unwrap(), 0);
        }
        assert_eq!(store.readers.lock().unwrap().len(), READERS);
    }
}
