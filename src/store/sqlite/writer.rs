//! The writer thread: every write runs here, batched into group commits.
//!
//! Owns: the job queue, the batch transaction with one savepoint per job,
//! and answering each caller once its commit is known. One bad job never
//! fails its batch: its savepoint is rolled back and only its caller hears
//! of the error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{SqliteStore, unavailable};
use crate::config::StoreConfig;
use crate::store::StoreError;

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A unit of work for the writer: runs inside the batch transaction (in its
/// own savepoint) and returns what to tell its caller once the commit is known.
pub(super) type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// Starts the writer thread on `conn`; jobs go through the returned sender.
pub(super) fn spawn(
    conn: Connection,
    config: &StoreConfig,
    writable: Arc<AtomicBool>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, rx) = mpsc::channel::<Job>(config.max_batch * 8);
    let max_batch = config.max_batch.max(1);
    std::thread::Builder::new()
        .name("vcgate-store-writer".into())
        .spawn(move || writer_loop(conn, rx, max_batch, writable))
        .map_err(|e| StoreError::Open(e.to_string()))?;
    Ok(tx)
}

impl SqliteStore {
    /// Runs `f` inside the next group commit and resolves once it is durable.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply_tx.send(commit.and(result));
            });
            (ok, reply)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?;
        reply_rx
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?
    }
}

/// The writer thread: take one job, gather whatever else is queued (up to
/// `max_batch`), run all in one transaction, commit once, then answer all.
fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    writable: Arc<AtomicBool>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let commit = (|| -> Result<(), rusqlite::Error> {
            let mut txn = conn.transaction()?;
            for job in batch.drain(..) {
                let mut sp = txn.savepoint()?;
                let (ok, reply) = job(&sp);
                // A job's own failure is reported through its reply; its partial
                // writes are undone so the rest of the batch can still commit.
                if ok {
                    sp.commit()?;
                } else {
                    sp.rollback()?;
                }
                replies.push(reply);
            }
            txn.commit()
        })();
        let result = commit.map_err(unavailable);
        writable.store(result.is_ok(), Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed; nothing in this batch was acknowledged");
        }
        for reply in replies {
            reply(result.clone());
        }
        batch.clear();
    }
    tracing::info!("store writer stopped");
}
