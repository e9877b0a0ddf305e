//! SQLite side of the key/value table (migration 1).

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, unavailable};
use crate::store::{KvStore, StoreError};

#[async_trait::async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
        .await
    }

    async fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
