//! The pipeline stage between acceptance and the sinks: takes accepted events
//! from the store in order, runs dedup, enrichment, routing and silences, and
//! records the decision together with the deliveries it queues — in one
//! commit, so a crash never loses a decision or re-runs one.
//!
//! What to do with one event is [`decide`] (pure, in `decide.rs`); the stage
//! loop here only does the I/O around it: reading the batch, enrichment
//! lookups, the commit, metrics and wake-ups.
//!
//! Wakes on `Ingestor::pipeline_wake`, with a slow tick as a safety net.
//! Resumes after a restart from the store (every event with `processed = 0`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::config::RouteTarget;
use crate::dedup::{Dedup, Verdict};
use crate::ingest::Ingestor;
use crate::model::Event;
use crate::store::{Role, Store, StoreError};
use crate::telemetry::internal_events::{BatchDecided, EventHeld};

mod decide;
pub use decide::{Decision, decide};

/// Events decided per store round trip.
const BATCH: usize = 2048;
/// How often the decider re-reads undecided events from the oldest one even
/// while its cursor is busy (an event committed late sits below the cursor).
const RESCAN: Duration = Duration::from_secs(2);
/// Events read per page when dedup state is rebuilt at start.
const REBUILD_PAGE: usize = 1024;

// Kept at their old paths: target names are config's, target kinds monitoring's.
pub use crate::config::monitoring_target_names;
pub use crate::monitoring::monitoring_targets;

/// What the pipeline shares with the rest of the gateway.
pub struct Wiring {
    pub ingestor: Ingestor,
    pub live: crate::settings::Live,
    pub run_wakes: crate::automation::Wakes,
    pub vcenters: crate::vcenters::Vcenters,
    pub silencer: crate::silence::Silencer,
    /// Notified when a maintenance event is decided (the guard reconciles at once).
    pub guard_wake: Arc<Notify>,
}

/// Starts the pipeline, the automation runners and the monitoring forwarders.
pub async fn spawn(
    config: &Config,
    wiring: Wiring,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Wiring {
        ingestor,
        live,
        run_wakes,
        vcenters,
        silencer,
        guard_wake,
    } = wiring;
    let forward_wake = Arc::new(Notify::new());
    let targets = monitoring_targets(config);
    // One wake per Alertmanager target (a stored permit, never lost).
    let alert_wakes: Vec<Arc<Notify>> = targets
        .iter()
        .filter(|(_, k)| *k == crate::store::TargetKind::Alertmanager)
        .map(|_| Arc::new(Notify::new()))
        .collect();
    let wakes = run_wakes.clone();
    let enricher =
        crate::enrich::Enricher::new(vcenters.clone(), config.enrich.clone()).map(Arc::new);
    let stage = Stage {
        enricher,
        silencer,
        live: live.clone(),
        run_wakes: wakes.clone(),
        store: ingestor.store.clone(),
        stats: ingestor.stats.clone(),
        dedup_window: config.dedup.window,
        dedup_max_entries: config.dedup.max_entries,
        repeat_interval: config.dedup.repeat_interval,
        targets: targets.clone(),
        forward_wake: forward_wake.clone(),
        alert_wakes: alert_wakes.clone(),
        guard_wake,
    };
    let runtime = crate::automation::Runtime::new(
        ingestor.store.clone(),
        ingestor.stats.clone(),
        live,
        wakes,
        vcenters,
    )?;
    crate::automation::spawn(config, runtime, tasks, shutdown.clone()).await?;
    let silencer = stage.silencer.clone();
    tasks.spawn(stage.run(ingestor.pipeline_wake.clone(), shutdown.clone()));
    crate::monitoring::spawn(
        config,
        crate::monitoring::Wiring {
            ingestor,
            silencer,
            forward_wake,
            alert_wakes,
        },
        tasks,
        shutdown,
    )
    .await?;
    Ok(())
}

struct Stage {
    enricher: Option<Arc<crate::enrich::Enricher>>,
    silencer: crate::silence::Silencer,
    live: crate::settings::Live,
    run_wakes: crate::automation::Wakes,
    store: Store,
    stats: Arc<crate::telemetry::Stats>,
    dedup_window: Duration,
    dedup_max_entries: usize,
    repeat_interval: Duration,
    targets: Vec<(String, crate::store::TargetKind)>,
    forward_wake: Arc<Notify>,
    /// One per Alertmanager target: the table changed.
    alert_wakes: Vec<Arc<Notify>>,
    /// Woken when a maintenance event is decided (the guard reconciles at once).
    guard_wake: Arc<Notify>,
}

impl Stage {
    async fn rebuild_dedup(&self) -> Result<Dedup, StoreError> {
        let mut dedup = Dedup::new(
            self.dedup_window,
            self.repeat_interval,
            self.dedup_max_entries,
        );
        let since = OffsetDateTime::now_utc() - self.dedup_window;
        let mut after_seq = 0;
        while let (events, Some(last)) = self
            .store
            .recent_originals(since, after_seq, REBUILD_PAGE)
            .await?
        {
            for event in events {
                let seen = event.received_at;
                dedup.remember(&event, seen);
            }
            after_seq = last;
        }
        Ok(dedup)
    }

    async fn run(self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let mut dedup = loop {
            match self.rebuild_dedup().await {
                Ok(d) => break d,
                Err(e) => {
                    tracing::error!(error = %e, "pipeline cannot read dedup state; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut after_seq = 0i64;
        // Set when this node's dedup memory may miss decisions made by
        // another node (it took the decider role over from it).
        let mut stale = false;
        let mut rescan_at = tokio::time::Instant::now();
        loop {
            let decides = match self
                .store
                .singleton(crate::store::singletons::PIPELINE)
                .await
            {
                Ok(Role::Holding) => true,
                Ok(Role::TookOver) => {
                    tracing::info!("this node decides pending events now (took the pipeline over)");
                    stale = true;
                    true
                }
                Ok(Role::Standby) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask whether this node decides; will retry");
                    false
                }
            };
            if decides && stale {
                match self.rebuild_dedup().await {
                    Ok(d) => {
                        dedup = d;
                        after_seq = 0;
                        stale = false;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot rebuild dedup memory; will retry"),
                }
            }
            // Under continuous load the cursor never catches up: rescan
            // from the oldest undecided event now and then (see below).
            if rescan_at.elapsed() >= RESCAN {
                after_seq = 0;
                rescan_at = tokio::time::Instant::now();
            }
            let step = if decides && !stale {
                self.step(&mut dedup, after_seq).await
            } else {
                Ok(None)
            };
            match step {
                Ok(Some(last)) => {
                    after_seq = last;
                    continue; // more may be waiting
                }
                // Caught up with the cursor: look once more from the start.
                // With several writers (PostgreSQL, several nodes) seqs are
                // taken in one order and committed in another, so an event
                // can become visible below the cursor after it passed.
                Ok(None) if after_seq > 0 => {
                    after_seq = 0;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "pipeline step failed; will retry");
                    // The store may hold fewer decisions than our memory: rebuild.
                    if let Ok(d) = self.rebuild_dedup().await {
                        dedup = d;
                    }
                    after_seq = 0;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Decides one batch; returns the last sequence number handled, if any.
    async fn step(&self, dedup: &mut Dedup, after_seq: i64) -> Result<Option<i64>, StoreError> {
        let pending = self.store.pending_events(after_seq, BATCH).await?;
        let Some(last_seq) = pending.last().map(|(seq, _)| *seq) else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        // Dedup first: the alarm identity does not depend on enrichment, and
        // duplicates need no vCenter lookup.
        let evicted_before = dedup.evicted();
        let mut batch: Vec<(Event, Verdict)> = pending
            .into_iter()
            .map(|(_, event)| {
                let verdict = dedup.observe(&event, event.received_at.min(now));
                (event, verdict)
            })
            .collect();
        let evicted = dedup.evicted() - evicted_before;
        let mut enriched = vec![false; batch.len()];
        if let Some(enricher) = &self.enricher {
            // Move the events to look up out of the batch, enrich them
            // concurrently, and put them back in place.
            let wanted: Vec<(usize, Event)> = batch
                .iter_mut()
                .enumerate()
                .filter(|(_, (event, verdict))| {
                    !matches!(verdict, Verdict::Duplicate { .. }) && enricher.wants(event)
                })
                .map(|(i, (event, _))| {
                    (
                        i,
                        std::mem::replace(
                            event,
                            Event::new(event.source, "", event.event_type.clone()),
                        ),
                    )
                })
                .collect();
            let done: Vec<(usize, Event)> =
                futures::stream::iter(wanted.into_iter().map(|(i, mut event)| {
                    let enricher = enricher.clone();
                    async move {
                        enricher.enrich(&mut event).await;
                        (i, event)
                    }
                }))
                .buffer_unordered(crate::enrich::CONCURRENT_LOOKUPS)
                .collect()
                .await;
            for (i, event) in done {
                batch[i].0 = event;
                enriched[i] = true;
            }
        }
        // One settings snapshot per batch: a reload never splits a batch.
        let settings = self.live.load();
        let mut outcomes = Vec::with_capacity(batch.len());
        let (mut merged, mut automation, mut monitoring, mut dropped) = (0, 0, 0, 0);
        for ((event, verdict), enriched) in batch.iter().zip(enriched) {
            if !matches!(verdict, Verdict::Duplicate { .. }) {
                self.silencer.observe(event);
            }
            let Decision {
                mut processed,
                held,
            } = decide(
                event,
                *verdict,
                &settings,
                &self.silencer,
                &self.targets,
                now,
            );
            processed.updated = enriched.then(|| event.clone());
            if let Some(hold) = &held {
                self.stats.emit(EventHeld {
                    reason: hold.reason(),
                    by: &hold.label(),
                    event: event.id,
                });
            }
            let d = &processed.disposition;
            match d.route {
                None => merged += 1,
                Some(route) => {
                    automation += u64::from(route.to_automation());
                    monitoring += u64::from(route.to_monitoring());
                    dropped += u64::from(route == RouteTarget::Drop);
                }
            }
            outcomes.push(processed);
        }
        let any_alert = outcomes.iter().any(|o| o.alert.is_some());
        let functions_with_runs: std::collections::BTreeSet<String> = outcomes
            .iter()
            .flat_map(|o| o.runs.iter().map(|r| r.function.clone()))
            .collect();
        self.store.record_processed(outcomes).await?;
        if batch
            .iter()
            .any(|(e, _)| crate::guard::is_maintenance_event(e))
        {
            self.guard_wake.notify_one();
        }
        for function in functions_with_runs {
            self.run_wakes.get(&function).notify_one();
        }
        self.stats.emit(BatchDecided {
            merged,
            automation,
            monitoring,
            dropped,
            evicted,
        });
        if monitoring > 0 {
            self.forward_wake.notify_waiters();
        }
        if any_alert {
            for wake in &self.alert_wakes {
                wake.notify_one();
            }
        }
        Ok(Some(last_seq))
    }
}
