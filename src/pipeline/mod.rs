//! The pipeline stage between acceptance and the sinks: takes accepted events
//! from the store in order, runs dedup, enrichment, routing and silences, and
//! records the decision together with the deliveries it queues — in one
//! commit, so a crash never loses a decision or re-runs one.
//!
//! What to do with one event is [`decide`] (pure, in `decide.rs`); the stage
//! loop here only does the I/O around it: reading the batch, enrichment
//! lookups, the commit, metrics and wake-ups.
//!
//! On a single-node store most events never come here through the store:
//! admission (`admit.rs`) decides them in memory as they are accepted and
//! commits each with its decision. This loop decides the rest (events that
//! want enrichment, the vCenter event stream, every event on PostgreSQL,
//! where one node decides for the cluster), and resumes after a restart
//! from the store (every event with `processed = 0`) before admission
//! starts. Wakes on `Ingestor::pipeline_wake`, with a slow tick as a safety
//! net.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::RouteTarget;
use crate::dedup::{Dedup, Verdict};
use crate::ingest::Ingestor;
use crate::model::Event;
use crate::store::{ProcessedEvent, Role, Store, StoreError};
use crate::supervisor::Supervisor;
use crate::telemetry::internal_events::{BatchDecided, EventHeld};

mod admit;
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
    /// What the sources hand to admission (`Ingestor::admissions`), when
    /// events are decided at acceptance.
    pub admissions: Option<mpsc::Receiver<crate::ingest::Admission>>,
    /// Turned true once start-up recovery is done ([`recovery_gate`]):
    /// admission waits for it, and `/readyz` is not ready before it.
    pub recovered: watch::Sender<bool>,
}

/// The start-up recovery gate: the sender goes into [`Wiring::recovered`],
/// the receiver to what waits for it (`/readyz`). Open from the start when
/// nothing is decided at acceptance (`admits` false: PostgreSQL, where the
/// cluster's decider takes stored events and acceptance never waits).
pub fn recovery_gate(admits: bool) -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(!admits)
}

/// Admissions queued before the sources wait (each an event or an SNMP batch).
pub const ADMISSION_QUEUE: usize = 4096;

/// The channel between the sources and admission: the sender goes into
/// `Ingestor::admissions`, the receiver into [`Wiring::admissions`].
pub fn admission_channel() -> (
    mpsc::Sender<crate::ingest::Admission>,
    mpsc::Receiver<crate::ingest::Admission>,
) {
    mpsc::channel(ADMISSION_QUEUE)
}

/// Starts the pipeline, the automation runners and the monitoring forwarders.
pub async fn spawn(
    config: &Config,
    wiring: Wiring,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let targets = monitoring_targets(config);
    let sinks = Sinks {
        forward_wake: Arc::new(Notify::new()),
        // One wake per Alertmanager target (a stored permit, never lost).
        alert_wakes: targets
            .iter()
            .filter(|(_, k)| *k == crate::store::TargetKind::Alertmanager)
            .map(|_| Arc::new(Notify::new()))
            .collect(),
        targets,
    };
    let stage = Arc::new(Stage::new(config, &wiring, &sinks));
    let Wiring {
        ingestor,
        live,
        run_wakes,
        vcenters,
        silencer,
        guard_wake: _,
        admissions,
        recovered: recovered_tx,
    } = wiring;
    let runtime = crate::automation::Runtime::new(
        ingestor.store.clone(),
        ingestor.stats.clone(),
        live,
        run_wakes,
        vcenters,
    )?;
    crate::automation::spawn(config, runtime, tasks, shutdown.clone()).await?;
    let recovered = recovered_tx.subscribe();
    let dedup = Arc::new(Mutex::new(Dedup::new(
        config.dedup.window,
        config.dedup.repeat_interval,
        config.dedup.max_entries,
    )));
    if let Some(inbox) = admissions {
        tasks.spawn_stage(
            "admission",
            admit::run(
                stage.clone(),
                dedup.clone(),
                inbox,
                recovered,
                shutdown.clone(),
            ),
        );
    }
    tasks.spawn_stage("pipeline", stage.run(dedup, recovered_tx, shutdown.clone()));
    crate::monitoring::spawn(
        config,
        crate::monitoring::Wiring {
            ingestor,
            silencer,
            forward_wake: sinks.forward_wake,
            alert_wakes: sinks.alert_wakes,
        },
        tasks,
        shutdown,
    )
    .await?;
    Ok(())
}

/// The monitoring targets and the wakes the stage shares with their senders.
struct Sinks {
    targets: Vec<(String, crate::store::TargetKind)>,
    forward_wake: Arc<Notify>,
    alert_wakes: Vec<Arc<Notify>>,
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
    /// Wakes this loop: undecided events were committed.
    undecided_wake: Arc<Notify>,
}

impl Stage {
    fn new(config: &Config, wiring: &Wiring, sinks: &Sinks) -> Self {
        let ingestor = &wiring.ingestor;
        Stage {
            enricher: crate::enrich::Enricher::new(wiring.vcenters.clone(), config.enrich.clone())
                .map(Arc::new),
            silencer: wiring.silencer.clone(),
            live: wiring.live.clone(),
            run_wakes: wiring.run_wakes.clone(),
            store: ingestor.store.clone(),
            stats: ingestor.stats.clone(),
            dedup_window: config.dedup.window,
            dedup_max_entries: config.dedup.max_entries,
            repeat_interval: config.dedup.repeat_interval,
            targets: sinks.targets.clone(),
            forward_wake: sinks.forward_wake.clone(),
            alert_wakes: sinks.alert_wakes.clone(),
            guard_wake: wiring.guard_wake.clone(),
            undecided_wake: ingestor.pipeline_wake.clone(),
        }
    }

    async fn rebuild_dedup(&self) -> Result<Dedup, StoreError> {
        let mut dedup = Dedup::new(
            self.dedup_window,
            self.repeat_interval,
            self.dedup_max_entries,
        );
        let since = OffsetDateTime::now_utc() - self.dedup_window;
        // Newest first, and only as many originals as memory holds: after
        // a storm the window can hold millions of events (5,000/s for the
        // 5-minute default is 1.5 million), and reading them all kept
        // admission shut for 21 s at start (measured, 1.6 M events); memory
        // would have evicted all but the newest anyway.
        let mut newest_first = Vec::new();
        let mut before_seq = i64::MAX;
        while newest_first.len() < dedup.max_entries()
            && let (events, Some(lowest)) = self
                .store
                .recent_originals(since, before_seq, REBUILD_PAGE)
                .await?
        {
            newest_first.extend(
                events
                    .iter()
                    .map(|event| crate::dedup::Recalled::of(event, event.received_at)),
            );
            before_seq = lowest;
        }
        newest_first.truncate(dedup.max_entries());
        for recalled in newest_first.into_iter().rev() {
            dedup.recall(recalled);
        }
        Ok(dedup)
    }

    /// Rebuilds dedup memory until it succeeds; `None` on shutdown. While
    /// it fails, admission is let in (`recovered`) with empty memory, so
    /// events are still accepted and decided, without dedup against what
    /// came before the start.
    async fn first_dedup(
        &self,
        shutdown: &CancellationToken,
        recovered: &watch::Sender<bool>,
    ) -> Option<Dedup> {
        loop {
            match self.rebuild_dedup().await {
                Ok(d) => return Some(d),
                Err(e) => {
                    tracing::error!(error = %e, "pipeline cannot read dedup state; retrying");
                    recovered.send_replace(true);
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Whether this node decides now; a takeover marks the cursor's dedup
    /// memory stale (another node made decisions it never saw).
    async fn decides(&self, cursor: &mut Cursor) -> bool {
        match self
            .store
            .singleton(crate::store::singletons::PIPELINE)
            .await
        {
            Ok(Role::Holding) => true,
            Ok(Role::TookOver) => {
                tracing::info!("this node decides pending events now (took the pipeline over)");
                cursor.stale = true;
                true
            }
            Ok(Role::Standby) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask whether this node decides; will retry");
                false
            }
        }
    }

    /// Rebuilds stale dedup memory (after a takeover); on failure it stays
    /// stale and this node does not decide until a later try succeeds.
    async fn refresh_stale(&self, cursor: &mut Cursor) {
        match self.rebuild_dedup().await {
            Ok(d) => {
                *cursor.dedup.lock().await = d;
                cursor.after_seq = 0;
                cursor.stale = false;
            }
            Err(e) => tracing::warn!(error = %e, "cannot rebuild dedup memory; will retry"),
        }
    }

    /// The stage loop; `recovered` turns true once nothing undecided is
    /// left from before the start (admission waits for it) or the store
    /// cannot be read (then acceptance reports the store's error itself).
    async fn run(
        self: Arc<Self>,
        dedup: Arc<Mutex<Dedup>>,
        recovered: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        let wake = self.undecided_wake.clone();
        let Some(first) = self.first_dedup(&shutdown, &recovered).await else {
            return;
        };
        // After a failed first read admission may have decided events with
        // empty memory; they are in the store, which this rebuild read.
        *dedup.lock().await = first;
        let mut cursor = Cursor {
            dedup,
            after_seq: 0,
            stale: false,
            rescan_at: tokio::time::Instant::now(),
        };
        loop {
            let decides = self.decides(&mut cursor).await;
            if decides && cursor.stale {
                self.refresh_stale(&mut cursor).await;
            }
            cursor.rescan_if_due();
            let step = if decides && !cursor.stale {
                self.step(&cursor.dedup, cursor.after_seq).await
            } else {
                Ok(None)
            };
            if step.is_err() || (matches!(step, Ok(None)) && cursor.after_seq == 0) {
                recovered.send_replace(true);
            }
            if self.advance(&mut cursor, step).await {
                continue; // more may be waiting
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Moves the cursor after a step; `true` when the next step should run
    /// at once rather than wait for a wake.
    async fn advance(&self, cursor: &mut Cursor, step: Result<Option<i64>, StoreError>) -> bool {
        match step {
            Ok(Some(last)) => {
                cursor.after_seq = last;
                true
            }
            // Caught up with the cursor: look once more from the start.
            // With several writers (PostgreSQL, several nodes) seqs are
            // taken in one order and committed in another, so an event
            // can become visible below the cursor after it passed.
            Ok(None) if cursor.after_seq > 0 => {
                cursor.after_seq = 0;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "pipeline step failed; will retry");
                // The store may hold fewer decisions than our memory: rebuild.
                if let Ok(d) = self.rebuild_dedup().await {
                    *cursor.dedup.lock().await = d;
                }
                cursor.after_seq = 0;
                false
            }
        }
    }

    /// Decides one batch; returns the last sequence number handled, if any.
    async fn step(&self, dedup: &Mutex<Dedup>, after_seq: i64) -> Result<Option<i64>, StoreError> {
        let pending = self.store.pending_events(after_seq, BATCH).await?;
        let Some(last_seq) = pending.last().map(|(seq, _)| *seq) else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        // Dedup first: the alarm identity does not depend on enrichment, and
        // duplicates need no vCenter lookup.
        let mut dedup = dedup.lock().await;
        let evicted_before = dedup.evicted();
        let mut batch: Vec<(Event, Verdict)> = pending
            .into_iter()
            .map(|(_, event)| {
                let verdict = dedup.observe(&event, event.received_at.min(now));
                (event, verdict)
            })
            .collect();
        let evicted = dedup.evicted() - evicted_before;
        drop(dedup);
        let enriched = self.enrich(&mut batch).await;
        let (outcomes, tally) = self.decide_batch(&batch, &enriched, now);
        let wakes = Wakes::of(&outcomes, &batch, tally.monitoring > 0);
        self.store.record_processed(outcomes).await?;
        self.stats.emit(tally.emitted(evicted));
        self.wake(wakes);
        Ok(Some(last_seq))
    }

    /// Enriches, concurrently and in place, every event of the batch that is
    /// not a duplicate and that the enricher wants; says which it enriched.
    async fn enrich(&self, batch: &mut [(Event, Verdict)]) -> Vec<bool> {
        let mut enriched = vec![false; batch.len()];
        let Some(enricher) = self.enricher.as_deref() else {
            return enriched;
        };
        // Each lookup borrows its own event and flag: disjoint `&mut`s.
        // (Collected first: a stream holding the closures would not be
        // `Send` for every lifetime, which the spawned stage needs.)
        let lookups: Vec<_> = batch
            .iter_mut()
            .zip(enriched.iter_mut())
            .filter(|((event, verdict), _)| {
                !matches!(verdict, Verdict::Duplicate { .. }) && enricher.wants(event)
            })
            .map(|((event, _), done)| async move {
                enricher.enrich(event).await;
                *done = true;
            })
            .collect();
        futures::stream::iter(lookups)
            .buffer_unordered(crate::enrich::CONCURRENT_LOOKUPS)
            .collect::<()>()
            .await;
        enriched
    }

    /// Decides every event of the batch ([`decide`]) against one settings
    /// snapshot (a reload never splits a batch).
    fn decide_batch(
        &self,
        batch: &[(Event, Verdict)],
        enriched: &[bool],
        now: OffsetDateTime,
    ) -> (Vec<ProcessedEvent>, Tally) {
        let settings = self.live.load();
        let mut tally = Tally::default();
        let outcomes = batch
            .iter()
            .zip(enriched)
            .map(|((event, verdict), enriched)| {
                self.decide_one(event, *verdict, *enriched, &settings, now, &mut tally)
            })
            .collect();
        (outcomes, tally)
    }

    /// Decides one event ([`decide`]), observing a non-duplicate for the
    /// silencer and counting its hold and route; `enriched`: the stored
    /// event is replaced by this one.
    fn decide_one(
        &self,
        event: &Event,
        verdict: Verdict,
        enriched: bool,
        settings: &crate::settings::Settings,
        now: OffsetDateTime,
        tally: &mut Tally,
    ) -> ProcessedEvent {
        if !matches!(verdict, Verdict::Duplicate { .. }) {
            self.silencer.observe(event);
        }
        let Decision {
            mut processed,
            held,
        } = decide(event, verdict, settings, &self.silencer, &self.targets, now);
        processed.updated = enriched.then(|| event.clone());
        if let Some(hold) = &held {
            self.stats.emit(EventHeld {
                reason: hold.reason(),
                by: &hold.label(),
                event: event.id,
            });
        }
        tally.count(processed.disposition.route);
        processed
    }

    /// Wakes whoever has new work from the batch just recorded.
    fn wake(&self, wakes: Wakes) {
        if wakes.guard {
            self.guard_wake.notify_one();
        }
        for function in wakes.functions {
            self.run_wakes.get(&function).notify_one();
        }
        if wakes.forward {
            self.forward_wake.notify_waiters();
        }
        if wakes.alerts {
            for wake in &self.alert_wakes {
                wake.notify_one();
            }
        }
    }
}

/// Where the decider is: its dedup memory and its place in the store.
struct Cursor {
    /// Shared with admission, which holds it until its commits are queued.
    dedup: Arc<Mutex<Dedup>>,
    after_seq: i64,
    /// Set when this node's dedup memory may miss decisions made by
    /// another node (it took the decider role over from it).
    stale: bool,
    rescan_at: tokio::time::Instant,
}

impl Cursor {
    /// Under continuous load the cursor never catches up: rescan from the
    /// oldest undecided event now and then (see [`Stage::advance`]).
    fn rescan_if_due(&mut self) {
        if self.rescan_at.elapsed() >= RESCAN {
            self.after_seq = 0;
            self.rescan_at = tokio::time::Instant::now();
        }
    }
}

/// Where a batch's events went (the `BatchDecided` counters).
#[derive(Debug, Default)]
struct Tally {
    merged: u64,
    automation: u64,
    monitoring: u64,
    dropped: u64,
}

impl Tally {
    fn count(&mut self, route: Option<RouteTarget>) {
        match route {
            None => self.merged += 1,
            Some(route) => {
                self.automation += u64::from(route.to_automation());
                self.monitoring += u64::from(route.to_monitoring());
                self.dropped += u64::from(route == RouteTarget::Drop);
            }
        }
    }

    fn emitted(self, evicted: u64) -> BatchDecided {
        BatchDecided {
            merged: self.merged,
            automation: self.automation,
            monitoring: self.monitoring,
            dropped: self.dropped,
            evicted,
        }
    }
}

/// Who to wake once a batch is recorded.
#[derive(Default)]
struct Wakes {
    /// A maintenance event was decided (the guard reconciles at once).
    guard: bool,
    /// Functions with newly queued runs.
    functions: std::collections::BTreeSet<String>,
    /// Something went to monitoring.
    forward: bool,
    /// The active-alert table changed.
    alerts: bool,
}

impl Wakes {
    fn of(outcomes: &[ProcessedEvent], batch: &[(Event, Verdict)], forward: bool) -> Self {
        let mut wakes = Self {
            forward,
            ..Self::default()
        };
        for (outcome, (event, _)) in outcomes.iter().zip(batch) {
            wakes.note(event, outcome);
        }
        wakes
    }

    /// Adds what one decided event needs woken.
    fn note(&mut self, event: &Event, outcome: &ProcessedEvent) {
        self.guard |= crate::guard::is_maintenance_event(event);
        self.functions
            .extend(outcome.runs.iter().map(|r| r.function.clone()));
        self.alerts |= outcome.alert.is_some();
    }
}
