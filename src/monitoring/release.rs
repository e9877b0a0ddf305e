//! The release loop: alerts held back (maintenance, a silence, an
//! inhibition) that are still firing are sent once nothing holds them any
//! more — at once when a host leaves maintenance (`[silence]
//! resolve_on_exit`, default on), and when a silence ends or an inhibiting
//! alert clears (always, as Alertmanager does).
//!
//! Every second it re-evaluates the held rows (few: an index covers them)
//! against the silencer's current state, using each row's latest event. The
//! release itself is a store write that applies only to rows unchanged since
//! they were read, so it cannot undo a transition the pipeline made meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ingest::Ingestor;
use crate::store::{AlertRelease, AlertRow, TargetKind};

/// How often held alerts are re-evaluated.
const EVERY: Duration = Duration::from_secs(1);

pub struct Release {
    pub ingestor: Ingestor,
    pub silencer: crate::silence::Silencer,
    pub targets: Vec<(String, TargetKind)>,
    pub resolve_on_exit: bool,
    /// Deliveries were queued (event-by-event targets).
    pub forward_wake: Arc<Notify>,
    /// Alertmanager target → its sender's wake.
    pub alert_wakes: HashMap<String, Arc<Notify>>,
}

/// Whether a row no longer held is sent (`true`) or only un-held: a
/// maintenance hold is sent on exit only with `resolve_on_exit`.
pub fn send_on_release(row: &AlertRow, resolve_on_exit: bool) -> bool {
    let maintenance = row
        .held_by
        .as_deref()
        .is_some_and(|h| h.starts_with("maintenance:"));
    !maintenance || resolve_on_exit
}

pub async fn run(release: Release, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        if let Err(e) = release.once().await {
            tracing::warn!(error = %e, "cannot re-evaluate held alerts");
        }
    }
}

impl Release {
    async fn once(&self) -> Result<(), crate::store::StoreError> {
        let store = &self.ingestor.store;
        let held = store.list_alerts(true).await?;
        if held.is_empty() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let mut events = HashMap::new();
        let mut releases = Vec::new();
        for row in held {
            let Some(kind) = self
                .targets
                .iter()
                .find(|(t, _)| *t == row.target)
                .map(|(_, k)| *k)
            else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(row.event_id) {
                slot.insert(store.get_event(row.event_id).await?.map(|s| s.event));
            }
            let send = match &events[&row.event_id] {
                // Still held: nothing to do.
                Some(event) if self.silencer.hold(event, now).is_some() => continue,
                Some(_) => send_on_release(&row, self.resolve_on_exit),
                // The event was pruned: stop holding, tell nobody.
                None => false,
            };
            tracing::info!(target = %row.target, alert = %row.labels.get("alertname").map_or("", String::as_str),
                entity = %row.identity.entity_name, was_held_by = row.held_by.as_deref().unwrap_or(""), send, "held alert released");
            releases.push(AlertRelease {
                target: row.target.clone(),
                key: row.key.clone(),
                version: row.version,
                send,
                queue_delivery: kind == TargetKind::Events,
            });
        }
        if releases.is_empty() {
            return Ok(());
        }
        let touched: Vec<String> = releases.iter().map(|r| r.target.clone()).collect();
        store.release_alerts(releases).await?;
        self.forward_wake.notify_waiters();
        for target in touched {
            if let Some(wake) = self.alert_wakes.get(&target) {
                wake.notify_one();
            }
        }
        Ok(())
    }
}
