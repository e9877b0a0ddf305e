//! The gateway's long-lived tasks, and what happens when one stops on its own.
//!
//! Owns: [`Supervisor`], the task tracker every part of the gateway spawns on.
//! A *stage* (the SNMP receive loop, the trap batcher, the pipeline, a
//! delivery worker, a guard reconciler, a vCenter event stream, …) runs until
//! shutdown. Before this module a stage that panicked or returned early just
//! ended: a panic in the SNMP receive loop left the process running, `/readyz`
//! ready and every trap unread, with one log line to show for it.
//!
//! Now the first stage to stop before shutdown (or to panic, even while
//! stopping) is logged at error, `/readyz`
//! answers 503, the gateway shuts down in order (stop accepting, let what was
//! accepted commit) and `vcgate serve` exits with status 1, so its supervisor
//! (`Restart=on-failure` in the systemd unit) starts it again. Restarting the
//! whole process rather than the one task is deliberate: every acknowledged
//! event is already on disk and a start resumes all pending work, whereas a
//! stage restarted in place would inherit whatever state made it fail.
//!
//! Short-lived tasks (one inform's commit, one function run) are spawned on
//! the tracker directly (`Deref`): they end on their own by design.

use std::borrow::Cow;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for the tasks before giving up on them.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracker of the gateway's tasks plus the watch over its stages. Cheap
/// to clone; every clone shares one tracker, one shutdown and one failure.
#[derive(Clone)]
pub struct Supervisor {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    failure: Arc<OnceLock<Failure>>,
}

/// The first stage that stopped the gateway, and why.
struct Failure {
    stage: Cow<'static, str>,
    /// Includes the panic message: for the log and the exit error only.
    why: String,
}

impl Supervisor {
    /// A supervisor of stages that run until `shutdown` is cancelled; a
    /// stage that stops before that cancels it.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
            failure: Arc::new(OnceLock::new()),
        }
    }

    /// Spawns a stage: a task that must run until shutdown. If it returns or
    /// panics before shutdown, the gateway stops with that as its error.
    pub fn spawn_stage(
        &self,
        name: impl Into<Cow<'static, str>>,
        stage: impl Future<Output = ()> + Send + 'static,
    ) {
        let name = name.into();
        let (shutdown, failure) = (self.shutdown.clone(), self.failure.clone());
        self.tracker.spawn(async move {
            // Unwind safety: after a panic nothing of the stage is used again;
            // the whole process stops.
            let outcome = AssertUnwindSafe(async {
                injected_fault(&name);
                stage.await
            })
            .catch_unwind()
            .await;
            let why = match outcome {
                Ok(()) if shutdown.is_cancelled() => return, // a stage's normal end
                Ok(()) => format!("stage `{name}` stopped before shutdown"),
                // A panic is a bug even while stopping (a batcher draining
                // its queue, say): the exit status says so.
                Err(panic) => format!("stage `{name}` panicked: {}", panic_text(&*panic)),
            };
            tracing::error!(
                stage = %name,
                "{why}; stopping the gateway so that its supervisor restarts it \
                 (acknowledged events are on disk; a restart resumes pending work)"
            );
            let _ = failure.set(Failure { stage: name, why });
            crate::notify::stopping();
            shutdown.cancel();
        });
    }

    /// Why the gateway is stopping, when a stage stopped it (with the panic
    /// message, so for the log and the exit status, not for answers).
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(|f| f.why.as_str())
    }

    /// The name of the stage that stopped the gateway: what the open
    /// `/readyz` may say (a panic message can carry internals).
    pub fn failed_stage(&self) -> Option<&str> {
        self.failure.get().map(|f| f.stage.as_ref())
    }

    /// True once shutdown started (a signal, or a stage that stopped).
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Waits (bounded) for every task after shutdown was cancelled.
    pub async fn wait_stopped(&self) {
        self.tracker.close();
        if tokio::time::timeout(STOP_TIMEOUT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within {STOP_TIMEOUT:?}");
        }
    }
}

/// Short-lived tasks go straight to the tracker (`stages.spawn(..)`), so
/// shutdown still waits for them.
impl Deref for Supervisor {
    type Target = TaskTracker;

    fn deref(&self) -> &TaskTracker {
        &self.tracker
    }
}

/// Debug builds only (what `cargo test` runs), for the integration test
/// that drives a stage failure through the real binary:
/// `VCGATE_FAULT_PANIC_STAGE=<stage name>` makes that stage panic as it
/// starts. Compiled out of release builds.
#[cfg(debug_assertions)]
fn injected_fault(name: &str) {
    if std::env::var("VCGATE_FAULT_PANIC_STAGE").is_ok_and(|stage| stage == name) {
        panic!("injected fault (VCGATE_FAULT_PANIC_STAGE)");
    }
}

#[cfg(not(debug_assertions))]
fn injected_fault(_name: &str) {}

/// The message of a panic payload (`panic!` with a literal or a format).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a text payload)")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stopped_within_a_deadline(stages: &Supervisor) {
        tokio::time::timeout(Duration::from_secs(5), stages.shutdown.cancelled())
            .await
            .expect("the stage's stop cancels shutdown");
    }

    #[tokio::test]
    async fn a_panicking_stage_stops_the_gateway_with_its_message() {
        let stages = Supervisor::new(CancellationToken::new());
        stages.spawn_stage("snmp receiver", async {
            panic!("decoder bug on datagram {}", 7);
        });
        stopped_within_a_deadline(&stages).await;
        stages.wait_stopped().await;
        assert!(stages.is_stopping());
        assert_eq!(
            stages.failure(),
            Some("stage `snmp receiver` panicked: decoder bug on datagram 7")
        );
        assert_eq!(stages.failed_stage(), Some("snmp receiver"));
    }

    #[tokio::test]
    async fn a_stage_that_returns_early_stops_the_gateway() {
        let stages = Supervisor::new(CancellationToken::new());
        stages.spawn_stage(format!("deliveries to {}", "nms"), async {});
        stopped_within_a_deadline(&stages).await;
        assert_eq!(
            stages.failure(),
            Some("stage `deliveries to nms` stopped before shutdown")
        );
    }

    #[tokio::test]
    async fn stages_ending_at_shutdown_and_short_tasks_are_not_failures() {
        let shutdown = CancellationToken::new();
        let stages = Supervisor::new(shutdown.clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        // A short-lived task ends first; the gateway keeps running.
        stages.spawn(async move {
            let _ = done_tx.send(());
        });
        done_rx.await.unwrap();
        let stopping = shutdown.clone();
        stages.spawn_stage("pipeline", async move { stopping.cancelled().await });
        assert!(!stages.is_stopping());
        shutdown.cancel();
        stages.wait_stopped().await;
        assert!(stages.tracker.is_empty(), "every task ended");
        assert_eq!(stages.failure(), None);
        assert_eq!(stages.failed_stage(), None);
    }

    #[tokio::test]
    async fn a_panic_while_stopping_is_still_a_failure() {
        let shutdown = CancellationToken::new();
        let stages = Supervisor::new(shutdown.clone());
        let stopping = shutdown.clone();
        stages.spawn_stage("trap batcher", async move {
            stopping.cancelled().await;
            panic!("while draining");
        });
        shutdown.cancel();
        stages.wait_stopped().await;
        assert_eq!(
            stages.failure(),
            Some("stage `trap batcher` panicked: while draining")
        );
    }

    #[tokio::test]
    async fn only_the_first_stop_is_reported() {
        let stages = Supervisor::new(CancellationToken::new());
        stages.spawn_stage("first", async { panic!("one") });
        stopped_within_a_deadline(&stages).await;
        stages.spawn_stage("second", async { panic!("two") });
        stages.wait_stopped().await;
        assert_eq!(stages.failure(), Some("stage `first` panicked: one"));
    }
}
