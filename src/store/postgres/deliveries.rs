//! PostgreSQL side of deliveries: a forwarder takes due deliveries with a
//! claim (`claim_deliveries`; `due_deliveries` only reads). The due rows are locked with `FOR UPDATE SKIP LOCKED` (two nodes
//! forwarding the same target get disjoint rows) and their due time is
//! pushed one node lease ahead, stamped with this node: nobody else sees
//! them due while this node sends. Settling sets the real next time; a node
//! that dies mid-send leaves the lease to expire, and the delivery is due
//! again for the survivors (attempts are counted by the settle).

use super::events::decode;
use super::{PgStore, node_timeout_ms, pg};
use crate::model::EventId;
use crate::store::sqlite::ms;
use crate::store::{DeliveryOutcome, DeliveryStatus, DeliveryStore, DueDelivery, StoreError};

/// A due delivery from an event row and the delivery's attempts (column 7).
fn due(r: &tokio_postgres::Row) -> Result<DueDelivery, StoreError> {
    Ok(DueDelivery {
        event: decode(r, Vec::new())?.event,
        attempts: r.get::<_, i32>(7) as u32,
    })
}

#[async_trait::async_trait]
impl DeliveryStore for PgStore {
    async fn due_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let client = self.client().await?;
        let now = ms(time::OffsetDateTime::now_utc());
        let rows = client
            .query(
                "SELECT e.seq, e.id, e.body, e.processed, e.duplicates, e.last_seen_ms, e.disposition, d.attempts \
                 FROM deliveries d JOIN events e ON e.id = d.event_id \
                 WHERE d.state = 'pending' AND d.target = $1 AND d.next_ms <= $2 ORDER BY d.next_ms, e.seq LIMIT $3",
                &[&target, &now, &(limit as i64)],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(due).collect()
    }

    async fn claim_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let client = self.client().await?;
        let now = ms(time::OffsetDateTime::now_utc());
        let lease = now + node_timeout_ms(self.node.timeout);
        let rows = client
            .query(
                "WITH picked AS (\
                   SELECT event_id, target FROM deliveries \
                   WHERE state = 'pending' AND target = $1 AND next_ms <= $2 \
                   ORDER BY next_ms LIMIT $3 FOR UPDATE SKIP LOCKED), \
                 claimed AS (\
                   UPDATE deliveries d SET next_ms = $4, claimed_by = $5 FROM picked \
                   WHERE d.event_id = picked.event_id AND d.target = picked.target \
                   RETURNING d.event_id, d.attempts) \
                 SELECT e.seq, e.id, e.body, e.processed, e.duplicates, e.last_seen_ms, e.disposition, c.attempts \
                 FROM claimed c JOIN events e ON e.id = c.event_id ORDER BY e.seq",
                &[&target, &now, &(limit as i64), &lease, &self.node_id()],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(due).collect()
    }

    async fn settle_delivery(
        &self,
        event: EventId,
        target: String,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let now = ms(time::OffsetDateTime::now_utc());
        let (state, next, error) = match outcome {
            DeliveryOutcome::Sent => (DeliveryStatus::Sent, now, None),
            DeliveryOutcome::Retry { error, at } => (DeliveryStatus::Pending, ms(at), Some(error)),
            DeliveryOutcome::GaveUp { error } => (DeliveryStatus::Failed, now, Some(error)),
        };
        client
            .execute(
                "UPDATE deliveries SET state = $3, attempts = attempts + 1, next_ms = $4, last_error = $5, updated_ms = $6 \
                 WHERE event_id = $1 AND target = $2",
                &[&event.to_string(), &target, &state.as_str(), &next, &error, &now],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }
}
