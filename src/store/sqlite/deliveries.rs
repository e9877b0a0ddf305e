//! SQLite side of deliveries: queued by `decisions.rs` and `alerts.rs`
//! (`INSERT OR IGNORE`, one per event and target), read here per target in
//! due order, settled with a counted attempt.

use rusqlite::params;

use super::events::{RawEvent, row_to_raw};
use super::{SqliteStore, ms, now_ms, unavailable};
use crate::model::EventId;
use crate::store::{DeliveryOutcome, DeliveryStatus, DeliveryStore, DueDelivery, StoreError};

#[async_trait::async_trait]
impl DeliveryStore for SqliteStore {
    async fn due_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = now_ms();
        let raw: Vec<(RawEvent, i64)> = self
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

    async fn settle_delivery(
        &self,
        event: EventId,
        target: String,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let now = now_ms();
            let (state, next, error) = match outcome {
                DeliveryOutcome::Sent => (DeliveryStatus::Sent, now, None),
                DeliveryOutcome::Retry { error, at } => (DeliveryStatus::Pending, ms(at), Some(error)),
                DeliveryOutcome::GaveUp { error } => (DeliveryStatus::Failed, now, Some(error)),
            };
            conn.execute(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, next_ms = ?4, last_error = ?5, updated_ms = ?6 WHERE event_id = ?1 AND target = ?2",
                params![event.to_string(), target, state.as_str(), next, error, now],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
