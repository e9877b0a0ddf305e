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
    // 7: an index on (source, seq) existed here briefly. It made a rare
    // `?source=` filter fast but cost ~15 % of durable ingest (measured: 8.3k
    // and 9.3k vs 7.4k and 7.6k accepts/s at concurrency 32), so it is dropped
    // wherever a build created it.
    "DROP INDEX IF EXISTS events_source_seq;",
    // 8: the active-alert table (see `alerts.rs`).
    alerts::SCHEMA,
];

mod alerts;
pub(super) mod backup;
mod checkpoint;
mod guard;
mod lock;
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
    /// For opening read connections beyond the pool, set up like the rest.
    config: Arc<StoreConfig>,
    writable: Arc<AtomicBool>,
    /// Held while any handle lives: one gateway per store, no restore under it.
    _lock: Arc<lock::StoreLock>,
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
            super::files::ensure_private_dir(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
            super::files::warn_if_world_readable(dir);
        }
        let lock = lock::StoreLock::acquire(&config.path)?;
        // Created 0600 before SQLite opens it: its -wal and -shm files take
        // the database file's mode.
        super::files::ensure_private_file(&config.path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", config.path.display())))?;
        super::files::warn_if_world_readable(&config.path);
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
            config: Arc::new(config.clone()),
            writable,
            _lock: Arc::new(lock),
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
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => open_connection(&config.path, &config)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
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
            .read(move |conn| list_events(conn, &query, PROBE))
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

    /// One page of recently processed, non-duplicate events, oldest first:
    /// those received since `since` with `seq > after_seq`, reading at most
    /// `page` rows. Returns them and the last seq read (`None`: no more).
    /// For rebuilding dedup state at start; paged because a busy window can
    /// hold 100 000s of events, which at once took RSS to 444 MiB.
    pub async fn recent_originals(
        &self,
        since: OffsetDateTime,
        after_seq: i64,
        page: usize,
    ) -> Result<(Vec<Event>, Option<i64>), StoreError> {
        let since_ms = (since.unix_timestamp_nanos() / 1_000_000) as i64;
        let raw = self
            .read(move |conn| {
                // First page: start at the oldest row received since then
                // (one walk of `events_received`), not at the oldest row.
                let start = if after_seq > 0 {
                    Some(after_seq + 1)
                } else {
                    conn.query_row(
                        "SELECT min(seq) FROM events INDEXED BY events_received WHERE received_ms >= ?1",
                        [since_ms],
                        |r| r.get::<_, Option<i64>>(0),
                    )?
                };
                let Some(start) = start else {
                    return Ok(Vec::new());
                };
                let mut stmt = conn.prepare_cached(&format!(
                    "{SELECT_EVENT} WHERE seq >= ?1 AND received_ms >= ?2 ORDER BY seq LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![start, since_ms, page as i64], row_to_raw)?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let last = raw.last().map(|r| r.seq);
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
            Ok((out, last))
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
                // The alert table decides which targets hear of an alarm
                // transition, so its disposition is completed (and encoded) here.
                let mut forward_to = outcome.disposition.forward_to.clone();
                let disposition = match &outcome.alert {
                    None => std::borrow::Cow::Borrowed(disposition),
                    Some(input) => {
                        let key = uuid::Uuid::now_v7().to_string();
                        for target in alerts::apply_input(conn, input, &key)? {
                            if !forward_to.contains(&target) {
                                forward_to.push(target);
                            }
                        }
                        let mut d = outcome.disposition.clone();
                        d.forward_to = forward_to.clone();
                        std::borrow::Cow::Owned(to_json_text(&d))
                    }
                };
                decide.execute(params![id, disposition.as_ref(), body, event_type]).map_err(unavailable)?;
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
                // Alertmanager targets take alarm transitions from the table
                // (their sender), not as event deliveries.
                let by_table: Vec<&str> = outcome
                    .alert
                    .iter()
                    .flat_map(|a| a.targets.iter())
                    .filter(|(_, kind)| *kind == super::TargetKind::Alertmanager)
                    .map(|(t, _)| t.as_str())
                    .collect();
                for target in forward_to.iter().filter(|t| !by_table.contains(&t.as_str())) {
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
        let path = self.config.path.clone();
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

/// How many index entries `list_events` reads to size a filter up front: the
/// `since` bound (`events_received`).
/// At least `MAX_LIMIT` (1000) of the API, so a first page never needs the
/// second `since` pass.
const PROBE: i64 = 4096;

/// `GET /api/v1/events`: events matching `query`, newest (highest seq) first,
/// at most `query.limit`. Each filter costs about log n + limit (glob types:
/// times the distinct types its literal prefix admits), not the store size:
///
/// - Every answer is one or more runs of the same ordered shape
///   (`list_range`): `[type = ?] [source = ?] [+received_ms >= ?] [seq >= lo]
///   [seq < hi] ORDER BY seq DESC LIMIT ?`, which SQLite answers by walking
///   an index already in seq order (`events_type_seq` or the rowid) and stopping after `limit` rows, with no sort.
/// - A type glob becomes the exact types it matches (`matching_types`), one
///   run each, merged by seq in Rust: `type GLOB ?` used the index only as a
///   range and sorted every matching row (4.3 s at 1M events).
/// - `source` has no index of its own (see migration 7): with a type, each
///   type's run walks the type and checks the source; alone, the run walks
///   the rowids newest first and checks it, which is quick for a common
///   source and reads the whole table for one that is rare or absent.
/// - `since` adds `seq >= lo`, a lower bound on the seq of any row received
///   since then. Without it, when few rows match, SQLite walked the rowids
///   down to the oldest (0.9 s at 1M). `received_ms` is only nearly
///   monotonic in seq, so the row filter stays and `lo` must be a true
///   bound; see `since_bound`.
fn list_events(
    conn: &Connection,
    query: &EventQuery,
    probe: i64,
) -> Result<Vec<RawEvent>, rusqlite::Error> {
    let limit = query.limit.max(1);
    let types = match &query.event_type {
        None => vec![None],
        Some(t) if t.contains('*') => matching_types(conn, t)?.into_iter().map(Some).collect(),
        Some(t) => vec![Some(t.clone())],
    };
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let since_ms = query
        .since
        .map(|since| (since.unix_timestamp_nanos() / 1_000_000) as i64);
    let filter = RangeFilter {
        types: &types,
        source: query.source.as_deref(),
        since_ms,
    };
    let Some(since_ms) = since_ms else {
        return list_range(conn, &filter, None, query.before_seq, limit);
    };
    match since_bound(conn, since_ms, probe)? {
        SinceBound::Nothing => Ok(Vec::new()),
        SinceBound::Exact(lo) => list_range(conn, &filter, Some(lo), query.before_seq, limit),
        SinceBound::Probed(probed) => {
            // Rows at or above `probed` first: if they fill the page, any
            // row below `probed` is older than all of them and not needed.
            let mut out = list_range(conn, &filter, Some(probed), query.before_seq, limit)?;
            if out.len() < limit {
                // The page ran out: look below `probed` too. From the oldest
                // row when at most `probe` rows are left below; else from the
                // exact bound, which reads every matching `events_received`
                // entry once (the last page of a long `since` listing, or a
                // since matching much combined with a rarer filter).
                let hi = query.before_seq.map_or(probed, |b| b.min(probed));
                let oldest: Option<i64> =
                    conn.query_row("SELECT min(seq) FROM events", [], |r| r.get(0))?;
                let lo = match oldest {
                    Some(oldest) if hi - oldest <= probe => Some(oldest),
                    _ => conn.query_row(SINCE_BELOW_SQL, params![since_ms, hi], |r| r.get(0))?,
                };
                if let Some(lo) = lo {
                    out.extend(list_range(
                        conn,
                        &filter,
                        Some(lo),
                        Some(hi),
                        limit - out.len(),
                    )?);
                }
            }
            Ok(out)
        }
    }
}

/// The smallest seq among at most ?2 rows with `received_ms >= ?1` (the
/// first by received_ms), and how many there were.
const SINCE_PROBE_SQL: &str = "SELECT min(seq), count(*) FROM \
     (SELECT seq FROM events WHERE received_ms >= ?1 ORDER BY received_ms LIMIT ?2)";
/// The smallest seq below ?2 with `received_ms >= ?1`: reads every index
/// entry from ?1 up (`INDEXED BY`: planned on the rowid, `min(seq)` would
/// walk the table from its oldest row).
const SINCE_BELOW_SQL: &str = "SELECT min(seq) FROM events INDEXED BY events_received \
     WHERE received_ms >= ?1 AND seq < ?2";

/// A lower bound on the seq of the rows with `received_ms >= since_ms`.
enum SinceBound {
    /// No row matches.
    Nothing,
    /// The smallest such seq.
    Exact(i64),
    /// More than the probe matched: the smallest seq among the first
    /// `SINCE_PROBE` of them by `received_ms`. Rows below it may match too
    /// (received later but stored earlier), but they are older than
    /// every row at or above it.
    Probed(i64),
}

/// Reads at most `probe` entries of `events_received` from `since_ms` up.
/// The exact `min(seq) ... WHERE received_ms >= ?` costs one index entry per
/// matching row (50 ms at 1M when everything matches) or, planned on the
/// rowid, one table row per older row (0.3 s at 1M when nothing matches);
/// this costs at most `probe` index entries whatever the store holds.
fn since_bound(
    conn: &Connection,
    since_ms: i64,
    probe: i64,
) -> Result<SinceBound, rusqlite::Error> {
    let (min, count): (Option<i64>, i64) =
        conn.query_row(SINCE_PROBE_SQL, params![since_ms, probe], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(match min {
        None => SinceBound::Nothing,
        Some(seq) if count < probe => SinceBound::Exact(seq),
        Some(seq) => SinceBound::Probed(seq),
    })
}

const MATCHING_TYPES_SQL: &str = "WITH RECURSIVE t(type) AS ( \
         SELECT min(type) FROM events WHERE type >= ?1 \
         UNION ALL \
         SELECT (SELECT min(type) FROM events WHERE type > t.type) FROM t \
         WHERE substr(t.type, 1, length(?1)) = ?1 \
     ) \
     SELECT type FROM t WHERE type GLOB ?2";

/// The distinct stored types matching `glob` (SQLite GLOB), in order.
///
/// A loose index scan over `events_type_seq`: each step is one `min(type)`
/// look-up for the next distinct type, so the cost is distinct types times
/// log n, not rows. It starts at the glob's literal prefix (the text before
/// its first `*`, `?` or `[`) and stops at the first type past it: types
/// sharing a prefix are contiguous in the index (BINARY collation).
fn matching_types(conn: &Connection, glob: &str) -> Result<Vec<String>, rusqlite::Error> {
    let prefix = &glob[..glob.find(['*', '?', '[']).unwrap_or(glob.len())];
    let mut stmt = conn.prepare_cached(MATCHING_TYPES_SQL)?;
    let types = stmt.query_map(params![prefix, glob], |r| r.get(0))?;
    types.collect()
}

/// Filters of one `list_range`: each of `types` is one exact-type run
/// (`None`: no type filter).
struct RangeFilter<'a> {
    types: &'a [Option<String>],
    source: Option<&'a str>,
    since_ms: Option<i64>,
}

/// The one query shape of `list_range`; parameters in this order: type,
/// source, since (ms), lo, hi, limit (each only when present). `typed`: an
/// exact type, walked on `events_type_seq`; otherwise the rowid is walked.
fn range_sql(typed: bool, source: bool, since: bool, lo: bool, hi: bool) -> String {
    let mut sql = format!("{SELECT_EVENT} WHERE 1=1");
    for (on, term) in [
        (typed, " AND type = ?"),
        (source, " AND source = ?"),
        (since, " AND +received_ms >= ?"),
        (lo, " AND seq >= ?"),
        (hi, " AND seq < ?"),
    ] {
        if on {
            sql.push_str(term);
        }
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    sql
}

/// Rows matching `filter` with `lo <= seq < hi`, newest first, at most
/// `limit`: one ordered query per type, merged lazily (a k-way merge on seq;
/// the types are disjoint, so seqs never tie).
///
/// Shape: `[type = ?] [source = ?] [+received_ms >= ?] [seq >= ?] [seq < ?]
/// ORDER BY seq DESC LIMIT ?`. The equality plus the seq range is a range of
/// `events_type_seq` (or of the rowid) already in seq
/// order, so SQLite stops after `limit` rows. `since` is served by the seq
/// bound; the unary `+` on received_ms is insurance that SQLite never plans
/// on `events_received` instead (a range on received_ms, then a sort of all
/// of it): it does not today, without statistics (`ANALYZE` could change that).
fn list_range(
    conn: &Connection,
    filter: &RangeFilter<'_>,
    lo: Option<i64>,
    hi: Option<i64>,
    limit: usize,
) -> Result<Vec<RawEvent>, rusqlite::Error> {
    let mut shared: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = filter.source {
        shared.push(s.to_owned().into());
    }
    if let Some(ms) = filter.since_ms {
        shared.push(ms.into());
    }
    shared.extend(lo.map(Into::into));
    shared.extend(hi.map(Into::into));
    shared.push((limit as i64).into());
    let shape = |typed| {
        range_sql(
            typed,
            filter.source.is_some(),
            filter.since_ms.is_some(),
            lo.is_some(),
            hi.is_some(),
        )
    };
    let (sql, typed_sql) = (shape(false), shape(true));

    let mut stmts = Vec::with_capacity(filter.types.len());
    for t in filter.types {
        stmts.push(conn.prepare_cached(if t.is_some() { &typed_sql } else { &sql })?);
    }
    let mut runs = Vec::with_capacity(stmts.len());
    for (stmt, t) in stmts.iter_mut().zip(filter.types) {
        let args = t
            .as_deref()
            .map(|t| t.to_owned().into())
            .into_iter()
            .chain(shared.iter().cloned());
        runs.push(stmt.query(rusqlite::params_from_iter(args))?);
    }
    // The head row of each run, and a max-heap of (head seq, run).
    let mut heads: Vec<Option<RawEvent>> = Vec::with_capacity(runs.len());
    let mut heap = std::collections::BinaryHeap::with_capacity(runs.len());
    for (i, run) in runs.iter_mut().enumerate() {
        let head = run.next()?.map(row_to_raw).transpose()?;
        if let Some(h) = &head {
            heap.push((h.seq, i));
        }
        heads.push(head);
    }
    let mut out = Vec::with_capacity(limit.min(1024));
    while out.len() < limit {
        let Some((_, i)) = heap.pop() else { break };
        let next = runs[i].next()?.map(row_to_raw).transpose()?;
        if let Some(n) = &next {
            heap.push((n.seq, i));
        }
        if let Some(row) = std::mem::replace(&mut heads[i], next) {
            out.push(row);
        }
    }
    Ok(out)
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
            }
            .into(),
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

    // ---- list_events against a naive reference ----

    const TYPES: [&str; 6] = [
        "vm.created",
        "vm.deleted",
        "vm.power.on",
        "host.created",
        "alarm.status.changed",
        "bench.rare",
    ];
    /// Queried type filters: globs (some matching nothing) and exact types.
    const TYPE_FILTERS: [&str; 11] = [
        "vm.*",
        "*",
        "*.created",
        "nomatch.*",
        "host*",
        "*.power.*",
        "v*d",
        "vm.created",
        "bench.rare",
        "vm.missing",
        "zzz*",
    ];
    const T0_MS: i64 = 1_700_000_000_000;

    fn at_ms(ms: i64) -> OffsetDateTime {
        ms_to_time(ms).unwrap()
    }

    /// Stores events of (type index, source index, received ms after T0), in order.
    async fn fill(store: &Store, events: &[(usize, usize, i64)]) {
        let events = events
            .iter()
            .map(|&(t, s, ms)| {
                let mut e = Event::new(Source::ALL[s], "vc1", EventType::parse(TYPES[t]).unwrap());
                e.received_at = at_ms(T0_MS + ms);
                e
            })
            .collect();
        store.accept_many(events).await.unwrap();
    }

    /// `*`-only glob (the reference's, independent of SQLite).
    fn glob_matches(pattern: &str, text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == text,
            Some((head, rest)) => {
                let Some(text) = text.strip_prefix(head) else {
                    return false;
                };
                (0..=text.len()).any(|i| glob_matches(rest, &text[i..]))
            }
        }
    }

    /// Every stored row filtered and ordered in Rust: the ids `list_events` must return.
    async fn reference(store: &Store, q: &EventQuery) -> Vec<String> {
        let rows: Vec<(i64, String, String, String, i64)> = store
            .read(|conn| {
                conn.prepare("SELECT seq, id, type, source, received_ms FROM events")?
                    .query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect()
            })
            .await
            .unwrap();
        let since_ms = q
            .since
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64);
        let mut rows: Vec<_> = rows
            .into_iter()
            .filter(|(seq, _, ty, source, ms)| {
                q.event_type.as_ref().is_none_or(|p| {
                    if p.contains('*') {
                        glob_matches(p, ty)
                    } else {
                        p == ty
                    }
                }) && q.source.as_ref().is_none_or(|s| s == source)
                    && since_ms.is_none_or(|since| *ms >= since)
                    && q.before_seq.is_none_or(|b| *seq < b)
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        rows.into_iter().take(q.limit.max(1)).map(|r| r.1).collect()
    }

    async fn listed(store: &Store, q: &EventQuery, probe: i64) -> Vec<String> {
        let q = q.clone();
        let raw = store
            .read(move |conn| list_events(conn, &q, probe))
            .await
            .unwrap();
        raw.into_iter().map(|r| r.id).collect()
    }

    #[test]
    fn glob_reference_matcher() {
        assert!(glob_matches("vm.*", "vm.created"));
        assert!(glob_matches("*.created", "host.created"));
        assert!(glob_matches("v*d", "vm.created"));
        assert!(!glob_matches("v*d", "vm.power.on"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("vm.*", "host.created"));
    }

    #[tokio::test]
    async fn list_events_matches_the_reference_for_every_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        // 300 events, types and sources cycling at different periods, received
        // 10 ms apart with jitter of up to ±45 ms (out of seq order).
        let events: Vec<_> = (0..300i64)
            .map(|i| {
                (
                    (i * 7 % 5) as usize,
                    (i % 3) as usize,
                    i * 10 + (i * 37 % 91) - 45,
                )
            })
            .collect();
        fill(&store, &events).await;
        // The API's source is the wire name: also a rare one at the oldest end.
        fill(&store, &[(5, 3, -1000), (5, 3, -999)]).await;

        // And a rare source with a common type.
        fill(&store, &[(4, 4, 2995)]).await;
        let mut checked = 0;
        let mut nonempty = 0;
        for type_filter in [None].into_iter().chain(TYPE_FILTERS.map(Some)) {
            for source in [
                None,
                Some("alarm-hook"),
                Some("snmp"),
                Some("api"),
                Some("guard"),
            ] {
                for since in [
                    None,
                    Some(-5000),
                    Some(0),
                    Some(1500),
                    Some(2990),
                    Some(99_999),
                ] {
                    for before in [None, Some(1), Some(150), Some(290)] {
                        for limit in [1, 7, 50, 1000] {
                            let q = EventQuery {
                                event_type: type_filter.map(str::to_owned),
                                source: source.map(str::to_owned),
                                since: since.map(|ms| at_ms(T0_MS + ms)),
                                before_seq: before,
                                limit,
                            };
                            let want = reference(&store, &q).await;
                            // The real probe, and tiny ones forcing the two-pass path.
                            for probe in [PROBE, 1, 3] {
                                assert_eq!(
                                    listed(&store, &q, probe).await,
                                    want,
                                    "{q:?} probe {probe}"
                                );
                            }
                            checked += 1;
                            nonempty += usize::from(!want.is_empty());
                        }
                    }
                }
            }
        }
        assert!(
            nonempty > checked / 5,
            "{nonempty} of {checked} queries found something"
        );
    }

    #[tokio::test]
    async fn since_finds_rows_stored_before_the_probed_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        // Ten events 10 ms apart, but the second was received last (clock
        // step, slow batch): a row below any bound read from the oldest
        // received matches.
        let mut events: Vec<_> = (0..10).map(|i| (0, 0, i * 10)).collect();
        events[1].2 = 1000;
        fill(&store, &events).await;
        let seqs = stored_seqs(&store).await;
        let q = EventQuery {
            since: Some(at_ms(T0_MS + 50)),
            limit: 10,
            ..EventQuery::default()
        };
        let want = reference(&store, &q).await;
        assert_eq!(want.len(), 6);
        for probe in [1, 2, 5, 6, PROBE] {
            assert_eq!(listed(&store, &q, probe).await, want, "probe {probe}");
            // Paged, two at a time, through the same rows.
            let mut paged = Vec::new();
            let mut before = None;
            loop {
                let page_q = EventQuery {
                    before_seq: before,
                    limit: 2,
                    ..q.clone()
                };
                let raw = store
                    .read(move |conn| list_events(conn, &page_q, probe))
                    .await
                    .unwrap();
                before = raw.last().map(|r| r.seq);
                let n = raw.len();
                paged.extend(raw.into_iter().map(|r| r.id));
                if n < 2 {
                    break;
                }
            }
            assert_eq!(paged, want, "paged, probe {probe}");
        }
        assert!(seqs.len() == 10);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Random stores (types, sources, received times far out of seq order)
        /// and random queries: always exactly the reference's ids, in order.
        #[test]
        fn list_events_equals_the_reference(
            events in proptest::collection::vec((0usize..6, 0usize..5, -300i64..300), 0..80),
            queries in proptest::collection::vec(
                (
                    proptest::option::of(0usize..TYPE_FILTERS.len()),
                    proptest::option::of(0usize..5),
                    proptest::option::of(-400i64..1200),
                    proptest::option::of(0i64..90),
                    1usize..40,
                    1i64..10,
                ),
                1..25,
            ),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = store(&dir);
                // Received i*10 ms plus a jitter of up to ±300 ms.
                let events: Vec<_> = events
                    .iter()
                    .enumerate()
                    .map(|(i, &(t, s, jitter))| (t, s, i as i64 * 10 + jitter))
                    .collect();
                fill(&store, &events).await;
                for (t, s, since, before, limit, probe) in queries {
                    let q = EventQuery {
                        event_type: t.map(|t| TYPE_FILTERS[t].to_owned()),
                        source: s.map(|s| Source::ALL[s].as_str().to_owned()),
                        since: since.map(|ms| at_ms(T0_MS + ms)),
                        before_seq: before,
                        limit,
                    };
                    let want = reference(&store, &q).await;
                    assert_eq!(listed(&store, &q, probe).await, want, "{q:?} probe {probe}");
                }
            });
        }
    }

    /// The query plans of every list shape: each filter is served by an index
    /// range in seq order (no full scan, no sort of what matched).
    #[tokio::test]
    async fn list_query_plans_use_an_index_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        fill(&store, &[(0, 0, 0), (1, 1, 10)]).await;
        let plans = store
            .read(|conn| {
                let plan = |sql: &str, n: usize| -> Result<String, rusqlite::Error> {
                    let args = vec![rusqlite::types::Value::Integer(1); n];
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows = stmt
                        .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?.join(" | "))
                };
                let mut plans = Vec::new();
                for (typed, bits) in [false, true]
                    .into_iter()
                    .flat_map(|typed| (0..16u32).map(move |bits| (typed, bits)))
                {
                    let f = |b: u32| bits & (1 << b) != 0;
                    let (source, since, lo, hi) = (f(0), f(1), f(2), f(3));
                    // `since` always comes with its seq bound.
                    if since && !lo {
                        continue;
                    }
                    let sql = range_sql(typed, source, since, lo, hi);
                    let n = sql.matches('?').count();
                    plans.push((
                        format!("typed={typed} source={source} since={since} lo={lo} hi={hi}"),
                        plan(&sql, n)?,
                    ));
                }
                plans.push(("since probe".into(), plan(SINCE_PROBE_SQL, 2)?));
                plans.push(("since below".into(), plan(SINCE_BELOW_SQL, 2)?));
                plans.push(("matching types".into(), plan(MATCHING_TYPES_SQL, 2)?));
                Ok(plans)
            })
            .await
            .unwrap();
        for (shape, plan) in &plans {
            println!("{shape}: {plan}");
        }
        for (shape, plan) in &plans {
            assert!(!plan.contains("TEMP B-TREE"), "{shape}: {plan}");
            if shape == "typed=false source=false since=false lo=false hi=false"
                || shape == "typed=false source=true since=false lo=false hi=false"
            {
                // The plain list (and a source alone, which has no index):
                // the rowid newest first, stopping at the limit.
                assert_eq!(plan, "SCAN events", "{shape}");
                continue;
            }
            assert!(!plan.contains("SCAN events"), "{shape}: {plan}");
            if shape.starts_with("typed=true") {
                assert!(
                    plan.contains("USING INDEX events_type_seq (type=?"),
                    "{shape}: {plan}"
                );
            }
            assert!(
                !plan.contains("events_received") || shape.starts_with("since"),
                "{shape}: {plan}"
            );
        }
    }
}
