//! SQLite side of the alarm-action guard (schema migration 3): per-host
//! memory (guarded hosts and the last observation), the last reconcile per
//! vCenter, and the recent actions with their reasons, each as JSON. One
//! reconcile is one write (see `store::guard` for why).

use rusqlite::{Connection, params};

use super::{SqliteStore, ms, ms_to_time, now_ms, unavailable};
use crate::store::{
    ActionRecord, GuardHost, GuardSnapshot, GuardStore, HostMemory, Memory, ReconcileRecord,
    StoreError,
};

/// Migration 3: the guard's tables. Idempotent, because builds of main
/// before the guard merge ran slot 3 as a no-op placeholder: such databases
/// get the tables when the store opens (`schema::migrate`).
pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS guard_hosts (
    vcenter          TEXT NOT NULL,
    moref            TEXT NOT NULL,
    memory           TEXT NOT NULL,
    updated_ms       INTEGER NOT NULL,
    PRIMARY KEY (vcenter, moref)
);
CREATE TABLE IF NOT EXISTS guard_reconciles (
    vcenter          TEXT PRIMARY KEY,
    record           TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS guard_actions (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms            INTEGER NOT NULL,
    vcenter          TEXT NOT NULL,
    record           TEXT NOT NULL
);
"#;

/// Actions kept for the API; older ones are pruned on write.
const KEEP_ACTIONS: i64 = 1000;

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("guard {what}: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("guard record: {e}")))
}

fn save_reconcile(conn: &Connection, record: &ReconcileRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO guard_reconciles (vcenter, record) VALUES (?1, ?2) \
         ON CONFLICT(vcenter) DO UPDATE SET record = excluded.record",
        params![record.vcenter, to_json(record)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait::async_trait]
impl GuardStore for SqliteStore {
    /// The guard's memory of one vCenter's hosts (empty on first start).
    async fn guard_memory(&self, vcenter: &str) -> Result<Memory, StoreError> {
        let vcenter = vcenter.to_owned();
        let rows = self
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT moref, memory FROM guard_hosts WHERE vcenter = ?1")?;
                let rows = stmt.query_map([vcenter], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        rows.into_iter()
            .map(|(moref, text)| {
                let memory: HostMemory =
                    serde_json::from_str(&text).map_err(|e| corrupt("host memory", e))?;
                Ok((moref, memory))
            })
            .collect()
    }

    /// Commits one reconcile: the whole memory of `vcenter`, its reconcile
    /// record and the actions taken, in one transaction.
    async fn guard_commit(
        &self,
        memory: Memory,
        record: ReconcileRecord,
        actions: Vec<ActionRecord>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let now = now_ms();
            let vcenter = &record.vcenter;
            conn.execute("DELETE FROM guard_hosts WHERE vcenter = ?1", [vcenter])
                .map_err(unavailable)?;
            for (moref, host) in &memory {
                conn.execute(
                    "INSERT INTO guard_hosts (vcenter, moref, memory, updated_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![vcenter, moref, to_json(host)?, now],
                )
                .map_err(unavailable)?;
            }
            save_reconcile(conn, &record)?;
            for action in &actions {
                let at = ms(action.time);
                conn.execute(
                    "INSERT INTO guard_actions (at_ms, vcenter, record) VALUES (?1, ?2, ?3)",
                    params![at, vcenter, to_json(action)?],
                )
                .map_err(unavailable)?;
            }
            if !actions.is_empty() {
                conn.execute(
                    "DELETE FROM guard_actions WHERE seq <= (SELECT seq FROM guard_actions ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
                    [KEEP_ACTIONS],
                )
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    /// Records a reconcile that could not read vCenter (memory unchanged).
    async fn guard_record_reconcile(&self, record: ReconcileRecord) -> Result<(), StoreError> {
        self.write(move |conn| save_reconcile(conn, &record)).await
    }

    /// Everything `GET /api/v1/guard` shows: all host memories, the reconcile
    /// record per vCenter, and the newest `limit` actions (newest first).
    async fn guard_snapshot(&self, limit: usize) -> Result<GuardSnapshot, StoreError> {
        let (hosts, reconciles, actions) = self
            .read(move |conn| {
                // One read transaction = one WAL snapshot: a reconcile
                // committing between the queries must not tear the view
                // (its new action next to the old memory).
                let conn = conn.unchecked_transaction()?;
                let hosts = conn
                    .prepare_cached("SELECT vcenter, moref, memory, updated_ms FROM guard_hosts ORDER BY vcenter, moref")?
                    .query_map([], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let reconciles = conn
                    .prepare_cached("SELECT record FROM guard_reconciles ORDER BY vcenter")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                let actions = conn
                    .prepare_cached("SELECT record FROM guard_actions ORDER BY seq DESC LIMIT ?1")?
                    .query_map([limit.max(1) as i64], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                conn.commit()?;
                Ok((hosts, reconciles, actions))
            })
            .await?;
        let mut snapshot = GuardSnapshot::default();
        for (vcenter, moref, text, updated_ms) in hosts {
            let memory: HostMemory =
                serde_json::from_str(&text).map_err(|e| corrupt("host memory", e))?;
            snapshot.hosts.push(GuardHost {
                vcenter,
                moref,
                memory,
                updated: ms_to_time(updated_ms),
            });
        }
        for text in reconciles {
            snapshot
                .reconciles
                .push(serde_json::from_str(&text).map_err(|e| corrupt("reconcile", e))?);
        }
        for text in actions {
            snapshot
                .actions
                .push(serde_json::from_str(&text).map_err(|e| corrupt("action", e))?);
        }
        Ok(snapshot)
    }
}
