//! Monitoring sinks: forwarders that deliver events routed to monitoring to
//! the NMS — `[[monitoring.snmp]]` (re-emitted traps) and
//! `[[monitoring.webhook]]` (Alertmanager v2 alerts or CloudEvents).
//!
//! Each target has one worker that takes its due deliveries from the store,
//! sends them, and settles each (sent / retry later with backoff / failed), so
//! a restart resumes unfinished forwards. Automation-only events never get a
//! delivery row, so they can never reach the NMS.
//!
//! Alarm transitions follow the active-alert table (`alerts`): event-by-event
//! targets get deliveries queued by it; Alertmanager targets get a sender
//! (`alertmanager`) that keeps each URL in step with the table. The release
//! loop sends held alerts once nothing holds them any more (`release`).

mod alertmanager;
pub mod alerts;
mod release;
mod snmp;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, WebhookFormat, monitoring_target_names};
use crate::ingest::Ingestor;
use crate::model::Event;
use crate::store::{DeliveryOutcome, TargetKind};
use crate::supervisor::Supervisor;
use crate::telemetry::internal_events::{ForwardGivenUp, Forwarded};

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

/// What the monitoring sinks share with the pipeline.
pub struct Wiring {
    pub ingestor: Ingestor,
    pub silencer: crate::silence::Silencer,
    /// Deliveries were queued.
    pub forward_wake: Arc<Notify>,
    /// One per Alertmanager target, in config order: the table changed.
    pub alert_wakes: Vec<Arc<Notify>>,
}

pub async fn spawn(
    config: &Config,
    wiring: Wiring,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Wiring {
        ingestor,
        silencer,
        forward_wake: wake,
        alert_wakes,
    } = wiring;
    let targets = monitoring_targets(config);
    forget_unconfigured(&ingestor, &targets).await;
    let workers = Workers {
        ingestor: &ingestor,
        wake: &wake,
        tasks,
        shutdown: &shutdown,
    };
    let mut names = monitoring_target_names(config).into_iter();
    workers.snmp(config, &mut names)?;
    let alert_wake_of = workers.webhook(config, &mut names, &alert_wakes)?;
    if !targets.is_empty() {
        tasks.spawn_stage(
            "monitoring release",
            release::run(
                release::Release {
                    ingestor,
                    silencer,
                    targets,
                    resolve_on_exit: config.silence.resolve_on_exit,
                    forward_wake: wake,
                    alert_wakes: alert_wake_of,
                },
                shutdown,
            ),
        );
    }
    Ok(())
}

/// Drops the active alerts of targets no longer configured.
async fn forget_unconfigured(ingestor: &Ingestor, targets: &[(String, TargetKind)]) {
    match ingestor
        .store
        .forget_alerts_except(targets.iter().map(|(t, _)| t.clone()).collect())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            rows = n,
            "forgot active alerts of targets no longer configured"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot tidy the active-alert table"),
    }
}

/// What every target's tasks are started with.
struct Workers<'a> {
    ingestor: &'a Ingestor,
    /// Deliveries were queued.
    wake: &'a Arc<Notify>,
    tasks: &'a Supervisor,
    shutdown: &'a CancellationToken,
}

impl Workers<'_> {
    /// Starts the delivery worker of one target.
    fn deliveries<F: Forwarder + 'static>(&self, name: String, forwarder: F) {
        self.tasks.spawn_stage(
            format!("deliveries to {name}"),
            run_target(
                name,
                forwarder,
                self.ingestor.clone(),
                self.wake.clone(),
                self.shutdown.clone(),
            ),
        );
    }

    /// One worker per `[[monitoring.snmp]]` target (named in config order).
    fn snmp(
        &self,
        config: &Config,
        names: &mut impl Iterator<Item = String>,
    ) -> anyhow::Result<()> {
        for target in &config.monitoring.snmp {
            let name = names.next().expect("one name per target");
            let engine_file = config
                .store
                .path
                .with_file_name(format!("snmp-forward-engine-{}.json", file_safe(&name)));
            let forwarder = snmp::SnmpForwarder::new(target, &engine_file)?;
            self.deliveries(name, forwarder);
        }
        Ok(())
    }

    /// One worker per `[[monitoring.webhook]]` target, plus a sender per
    /// Alertmanager target; returns each Alertmanager target's wake.
    fn webhook(
        &self,
        config: &Config,
        names: &mut impl Iterator<Item = String>,
        alert_wakes: &[Arc<Notify>],
    ) -> anyhow::Result<HashMap<String, Arc<Notify>>> {
        let external_url = config.http.external_url();
        let vcenter_urls = crate::vcenters::sdk_urls(config);
        let mut alert_wakes_iter = alert_wakes.iter();
        let mut alert_wake_of = HashMap::new();
        for target in &config.monitoring.webhook {
            let name = names.next().expect("one name per target");
            let forwarder =
                webhook::WebhookForwarder::new(target, &external_url, vcenter_urls.clone())?;
            self.deliveries(name.clone(), forwarder);
            if target.format == WebhookFormat::Alertmanager {
                let alert_wake = alert_wakes_iter
                    .next()
                    .expect("one wake per target")
                    .clone();
                alert_wake_of.insert(name.clone(), alert_wake.clone());
                self.tasks.spawn_stage(
                    format!("Alertmanager sender {name}"),
                    alertmanager::run(
                        name,
                        target.clone(),
                        external_url.clone(),
                        self.ingestor.clone(),
                        alert_wake,
                        self.shutdown.clone(),
                    ),
                );
            }
        }
        Ok(alert_wake_of)
    }
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
    loop {
        let due = match ingestor.store.claim_deliveries(name.clone(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(target = %name, error = %e, "cannot read deliveries");
                Vec::new()
            }
        };
        let busy = due.len() == BATCH;
        for delivery in due {
            let attempts = delivery.attempts + 1;
            let outcome = attempt(&forwarder, &name, &ingestor, &delivery.event, attempts).await;
            settle(&ingestor, &name, delivery.event.id, attempts, outcome).await;
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

/// Sends one delivery; what to record: sent, retry later (with backoff) or
/// given up (permanent error, or out of attempts).
async fn attempt<F: Forwarder>(
    forwarder: &F,
    name: &str,
    ingestor: &Ingestor,
    event: &Event,
    attempts: u32,
) -> DeliveryOutcome {
    match forwarder.deliver(event).await {
        Ok(()) => {
            ingestor.stats.emit(Forwarded::sent(name, event.id));
            DeliveryOutcome::Sent
        }
        Err(e) => {
            let id = event.id.to_string();
            let error = e.to_string();
            ingestor
                .stats
                .emit(Forwarded::failed(name, &id, attempts, &error));
            match e {
                ForwardError::Transient(_) if attempts < MAX_ATTEMPTS => DeliveryOutcome::Retry {
                    error,
                    at: OffsetDateTime::now_utc() + backoff(attempts),
                },
                _ => DeliveryOutcome::GaveUp { error },
            }
        }
    }
}

/// Records a delivery's outcome; a give-up is counted once the store says so
/// (a failed settle is retried).
async fn settle(
    ingestor: &Ingestor,
    name: &str,
    event: crate::model::EventId,
    attempts: u32,
    outcome: DeliveryOutcome,
) {
    let given_up = match &outcome {
        DeliveryOutcome::GaveUp { error } => Some(error.clone()),
        _ => None,
    };
    match ingestor
        .store
        .settle_delivery(event, name.to_owned(), outcome)
        .await
    {
        Ok(()) => {
            if let Some(error) = given_up {
                ingestor.stats.emit(ForwardGivenUp {
                    target: name,
                    event,
                    attempts,
                    error: &error,
                });
            }
        }
        Err(e) => {
            tracing::warn!(target = %name, error = %e, "cannot record delivery outcome; it will be retried");
        }
    }
}

/// Every monitoring target with how it takes alarm transitions.
pub fn monitoring_targets(config: &Config) -> Vec<(String, TargetKind)> {
    let kinds = config
        .monitoring
        .snmp
        .iter()
        .map(|_| TargetKind::Events)
        .chain(config.monitoring.webhook.iter().map(|w| match w.format {
            WebhookFormat::Alertmanager => TargetKind::Alertmanager,
            WebhookFormat::Cloudevents => TargetKind::Events,
        }));
    monitoring_target_names(config)
        .into_iter()
        .zip(kinds)
        .collect()
}
