//! SQLite side of automation runs: queueing happens in `record_processed`;
//! here are claims (atomic `queued|failed → running` in the writer), settling,
//! restart recovery, manual retry and the read queries.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use time::OffsetDateTime;

use super::{SqliteStore, ms, ms_to_time, now_ms, unavailable};
use crate::model::{Event, EventId};
use crate::store::{
    ClaimedRun, RetryOutcome, RunOutcome, RunQuery, RunRecord, RunStatus, RunStore, StoreError,
    to_json_text,
};

const SELECT_RUN: &str = "SELECT seq, id, event_id, subscription, function, status, attempt, next_ms, queued_ms, started_ms, finished_ms, reason, input, output, logs, secrets FROM runs";

fn row_to_run(r: &rusqlite::Row<'_>) -> Result<RunRecord, rusqlite::Error> {
    let json = |i: usize| -> Result<Option<Value>, rusqlite::Error> {
        Ok(r.get::<_, Option<String>>(i)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    };
    let status: String = r.get(5)?;
    let event_id: String = r.get(2)?;
    let next_ms: i64 = r.get(7)?;
    let status = RunStatus::parse(&status).unwrap_or(RunStatus::Failed);
    Ok(RunRecord {
        seq: r.get(0)?,
        id: r.get(1)?,
        event_id: EventId::parse(&event_id).unwrap_or_default(),
        subscription: r.get(3)?,
        function: r.get(4)?,
        status,
        attempt: r.get::<_, i64>(6)? as u32,
        next_attempt: (status == RunStatus::Failed)
            .then(|| ms_to_time(next_ms))
            .flatten(),
        queued: ms_to_time(r.get(8)?).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        started: r.get::<_, Option<i64>>(9)?.and_then(ms_to_time),
        finished: r.get::<_, Option<i64>>(10)?.and_then(ms_to_time),
        reason: r.get(11)?,
        input: json(12)?,
        output: json(13)?,
        logs: json(14)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        secrets: json(15)?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
    })
}

fn event_body(conn: &Connection, id: &EventId) -> Result<Option<String>, rusqlite::Error> {
    conn.query_row(
        "SELECT body FROM events WHERE id = ?1",
        [id.to_string()],
        |r| r.get(0),
    )
    .optional()
}

fn decode_event(body: Option<String>, run: &RunRecord) -> Result<Event, StoreError> {
    let body = body
        .ok_or_else(|| StoreError::Corrupt(format!("run {} refers to a missing event", run.id)))?;
    serde_json::from_str(&body)
        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", run.event_id)))
}

#[async_trait::async_trait]
impl RunStore for SqliteStore {
    /// Atomically moves up to `limit` due runs of `function` to `running`
    /// (attempt + 1) and returns them with their events.
    async fn claim_runs(
        &self,
        function: String,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        let claimed = self
            .write(move |conn| {
                let now = now_ms();
                let mut stmt = conn
                    .prepare_cached(
                        "UPDATE runs SET status = 'running', attempt = attempt + 1, started_ms = ?1, finished_ms = NULL \
                         WHERE id IN (SELECT id FROM runs WHERE function = ?2 AND status IN ('queued', 'failed') AND next_ms <= ?1 \
                         ORDER BY next_ms, seq LIMIT ?3) \
                         RETURNING seq, id, event_id, subscription, function, status, attempt, next_ms, queued_ms, started_ms, finished_ms, reason, input, output, logs, secrets"
                    )
                    .map_err(unavailable)?;
                let runs = stmt
                    .query_map(params![now, function, limit as i64], row_to_run)
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(unavailable)?;
                runs.into_iter()
                    .map(|run| {
                        let body = event_body(conn, &run.event_id).map_err(unavailable)?;
                        Ok((run.clone(), body))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        claimed
            .into_iter()
            .map(|(run, body)| {
                let event = decode_event(body, &run)?;
                Ok(ClaimedRun { run, event })
            })
            .collect()
    }

    /// How long until this function's next queued or failed run is due
    /// (zero if one is due now); `None` when it has none waiting. A read on
    /// the `runs_due` index, so idle runners cost no writer round trip.
    async fn next_run_due(
        &self,
        function: String,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        let next: Option<i64> = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT min(next_ms) FROM runs WHERE function = ?1 AND status IN ('queued', 'failed')",
                )?
                .query_row([function], |r| r.get(0))
            })
            .await?;
        Ok(next.map(|due| {
            std::time::Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64)
        }))
    }

    /// Records how an attempt ended.
    async fn settle_run(&self, id: String, outcome: RunOutcome) -> Result<(), StoreError> {
        self.write(move |conn| {
            let now = now_ms();
            let next = outcome
                .retry_at
                .map(ms)
                .unwrap_or(now);
            conn.execute(
                "UPDATE runs SET status = ?2, reason = ?3, input = ?4, output = ?5, logs = ?6, finished_ms = ?7, next_ms = ?8 WHERE id = ?1",
                params![
                    id,
                    outcome.status.as_str(),
                    outcome.reason,
                    outcome.input.as_ref().map(to_json_text),
                    outcome.output.as_ref().map(to_json_text),
                    to_json_text(&outcome.logs),
                    now,
                    next,
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// After a restart: runs that were `running` when the process died are
    /// queued again (or `dead` when that was their last attempt).
    async fn requeue_interrupted(
        &self,
        max_attempts: HashMap<String, u32>,
    ) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let mut stmt = conn
                .prepare("SELECT id, function, attempt FROM runs WHERE status = 'running'")
                .map_err(unavailable)?;
            let running = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(unavailable)?;
            let now = now_ms();
            for (id, function, attempt) in &running {
                let last = max_attempts.get(function).is_none_or(|max| *attempt as u32 >= *max);
                let (status, reason) = if last {
                    ("dead", "interrupted by a restart during its last attempt")
                } else {
                    ("queued", "interrupted by a restart; retrying")
                };
                conn.execute(
                    "UPDATE runs SET status = ?2, reason = ?3, next_ms = ?4, finished_ms = ?4 WHERE id = ?1",
                    params![id, status, reason, now],
                )
                .map_err(unavailable)?;
            }
            Ok(running.len() as u64)
        })
        .await
    }

    async fn retry_run(&self, id: String) -> Result<RetryOutcome, StoreError> {
        self.write(move |conn| {
            let status: Option<String> = conn
                .query_row("SELECT status FROM runs WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            let Some(status) = status else {
                return Ok(RetryOutcome::NotFound);
            };
            let status = RunStatus::parse(&status).unwrap_or(RunStatus::Failed);
            if !matches!(status, RunStatus::Dead | RunStatus::Failed) {
                return Ok(RetryOutcome::NotRetryable(status));
            }
            conn.execute(
                "UPDATE runs SET status = 'queued', attempt = 0, next_ms = ?2, reason = 'retry requested' WHERE id = ?1",
                params![id, now_ms()],
            )
            .map_err(unavailable)?;
            Ok(RetryOutcome::Queued)
        })
        .await
    }

    async fn list_runs(&self, query: RunQuery) -> Result<Vec<RunRecord>, StoreError> {
        self.read(move |conn| {
            let mut sql = format!("{SELECT_RUN} WHERE 1=1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(f) = &query.function {
                sql.push_str(" AND function = ?");
                args.push(f.clone().into());
            }
            if let Some(s) = query.status {
                sql.push_str(" AND status = ?");
                args.push(s.as_str().to_owned().into());
            }
            if let Some(e) = query.event {
                sql.push_str(" AND event_id = ?");
                args.push(e.to_string().into());
            }
            if let Some(b) = query.before_seq {
                sql.push_str(" AND seq < ?");
                args.push(b.into());
            }
            sql.push_str(" ORDER BY seq DESC LIMIT ?");
            args.push((query.limit.max(1) as i64).into());
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), row_to_run)?;
            rows.collect()
        })
        .await
    }

    /// One run with its event.
    async fn get_run(&self, id: String) -> Result<Option<ClaimedRun>, StoreError> {
        let found = self
            .read(move |conn| {
                let run = conn
                    .query_row(&format!("{SELECT_RUN} WHERE id = ?1"), [&id], row_to_run)
                    .optional()?;
                match run {
                    Some(run) => {
                        let body = event_body(conn, &run.event_id)?;
                        Ok(Some((run, body)))
                    }
                    None => Ok(None),
                }
            })
            .await?;
        found
            .map(|(run, body)| {
                Ok(ClaimedRun {
                    event: decode_event(body, &run)?,
                    run,
                })
            })
            .transpose()
    }

    async fn run_counts(&self) -> Result<BTreeMap<RunStatus, u64>, StoreError> {
        let rows = self
            .read(|conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT status, count(*) FROM runs GROUP BY status")?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        // As `row_to_run` reads a status it does not know: failed.
        let mut counts = BTreeMap::new();
        for (status, n) in rows {
            *counts
                .entry(RunStatus::parse(&status).unwrap_or(RunStatus::Failed))
                .or_insert(0) += n;
        }
        Ok(counts)
    }
}
