//! PostgreSQL side of automation runs: claims shared by every node.
//!
//! A claim picks due runs with `FOR UPDATE SKIP LOCKED` (two nodes claiming
//! at once get disjoint runs), moves them to `running` with attempt + 1 and
//! stamps `claimed_by`. A run left `running` by a node whose heartbeat lease
//! expired (kill -9, power off, partition) is due again: the next claim
//! takes it over, counting the attempt. A settle only lands while the run
//! is still this node's running attempt, so a succeeded run stays succeeded
//! and is never claimed again.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::nodes::dead;
use super::{PgStore, pg};
use crate::model::{Event, EventId};
use crate::store::sqlite::{ms, ms_to_time};
use crate::store::{
    ClaimedRun, RetryOutcome, RunOutcome, RunQuery, RunRecord, RunStatus, RunStore, StoreError,
    to_json_text,
};

const RUN_COLUMNS: &str = "r.seq, r.id, r.event_id, r.subscription, r.function, r.status, r.attempt, r.next_ms, r.queued_ms, r.started_ms, r.finished_ms, r.reason, r.input, r.output, r.logs, r.secrets";

fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

fn row_to_run(r: &Row) -> RunRecord {
    let json = |i: usize| -> Option<Value> {
        r.get::<_, Option<&str>>(i)
            .and_then(|t| serde_json::from_str(t).ok())
    };
    let status = RunStatus::parse(r.get(5)).unwrap_or(RunStatus::Failed);
    RunRecord {
        seq: r.get(0),
        id: r.get(1),
        event_id: EventId::parse(r.get(2)).unwrap_or_default(),
        subscription: r.get(3),
        function: r.get(4),
        status,
        attempt: r.get::<_, i32>(6) as u32,
        next_attempt: (status == RunStatus::Failed)
            .then(|| ms_to_time(r.get(7)))
            .flatten(),
        queued: ms_to_time(r.get(8)).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        started: r.get::<_, Option<i64>>(9).and_then(ms_to_time),
        finished: r.get::<_, Option<i64>>(10).and_then(ms_to_time),
        reason: r.get(11),
        input: json(12),
        output: json(13),
        logs: json(14)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        secrets: json(15)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
    }
}

/// A run row joined with its event's body (column 16).
fn claimed(r: &Row) -> Result<ClaimedRun, StoreError> {
    let run = row_to_run(r);
    let body: Option<&str> = r.get(16);
    let body = body
        .ok_or_else(|| StoreError::Corrupt(format!("run {} refers to a missing event", run.id)))?;
    let event: Event = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", run.event_id)))?;
    Ok(ClaimedRun { run, event })
}

#[async_trait::async_trait]
impl RunStore for PgStore {
    async fn claim_runs(
        &self,
        function: String,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        let client = self.client().await?;
        let now = now_ms();
        let sql = format!(
            "WITH picked AS (\
               SELECT id FROM runs \
               WHERE function = $2 AND ((status IN ('queued', 'failed') AND next_ms <= $1) \
                  OR (status = 'running' AND {dead})) \
               ORDER BY next_ms, seq LIMIT $3 FOR UPDATE SKIP LOCKED), \
             claimed AS (\
               UPDATE runs r SET status = 'running', attempt = r.attempt + 1, started_ms = $1, finished_ms = NULL, \
                 claimed_by = $4, \
                 reason = CASE WHEN r.status = 'running' THEN 'taken over from ' || coalesce(r.claimed_by, '?') ELSE r.reason END \
               FROM picked WHERE r.id = picked.id RETURNING {RUN_COLUMNS}) \
             SELECT c.*, e.body FROM claimed c LEFT JOIN events e ON e.id = c.event_id ORDER BY c.next_ms, c.seq",
            dead = dead("runs.claimed_by"),
            RUN_COLUMNS = RUN_COLUMNS,
        );
        let rows = client
            .query(&sql, &[&now, &function, &(limit as i64), &self.node_id()])
            .await
            .map_err(pg)?;
        rows.iter().map(claimed).collect()
    }

    async fn next_run_due(
        &self,
        function: String,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        let client = self.client().await?;
        // A run another node holds is due when that node's lease runs out
        // (it is renewed while the node lives): the runner wakes then to
        // take it over, instead of at its next idle recheck.
        let sql = "SELECT min(due) FROM (\
             SELECT next_ms AS due FROM runs WHERE function = $1 AND status IN ('queued', 'failed') \
             UNION ALL \
             SELECT coalesce(n.lease_until_ms, 0) FROM runs r LEFT JOIN nodes n ON n.id = r.claimed_by \
             WHERE r.function = $1 AND r.status = 'running' AND r.claimed_by IS DISTINCT FROM $2) d";
        let next: Option<i64> = client
            .query_one(sql, &[&function, &self.node_id()])
            .await
            .map_err(pg)?
            .get(0);
        Ok(next.map(|due| {
            std::time::Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64)
        }))
    }

    async fn settle_run(&self, id: String, outcome: RunOutcome) -> Result<(), StoreError> {
        let client = self.client().await?;
        let now = now_ms();
        let next = outcome.retry_at.map(ms).unwrap_or(now);
        let settled = client
            .execute(
                "UPDATE runs SET status = $2, reason = $3, input = $4, output = $5, logs = $6, finished_ms = $7, next_ms = $8 \
                 WHERE id = $1 AND status = 'running' AND claimed_by = $9",
                &[
                    &id,
                    &outcome.status.as_str(),
                    &outcome.reason,
                    &outcome.input.as_ref().map(to_json_text),
                    &outcome.output.as_ref().map(to_json_text),
                    &to_json_text(&outcome.logs),
                    &now,
                    &next,
                    &self.node_id(),
                ],
            )
            .await
            .map_err(pg)?;
        if settled == 0 {
            tracing::warn!(run = %id, node = %self.node_id(), "run no longer held by this node (taken over): outcome not recorded");
        }
        Ok(())
    }

    /// Runs left `running` by this node (an earlier life under the same
    /// node id) or by a node whose lease expired.
    async fn requeue_interrupted(
        &self,
        max_attempts: HashMap<String, u32>,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let sql = format!(
            "SELECT id, function, attempt FROM runs WHERE status = 'running' AND (claimed_by = $1 OR {}) FOR UPDATE SKIP LOCKED",
            dead("runs.claimed_by")
        );
        let running = txn.query(&sql, &[&self.node_id()]).await.map_err(pg)?;
        let now = now_ms();
        for r in &running {
            let (id, function, attempt): (&str, &str, i32) = (r.get(0), r.get(1), r.get(2));
            let last = max_attempts
                .get(function)
                .is_none_or(|max| attempt as u32 >= *max);
            let (status, reason) = if last {
                (
                    "dead",
                    "interrupted (node restart or loss) during its last attempt",
                )
            } else {
                ("queued", "interrupted (node restart or loss); retrying")
            };
            txn.execute(
                "UPDATE runs SET status = $2, reason = $3, next_ms = $4, finished_ms = $4, claimed_by = NULL WHERE id = $1",
                &[&id, &status, &reason, &now],
            )
            .await
            .map_err(pg)?;
        }
        txn.commit().await.map_err(pg)?;
        Ok(running.len() as u64)
    }

    async fn retry_run(&self, id: String) -> Result<RetryOutcome, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let Some(row) = txn
            .query_opt("SELECT status FROM runs WHERE id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(pg)?
        else {
            return Ok(RetryOutcome::NotFound);
        };
        let status = RunStatus::parse(row.get(0)).unwrap_or(RunStatus::Failed);
        if !matches!(status, RunStatus::Dead | RunStatus::Failed) {
            return Ok(RetryOutcome::NotRetryable(status));
        }
        txn.execute(
            "UPDATE runs SET status = 'queued', attempt = 0, next_ms = $2, reason = 'retry requested' WHERE id = $1",
            &[&id, &now_ms()],
        )
        .await
        .map_err(pg)?;
        txn.commit().await.map_err(pg)?;
        Ok(RetryOutcome::Queued)
    }

    async fn list_runs(&self, query: RunQuery) -> Result<Vec<RunRecord>, StoreError> {
        let client = self.client().await?;
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE true");
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut term = |sql: &mut String, column: &str, arg: Box<dyn ToSql + Sync + Send>| {
            args.push(arg);
            sql.push_str(&format!(" AND {column} ${}", args.len()));
        };
        if let Some(f) = &query.function {
            term(&mut sql, "r.function =", Box::new(f.clone()));
        }
        if let Some(s) = query.status {
            term(&mut sql, "r.status =", Box::new(s.as_str().to_owned()));
        }
        if let Some(e) = query.event {
            term(&mut sql, "r.event_id =", Box::new(e.to_string()));
        }
        if let Some(b) = query.before_seq {
            term(&mut sql, "r.seq <", Box::new(b));
        }
        args.push(Box::new(query.limit.max(1) as i64));
        sql.push_str(&format!(" ORDER BY r.seq DESC LIMIT ${}", args.len()));
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&sql, &params).await.map_err(pg)?;
        Ok(rows.iter().map(row_to_run).collect())
    }

    async fn get_run(&self, id: String) -> Result<Option<ClaimedRun>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {RUN_COLUMNS}, e.body FROM runs r LEFT JOIN events e ON e.id = r.event_id WHERE r.id = $1"
                ),
                &[&id],
            )
            .await
            .map_err(pg)?;
        row.as_ref().map(claimed).transpose()
    }

    async fn run_counts(&self) -> Result<BTreeMap<RunStatus, u64>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT status, count(*) FROM runs GROUP BY status", &[])
            .await
            .map_err(pg)?;
        let mut counts = BTreeMap::new();
        for r in rows {
            *counts
                .entry(RunStatus::parse(r.get(0)).unwrap_or(RunStatus::Failed))
                .or_insert(0) += r.get::<_, i64>(1) as u64;
        }
        Ok(counts)
    }
}
