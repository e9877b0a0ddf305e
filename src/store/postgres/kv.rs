//! PostgreSQL side of the key/value table.

use super::{PgStore, pg};
use crate::store::{KvStore, StoreError};

#[async_trait::async_trait]
impl KvStore for PgStore {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM kv WHERE key = $1", &[&key])
            .await
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }
}
