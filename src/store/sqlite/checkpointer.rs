//! The WAL checkpointer: copies committed WAL frames into the database file
//! from its own connection and thread, every [`INTERVAL`].
//!
//! Why not SQLite's automatic checkpoint: it runs inside the commit that
//! crosses the threshold, on the writer thread, so every acceptance queued
//! behind that commit waited for a copy of up to 32 MiB (the HTTP
//! benchmark's p99 of 17–20 ms and its 100 ms maxima). Here the writer only
//! appends to the WAL; a passive checkpoint never blocks it, and SQLite
//! restarts the WAL from its start once a checkpoint has copied everything.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::config::StoreConfig;
use crate::store::StoreError;

/// How often committed frames are copied into the database.
const INTERVAL: Duration = Duration::from_millis(250);

/// The checkpointer thread; stopped (and joined) on drop.
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn spawn(path: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        let conn = super::readers::open_connection(path, config)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vcgate-store-ckpt".into())
            .spawn(move || {
                let (stopped, wake) = &*stopping;
                let mut guard = stopped.lock().unwrap_or_else(|p| p.into_inner());
                while !*guard {
                    guard = wake
                        .wait_timeout(guard, INTERVAL)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::debug!(error = %e, "WAL checkpoint did not run; will retry");
                    }
                }
            })
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
