//! Waiting on conditions, never on the clock: every wait polls a state with
//! a deadline and, when the deadline passes, fails naming what it waited for
//! together with whatever explains it (a server log, a peer's output).
//!
//! A fixed sleep used to let something happen is a race on a loaded machine
//! and wasted time on an idle one. To prove that something does *not*
//! happen, send a later sentinel through the same path and wait for it.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often an async wait checks its condition again.
pub const POLL: Duration = Duration::from_millis(50);
/// How often a blocking wait checks again (a process exit, a file).
const POLL_BLOCKING: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`; after `timeout` panics with `what`
/// and `context()`.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
    context: impl FnOnce() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; {}",
                context()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_for`] for code that runs outside the async runtime (peers started
/// synchronously, `#[test]` functions).
pub fn wait_for_blocking<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; {}",
                context()
            );
        }
        std::thread::sleep(POLL_BLOCKING);
    }
}
