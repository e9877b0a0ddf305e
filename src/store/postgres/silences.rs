//! PostgreSQL side of silences: Alertmanager's create-or-update rule
//! (`store::silences::upsert`) applied under the row's lock, so concurrent
//! updates of one silence (from two nodes) cannot interleave.

use time::OffsetDateTime;
use tokio_postgres::GenericClient;

use super::{PgStore, pg};
use crate::store::silences::{Upsert, upsert};
use crate::store::sqlite::ms;
use crate::store::{Silence, SilenceStore, StoreError};

async fn put(client: &impl GenericClient, silence: &Silence) -> Result<(), StoreError> {
    let body =
        serde_json::to_string(silence).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .execute(
            "INSERT INTO silences (id, body, starts_ms, ends_ms, created_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, starts_ms = excluded.starts_ms, ends_ms = excluded.ends_ms",
            &[
                &silence.id,
                &body,
                &ms(silence.starts_at),
                &ms(silence.ends_at),
                &ms(OffsetDateTime::now_utc()),
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

/// The silence `id`, locked for update when `lock`.
async fn get(
    client: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<Silence>, StoreError> {
    let sql = if lock {
        "SELECT body FROM silences WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT body FROM silences WHERE id = $1"
    };
    let row = client.query_opt(sql, &[&id]).await.map_err(pg)?;
    row.map(|r| {
        serde_json::from_str(r.get(0))
            .map_err(|e| StoreError::Corrupt(format!("silence {id}: {e}")))
    })
    .transpose()
}

#[async_trait::async_trait]
impl SilenceStore for PgStore {
    async fn upsert_silence(
        &self,
        wanted: Silence,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let new_id = uuid::Uuid::now_v7().to_string();
        let stored = if wanted.id.is_empty() {
            let mut new = wanted;
            new.id = new_id;
            new.updated_at = Some(now);
            put(&*txn, &new).await?;
            Some(new)
        } else {
            match get(&*txn, &wanted.id, true).await? {
                None => None,
                Some(existing) => match upsert(existing, wanted, now, new_id) {
                    Upsert::InPlace(s) => {
                        put(&*txn, &s).await?;
                        Some(s)
                    }
                    Upsert::Replace { expire, new } => {
                        put(&*txn, &expire).await?;
                        put(&*txn, &new).await?;
                        Some(new)
                    }
                },
            }
        };
        txn.commit().await.map_err(pg)?;
        Ok(stored)
    }

    async fn get_silence(&self, id: String) -> Result<Option<Silence>, StoreError> {
        let client = self.client().await?;
        get(&**client, &id, false).await
    }

    async fn expire_silence(
        &self,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let Some(mut silence) = get(&*txn, &id, true).await? else {
            return Ok(None);
        };
        if silence.expire(now) {
            put(&*txn, &silence).await?;
        }
        txn.commit().await.map_err(pg)?;
        Ok(Some(silence))
    }

    async fn list_silences(&self, since: OffsetDateTime) -> Result<Vec<Silence>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT body FROM silences WHERE ends_ms > $1 ORDER BY starts_ms",
                &[&ms(since)],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(r.get(0))
                    .map_err(|e| StoreError::Corrupt(format!("silence: {e}")))
            })
            .collect()
    }

    async fn prune_silences(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM silences WHERE ends_ms < $1", &[&ms(before)])
            .await
            .map_err(pg)
    }
}
