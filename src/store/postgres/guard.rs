//! PostgreSQL side of the guard's records: the whole memory of a vCenter,
//! its reconcile record and the actions taken commit in one transaction.

use tokio_postgres::GenericClient;

use super::{PgStore, pg};
use crate::store::sqlite::{ms, ms_to_time};
use crate::store::{
    ActionRecord, GuardHost, GuardSnapshot, GuardStore, HostMemory, Memory, ReconcileRecord,
    StoreError,
};

/// Newest actions kept (the trait promises at least 1000).
const KEEP_ACTIONS: i64 = 1000;

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("guard {what}: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("guard record: {e}")))
}

async fn save_reconcile(
    client: &impl GenericClient,
    record: &ReconcileRecord,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO guard_reconciles (vcenter, record) VALUES ($1, $2) \
             ON CONFLICT (vcenter) DO UPDATE SET record = excluded.record",
            &[&record.vcenter, &to_json(record)?],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

#[async_trait::async_trait]
impl GuardStore for PgStore {
    async fn guard_memory(&self, vcenter: &str) -> Result<Memory, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT moref, memory FROM guard_hosts WHERE vcenter = $1",
                &[&vcenter],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let memory: HostMemory =
                    serde_json::from_str(r.get(1)).map_err(|e| corrupt("host memory", e))?;
                Ok((r.get(0), memory))
            })
            .collect()
    }

    async fn guard_commit(
        &self,
        memory: Memory,
        record: ReconcileRecord,
        actions: Vec<ActionRecord>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let now = ms(time::OffsetDateTime::now_utc());
        let vcenter = &record.vcenter;
        txn.execute("DELETE FROM guard_hosts WHERE vcenter = $1", &[vcenter])
            .await
            .map_err(pg)?;
        for (moref, host) in &memory {
            txn.execute(
                "INSERT INTO guard_hosts (vcenter, moref, memory, updated_ms) VALUES ($1, $2, $3, $4)",
                &[vcenter, moref, &to_json(host)?, &now],
            )
            .await
            .map_err(pg)?;
        }
        save_reconcile(&*txn, &record).await?;
        for action in &actions {
            txn.execute(
                "INSERT INTO guard_actions (at_ms, vcenter, record) VALUES ($1, $2, $3)",
                &[&ms(action.time), vcenter, &to_json(action)?],
            )
            .await
            .map_err(pg)?;
        }
        if !actions.is_empty() {
            txn.execute(
                "DELETE FROM guard_actions WHERE seq <= (SELECT seq FROM guard_actions ORDER BY seq DESC LIMIT 1 OFFSET $1)",
                &[&KEEP_ACTIONS],
            )
            .await
            .map_err(pg)?;
        }
        txn.commit().await.map_err(pg)
    }

    async fn guard_record_reconcile(&self, record: ReconcileRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        save_reconcile(&**client, &record).await
    }

    async fn guard_snapshot(&self, limit: usize) -> Result<GuardSnapshot, StoreError> {
        let mut client = self.client().await?;
        // One consistent moment: a repeatable-read, read-only transaction.
        let txn = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg)?;
        let hosts = txn
            .query(
                "SELECT vcenter, moref, memory, updated_ms FROM guard_hosts ORDER BY vcenter, moref",
                &[],
            )
            .await
            .map_err(pg)?;
        let reconciles = txn
            .query("SELECT record FROM guard_reconciles ORDER BY vcenter", &[])
            .await
            .map_err(pg)?;
        let actions = txn
            .query(
                "SELECT record FROM guard_actions ORDER BY seq DESC LIMIT $1",
                &[&(limit.max(1) as i64)],
            )
            .await
            .map_err(pg)?;
        txn.commit().await.map_err(pg)?;
        let mut snapshot = GuardSnapshot::default();
        for r in &hosts {
            let memory: HostMemory =
                serde_json::from_str(r.get(2)).map_err(|e| corrupt("host memory", e))?;
            snapshot.hosts.push(GuardHost {
                vcenter: r.get(0),
                moref: r.get(1),
                memory,
                updated: ms_to_time(r.get(3)),
            });
        }
        for r in &reconciles {
            snapshot
                .reconciles
                .push(serde_json::from_str(r.get(0)).map_err(|e| corrupt("reconcile", e))?);
        }
        for r in &actions {
            snapshot
                .actions
                .push(serde_json::from_str(r.get(0)).map_err(|e| corrupt("action", e))?);
        }
        Ok(snapshot)
    }
}
