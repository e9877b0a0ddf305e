//! The alarm-action guard: keeps host alarm actions from staying disabled
//! after maintenance mode (issue 6, design "Guard").
//!
//! Owns: one reconciler task per `[[vcenter]]` with a `url` (read every
//! host's `runtime.inMaintenanceMode` and `alarmActionsEnabled` with
//! RetrievePropertiesEx, decide with the pure [`decide::decide`], call
//! `EnableAlarmActions`, persist memory + actions, emit
//! `guard.alarm.actions.enabled|disabled` events through `Ingestor::accept`),
//! its schedule (every `interval`, at once on a maintenance event from any
//! source, exponential backoff while vCenter fails), [`is_maintenance_event`]
//! and the records the API shows. Must not: depend on seeing the exit event —
//! the interval reconcile alone re-enables hosts; act on a host it could not
//! observe; log credentials.

pub mod decide;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Reenable};
use crate::ingest::Ingestor;
use crate::model::{Entity, EntityKind, Event, EventId, EventType, RawPayload, Source};
use crate::store::{Role, singletons};
use crate::supervisor::Supervisor;
use crate::vsphere::{Client, ManagedObjectRef, VsphereError};
use decide::{Action, ActionKind, Memory, Observation, Policy};

/// How often a node that does not guard a vCenter (another node on the
/// shared store does) asks whether it should take over.
const STANDBY_POLL: Duration = Duration::from_secs(2);

/// The `[guard]` settings as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardSettings {
    pub enabled: bool,
    #[serde(skip)]
    pub interval: Duration,
    pub interval_seconds: f64,
    pub dry_run: bool,
    pub disable_on_enter: bool,
    pub reenable: Reenable,
    pub exclude: Vec<String>,
    /// vCenters the guard reconciles (those with a `url`).
    pub vcenters: Vec<String>,
}

impl GuardSettings {
    pub fn from_config(config: &Config) -> Self {
        let g = &config.guard;
        let enabled = g.active(&config.vcenter);
        Self {
            enabled,
            interval: g.interval,
            interval_seconds: g.interval.as_secs_f64(),
            dry_run: g.dry_run,
            disable_on_enter: g.disable_on_enter,
            reenable: g.reenable,
            exclude: g.exclude.clone(),
            vcenters: config
                .vcenter
                .iter()
                .filter(|vc| enabled && vc.url.is_some())
                .map(|vc| vc.name.clone())
                .collect(),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            disable_on_enter: self.disable_on_enter,
            reenable: self.reenable,
            exclude: self.exclude.clone(),
        }
    }
}

/// The guard's persisted records live with the store (`store::guard`).
pub use crate::store::{
    ActionOutcome, ActionRecord, GuardHost, GuardSnapshot, ReconcileRecord, ReconcileStatus,
};

impl ReconcileStatus {
    /// Every status, for metrics that export one series per status.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Ok,
        Self::Stale,
        Self::Denied,
        Self::Error,
    ];

    fn of(error: &VsphereError) -> Self {
        if error.is_unavailable() {
            return Self::Stale;
        }
        match error {
            VsphereError::NoPermission { .. } | VsphereError::InvalidLogin => Self::Denied,
            _ => Self::Error,
        }
    }
}

/// True for an event that should make the guard reconcile at once: a
/// maintenance-mode event type, or an alarm/message mentioning maintenance
/// mode. The guard's own events never count (they would re-trigger it).
pub fn is_maintenance_event(event: &Event) -> bool {
    if event.source == Source::Guard {
        return false;
    }
    // The state-changing types are `silence::maintenance::maintenance_change`'s;
    // any other `*.maintenance.mode` type (e.g. a failed entry) is worth a look too.
    if crate::silence::maintenance::maintenance_change(event).is_some()
        || event.event_type.as_str().contains("maintenance.mode")
    {
        return true;
    }
    let mentions = |text: &str| {
        let lower = text.to_lowercase();
        lower.contains("maintenance mode") || lower.contains("maintenancemode")
    };
    event.message.as_deref().is_some_and(mentions)
        || event
            .alarm
            .as_ref()
            .and_then(|a| a.name.as_deref())
            .is_some_and(mentions)
}

/// Delay before the next attempt after `failures` consecutive failures:
/// 1 s (or `interval` if shorter), doubling, capped at 5 × `interval` but
/// never above 5 minutes (nor below `interval`).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let base = Duration::from_secs(1).min(interval);
    let cap = (interval * 5).min(Duration::from_secs(300)).max(interval);
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(cap)
}

/// Starts one reconciler per vCenter with a `url` (when the guard is active).
/// `wake` is notified by the pipeline on every maintenance event.
pub fn spawn(
    config: &Config,
    settings: &GuardSettings,
    vcenters: &crate::vcenters::Vcenters,
    ingestor: Ingestor,
    wake: Arc<Notify>,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) {
    if !settings.enabled {
        if config.guard.enabled == Some(true) {
            tracing::warn!("[guard] enabled but no [[vcenter]] has a url: guard off");
        }
        return;
    }
    let mut wakes = Vec::new();
    for vc in config.vcenter.iter().filter(|vc| vc.url.is_some()) {
        // The shared client (one session with enrichment and the built-ins).
        let Some(client) = vcenters.get(&vc.name).cloned() else {
            continue;
        };
        let own_wake = Arc::new(Notify::new());
        wakes.push(own_wake.clone());
        let reconciler = Reconciler {
            vcenter: vc.name.clone(),
            client,
            policy: settings.policy(),
            dry_run: settings.dry_run,
            interval: settings.interval,
            ingestor: ingestor.clone(),
            memory: Memory::new(),
            record: ReconcileRecord::new(&vc.name),
            reported_dry_run: BTreeSet::new(),
        };
        tracing::info!(vcenter = %vc.name, interval = ?settings.interval, dry_run = settings.dry_run, "guard started");
        tasks.spawn_stage(
            format!("guard for {}", vc.name),
            reconciler.run(own_wake, shutdown.clone()),
        );
    }
    // Fan the pipeline's single notification out to every reconciler;
    // notify_one keeps a permit, so a wake during a reconcile is not lost.
    tasks.spawn_stage("guard wake fan-out", async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.notified() => wakes.iter().for_each(|w| w.notify_one()),
            }
        }
    });
}

struct Reconciler {
    vcenter: String,
    client: Client,
    policy: Policy,
    dry_run: bool,
    interval: Duration,
    ingestor: Ingestor,
    memory: Memory,
    record: ReconcileRecord,
    /// Dry-run decisions already logged, so each is reported once per
    /// transition rather than every interval.
    reported_dry_run: BTreeSet<(String, ActionKind)>,
}

/// What the actions of one reconcile did.
#[derive(Default)]
struct Acted {
    records: Vec<ActionRecord>,
    /// `guard.alarm.actions.*` events for the actions done.
    events: Vec<Event>,
    /// The last action that failed.
    failure: Option<VsphereError>,
}

impl Reconciler {
    async fn run(mut self, wake: Arc<Notify>, shutdown: CancellationToken) {
        if !self.load(&shutdown).await {
            return;
        }
        let mut next = tokio::time::Instant::now();
        // Set when another node may have reconciled since the memory was read.
        let mut stale = false;
        loop {
            if !self.wait(next, &wake, &shutdown).await {
                return;
            }
            if let Err(retry_at) = self.take_turn(&mut stale).await {
                next = retry_at;
                continue;
            }
            // Cancellable: a half-done reconcile is safe to drop (an action
            // whose commit is lost is recognized on the next observation).
            let delay = tokio::select! {
                _ = shutdown.cancelled() => return,
                delay = self.reconcile() => delay,
            };
            next = tokio::time::Instant::now() + delay;
        }
    }

    /// Loads the memory (retrying until it can) and the last reconcile
    /// record from before a restart; `false` on shutdown.
    async fn load(&mut self, shutdown: &CancellationToken) -> bool {
        let store = self.ingestor.store.clone();
        loop {
            match store.guard_memory(&self.vcenter).await {
                Ok(memory) => {
                    self.memory = memory;
                    break;
                }
                Err(e) => {
                    tracing::warn!(vcenter = %self.vcenter, error = %e, "guard cannot load its state; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        if let Ok(snapshot) = store.guard_snapshot(1).await
            && let Some(previous) = snapshot
                .reconciles
                .into_iter()
                .find(|r| r.vcenter == self.vcenter)
        {
            self.record = previous;
        }
        let guarded = self.memory.values().filter(|h| h.guarded).count();
        if guarded > 0 {
            tracing::info!(vcenter = %self.vcenter, guarded, "guard resumes guarding hosts from before the restart");
        }
        true
    }

    /// Waits for the next reconcile: its time, or a maintenance event
    /// (except while failing). `false` on shutdown.
    async fn wait(
        &self,
        next: tokio::time::Instant,
        wake: &Notify,
        shutdown: &CancellationToken,
    ) -> bool {
        // While failing, maintenance events do not bypass the backoff.
        let in_backoff = self.record.consecutive_failures > 0;
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep_until(next) => true,
            _ = wake.notified(), if !in_backoff => {
                tracing::debug!(vcenter = %self.vcenter, "maintenance event: reconciling now");
                true
            }
        }
    }

    /// Whether this node reconciles the vCenter now (several gateways on one
    /// store: one reconciles each vCenter), with state another node left
    /// reloaded; else when to ask again.
    async fn take_turn(&mut self, stale: &mut bool) -> Result<(), tokio::time::Instant> {
        let store = &self.ingestor.store;
        match store.singleton(&singletons::guard(&self.vcenter)).await {
            Ok(Role::Holding) => {}
            Ok(Role::TookOver) => {
                tracing::info!(vcenter = %self.vcenter, "this node guards the vCenter now");
                *stale = true;
            }
            Ok(Role::Standby) | Err(_) => {
                *stale = true;
                return Err(tokio::time::Instant::now() + STANDBY_POLL.min(self.interval));
            }
        }
        if *stale {
            match self.reload().await {
                Ok(()) => *stale = false,
                Err(e) => {
                    tracing::warn!(vcenter = %self.vcenter, error = %e, "guard cannot load its state; retrying");
                    return Err(tokio::time::Instant::now() + STANDBY_POLL);
                }
            }
        }
        Ok(())
    }

    /// Reads the memory and the reconcile record another node left.
    async fn reload(&mut self) -> Result<(), crate::store::StoreError> {
        let store = &self.ingestor.store;
        self.memory = store.guard_memory(&self.vcenter).await?;
        if let Some(previous) = store
            .guard_snapshot(1)
            .await?
            .reconciles
            .into_iter()
            .find(|r| r.vcenter == self.vcenter)
        {
            self.record = previous;
        }
        Ok(())
    }

    /// One reconcile: observe, decide, act, record; returns the delay until
    /// the next one.
    async fn reconcile(&mut self) -> Duration {
        let now = OffsetDateTime::now_utc();
        self.record.last_attempt = Some(now);
        let observed = match self.observe(now).await {
            Ok(observed) => observed,
            Err(delay) => return delay,
        };
        let decision = decide::decide(&self.policy, &self.memory, &observed);
        let mut memory = decision.memory;
        let acted = self.act(&decision.actions, &mut memory).await;
        // A decision that is no longer made (the host moved on) may be
        // reported again on its next transition.
        self.reported_dry_run.retain(|(moref, kind)| {
            decision
                .actions
                .iter()
                .any(|a| &a.moref == moref && a.kind == *kind)
        });
        self.memory = memory;
        let delay = self.reconciled(observed.len(), acted.failure.as_ref(), now);
        self.persist(acted.events, acted.records).await;
        delay
    }

    /// Reads every host; on failure records it (no observation, so no
    /// decision and no action) and returns the backoff delay.
    async fn observe(&mut self, now: OffsetDateTime) -> Result<Vec<Observation>, Duration> {
        let hosts = match self.client.hosts().await {
            Ok(hosts) => hosts,
            Err(e) => {
                let delay = self.failed(&e, now);
                if let Err(e) = self
                    .ingestor
                    .store
                    .guard_record_reconcile(self.record.clone())
                    .await
                {
                    tracing::warn!(vcenter = %self.vcenter, error = %e, "guard cannot record its status");
                }
                return Err(delay);
            }
        };
        Ok(hosts
            .into_iter()
            .map(|h| Observation {
                moref: h.moref.value,
                name: h.name,
                in_maintenance: h.in_maintenance,
                actions_enabled: h.alarm_actions_enabled,
            })
            .collect())
    }

    /// Carries out (or, in a dry run, reports) the decided actions, updating
    /// `memory` for each one done; stops once vCenter is unavailable.
    async fn act(&mut self, actions: &[Action], memory: &mut Memory) -> Acted {
        let mut acted = Acted::default();
        for action in actions {
            if self.dry_run {
                self.report_dry_run(action, &mut acted);
                continue;
            }
            if acted
                .failure
                .as_ref()
                .is_some_and(VsphereError::is_unavailable)
            {
                break; // vCenter went away mid-reconcile: retry everything later
            }
            self.apply(action, memory, &mut acted).await;
        }
        acted
    }

    /// Logs and records a dry-run decision, once per transition.
    fn report_dry_run(&mut self, action: &Action, acted: &mut Acted) {
        if self
            .reported_dry_run
            .insert((action.moref.clone(), action.kind))
        {
            tracing::info!(vcenter = %self.vcenter, host = %action.host, moref = %action.moref, action = action.kind.as_str(), reason = %action.reason, "guard dry run: would {} alarm actions", action.kind.as_str());
            acted
                .records
                .push(self.action_record(action, ActionOutcome::DryRun, None, None));
            count_action(&self.vcenter, action.kind, ActionOutcome::DryRun);
        }
    }

    /// Calls `EnableAlarmActions`/`DisableAlarmActions` for one action.
    async fn apply(&self, action: &Action, memory: &mut Memory, acted: &mut Acted) {
        let entity = ManagedObjectRef::new("HostSystem", action.moref.clone());
        match self
            .client
            .enable_alarm_actions(&entity, action.kind.enables())
            .await
        {
            Ok(()) => {
                if let Some(host) = memory.get_mut(&action.moref) {
                    host.apply(action);
                }
                let event = action_event(&self.vcenter, action);
                tracing::info!(vcenter = %self.vcenter, host = %action.host, moref = %action.moref, action = action.kind.as_str(), reason = %action.reason, "guard {}d alarm actions", action.kind.as_str());
                acted.records.push(self.action_record(
                    action,
                    ActionOutcome::Done,
                    None,
                    Some(event.id),
                ));
                acted.events.push(event);
                count_action(&self.vcenter, action.kind, ActionOutcome::Done);
            }
            Err(e) => {
                tracing::warn!(vcenter = %self.vcenter, host = %action.host, action = action.kind.as_str(), error = %e, "guard action failed; will retry");
                acted.records.push(self.action_record(
                    action,
                    ActionOutcome::Failed,
                    Some(e.to_string()),
                    None,
                ));
                count_action(&self.vcenter, action.kind, ActionOutcome::Failed);
                acted.failure = Some(e);
            }
        }
    }

    /// Updates the reconcile record and the guard's metrics after a
    /// reconcile that observed `hosts`; returns the delay until the next.
    fn reconciled(
        &mut self,
        hosts: usize,
        failure: Option<&VsphereError>,
        now: OffsetDateTime,
    ) -> Duration {
        self.record.last_reconcile = Some(now);
        self.record.reconciles += 1;
        self.record.hosts = hosts;
        metrics::counter!("vcgate_guard_reconciles_total", "vcenter" => self.vcenter.clone())
            .increment(1);
        let in_maintenance = self.memory.values().filter(|h| h.in_maintenance).count();
        let guarded = self.memory.values().filter(|h| h.guarded).count();
        metrics::gauge!("vcgate_guard_hosts_in_maintenance", "vcenter" => self.vcenter.clone())
            .set(in_maintenance as f64);
        metrics::gauge!("vcgate_guard_hosts_guarded", "vcenter" => self.vcenter.clone())
            .set(guarded as f64);
        match failure {
            Some(e) => self.failed(e, now),
            None => {
                self.record.status = ReconcileStatus::Ok;
                self.record.error = None;
                self.record.consecutive_failures = 0;
                self.record.next_attempt = Some(now + self.interval);
                self.interval
            }
        }
    }

    /// Stores the action events, then commits memory, record and actions.
    async fn persist(&self, events: Vec<Event>, records: Vec<ActionRecord>) {
        // Events first: each records something that already happened in
        // vCenter, and an action shown by the API then always has its event.
        for event in events {
            if let Err(e) = self.ingestor.accept(event).await {
                tracing::warn!(vcenter = %self.vcenter, error = %e, "guard action event not stored");
            }
        }
        if let Err(e) = self
            .ingestor
            .store
            .guard_commit(self.memory.clone(), self.record.clone(), records)
            .await
        {
            // The memory stays in this task and is committed next time.
            tracing::warn!(vcenter = %self.vcenter, error = %e, "guard cannot persist its state");
        }
    }

    /// Records a failure in the status and returns the backoff delay.
    fn failed(&mut self, error: &VsphereError, now: OffsetDateTime) -> Duration {
        let status = ReconcileStatus::of(error);
        self.record.status = status;
        self.record.error = Some(error.to_string());
        self.record.consecutive_failures += 1;
        let delay = backoff(self.interval, self.record.consecutive_failures);
        self.record.next_attempt = Some(now + delay);
        metrics::counter!("vcgate_guard_reconcile_errors_total", "vcenter" => self.vcenter.clone(), "status" => status.as_str())
            .increment(1);
        tracing::warn!(vcenter = %self.vcenter, status = status.as_str(), error = %error, retry_in = ?delay, "guard reconcile failed");
        delay
    }

    fn action_record(
        &self,
        action: &Action,
        outcome: ActionOutcome,
        error: Option<String>,
        event_id: Option<EventId>,
    ) -> ActionRecord {
        ActionRecord {
            time: OffsetDateTime::now_utc(),
            vcenter: self.vcenter.clone(),
            moref: action.moref.clone(),
            host: action.host.clone(),
            action: action.kind,
            reason: action.reason.clone(),
            outcome,
            error,
            event_id,
        }
    }
}

fn count_action(vcenter: &str, kind: ActionKind, outcome: ActionOutcome) {
    metrics::counter!("vcgate_guard_actions_total", "vcenter" => vcenter.to_owned(), "action" => kind.as_str(), "outcome" => outcome.as_str())
        .increment(1);
}

/// The `guard.alarm.actions.enabled|disabled` event for a done action.
pub fn action_event(vcenter: &str, action: &Action) -> Event {
    let (type_name, verb) = match action.kind {
        ActionKind::Enable => ("guard.alarm.actions.enabled", "enabled"),
        ActionKind::Disable => ("guard.alarm.actions.disabled", "disabled"),
    };
    let mut event = Event::unfingerprinted(
        Source::Guard,
        vcenter,
        EventType::parse(type_name).expect("literal event type"),
    );
    let now = event.received_at;
    event.time = Some(now);
    event.entity = Entity {
        kind: Some(EntityKind::HostSystem),
        moref: crate::model::Moref::parse(&action.moref),
        name: Some(action.host.clone()),
    };
    // The time is part of the message so that a later action on the same
    // host is a new event for dedup, not a repeat of this one.
    event.message = Some(format!(
        "vcgate guard {verb} alarm actions on host {} at {}: {}",
        action.host,
        crate::model::format_rfc3339(now),
        action.reason
    ));
    event.category = Some("info".to_owned());
    let fields = json!({
        "action": action.kind.as_str(),
        "reason": action.reason,
        "host_name": action.host,
        "host_id": action.moref,
    });
    if let serde_json::Value::Object(map) = &fields {
        event.metadata = map.clone();
    }
    event.raw = RawPayload::encode(&fields);
    event.fingerprint = event.compute_fingerprint();
    event
}

#[cfg(test)]
mod tests;
