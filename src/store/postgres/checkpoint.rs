//! PostgreSQL side of the vCenter event stream's checkpoint: shared by the
//! nodes, committed with the events it covers, so whichever node runs a
//! vCenter's stream resumes where the last one stopped.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::events::insert_event;
use super::{PgStore, pg};
use crate::model::{Event, Source};
use crate::store::sqlite::ms;
use crate::store::{AcceptOutcome, CheckpointStore, StoreError, StreamCheckpoint};

fn to_ns(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl CheckpointStore for PgStore {
    async fn accept_with_checkpoint(
        &self,
        events: Vec<Event>,
        vcenter: String,
        checkpoint: StreamCheckpoint,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        let result = async {
            let mut client = self.client().await?;
            let txn = client.transaction().await.map_err(pg)?;
            let mut outcomes = Vec::with_capacity(events.len());
            for event in &events {
                outcomes.push(insert_event(&txn, event).await?);
            }
            txn.execute(
                "INSERT INTO stream_checkpoints (vcenter, event_key, created_ns, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (vcenter) DO UPDATE SET event_key = excluded.event_key, created_ns = excluded.created_ns, updated_ms = excluded.updated_ms",
                &[&vcenter, &checkpoint.key, &to_ns(checkpoint.time), &ms(OffsetDateTime::now_utc())],
            )
            .await
            .map_err(pg)?;
            txn.commit().await.map_err(pg)?;
            Ok(outcomes)
        }
        .await;
        self.note(&result);
        result
    }

    async fn stream_checkpoint(
        &self,
        vcenter: &str,
    ) -> Result<Option<StreamCheckpoint>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT event_key, created_ns FROM stream_checkpoints WHERE vcenter = $1",
                &[&vcenter],
            )
            .await
            .map_err(pg)?;
        row.map(|r| StreamCheckpoint::from_stored(r.get(0), r.get(1)))
            .transpose()
    }

    async fn known_deliveries(
        &self,
        source: Source,
        delivery_ids: Vec<String>,
    ) -> Result<HashSet<String>, StoreError> {
        if delivery_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT delivery_id FROM events WHERE source = $1 AND delivery_id = ANY($2)",
                &[&source.as_str(), &delivery_ids],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
