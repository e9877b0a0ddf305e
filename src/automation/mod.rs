//! Automation: functions subscribed to event types, every execution recorded
//! as a run (Dispatch's model, without Kubernetes).
//!
//! Owns: the function/subscription registry and subscription matching (pure),
//! the input contract (`{"context": {"secrets", "event", "run_id"},
//! "payload"}` — Dispatch's `handle($context, $payload)`), and one runner per
//! function that claims due runs from the store, executes them (command,
//! webhook, builtin) within its concurrency limit, and settles them with
//! retries (exponential backoff with jitter) until `dead`.
//!
//! Runs are created by the pipeline in the same commit as the routing
//! decision; only events routed to automation get them. A run that was
//! `running` when the process died is retried after restart.

mod builtin;
mod command;
mod output;
mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError, FunctionConfig, FunctionSpec, resolve_secret};
use crate::store::{ClaimedRun, RunLogs, RunOutcome, RunStatus, Store};
use crate::supervisor::Supervisor;
use crate::telemetry::Stats;
// Kept at their old paths: secrets are loaded with the config, and which
// subscriptions an event matches is routing.
pub use crate::config::secrets::{self, Secrets};
pub use crate::route::subscriptions::{Registry, event_format, subscription_matches};

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone)]
pub enum AttemptError {
    Retryable(String),
    Permanent(String),
}

/// The result of executing a run once.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub result: Result<(), AttemptError>,
    pub logs: RunLogs,
    pub output: Option<Value>,
}

impl Attempt {
    pub fn succeeded(logs: RunLogs, output: Option<Value>) -> Self {
        Self {
            result: Ok(()),
            logs,
            output,
        }
    }
    pub fn failed(error: AttemptError, logs: RunLogs, output: Option<Value>) -> Self {
        Self {
            result: Err(error),
            logs,
            output,
        }
    }
}

/// The function's stdin (Dispatch's contract): `cloudevent` is the event in
/// the shape the function asked for, `payload` its `data`.
pub fn function_input(
    cloudevent: &Value,
    run_id: &str,
    secrets: &std::collections::BTreeMap<String, String>,
) -> Value {
    json!({
        "context": {
            "secrets": secrets,
            "event": cloudevent,
            "run_id": run_id,
        },
        "payload": cloudevent.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// Retry delay after `attempt` failed attempts: `backoff · 2^(attempt-1)`,
/// capped at `max_backoff`, scaled by a jitter factor in [0.5, 1.0].
pub fn retry_delay(function: &FunctionConfig, attempt: u32, jitter: f64) -> Duration {
    let exp = function
        .backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(function.max_backoff)
        .mul_f64(jitter.clamp(0.5, 1.0))
}

fn jitter() -> f64 {
    let bytes = uuid::Uuid::now_v7().into_bytes();
    0.5 + f64::from(u16::from_le_bytes([bytes[14], bytes[15]])) / f64::from(u16::MAX) / 2.0
}

/// One wake-up signal per function (`notify_one` stores a permit, so a
/// runner busy claiming does not miss it). Created on first use, so functions
/// added by a reload get one too.
#[derive(Clone, Default)]
pub struct Wakes(Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>);

impl Wakes {
    pub fn get(&self, function: &str) -> Arc<Notify> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(function.to_owned())
            .or_default()
            .clone()
    }
}

/// Shared by all runners.
#[derive(Clone)]
pub struct Runtime {
    pub store: Store,
    pub stats: Arc<Stats>,
    /// Reloadable settings (secrets are read from here at each run).
    pub live: crate::settings::Live,
    /// Per function: woken when the pipeline queued runs or a run finished.
    pub wakes: Wakes,
    pub vcenters: crate::vcenters::Vcenters,
    http: reqwest::Client,
}

impl Runtime {
    pub fn new(
        store: Store,
        stats: Arc<Stats>,
        live: crate::settings::Live,
        wakes: Wakes,
        vcenters: crate::vcenters::Vcenters,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            stats,
            live,
            wakes,
            vcenters,
            http: reqwest::Client::builder().build()?,
        })
    }
}

/// Recovers runs interrupted by a crash, then keeps one runner per function.
pub async fn spawn(
    config: &Config,
    runtime: Runtime,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = &runtime.store;
    let max_attempts: HashMap<String, u32> = config
        .function
        .iter()
        .map(|f| (f.name.clone(), f.max_attempts))
        .collect();
    let requeued = store.requeue_interrupted(max_attempts).await?;
    if requeued > 0 {
        tracing::warn!(
            runs = requeued,
            "runs interrupted by the last shutdown were re-queued"
        );
    }
    tasks.spawn_stage(
        "automation",
        supervise(runtime, TaskTracker::clone(tasks), shutdown),
    );
    Ok(())
}

/// Keeps one runner per configured function, restarting a runner whose
/// function changed in a reload and stopping those that were removed.
async fn supervise(runtime: Runtime, tasks: TaskTracker, shutdown: CancellationToken) {
    let mut generations = runtime.live.subscribe();
    let mut runners: HashMap<String, (String, CancellationToken)> = HashMap::new();
    loop {
        let settings = runtime.live.load();
        for function in &settings.registry.functions {
            // The config's Debug text is only a change detector; never logged.
            let fingerprint = format!("{function:?}");
            if runners
                .get(&function.name)
                .is_some_and(|(f, _)| *f == fingerprint)
            {
                continue;
            }
            if let Some((_, old)) = runners.remove(&function.name) {
                old.cancel();
            }
            let signing_key = match signing_key(function) {
                Ok(key) => key,
                Err(e) => {
                    tracing::error!(function = %function.name, error = %e, "function not started: signing key unavailable");
                    continue;
                }
            };
            let token = shutdown.child_token();
            tasks.spawn(run_function(
                function.clone(),
                signing_key,
                runtime.clone(),
                tasks.clone(),
                token.clone(),
            ));
            runners.insert(function.name.clone(), (fingerprint, token));
        }
        runners.retain(|name, (_, token)| {
            let keep = settings.registry.function(name).is_some();
            if !keep {
                token.cancel();
            }
            keep
        });
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = generations.changed() => if changed.is_err() { return },
        }
    }
}

/// A webhook function's signing key, read when its runner starts; `None`
/// for other kinds and unsigned webhooks.
fn signing_key(function: &FunctionConfig) -> Result<Option<Vec<u8>>, ConfigError> {
    let FunctionSpec::Webhook(webhook) = &function.spec else {
        return Ok(None);
    };
    let key = resolve_secret(
        &format!("function {}: signing_key", function.name),
        &None,
        &webhook.signing_key_file,
        &webhook.signing_key_env,
    )?;
    Ok(key.map(|k| k.expose().as_bytes().to_vec()))
}

/// Longest a runner sleeps without a wake-up (a safety net: every state
/// change that makes a run claimable also wakes the runner).
const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// Shortest pause, so a clock step can never make the loop spin.
const MIN_PAUSE: Duration = Duration::from_millis(10);

async fn run_function(
    function: FunctionConfig,
    signing_key: Option<Vec<u8>>,
    runtime: Runtime,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let runner = Runner {
        permits: Arc::new(Semaphore::new(function.concurrency)),
        wake: runtime.wakes.get(&function.name),
        function: Arc::new(function),
        signing_key: Arc::new(signing_key),
        runtime,
        tasks,
    };
    loop {
        let claimed_any = runner.claim_and_start().await;
        if claimed_any && runner.permits.available_permits() > 0 {
            continue;
        }
        let pause = runner.pause().await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = runner.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// One function's runner: claims its due runs and executes each in a task,
/// at most `concurrency` at a time.
struct Runner {
    function: Arc<FunctionConfig>,
    signing_key: Arc<Option<Vec<u8>>>,
    runtime: Runtime,
    tasks: TaskTracker,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
}

impl Runner {
    /// Claims as many due runs as there are free permits and starts them;
    /// whether any was claimed.
    async fn claim_and_start(&self) -> bool {
        let free = self.permits.available_permits();
        if free == 0 {
            return false;
        }
        let claimed = match self
            .runtime
            .store
            .claim_runs(self.function.name.clone(), free)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(function = %self.function.name, error = %e, "cannot claim runs");
                return false;
            }
        };
        let claimed_any = !claimed.is_empty();
        for claimed_run in claimed {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            let (function, runtime, key, wake) = (
                self.function.clone(),
                self.runtime.clone(),
                self.signing_key.clone(),
                self.wake.clone(),
            );
            self.tasks.spawn(async move {
                let key = key.as_ref().as_ref().map(Vec::as_slice);
                execute(&function, key, &runtime, claimed_run).await;
                drop(permit);
                wake.notify_one();
            });
        }
        claimed_any
    }

    /// How long to sleep unless woken. Every new run, retry request and
    /// finished run wakes the runner; the timer is only for runs waiting out
    /// a backoff. Sleeping until the next one is due (not polling) keeps
    /// idle functions off the store: 100 functions used to cost 400 writer
    /// round trips a second.
    async fn pause(&self) -> Duration {
        if self.permits.available_permits() == 0 {
            return IDLE_RECHECK;
        }
        match self
            .runtime
            .store
            .next_run_due(self.function.name.clone())
            .await
        {
            Ok(Some(due)) => due.clamp(MIN_PAUSE, IDLE_RECHECK),
            Ok(None) => IDLE_RECHECK,
            Err(_) => Duration::from_secs(1),
        }
    }
}

/// The attempt of a webhook or builtin that outlived its `timeout` (retryable).
fn timed_out(timeout: Duration) -> Attempt {
    Attempt::failed(
        AttemptError::Retryable(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        )),
        RunLogs::default(),
        None,
    )
}

/// Why a claimed run must not start: its attempts are spent. A claim counts
/// an attempt; one taken over from a node that died while running it (HA)
/// arrives with the dead node's attempt counted, and may be one past the
/// budget.
fn attempts_spent(attempt: u32, max_attempts: u32) -> Option<String> {
    (attempt > max_attempts).then(|| {
        format!(
            "gave up after {} attempts (the last ended with the node running it)",
            attempt - 1
        )
    })
}

/// Runs a claimed run once and records how it ended.
async fn execute(
    function: &FunctionConfig,
    signing_key: Option<&[u8]>,
    runtime: &Runtime,
    claimed: ClaimedRun,
) {
    let ClaimedRun { run, event } = claimed;
    if let Some(reason) = attempts_spent(run.attempt, function.max_attempts) {
        record(runtime, function, &run.id, never_started(reason)).await;
        return;
    }
    let settings = runtime.live.load();
    let secret_values = settings.secrets.for_function(&function.secrets);
    let format = event_format(&settings.registry, function, &run.subscription);
    let cloudevent =
        crate::cloudevents::render(&event, format, runtime.vcenters.sdk_url(&event.vcenter));
    let input = function_input(&cloudevent, &run.id, &secret_values);
    runtime
        .stats
        .emit(crate::telemetry::internal_events::RunStarted {
            function: &function.name,
            run: &run.id,
            event: event.id,
            attempt: run.attempt,
        });
    let call = Call {
        run_id: &run.id,
        event: &event,
        cloudevent: &cloudevent,
        input: &input,
        signing_key,
    };
    let attempt = attempt(function, runtime, call).await;
    let verdict = verdict(
        &attempt.result,
        run.attempt,
        function,
        OffsetDateTime::now_utc(),
        jitter(),
    );
    let secrets = &settings.secrets;
    let outcome = RunOutcome {
        status: verdict.status,
        reason: verdict.reason.map(|r| secrets.redact(&r)),
        input: Some(secrets.redact_json(&input)),
        output: attempt.output.map(|o| secrets.redact_json(&o)),
        logs: redacted_logs(secrets, &attempt.logs),
        retry_at: verdict.retry_at,
    };
    record(runtime, function, &run.id, outcome).await;
}

/// The outcome of a run that is `dead` before it started.
fn never_started(reason: String) -> RunOutcome {
    RunOutcome {
        status: RunStatus::Dead,
        reason: Some(reason),
        input: None,
        output: None,
        logs: RunLogs::default(),
        retry_at: None,
    }
}

/// Reports how a run ended and settles it in the store.
async fn record(runtime: &Runtime, function: &FunctionConfig, run_id: &str, outcome: RunOutcome) {
    runtime
        .stats
        .emit(crate::telemetry::internal_events::RunFinished {
            function: &function.name,
            run: run_id,
            status: outcome.status.as_str(),
            reason: outcome.reason.as_deref(),
        });
    if let Err(e) = runtime.store.settle_run(run_id.to_owned(), outcome).await {
        // Left `running` in the store: the next start re-queues it.
        tracing::error!(run = %run_id, error = %e, "cannot record run outcome");
    }
}

/// What one attempt of a run gets to work with.
struct Call<'a> {
    run_id: &'a str,
    event: &'a crate::model::Event,
    /// The event in the shape the function asked for.
    cloudevent: &'a Value,
    /// The function's input (Dispatch's contract, see [`function_input`]).
    input: &'a Value,
    signing_key: Option<&'a [u8]>,
}

/// One attempt, by the function's kind. A command bounds its own time (it
/// must end its process group); webhooks and builtins are cut off here.
async fn attempt(function: &FunctionConfig, runtime: &Runtime, call: Call<'_>) -> Attempt {
    match &function.spec {
        FunctionSpec::Command(spec) => {
            let event_id = call.event.id.to_string();
            command::run(function, spec, call.run_id, &event_id, call.input).await
        }
        FunctionSpec::Webhook(spec) => {
            let request = webhook::Request {
                url: &spec.url,
                key: call.signing_key,
                run_id: call.run_id,
                cloudevent: call.cloudevent,
                encoding: spec.encoding,
            };
            within(function.timeout, webhook::run(&runtime.http, request)).await
        }
        FunctionSpec::Builtin(spec) => {
            within(
                function.timeout,
                builtin::run(spec, &runtime.vcenters, call.event),
            )
            .await
        }
    }
}

/// `attempt`, or a retryable failure when it outlives `timeout`.
async fn within(timeout: Duration, attempt: impl Future<Output = Attempt>) -> Attempt {
    match tokio::time::timeout(timeout, attempt).await {
        Ok(attempt) => attempt,
        Err(_) => timed_out(timeout),
    }
}

/// A run's logs with every secret value masked.
fn redacted_logs(secrets: &Secrets, logs: &RunLogs) -> RunLogs {
    let redact = |lines: &[String]| lines.iter().map(|l| secrets.redact(l)).collect();
    RunLogs {
        stdout: redact(&logs.stdout),
        stderr: redact(&logs.stderr),
        truncated: logs.truncated,
    }
}

/// How a run ends after an attempt (pure): the status, the reason (not yet
/// redacted), and when a failed run is tried again.
#[derive(Debug, PartialEq)]
struct Verdict {
    status: RunStatus,
    reason: Option<String>,
    retry_at: Option<OffsetDateTime>,
}

fn verdict(
    result: &Result<(), AttemptError>,
    attempt: u32,
    function: &FunctionConfig,
    now: OffsetDateTime,
    jitter: f64,
) -> Verdict {
    let (status, reason, retry_at) = match result {
        Ok(()) => (RunStatus::Succeeded, None, None),
        Err(AttemptError::Retryable(reason)) if attempt < function.max_attempts => (
            RunStatus::Failed,
            Some(reason.clone()),
            Some(now + retry_delay(function, attempt, jitter)),
        ),
        Err(AttemptError::Retryable(reason)) => (
            RunStatus::Dead,
            Some(format!("{reason}; gave up after {attempt} attempts")),
            None,
        ),
        Err(AttemptError::Permanent(reason)) => (RunStatus::Dead, Some(reason.clone()), None),
    };
    Verdict {
        status,
        reason,
        retry_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubscriptionConfig;
    use crate::model::{Alarm, Event, EventType, Source, StatusText};

    #[test]
    fn a_claim_past_the_budget_does_not_start() {
        assert_eq!(attempts_spent(1, 1), None);
        assert_eq!(attempts_spent(5, 5), None);
        let reason = attempts_spent(6, 5).expect("one past the budget");
        assert!(reason.contains("gave up after 5 attempts"), "{reason}");
    }

    fn sub(event_type: &str) -> SubscriptionConfig {
        SubscriptionConfig {
            name: "s".into(),
            event_type: event_type.into(),
            function: "f".into(),
            vcenter: None,
            entity: None,
            alarm: None,
            status: None,
            event_format: None,
        }
    }

    fn function() -> FunctionConfig {
        toml::from_str("name = \"f\"\nkind = \"command\"\ncommand = [\"true\"]\nbackoff = \"1s\"\nmax_backoff = \"10s\"").unwrap()
    }

    #[test]
    fn subscriptions_match_type_globs_and_filters() {
        let mut e = Event::new(
            Source::AlarmHook,
            "vc1",
            EventType::parse("vm.deployed").unwrap(),
        );
        e.entity.name = Some("web01".into());
        assert!(subscription_matches(&sub("vm.deployed"), &e));
        assert!(subscription_matches(&sub("vm.*"), &e));
        assert!(!subscription_matches(&sub("host.*"), &e));
        let mut filtered = sub("vm.*");
        filtered.entity = Some("db*".into());
        assert!(!subscription_matches(&filtered, &e));
        filtered.entity = Some("web*".into());
        filtered.vcenter = Some("vc1".into());
        assert!(subscription_matches(&filtered, &e));
        filtered.status = Some("red".into());
        assert!(
            !subscription_matches(&filtered, &e),
            "no alarm, no status match"
        );
        e.alarm = Some(Alarm {
            new_status: Some(StatusText::parse("Red")),
            ..Alarm::default()
        });
        assert!(subscription_matches(&filtered, &e));
    }

    #[test]
    fn registry_queues_one_run_per_matching_subscription() {
        let mut registry = Registry {
            functions: vec![function()],
            subscriptions: vec![sub("vm.*"), sub("*")],
        };
        registry.subscriptions[1].name = "all".into();
        let e = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
        let runs = registry.runs_for(&e);
        assert_eq!(
            runs.iter()
                .map(|r| r.subscription.as_str())
                .collect::<Vec<_>>(),
            ["s", "all"]
        );
    }

    #[test]
    fn verdicts_retry_until_the_budget_then_give_up() {
        let f = function();
        let now = OffsetDateTime::UNIX_EPOCH;
        let ok = verdict(&Ok(()), 1, &f, now, 1.0);
        assert_eq!(
            (ok.status, ok.reason, ok.retry_at),
            (RunStatus::Succeeded, None, None)
        );
        let retry = Err(AttemptError::Retryable("exit status 1".into()));
        let failed = verdict(&retry, 2, &f, now, 1.0);
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(failed.reason.as_deref(), Some("exit status 1"));
        assert_eq!(failed.retry_at, Some(now + Duration::from_secs(2)));
        let dead = verdict(&retry, f.max_attempts, &f, now, 1.0);
        assert_eq!(dead.status, RunStatus::Dead);
        assert_eq!(
            dead.reason.as_deref(),
            Some("exit status 1; gave up after 5 attempts")
        );
        let permanent = Err(AttemptError::Permanent("cannot start x".into()));
        let dead = verdict(&permanent, 1, &f, now, 1.0);
        assert_eq!(
            (dead.status, dead.reason.as_deref(), dead.retry_at),
            (RunStatus::Dead, Some("cannot start x"), None)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let f = function();
        assert_eq!(retry_delay(&f, 1, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(&f, 3, 1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(&f, 30, 1.0), Duration::from_secs(10));
        assert_eq!(retry_delay(&f, 3, 0.5), Duration::from_secs(2));
        let j = jitter();
        assert!((0.5..=1.0).contains(&j));
    }

    #[test]
    fn input_follows_the_dispatch_contract() {
        let e = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
        let secrets = std::collections::BTreeMap::from([("password".to_owned(), "pw".to_owned())]);
        let input = function_input(&e.to_cloudevent(), "run-1", &secrets);
        assert_eq!(input["context"]["run_id"], "run-1");
        assert_eq!(input["context"]["secrets"]["password"], "pw");
        assert_eq!(input["context"]["event"]["type"], "vm.created");
        assert!(input["payload"]["metadata"].is_object());
        assert_eq!(input["payload"], e.dispatch_payload());
    }

    #[test]
    fn subscriptions_match_veba_and_class_names_too() {
        let mut e = Event::new(
            Source::VcenterEvents,
            "vc1",
            EventType::parse("vm.powered.on").unwrap(),
        );
        e.metadata
            .insert("vcenter_event_class".into(), "VmPoweredOnEvent".into());
        for pattern in [
            "vm.powered.on",
            "com.vmware.vsphere.VmPoweredOnEvent.v0",
            "com.vmware.vsphere.Vm*",
            "VmPoweredOnEvent",
        ] {
            assert!(subscription_matches(&sub(pattern), &e), "{pattern}");
        }
        for pattern in [
            "com.vmware.vsphere.VmPoweredOffEvent.v0",
            "com.vmware.vsphere.vmpoweredonevent.v0",
            "vm.powered.off",
        ] {
            assert!(!subscription_matches(&sub(pattern), &e), "{pattern}");
        }
        // Hook alarms are AlarmStatusChangedEvents to VEBA subscribers.
        let mut alarm = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
        alarm.alarm = Some(Alarm::default());
        assert!(subscription_matches(
            &sub("com.vmware.vsphere.AlarmStatusChangedEvent.v0"),
            &alarm
        ));
        // The subscription's format wins over the function's.
        let mut registry = Registry {
            functions: vec![function()],
            subscriptions: vec![sub("*")],
        };
        let f = function();
        assert_eq!(
            event_format(&registry, &f, "s"),
            crate::cloudevents::EventFormat::Vcgate
        );
        registry.subscriptions[0].event_format = Some(crate::cloudevents::EventFormat::Veba);
        assert_eq!(
            event_format(&registry, &f, "s"),
            crate::cloudevents::EventFormat::Veba
        );
        assert_eq!(
            event_format(&registry, &f, "gone"),
            crate::cloudevents::EventFormat::Vcgate
        );
    }
}
