//! The PostgreSQL schema: ordered migrations, counted in `schema_version`,
//! run under a session advisory lock so that nodes starting together run
//! each migration once (the others wait on the lock, then find nothing to do).
//!
//! Owns: every `CREATE` the PostgreSQL database has seen, in order. Like
//! SQLite's, a released migration is never edited; a change is a new one.
//! Times are Unix milliseconds in `bigint` columns, as in SQLite, and
//! bodies are the same JSON text, so both backends read alike.

use tokio_postgres::Client;

use super::pg;
use crate::store::StoreError;

/// `pg_advisory_lock` key of the migrations ("vcgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x7663_6761_7465;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the schema as of the first PostgreSQL release.
    r#"
CREATE TABLE events (
    seq          bigserial PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    source       text NOT NULL,
    vcenter      text NOT NULL,
    type         text NOT NULL,
    received_ms  bigint NOT NULL,
    fingerprint  text NOT NULL,
    delivery_id  text,
    body         text NOT NULL,
    processed    boolean NOT NULL DEFAULT false,
    duplicates   bigint NOT NULL DEFAULT 0,
    last_seen_ms bigint,
    disposition  text
);
CREATE UNIQUE INDEX events_delivery ON events(source, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX events_type_seq ON events(type, seq);
CREATE INDEX events_received ON events(received_ms);
CREATE INDEX events_pending ON events(seq) WHERE NOT processed;
CREATE TABLE deliveries (
    event_id   text NOT NULL,
    target     text NOT NULL,
    state      text NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    next_ms    bigint NOT NULL,
    last_error text,
    updated_ms bigint NOT NULL,
    claimed_by text,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX deliveries_due ON deliveries(target, next_ms) WHERE state = 'pending';
CREATE TABLE kv (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE runs (
    seq          bigserial PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    event_id     text NOT NULL,
    subscription text NOT NULL,
    function     text NOT NULL,
    status       text NOT NULL,
    attempt      integer NOT NULL DEFAULT 0,
    next_ms      bigint NOT NULL,
    queued_ms    bigint NOT NULL,
    started_ms   bigint,
    finished_ms  bigint,
    reason       text,
    input        text,
    output       text,
    logs         text,
    secrets      text,
    claimed_by   text,
    UNIQUE (event_id, subscription)
);
CREATE INDEX runs_due ON runs(function, next_ms) WHERE status IN ('queued', 'failed', 'running');
CREATE INDEX runs_function ON runs(function, seq);
CREATE INDEX runs_status ON runs(status, seq);
CREATE TABLE guard_hosts (
    vcenter    text NOT NULL,
    moref      text NOT NULL,
    memory     text NOT NULL,
    updated_ms bigint NOT NULL,
    PRIMARY KEY (vcenter, moref)
);
CREATE TABLE guard_reconciles (
    vcenter text PRIMARY KEY,
    record  text NOT NULL
);
CREATE TABLE guard_actions (
    seq     bigserial PRIMARY KEY,
    at_ms   bigint NOT NULL,
    vcenter text NOT NULL,
    record  text NOT NULL
);
CREATE TABLE stream_checkpoints (
    vcenter    text PRIMARY KEY,
    event_key  bigint NOT NULL,
    created_ns bigint NOT NULL,
    updated_ms bigint NOT NULL
);
CREATE TABLE silences (
    id         text PRIMARY KEY,
    body       text NOT NULL,
    starts_ms  bigint NOT NULL,
    ends_ms    bigint NOT NULL,
    created_ms bigint NOT NULL
);
CREATE INDEX silences_ends ON silences(ends_ms);
CREATE TABLE alerts (
    target       text NOT NULL,
    key          text NOT NULL,
    vcenter      text NOT NULL,
    entity_lc    text NOT NULL,
    entity_moref text,
    state        text NOT NULL,
    held         boolean NOT NULL DEFAULT false,
    version      bigint NOT NULL,
    body         text NOT NULL,
    PRIMARY KEY (target, key)
);
CREATE INDEX alerts_entity ON alerts(vcenter, entity_lc);
CREATE INDEX alerts_moref ON alerts(vcenter, entity_moref) WHERE entity_moref IS NOT NULL;
CREATE INDEX alerts_held ON alerts(held) WHERE held;
CREATE SEQUENCE alerts_version;
CREATE TABLE nodes (
    id             text PRIMARY KEY,
    started_ms     bigint NOT NULL,
    seen_ms        bigint NOT NULL,
    lease_until_ms bigint NOT NULL,
    version        text NOT NULL
);
CREATE TABLE singletons (
    name           text PRIMARY KEY,
    holder         text NOT NULL,
    lease_until_ms bigint NOT NULL,
    since_ms       bigint NOT NULL
);
"#,
    // 2: runs whose event was pruned (pruning deleted events, never their
    // runs; a queued one failed every claim that picked it). Pruning now
    // takes an event's runs with it (`PRUNABLE_EVENT`).
    "DELETE FROM runs r WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = r.event_id);",
];

/// Runs the migrations the database has not seen yet, each in its own
/// transaction, holding the migration advisory lock throughout. Returns how
/// many ran.
pub(super) async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let open = |e: tokio_postgres::Error| StoreError::Open(format!("migrations: {e}"));
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(open)?;
    let result = run_pending(client).await;
    // The lock is the session's: release it before the connection goes back
    // to the pool (a failed unlock means the connection is gone anyway).
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn run_pending(client: &mut Client) -> Result<usize, StoreError> {
    let open = |e: tokio_postgres::Error| StoreError::Open(format!("migrations: {e}"));
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        .await
        .map_err(open)?;
    let version: i32 = client
        .query_opt("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(open)?
        .and_then(|r| r.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    let version = version as usize;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    let mut ran = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let txn = client.transaction().await.map_err(pg)?;
        txn.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Open(format!("migration {}: {e}", i + 1)))?;
        txn.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )
        .await
        .map_err(open)?;
        txn.commit().await.map_err(open)?;
        tracing::info!(version = i + 1, "PostgreSQL schema migrated");
        ran += 1;
    }
    Ok(ran)
}
