//! Source: the vCenter event stream. Per `[[vcenter]]` with `events = true`,
//! a task tails vCenter's event history and accepts every new event (mapped by
//! `normalize::vcenter_event`) together with a durable checkpoint.
//!
//! ## How a poll works, and why per poll
//! Every poll creates an EventHistoryCollector over the root folder
//! (recursive) whose filter starts at the checkpoint time minus [`OVERLAP`],
//! reads it with `ReadNextEvents` until a page comes back empty, and destroys
//! it — always, also after an error and on shutdown. A collector per poll is
//! deliberate: govmomi's simulator (0.24.2, the test peer) never hands a
//! collector events posted after its creation, and any collector dies with its
//! session (after a transparent re-login calls on it fail with
//! `ManagedObjectNotFound`). Creating one per poll from our own checkpoint
//! survives both. A real vCenter would also work with one long-lived
//! collector; the cost of ours is one create/destroy pair per poll.
//!
//! ## Delivery rules
//! - Position is the checkpoint (last delivered event's key and vCenter
//!   `createdTime`), committed in the same store transaction as the events it
//!   covers (`Ingestor::accept_with_checkpoint`). A crash before that commit
//!   replays the events; the store's unique `(source, delivery_id)` index, with
//!   `delivery_id = <vcenter>:<key>:<createdTime>`, stores each exactly once.
//! - Progress is judged by `createdTime`, not by key: vCenter's int32 key
//!   wraps, and starts over when vCenter's history is reset — a key-based
//!   position would stall there forever. Events within [`OVERLAP`] before the
//!   checkpoint are read again and delivered if the store does not know them
//!   (events that became visible late, equal timestamps, small clock steps).
//! - Restart resumes from the checkpoint, never from "now". Without one, or
//!   when it is older than `events_lookback`, the stream starts
//!   `events_lookback` ago (bounded replay; a warning says what was skipped).
//! - `events_include` goes to vCenter as `eventTypeId` (base classes match
//!   subclasses); `events_exclude` is applied here and excluded events still
//!   move the checkpoint.
//! - Idle polls back off up to 4 × `events_poll`; failures (vCenter down,
//!   session lost) back off exponentially up to [`max_error_delay`].
//!
//! Status per vCenter (connected, checkpoint, lag, events per class) is kept
//! in `Stats` and shown under `event_streams` in `GET /api/v1/status`; the
//! metrics `vcgate_event_stream_{polls_total,connected,lag_seconds}` mirror it.

use std::collections::HashSet;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::Ingestor;
use crate::config::{Config, ConfigError};
use crate::model::Source;
use crate::normalize::vcenter_event;
use crate::store::{Role, StoreError, StreamCheckpoint, singletons};
use crate::supervisor::Supervisor;
use crate::vsphere::{self, Client, EventFilterSpec, EventRecursion, VcEvent, VsphereError};
use plan::{Commit, candidates, plan};

mod plan;

/// Events before the checkpoint read again on every poll (see module doc).
pub const OVERLAP: time::Duration = time::Duration::minutes(1);
/// Page size for the collector and for each ReadNextEvents (vCenter's maximum).
const PAGE: i32 = 1000;
/// At most this many events are read per poll; the rest follow next poll.
const MAX_PER_POLL: usize = 50_000;
/// How often a node whose peer reads this vCenter's stream (shared store)
/// asks whether it should take over.
const STANDBY_POLL: Duration = Duration::from_secs(2);

/// Events per commit (each commit carries its checkpoint).
const CHUNK: usize = 500;
/// DestroyCollector gets this long at most (also on shutdown).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest wait after failures: 30 polls, at most a minute (never below one poll).
pub fn max_error_delay(poll: Duration) -> Duration {
    (poll * 30).min(Duration::from_secs(60)).max(poll)
}

pub use crate::telemetry::StreamStatus;

/// What can stop a poll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Vsphere(#[from] VsphereError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shutting down")]
    Cancelled,
}

/// Starts one stream task per `[[vcenter]]` with `events = true`. Each gets
/// its own vSphere session, so its collectors are its own.
pub fn spawn(
    config: &Config,
    ingestor: Ingestor,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    for vc in config.vcenter.iter().filter(|vc| vc.events) {
        let Some(client) = crate::vcenters::client_for(vc)? else {
            continue; // validate() requires a url; nothing to tail without one
        };
        tracing::info!(vcenter = %vc.name, poll = ?vc.events_poll, lookback = ?vc.events_lookback, "vCenter event stream starting");
        let stream = Stream {
            vcenter: vc.name.clone(),
            client,
            ingestor: ingestor.clone(),
            include: vc.events_include.clone(),
            exclude: vc.events_exclude.iter().cloned().collect(),
            poll: vc.events_poll,
            lookback: time::Duration::try_from(vc.events_lookback)
                .unwrap_or(time::Duration::hours(1)),
            checkpoint: None,
            warned_stale: false,
        };
        tasks.spawn_stage(
            format!("event stream of {}", vc.name),
            stream.run(shutdown.clone()),
        );
    }
    Ok(())
}

/// One vCenter's stream: its session, settings and position.
struct Stream {
    vcenter: String,
    client: Client,
    ingestor: Ingestor,
    include: Vec<String>,
    exclude: HashSet<String>,
    poll: Duration,
    lookback: time::Duration,
    /// Loaded from the store before the first poll, then kept in step with it.
    checkpoint: Option<StreamCheckpoint>,
    warned_stale: bool,
}

/// What a successful poll did.
struct Polled {
    delivered: usize,
}

/// When the next poll is due: idle polls back off up to 4 × `poll`,
/// failures exponentially up to [`max_error_delay`].
struct Pace {
    poll: Duration,
    /// The checkpoint is loaded (reloaded whenever the role moves).
    loaded: bool,
    delay: Duration,
    error_delay: Duration,
    /// When the last successful poll started (for the lag).
    caught_up_at: Option<OffsetDateTime>,
}

impl Pace {
    fn new(poll: Duration) -> Self {
        Self {
            poll,
            loaded: false,
            delay: poll,
            error_delay: poll,
            caught_up_at: None,
        }
    }

    fn polled(&mut self, delivered: usize, started: OffsetDateTime) {
        self.caught_up_at = Some(started);
        self.error_delay = self.poll;
        self.delay = if delivered > 0 {
            self.poll
        } else {
            (self.delay * 2).min(self.poll * 4)
        };
    }

    fn failed(&mut self) {
        self.delay = self.error_delay;
        self.error_delay = (self.error_delay * 2).min(max_error_delay(self.poll));
    }

    fn lag(&self, now: OffsetDateTime) -> Option<f64> {
        self.caught_up_at
            .map(|t| (now - t).as_seconds_f64().max(0.0))
    }
}

impl Stream {
    fn status(&self, f: impl FnOnce(&mut StreamStatus)) {
        self.ingestor.stats.event_stream(&self.vcenter, f);
    }

    async fn run(mut self, shutdown: CancellationToken) {
        self.status(|_| {}); // listed in status from the start
        let mut pace = Pace::new(self.poll);
        while !shutdown.is_cancelled() {
            if !self.reads(&mut pace).await {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(STANDBY_POLL.min(self.poll)) => {}
                }
                continue;
            }
            if !pace.loaded {
                pace.loaded = self.load_checkpoint().await;
            }
            if pace.loaded {
                let started = OffsetDateTime::now_utc();
                let result = self.poll_once(&shutdown).await;
                let now = OffsetDateTime::now_utc();
                match &result {
                    Ok(polled) => pace.polled(polled.delivered, started),
                    Err(PollError::Cancelled) => break,
                    Err(e) => {
                        tracing::warn!(vcenter = %self.vcenter, error = %e, retry_in = ?pace.error_delay, "event stream poll failed");
                        pace.failed();
                    }
                }
                self.record_poll(&result, now, pace.lag(now));
            } else {
                pace.failed();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pace.delay) => {}
            }
        }
        self.stop().await;
    }

    /// Whether this node reads the stream now. Several gateways on one
    /// store: one reads each vCenter's stream, from the shared checkpoint
    /// (re-read whenever the role moves).
    async fn reads(&self, pace: &mut Pace) -> bool {
        let role = self
            .ingestor
            .store
            .singleton(&singletons::event_stream(&self.vcenter))
            .await;
        match role {
            Ok(Role::Holding) => true,
            Ok(Role::TookOver) => {
                tracing::info!(vcenter = %self.vcenter, "this node reads the vCenter event stream now");
                pace.loaded = false;
                true
            }
            Ok(Role::Standby) | Err(_) => {
                pace.loaded = false;
                false
            }
        }
    }

    /// Reads the checkpoint from the store; `false` when it cannot (logged).
    async fn load_checkpoint(&mut self) -> bool {
        match self.ingestor.store.stream_checkpoint(&self.vcenter).await {
            Ok(cp) => {
                self.checkpoint = cp;
                if let Some(cp) = cp {
                    tracing::info!(vcenter = %self.vcenter, key = cp.key, time = %crate::model::format_rfc3339(cp.time), "event stream resumes from its checkpoint");
                    self.status(|s| {
                        s.last_event_key = Some(cp.key);
                        s.last_event_time = Some(cp.time);
                    });
                }
                true
            }
            Err(e) => {
                tracing::warn!(vcenter = %self.vcenter, error = %e, "cannot read the event-stream checkpoint; retrying");
                false
            }
        }
    }

    /// A poll's metrics and status.
    fn record_poll(
        &self,
        result: &Result<Polled, PollError>,
        now: OffsetDateTime,
        lag: Option<f64>,
    ) {
        let vc = self.vcenter.clone();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("vcgate_event_stream_polls_total", "vcenter" => vc.clone(), "outcome" => outcome).increment(1);
        metrics::gauge!("vcgate_event_stream_connected", "vcenter" => vc.clone())
            .set(if result.is_ok() { 1.0 } else { 0.0 });
        if let Some(lag) = lag {
            metrics::gauge!("vcgate_event_stream_lag_seconds", "vcenter" => vc).set(lag);
        }
        self.status(|s| {
            s.polls += 1;
            s.last_poll_at = Some(now);
            s.connected = result.is_ok();
            s.lag_seconds = lag;
            match result {
                Ok(_) => s.last_error = None,
                Err(e) => {
                    s.errors += 1;
                    s.last_error = Some(e.to_string());
                }
            }
        });
    }

    /// Logs out (best effort: a real vCenter drops the session's collectors
    /// with it) and shows the stream disconnected.
    async fn stop(&self) {
        match tokio::time::timeout(DESTROY_TIMEOUT, self.client.logout()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(vcenter = %self.vcenter, error = %e, "logout at shutdown failed")
            }
            Err(_) => tracing::debug!(vcenter = %self.vcenter, "logout at shutdown timed out"),
        }
        self.status(|s| s.connected = false);
        tracing::info!(vcenter = %self.vcenter, "vCenter event stream stopped");
    }

    /// Where this poll starts reading: the checkpoint minus the overlap, or
    /// the look-back bound when there is no checkpoint or it is older.
    fn lower_bound(&mut self, now: OffsetDateTime) -> OffsetDateTime {
        let floor = now - self.lookback;
        match self.checkpoint {
            Some(cp) if cp.time >= floor => cp.time - OVERLAP,
            Some(cp) => {
                if !self.warned_stale {
                    self.warned_stale = true;
                    tracing::warn!(
                        vcenter = %self.vcenter,
                        checkpoint = %crate::model::format_rfc3339(cp.time),
                        lookback = %humantime::format_duration(self.lookback.unsigned_abs()),
                        "event-stream checkpoint is older than events_lookback: events between the checkpoint and the look-back bound are not replayed"
                    );
                }
                floor
            }
            None => floor,
        }
    }

    async fn poll_once(&mut self, shutdown: &CancellationToken) -> Result<Polled, PollError> {
        let lower = self.lower_bound(OffsetDateTime::now_utc());
        let candidates = candidates(self.read_collector(lower, shutdown).await?, lower);
        self.note_key_reset(&candidates);
        let ids = candidates
            .iter()
            .map(|e| vcenter_event::delivery_id(&self.vcenter, e))
            .collect();
        let known = self
            .ingestor
            .store
            .known_deliveries(Source::VcenterEvents, ids)
            .await?;
        let plan = plan(
            &self.vcenter,
            candidates,
            self.checkpoint,
            &known,
            |e| self.is_excluded(e),
            CHUNK,
        );
        if plan.excluded > 0 {
            self.status(|s| s.excluded += plan.excluded);
        }
        let mut delivered = 0;
        for commit in plan.commits {
            delivered += self.commit(commit).await?;
        }
        Ok(Polled { delivered })
    }

    /// One collector's whole content from `lower` on; the collector is
    /// destroyed whatever happens while reading (also on shutdown).
    async fn read_collector(
        &self,
        lower: OffsetDateTime,
        shutdown: &CancellationToken,
    ) -> Result<Vec<VcEvent>, PollError> {
        // Connecting and creating may each take up to the vCenter timeout when
        // it is down; shutdown does not wait for them. (A collector created
        // while we stopped listening dies with the session we log out.)
        let create = async {
            let root = self.client.service_content().await?.root_folder.clone();
            let query = EventFilterSpec {
                entity: Some(root),
                recursion: EventRecursion::All,
                begin_time: Some(lower),
                event_type_ids: self.include.clone(),
                max_count: Some(PAGE as usize),
                ..EventFilterSpec::default()
            };
            self.client.create_event_collector(&query).await
        };
        let collector = tokio::select! {
            _ = shutdown.cancelled() => return Err(PollError::Cancelled),
            r = create => r?,
        };
        self.status(|s| s.collectors_open += 1);
        let read = tokio::select! {
            _ = shutdown.cancelled() => Err(PollError::Cancelled),
            r = self.read_pages(&collector) => r,
        };
        match tokio::time::timeout(DESTROY_TIMEOUT, self.client.destroy_collector(&collector)).await
        {
            // Gone with its session already: nothing left to clean up.
            Ok(Ok(())) | Ok(Err(VsphereError::ManagedObjectNotFound { .. })) => {}
            Ok(Err(e)) => {
                tracing::warn!(vcenter = %self.vcenter, collector = %collector.value, error = %e, "DestroyCollector failed")
            }
            Err(_) => {
                tracing::warn!(vcenter = %self.vcenter, collector = %collector.value, "DestroyCollector timed out")
            }
        }
        self.status(|s| s.collectors_open = s.collectors_open.saturating_sub(1));
        read
    }

    async fn read_pages(
        &self,
        collector: &vsphere::ManagedObjectRef,
    ) -> Result<Vec<VcEvent>, PollError> {
        let mut all = Vec::new();
        loop {
            let page = self.client.read_next_events(collector, PAGE).await?;
            if page.is_empty() {
                break;
            }
            all.extend(page);
            if all.len() >= MAX_PER_POLL {
                tracing::info!(vcenter = %self.vcenter, events = all.len(), "event backlog: reading the rest next poll");
                break;
            }
        }
        Ok(all)
    }

    fn is_excluded(&self, event: &VcEvent) -> bool {
        self.exclude.contains(&event.class)
            || event
                .event_type_id
                .as_ref()
                .is_some_and(|id| self.exclude.contains(id))
    }

    /// Keys going backwards while time moves on: vCenter's history was reset
    /// (or the int32 key wrapped). Positions are by time, so this is only news.
    fn note_key_reset(&self, sorted: &[VcEvent]) {
        let Some(cp) = self.checkpoint else { return };
        let Some(newest) = sorted.last() else { return };
        let wrapped = cp.key > i64::from(i32::MAX / 2) && newest.key < 0;
        if newest.created_time > cp.time && newest.key < cp.key {
            tracing::info!(
                vcenter = %self.vcenter,
                checkpoint_key = cp.key,
                newest_key = newest.key,
                cause = if wrapped { "int32 key wrap" } else { "vCenter event history reset" },
                "vCenter event keys went backwards; following createdTime"
            );
            self.status(|s| s.key_resets += 1);
        }
    }

    /// Stores one planned commit: its events and checkpoint in one write.
    async fn commit(&mut self, commit: Commit) -> Result<usize, PollError> {
        let classes: Vec<String> = commit.events.iter().map(|e| e.class.clone()).collect();
        let received_at = OffsetDateTime::now_utc();
        let events = commit
            .events
            .iter()
            .map(|e| vcenter_event::normalize(&self.vcenter, e, received_at))
            .collect();
        let checkpoint = commit.checkpoint;
        let outcomes = self
            .ingestor
            .accept_with_checkpoint(events, &self.vcenter, checkpoint)
            .await?;
        self.checkpoint = Some(checkpoint);
        let stored: Vec<String> = classes
            .into_iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, crate::store::AcceptOutcome::Accepted(_)))
            .map(|(c, _)| c)
            .collect();
        let n = stored.len();
        if n > 0 {
            tracing::debug!(vcenter = %self.vcenter, events = n, key = checkpoint.key, "vCenter events accepted");
        }
        self.status(|s| {
            s.last_event_key = Some(checkpoint.key);
            s.last_event_time = Some(checkpoint.time);
            s.delivered += n as u64;
            for class in stored {
                *s.events_by_class.entry(class).or_default() += 1;
            }
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_backoff_is_bounded() {
        assert_eq!(
            max_error_delay(Duration::from_secs(5)),
            Duration::from_secs(60)
        );
        assert_eq!(
            max_error_delay(Duration::from_millis(200)),
            Duration::from_secs(6)
        );
        assert_eq!(
            max_error_delay(Duration::from_secs(600)),
            Duration::from_secs(600)
        );
    }
}
