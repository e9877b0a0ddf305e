//! The SQLite schema: ordered migrations, counted in `PRAGMA user_version`.
//!
//! Owns: every `CREATE`/`DROP` the database has seen, in order, and running
//! those a database has not seen yet. A migration is never edited once
//! released (a database that ran it would not run it again); a change is a
//! new migration. Keep the measured reasons beside the migrations that drop
//! things.

use rusqlite::Connection;

use super::{alerts, checkpoint, guard};
use crate::store::StoreError;

/// Ordered schema migrations; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
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

/// Runs the migrations `conn` has not seen yet, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
    // Builds of main before the guard merge ran slot 3 as a no-op
    // placeholder: such databases get the guard's tables here (idempotent).
    conn.execute_batch(guard::SCHEMA)
        .map_err(|e| StoreError::Open(format!("guard tables: {e}")))?;
    Ok(())
}
