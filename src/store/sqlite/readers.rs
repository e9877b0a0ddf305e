//! Connections: how one is opened (WAL, sync mode, size cap) and the pool of
//! read connections that serve every read on blocking threads.
//!
//! Reads never wait for the writer: under WAL each read sees the last
//! committed state.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::{SqliteStore, unavailable};
use crate::config::{StoreConfig, SyncMode};
use crate::store::StoreError;

/// Read connections kept open in the pool. A read finding none idle opens a
/// temporary one, closed afterwards.
pub(super) const READERS: usize = 4;

pub(super) fn open_connection(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    let conn =
        Connection::open(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(unavailable)?;
    let sync = match config.sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=8192;"
    ))
    .map_err(|e| StoreError::Open(e.to_string()))?;
    if let Some(max) = config.max_size {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let pages = (max.0 as i64 / page_size).max(16);
        conn.query_row(&format!("PRAGMA max_page_count={pages}"), [], |_| Ok(()))
            .map_err(|e| StoreError::Open(e.to_string()))?;
    }
    Ok(conn)
}

/// The pool of idle read connections.
pub(super) struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    /// For opening read connections beyond the pool, set up like the rest.
    config: Arc<StoreConfig>,
}

impl Readers {
    pub(super) fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(open_connection(&config.path, config)?);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(idle)),
            config: Arc::new(config.clone()),
        })
    }

    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

impl SqliteStore {
    /// Runs `f` on a read connection, on a blocking thread.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.idle.clone();
        let config = self.readers.config.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => open_connection(&config.path, &config)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?,
            };
            let result = f(&conn).map_err(unavailable);
            // Keep at most `READERS` idle connections: the extras opened while
            // the pool was empty are closed here, so bursts of slow reads do not
            // grow the pool (and its open files and page caches) for good.
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::open_in;
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_beyond_the_pool_do_not_grow_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open_in(&dir));
        // READERS + 2 reads all holding a connection at the same time (the
        // barrier lets none finish before all started): two must open extras.
        let n = READERS + 2;
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (store, barrier) = (store.clone(), barrier.clone());
            tasks.spawn(async move {
                store
                    .read(move |conn| {
                        barrier.wait();
                        conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    })
                    .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap().unwrap(), 0);
        }
        assert_eq!(store.readers.idle(), READERS);
    }
}
