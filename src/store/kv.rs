//! Small named values a stage keeps across restarts.
//!
//! Owns: [`KvStore`]. Keys are the callers' (dotted, e.g. `alerts.version`,
//! which the SQLite backend uses itself); values are text.

use super::StoreError;

#[async_trait::async_trait]
pub trait KvStore: Send + Sync {
    async fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets `key` to `value`, durably.
    async fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError>;
}
