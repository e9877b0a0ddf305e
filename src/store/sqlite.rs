//! SQLite backend of the store, the embedded default: one writer thread
//! doing group commits, a small pool of read connections, the schema and its
//! migrations. Implements every aggregate trait of `store` on [`SqliteStore`].
//!
//! Why one writer: SQLite allows one writer at a time; funnelling every write
//! through one thread lets us batch many small writes into one transaction and
//! one fsync (group commit), which is what makes durable acceptance fast.
//!
//! Files, one job each: `schema` (migrations), `writer` (the group-commit
//! thread), `readers` (connections and the read pool), `events` (accept,
//! read back, prune, stats), `listing` (the event query planner),
//! `decisions` (the pipeline's record), `deliveries`, `runs`, `guard`,
//! `silences`, `checkpoint`, `alerts`, `kv`, and the operator side: `backup`
//! (backup, restore, check) and `lock` (one gateway per database).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::{Backend, StoreError};
use crate::config::StoreConfig;

mod alerts;
pub(super) mod backup;
mod checkpoint;
mod checkpointer;
mod decisions;
mod deliveries;
mod events;
mod guard;
mod kv;
mod listing;
mod lock;
mod readers;
mod runs;
mod schema;
mod silences;
mod writer;

/// The SQLite backend; the `Store` handle holds it behind an `Arc`.
pub(super) struct SqliteStore {
    writer: mpsc::Sender<writer::Job>,
    /// Joined on drop: the database is closed (WAL checkpointed and removed)
    /// when the store is, not some time later (a restore right after a stop
    /// must not race the writer's last close).
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// Copies the WAL into the database off the writer's commits.
    checkpointer: Option<checkpointer::Checkpointer>,
    readers: readers::Readers,
    /// For the file sizes in `stats`.
    config: Arc<StoreConfig>,
    writable: Arc<AtomicBool>,
    /// Set when an event could not be stored for lack of space; cleared when
    /// an event is stored again or retention frees rows. A full store still
    /// commits small updates (a pipeline decision fits in a page it has), so
    /// `writable` alone would say "ready" while every new event is refused.
    full: Arc<AtomicBool>,
    /// Held while the store is open: one gateway per store, no restore under it.
    _lock: lock::StoreLock,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database and starts the writer thread.
    pub(super) fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::files::ensure_private_dir(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
            super::files::warn_if_world_readable(dir);
        }
        let lock = lock::StoreLock::acquire(&config.path)?;
        // Created 0600 before SQLite opens it: its -wal and -shm files take
        // the database file's mode.
        super::files::ensure_private_file(&config.path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", config.path.display())))?;
        super::files::warn_if_world_readable(&config.path);
        let mut writer_conn = readers::open_connection(&config.path, config)?;
        // The writer touches the hot index pages on every commit: give it a
        // 16 MiB page cache; readers keep SQLite's default 2 MiB.
        // Checkpoints run on their own thread (`checkpointer`), not inside
        // the commit that fills the WAL.
        writer_conn
            .execute_batch("PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=0;")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        schema::migrate(&mut writer_conn)?;
        let readers = readers::Readers::open(config)?;
        let writable = Arc::new(AtomicBool::new(true));
        let (writer, writer_thread) = writer::spawn(writer_conn, config, writable.clone())?;
        let checkpointer = checkpointer::Checkpointer::spawn(&config.path, config)?;
        Ok(Self {
            writer,
            writer_thread: Some(writer_thread),
            checkpointer: Some(checkpointer),
            readers,
            config: Arc::new(config.clone()),
            writable,
            full: Arc::new(AtomicBool::new(false)),
            _lock: lock,
        })
    }

    /// Books whether an acceptance found space (see `full`).
    fn note_accepted<T>(
        &self,
        result: Result<Vec<T>, StoreError>,
        stored_one: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        note_space(&self.full, &result, stored_one);
        result
    }
}

/// Sets `full` after a commit refused for lack of space, clears it after
/// one that stored something.
fn note_space<T>(
    full: &AtomicBool,
    result: &Result<Vec<T>, StoreError>,
    stored_one: impl Fn(&T) -> bool,
) {
    match result {
        Err(StoreError::Full(_)) => full.store(true, Ordering::Relaxed),
        Ok(outcomes) if outcomes.iter().any(stored_one) => full.store(false, Ordering::Relaxed),
        _ => {}
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Its connection closed first: the writer's close is then the one
        // that checkpoints the rest and removes the WAL.
        drop(self.checkpointer.take());
        // Closing our sender ends the writer loop once queued jobs are done.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

/// One node: every singleton role is this one's.
impl super::SingletonStore for SqliteStore {}

impl Backend for SqliteStore {
    /// False after a failed commit, until the next successful one, and while
    /// the store is full (see `SqliteStore::full`).
    fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
            && !self.full.load(Ordering::Relaxed)
            && !self.writer.is_closed()
    }
}

pub(super) fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

/// Unix milliseconds, the unit of every time column but the checkpoint's.
pub(super) fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn ms_to_time(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
}

pub(super) fn unavailable(e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        StoreError::Full(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}

/// Opening a store in a temporary directory, for tests (the conformance
/// suite's SQLite constructor among them).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A fresh store in `dir`.
    pub fn open_in(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&StoreConfig {
            path: dir.path().join("t.db"),
            ..StoreConfig::default()
        })
        .unwrap()
    }

    /// The seqs of every stored event, in order.
    pub async fn stored_seqs(store: &SqliteStore) -> Vec<i64> {
        store
            .read(|conn| {
                conn.prepare("SELECT seq FROM events ORDER BY seq")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await
            .unwrap()
    }

    /// A fresh `Store` handle and the directory that must outlive it.
    pub async fn open_temp() -> (crate::store::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (crate::store::Store::new(open_in(&dir)), dir)
    }
}
