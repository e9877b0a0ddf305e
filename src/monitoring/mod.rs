//! Monitoring sinks: forwarders that deliver events routed to monitoring to
//! the NMS — `[[monitoring.snmp]]` (re-emitted traps) and
//! `[[monitoring.webhook]]` (Alertmanager v2 alerts or CloudEvents).
//!
//! Each target has one worker that takes its due deliveries from the store,
//! sends them, and settles each (sent / retry later with backoff / failed), so
//! a restart resumes unfinished forwards. Automation-only events never get a
//! delivery row, so they can never reach the NMS.

mod snmp;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::ingest::Ingestor;
use crate::model::Event;
use crate::pipeline::monitoring_target_names;

/// Attempts before a delivery is marked `failed`.
const MAX_ATTEMPTS: u32 = 20;
/// Deliveries fetched per store round trip.
const BATCH: usize = 256;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (e.g. the event cannot be encoded for this target).
    #[error("{0}")]
    Permanent(String),
}

/// A monitoring target that can deliver one event.
pub trait Forwarder: Send + Sync {
    fn deliver(
        &self,
        event: &Event,
    ) -> impl std::future::Future<Output = Result<(), ForwardError>> + Send;
}

/// Exponential backoff: 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(8)).min(Duration::from_secs(300))
}

pub fn spawn(
    config: &Config,
    ingestor: Ingestor,
    wake: Arc<Notify>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let names = monitoring_target_names(config);
    let mut names = names.into_iter();
    for target in &config.monitoring.snmp {
        let name = names.next().expect("one name per target");
        let engine_file = config
            .store
            .path
            .with_file_name(format!("snmp-forward-engine-{}.json", file_safe(&name)));
        let forwarder = snmp::SnmpForwarder::new(target, &engine_file)?;
        tasks.spawn(run_target(
            name,
            forwarder,
            ingestor.clone(),
            wake.clone(),
            shutdown.clone(),
        ));
    }
    for target in &config.monitoring.webhook {
        let name = names.next().expect("one name per target");
        let forwarder = webhook::WebhookForwarder::new(target)?;
        tasks.spawn(run_target(
            name,
            forwarder,
            ingestor.clone(),
            wake.clone(),
            shutdown.clone(),
        ));
    }
    Ok(())
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn run_target<F: Forwarder>(
    name: String,
    forwarder: F,
    ingestor: Ingestor,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let store = &ingestor.store;
    let stats = &ingestor.stats;
    loop {
        let due = match store.due_deliveries(name.clone(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(target = %name, error = %e, "cannot read deliveries");
                Vec::new()
            }
        };
        let busy = due.len() == BATCH;
        for delivery in due {
            let result = forwarder.deliver(&delivery.event).await;
            let attempts = delivery.attempts + 1;
            let (outcome, retry_at) = match result {
                Ok(()) => {
                    stats.pipeline(&format!("forward.{name}.sent"), 1);
                    (Ok(()), None)
                }
                Err(e) => {
                    stats.pipeline(&format!("forward.{name}.failed"), 1);
                    tracing::warn!(target = %name, event = %delivery.event.id, attempts, error = %e, "forward failed");
                    let retry = match e {
                        ForwardError::Transient(_) if attempts < MAX_ATTEMPTS => {
                            Some(OffsetDateTime::now_utc() + backoff(attempts))
                        }
                        _ => None,
                    };
                    (Err(e.to_string()), retry)
                }
            };
            if let Err(e) = store
                .settle_delivery(delivery.event.id, name.clone(), outcome, retry_at)
                .await
            {
                tracing::warn!(target = %name, error = %e, "cannot record delivery outcome; it will be retried");
            }
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
