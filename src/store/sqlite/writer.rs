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
/// own savepoint) and returns its own outcome plus what to tell its caller
/// once the commit is known. Called with `None` when the batch was lost
/// before the job could run: then it only hands back its reply.
pub(super) type Job =
    Box<dyn FnOnce(Option<&Connection>) -> (Result<(), StoreError>, Reply) + Send>;

pub(super) fn spawn(
    conn: Connection,
    config: &StoreConfig,
    writable: Arc<AtomicBool>,
) -> Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>), StoreError> {
    let (tx, rx) = mpsc::channel::<Job>(config.max_batch * 8);
    let max_batch = config.max_batch.max(1);
    let thread = std::thread::Builder::new()
        .name("vcgate-store-writer".into())
        .spawn(move || writer_loop(conn, rx, max_batch, writable))
        .map_err(|e| StoreError::Open(e.to_string()))?;
    Ok((tx, thread))
}

impl SqliteStore {
    /// Runs `f` inside the next group commit and resolves once it is durable.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let committed = self.submit(f).await?;
        committed
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?
    }

    /// Queues `f` for the next group commit and resolves once it is queued:
    /// writes queued later commit after it. The receiver answers once its
    /// commit is known.
    pub(super) async fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Unavailable("batch not run".into())),
            };
            let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
            let reply: Reply = Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply_tx.send(commit.and(result));
            });
            (outcome, reply)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("store writer stopped".into()))?;
        Ok(reply_rx)
    }
}

/// What a job hands back only to be dropped by its caller: the batch it
/// wrote, freed on the thread that allocated it rather than on the writer
/// (the writer is the bottleneck, and glibc frees another thread's memory
/// slowly).
pub(super) struct FreeElsewhere<T>(pub(super) T);

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
        let (replies, result) = run_batch(&mut conn, batch.drain(..));
        writable.store(result.is_ok(), Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed; nothing in this batch was acknowledged");
        }
        for reply in replies {
            reply(result.clone());
        }
    }
    tracing::info!("store writer stopped");
}

/// Runs `jobs` in one transaction and commits it. Every job's reply comes
/// back, whatever happens: a caller is never left without an answer.
fn run_batch(
    conn: &mut Connection,
    mut jobs: impl Iterator<Item = Job>,
) -> (Vec<Reply>, Result<(), StoreError>) {
    let mut replies: Vec<Reply> = Vec::new();
    let result = (|| -> Result<(), StoreError> {
        let mut txn = conn.transaction().map_err(unavailable)?;
        for job in jobs.by_ref() {
            let mut sp = txn.savepoint().map_err(unavailable)?;
            let (outcome, reply) = job(Some(&sp));
            replies.push(reply);
            match outcome {
                Ok(()) => sp.commit().map_err(unavailable)?,
                // SQLite rolls back the whole transaction on some errors (a
                // full disk or `max_page_count`, I/O errors): the batch is
                // gone, and the job's error, not "no such savepoint", is why.
                Err(e) if sp.is_autocommit() => return Err(e),
                // A job's own failure is reported through its reply; its
                // partial writes are undone so the rest of the batch can
                // still commit.
                Err(_) => sp.rollback().map_err(unavailable)?,
            }
        }
        txn.commit().map_err(unavailable)
    })();
    if result.is_err() {
        // Jobs the lost batch never ran hear the same error.
        replies.extend(jobs.map(|job| job(None).1));
    }
    (replies, result)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    type Answers = Arc<Mutex<Vec<Result<(), StoreError>>>>;

    /// A job that runs `sql` and then reports `outcome`; what its caller
    /// hears lands in `answers`.
    fn job(sql: &'static str, outcome: Result<(), StoreError>, answers: &Answers) -> Job {
        let answers = answers.clone();
        Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => conn.execute_batch(sql).map_err(unavailable).and(outcome),
                None => Err(StoreError::Unavailable("batch not run".into())),
            };
            let heard = outcome.clone();
            let reply: Reply =
                Box::new(move |commit| answers.lock().unwrap().push(commit.and(heard)));
            (outcome, reply)
        })
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_failed_job_is_rolled_back_alone_and_the_rest_commits() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let answers = Answers::default();
        let failure = StoreError::Unavailable("job failed".into());
        let jobs = vec![
            job("INSERT INTO t VALUES (1)", Ok(()), &answers),
            job("INSERT INTO t VALUES (2)", Err(failure.clone()), &answers),
            job("INSERT INTO t VALUES (3)", Ok(()), &answers),
        ];
        let (replies, result) = run_batch(&mut conn, jobs.into_iter());
        assert!(result.is_ok());
        replies.into_iter().for_each(|reply| reply(result.clone()));
        let answers = answers.lock().unwrap();
        assert!(answers[0].is_ok() && answers[2].is_ok());
        assert_eq!(
            answers[1].as_ref().unwrap_err().to_string(),
            failure.to_string()
        );
        assert_eq!(rows(&conn), 2);
    }

    /// SQLite ends the whole transaction on some errors (a full disk): every
    /// caller in the batch, including those whose job never ran, hears the
    /// job's own error and nothing is committed.
    #[test]
    fn a_job_that_loses_the_transaction_fails_the_batch_and_answers_everyone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let answers = Answers::default();
        let full = StoreError::Full("database or disk is full".into());
        let jobs = vec![
            job("INSERT INTO t VALUES (1)", Ok(()), &answers),
            job("ROLLBACK", Err(full.clone()), &answers),
            job("INSERT INTO t VALUES (3)", Ok(()), &answers),
        ];
        let (replies, result) = run_batch(&mut conn, jobs.into_iter());
        assert!(matches!(result, Err(StoreError::Full(_))), "{result:?}");
        assert_eq!(replies.len(), 3);
        replies.into_iter().for_each(|reply| reply(result.clone()));
        let answers = answers.lock().unwrap();
        assert_eq!(answers.len(), 3);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Full(_)))),
            "{answers:?}"
        );
        assert_eq!(rows(&conn), 0);
    }
}
