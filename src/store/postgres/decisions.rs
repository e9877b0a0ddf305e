//! PostgreSQL side of the pipeline's record: one transaction per batch of
//! decided events, as in SQLite (disposition, dedup merge, queued runs and
//! deliveries, the active-alert change).
//!
//! Why the row lock: the decision is exactly-once by the database, not by
//! the decider's memory. Each event row is locked (`FOR UPDATE`) and skipped
//! when already decided, so two deciders overlapping during a lease
//! takeover cannot both merge, queue or change the alert table for it; runs
//! and deliveries are unique per (event, subscription) and (event, target).

use std::borrow::Cow;

use tokio_postgres::Transaction;

use super::{PgStore, alerts, pg};
use crate::store::sqlite::ms;
use crate::store::{ProcessedEvent, StoreError, to_json_text};

impl PgStore {
    /// `EventStore::record_processed`.
    pub(super) async fn record_decisions(
        &self,
        outcomes: Vec<ProcessedEvent>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let now = ms(time::OffsetDateTime::now_utc());
        for outcome in &outcomes {
            record_one(&txn, now, outcome).await?;
        }
        txn.commit().await.map_err(pg)
    }
}

pub(super) async fn record_one(
    txn: &Transaction<'_>,
    now: i64,
    outcome: &ProcessedEvent,
) -> Result<(), StoreError> {
    let id = outcome.id.to_string();
    let undecided = txn
        .query_opt(
            "SELECT 1 FROM events WHERE id = $1 AND NOT processed FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(pg)?;
    if undecided.is_none() {
        tracing::debug!(event = %id, "already decided (by another node): skipped");
        return Ok(());
    }
    let (body, event_type) = match &outcome.updated {
        Some(e) => (
            Some(to_json_text(e)),
            Some(e.event_type.as_str().to_owned()),
        ),
        None => (None, None),
    };
    let mut forward_to = outcome.disposition.forward_to.clone();
    let disposition = match &outcome.alert {
        None => Cow::Owned(to_json_text(&outcome.disposition)),
        Some(input) => {
            let key = uuid::Uuid::now_v7().to_string();
            for target in alerts::apply_input(txn, input, &key).await? {
                if !forward_to.contains(&target) {
                    forward_to.push(target);
                }
            }
            let mut d = outcome.disposition.clone();
            d.forward_to = forward_to.clone();
            Cow::<String>::Owned(to_json_text(&d))
        }
    };
    txn.execute(
        "UPDATE events SET processed = true, disposition = $2, body = coalesce($3, body), type = coalesce($4, type) WHERE id = $1",
        &[&id, &disposition.as_ref(), &body, &event_type],
    )
    .await
    .map_err(pg)?;
    if let Some(original) = outcome.merge_into {
        txn.execute(
            "UPDATE events SET duplicates = duplicates + 1, last_seen_ms = greatest(coalesce(last_seen_ms, 0), $2) WHERE id = $1",
            &[&original.to_string(), &ms(outcome.seen_at)],
        )
        .await
        .map_err(pg)?;
    }
    for run in &outcome.runs {
        txn.execute(
            "INSERT INTO runs (id, event_id, subscription, function, status, attempt, next_ms, queued_ms, secrets) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &uuid::Uuid::now_v7().to_string(),
                &id,
                &run.subscription,
                &run.function,
                &now,
                &to_json_text(&run.secrets),
            ],
        )
        .await
        .map_err(pg)?;
    }
    for target in crate::store::alerts::delivery_targets(&forward_to, outcome.alert.as_ref()) {
        queue_delivery(txn, &id, target, now).await?;
    }
    Ok(())
}

/// Queues one delivery (once per event and target).
pub(super) async fn queue_delivery(
    txn: &Transaction<'_>,
    event: &str,
    target: &str,
    now: i64,
) -> Result<(), StoreError> {
    txn.execute(
        "INSERT INTO deliveries (event_id, target, state, attempts, next_ms, updated_ms) \
         VALUES ($1, $2, 'pending', 0, $3, $3) ON CONFLICT DO NOTHING",
        &[&event, &target, &now],
    )
    .await
    .map_err(pg)?;
    Ok(())
}
