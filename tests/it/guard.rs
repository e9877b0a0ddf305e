//! The alarm-action guard end to end: the real `vcgate serve` binary against
//! the vCenter simulator (a real SOAP peer with maintenance mode and an
//! AlarmManager), driven the way an admin would (enter/exit maintenance,
//! flip alarm actions by hand) through the same SOAP API.
//!
//! Each test starts its own simulator and gateway, so they run in parallel.
//! Intervals are short (1 s) except where a test must prove that an event,
//! not the interval, caused the action (1 h).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vcgate::vsphere::{Client, ManagedObjectRef};

use crate::support::peers::vcsim::client_config;
use crate::support::{READ_TOKEN, TestApp, TestConfig, Vcsim, vcgate_cli};

const TASK_WAIT: Duration = Duration::from_secs(30);

struct Setup {
    sim: Vcsim,
    app: TestApp,
    /// The "admin": a separate session on the simulator.
    admin: Client,
}

/// Simulator + gateway with `[guard]` set to `guard` (TOML lines). The exit
/// event is suppressed (and the event stream is off anyway), so nothing but
/// the guard's own reading re-enables hosts.
async fn setup(guard: &str) -> Setup {
    setup_with(guard, "events = false", true).await
}

/// Like [`setup`], with extra `[[vcenter]]` lines and a choice about the
/// simulator's ExitMaintenanceModeEvent.
async fn setup_with(guard: &str, vcenter: &str, suppress_exit: bool) -> Setup {
    let sim = Vcsim::start();
    sim.control_post(&format!(
        "/vcsim/maintenance/exit-events?suppress={suppress_exit}"
    ))
    .await;
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"vcgate-it\"\npassword = \"any-password\"\ntimeout = \"3s\"\n{vcenter}\n\n[guard]\n{guard}\n",
            sim.url
        ),
        ..TestConfig::default()
    })
    .await;
    let admin =
        Client::new(client_config(&sim.url, "admin", "any-password")).expect("admin client");
    let s = Setup { sim, app, admin };
    s.wait_reconciles(1).await;
    s
}

impl Setup {
    async fn host(&self, name: &str) -> ManagedObjectRef {
        crate::support::peers::vcsim::host_named(&self.admin, name)
            .await
            .moref
    }

    async fn actions_enabled(&self, name: &str) -> bool {
        let moref = self.host(name).await;
        self.admin
            .are_alarm_actions_enabled(&moref)
            .await
            .expect("AreAlarmActionsEnabled")
    }

    async fn set_actions(&self, name: &str, enabled: bool) {
        let moref = self.host(name).await;
        self.admin
            .enable_alarm_actions(&moref, enabled)
            .await
            .expect("EnableAlarmActions");
    }

    async fn enter(&self, name: &str) {
        let moref = self.host(name).await;
        self.admin
            .enter_maintenance_mode(&moref, TASK_WAIT)
            .await
            .expect("enter maintenance");
    }

    async fn exit(&self, name: &str) {
        let moref = self.host(name).await;
        self.admin
            .exit_maintenance_mode(&moref, TASK_WAIT)
            .await
            .expect("exit maintenance");
    }

    /// Waits until the host's alarm actions are `enabled`; returns how long it took.
    async fn wait_actions(&self, name: &str, enabled: bool, timeout: Duration) -> Duration {
        let started = Instant::now();
        self.app
            .wait_for(
                &format!("{name} alarm actions enabled={enabled}"),
                timeout,
                || async { (self.actions_enabled(name).await == enabled).then_some(()) },
            )
            .await;
        started.elapsed()
    }

    async fn guard(&self) -> Value {
        self.app.get_json("/api/v1/guard").await
    }

    async fn reconciles(&self) -> u64 {
        self.guard().await["vcenters"][0]["reconciles"]
            .as_u64()
            .unwrap_or(0)
    }

    async fn wait_reconciles(&self, at_least: u64) {
        self.app
            .wait_for(
                &format!("{at_least} guard reconciles"),
                Duration::from_secs(20),
                || async { (self.reconciles().await >= at_least).then_some(()) },
            )
            .await;
    }

    /// Asserts that only an event can make the guard act now: `reconciles`
    /// so far, and the next one scheduled an interval (1 h) after the last.
    async fn assert_only_an_event_can_wake_it(&self, reconciles: u64) {
        let g = self.guard().await;
        let vc = &g["vcenters"][0];
        assert_eq!(vc["reconciles"], reconciles, "woken without an event: {g}");
        let scheduled_in = time_of(&vc["next_attempt"]) - time_of(&vc["last_reconcile"]);
        assert!(scheduled_in >= time::Duration::minutes(59), "{g}");
    }

    /// Lets `n` more complete reconciles happen.
    async fn let_reconcile(&self, n: u64) {
        let now = self.reconciles().await;
        self.wait_reconciles(now + n).await;
    }

    async fn wait_status(&self, status: &str) -> Value {
        self.app
            .wait_for(
                &format!("guard status {status}"),
                Duration::from_secs(20),
                || async {
                    let g = self.guard().await;
                    (g["vcenters"][0]["status"] == status).then_some(g)
                },
            )
            .await
    }

    /// Emits a CloudEvent about `host` through the API (any source counts).
    async fn emit(&self, event_type: &str, host: &str) {
        let moref = self.host(host).await;
        let r = self
            .app
            .post_json(
                "/api/v1/events",
                &json!({
                    "specversion": "1.0",
                    "id": uuid::Uuid::now_v7().to_string(),
                    "source": "guard-test",
                    "type": event_type,
                    "data": {"entity": {"type": "HostSystem", "moref": moref.value, "name": host}},
                }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "emit {event_type}");
    }
}

/// An RFC 3339 time from the guard's answer.
fn time_of(v: &Value) -> OffsetDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn actions_for<'a>(guard: &'a Value, host: &str) -> Vec<&'a Value> {
    guard["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["host"] == host)
        .collect()
}

fn names(guard: &Value, list: &str) -> Vec<String> {
    guard[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn enter_disables_and_exit_without_event_reenables_within_one_interval() {
    let s = setup("interval = \"1s\"\ndisable_on_enter = true").await;
    assert!(s.actions_enabled("DC0_C0_H0").await);

    s.enter("DC0_C0_H0").await;
    s.wait_actions("DC0_C0_H0", false, Duration::from_secs(10))
        .await;
    let g = s
        .app
        .wait_for(
            "host guarded in the API",
            Duration::from_secs(5),
            || async {
                let g = s.guard().await;
                names(&g, "guarded")
                    .contains(&"DC0_C0_H0".to_owned())
                    .then_some(g)
            },
        )
        .await;
    assert_eq!(names(&g, "in_maintenance"), ["DC0_C0_H0"]);
    let disable = actions_for(&g, "DC0_C0_H0")[0];
    assert_eq!(disable["action"], "disable");
    assert_eq!(disable["outcome"], "done");
    assert!(
        disable["reason"].as_str().unwrap().contains("maintenance"),
        "{disable}"
    );
    let event = s.app.event(disable["event_id"].as_str().unwrap()).await;
    assert_eq!(event["type"], "guard.alarm.actions.disabled");
    assert_eq!(event["source"], "guard");
    assert_eq!(event["entity"]["name"], "DC0_C0_H0");

    // Exit with the exit event suppressed: only the interval can notice.
    s.exit("DC0_C0_H0").await;
    let took = s
        .wait_actions("DC0_C0_H0", true, Duration::from_secs(10))
        .await;
    assert!(
        took < Duration::from_secs(3),
        "re-enabled after {took:?}, interval is 1 s"
    );
    let g = s
        .app
        .wait_for("enable recorded", Duration::from_secs(5), || async {
            let g = s.guard().await;
            (actions_for(&g, "DC0_C0_H0").len() == 2).then_some(g)
        })
        .await;
    assert!(names(&g, "guarded").is_empty(), "{g}");
    assert!(names(&g, "in_maintenance").is_empty(), "{g}");
    let enable = actions_for(&g, "DC0_C0_H0")[0];
    assert_eq!(enable["action"], "enable");
    assert!(
        enable["reason"]
            .as_str()
            .unwrap()
            .contains("left maintenance"),
        "{enable}"
    );
    assert_eq!(g["vcenters"][0]["status"], "ok");
    assert!(g["vcenters"][0]["last_reconcile"].is_string());
    let enabled_events = s.app.events("type=guard.alarm.actions.enabled").await;
    assert_eq!(enabled_events.len(), 1);
    assert_eq!(enabled_events[0]["entity"]["moref"], enable["moref"]);

    // No flap: more reconciles, no more actions.
    s.let_reconcile(2).await;
    assert_eq!(actions_for(&s.guard().await, "DC0_C0_H0").len(), 2);

    // The CLI and the metrics show the same.
    let out = vcgate_cli(
        &["get", "guard", "--server", &s.app.base_url],
        &[("VCGATE_TOKEN", READ_TOKEN)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("RECENT ACTIONS"), "{stdout}");
    assert!(stdout.contains("DC0_C0_H0"), "{stdout}");
    assert!(stdout.contains("enable"), "{stdout}");
    let metrics = s
        .app
        .read("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vcgate_guard_actions_total{")
                && l.contains("action=\"enable\"")
                && l.contains("outcome=\"done\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn exit_event_reenables_at_once() {
    // An hour-long interval: only events can make the guard act in time.
    let s = setup("interval = \"1h\"\ndisable_on_enter = true").await;
    s.enter("DC0_C0_H1").await;
    s.assert_only_an_event_can_wake_it(1).await;
    assert!(
        s.actions_enabled("DC0_C0_H1").await,
        "acted without an event"
    );
    s.emit("entered.maintenance.mode", "DC0_C0_H1").await;
    s.wait_actions("DC0_C0_H1", false, Duration::from_secs(5))
        .await;
    s.wait_reconciles(2).await;

    s.exit("DC0_C0_H1").await;
    s.assert_only_an_event_can_wake_it(2).await;
    assert!(
        !s.actions_enabled("DC0_C0_H1").await,
        "re-enabled without an event"
    );
    let took = {
        let started = Instant::now();
        s.emit("exit.maintenance.mode", "DC0_C0_H1").await;
        s.wait_actions("DC0_C0_H1", true, Duration::from_secs(5))
            .await;
        started.elapsed()
    };
    assert!(took < Duration::from_secs(3), "took {took:?}");
    s.wait_reconciles(3).await;

    // The guard's own events (the disable and the enable) must not wake it.
    // Once the pipeline has handled them, a sentinel: a maintenance event
    // about a host that needs nothing. A wake from the guard's own events
    // is an in-process notification the reconciler takes at once, well
    // before this test's next round trip, so that reconcile would start
    // before the sentinel is sent; the first to start after is the
    // sentinel's, and it must be the fourth.
    s.app
        .wait_for(
            "the guard's own events through the pipeline",
            Duration::from_secs(10),
            || async {
                let own = s.app.events("source=guard").await;
                (own.len() == 2 && own.iter().all(|e| e["stage"] == "processed")).then_some(())
            },
        )
        .await;
    s.app.wait_processed().await;
    let sent = OffsetDateTime::now_utc();
    s.emit("exit.maintenance.mode", "DC0_C0_H0").await;
    let g = s
        .app
        .wait_for(
            "the sentinel's reconcile",
            Duration::from_secs(10),
            || async {
                let g = s.guard().await;
                (time_of(&g["vcenters"][0]["last_reconcile"]) >= sent).then_some(g)
            },
        )
        .await;
    assert_eq!(
        g["vcenters"][0]["reconciles"], 4,
        "startup + two event-driven reconciles + the sentinel's (the guard's own events must not wake it): {g}"
    );
}

#[tokio::test]
async fn vcenter_event_stream_maintenance_events_make_the_guard_act_at_once() {
    // The real path: the simulator posts Entered/ExitMaintenanceModeEvent,
    // the gateway's event stream turns them into events, the pipeline wakes
    // the guard. The interval (1 h) cannot be what acts.
    let s = setup_with(
        "interval = \"1h\"\ndisable_on_enter = true",
        "events = true\nevents_poll = \"200ms\"",
        false,
    )
    .await;
    s.enter("DC0_C0_H2").await;
    s.wait_actions("DC0_C0_H2", false, Duration::from_secs(10))
        .await;
    let started = Instant::now();
    s.exit("DC0_C0_H2").await;
    s.wait_actions("DC0_C0_H2", true, Duration::from_secs(10))
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let streamed = s.app.events("type=exit.maintenance.mode").await;
    assert!(
        streamed.iter().any(|e| e["source"] == "vcenter-events"),
        "{streamed:?}"
    );
}

#[tokio::test]
async fn manual_disable_outside_maintenance_is_left_alone_under_guarded() {
    let s = setup("interval = \"1s\"\ndisable_on_enter = true").await;
    s.set_actions("DC0_C0_H2", false).await;
    s.let_reconcile(3).await;
    assert!(!s.actions_enabled("DC0_C0_H2").await, "guard touched it");
    let g = s.guard().await;
    assert!(actions_for(&g, "DC0_C0_H2").is_empty(), "{g}");
    assert!(names(&g, "guarded").is_empty(), "{g}");
}

#[tokio::test]
async fn reenable_all_enables_manual_disables_but_not_excluded_hosts() {
    let s = setup(
        "interval = \"1s\"\ndisable_on_enter = true\nreenable = \"all\"\nexclude = [\"DC0_H*\"]",
    )
    .await;
    s.set_actions("DC0_C0_H2", false).await;
    s.set_actions("DC0_H0", false).await; // excluded (standalone host)
    s.wait_actions("DC0_C0_H2", true, Duration::from_secs(10))
        .await;
    let g = s
        .app
        .wait_for("enable recorded", Duration::from_secs(5), || async {
            let g = s.guard().await;
            (!actions_for(&g, "DC0_C0_H2").is_empty()).then_some(g)
        })
        .await;
    assert!(
        actions_for(&g, "DC0_C0_H2")[0]["reason"]
            .as_str()
            .unwrap()
            .contains("all"),
        "{g}"
    );
    // The excluded host: not re-enabled, and not disabled on entering maintenance.
    s.set_actions("DC0_H0", true).await;
    s.enter("DC0_H0").await;
    s.set_actions("DC0_H0", false).await;
    s.exit("DC0_H0").await;
    s.let_reconcile(3).await;
    assert!(!s.actions_enabled("DC0_H0").await, "excluded host touched");
    assert!(actions_for(&s.guard().await, "DC0_H0").is_empty());
}

#[tokio::test]
async fn restart_between_enter_and_exit_still_reenables() {
    let mut s = setup("interval = \"1s\"\ndisable_on_enter = true").await;
    s.enter("DC0_C0_H0").await;
    s.wait_actions("DC0_C0_H0", false, Duration::from_secs(10))
        .await;
    // Only what is committed survives: wait for the store to say so.
    s.app
        .wait_for(
            "host guarded in the store",
            Duration::from_secs(5),
            || async {
                names(&s.guard().await, "guarded")
                    .contains(&"DC0_C0_H0".to_owned())
                    .then_some(())
            },
        )
        .await;
    s.app.kill9();
    s.exit("DC0_C0_H0").await; // while the gateway is down, no exit event
    s.app.restart().await;
    s.wait_actions("DC0_C0_H0", true, Duration::from_secs(15))
        .await;
    let g = s
        .app
        .wait_for("enable recorded", Duration::from_secs(5), || async {
            let g = s.guard().await;
            (actions_for(&g, "DC0_C0_H0").len() == 2).then_some(g)
        })
        .await;
    assert_eq!(actions_for(&g, "DC0_C0_H0")[0]["action"], "enable");
    assert!(s.app.log().contains("guard resumes guarding"));
}

#[tokio::test]
async fn simulator_down_means_stale_and_no_action_then_reconciles_when_back() {
    let mut s = setup("interval = \"1s\"\ndisable_on_enter = true").await;
    s.sim.stop();
    let g = s.wait_status("stale").await;
    let vc = &g["vcenters"][0];
    assert!(
        vc["error"].as_str().unwrap().contains("cannot reach"),
        "{vc}"
    );
    assert!(vc["consecutive_failures"].as_u64().unwrap() >= 1);
    let reconciles = vc["reconciles"].as_u64().unwrap();
    let failures = vc["consecutive_failures"].as_u64().unwrap();
    // Blind, it keeps trying with backoff: another attempt, and no action.
    let g = s
        .app
        .wait_for(
            "another attempt while vCenter is down",
            Duration::from_secs(20),
            || async {
                let g = s.guard().await;
                let now = g["vcenters"][0]["consecutive_failures"].as_u64();
                (now > Some(failures)).then_some(g)
            },
        )
        .await;
    assert!(
        g["actions"].as_array().unwrap().is_empty(),
        "acted while blind: {g}"
    );
    assert_eq!(g["vcenters"][0]["reconciles"].as_u64().unwrap(), reconciles);
    let metrics = s
        .app
        .read("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vcgate_guard_reconcile_errors_total{")
                && l.contains("status=\"stale\"")),
        "{metrics}"
    );

    s.sim.restart();
    s.wait_status("ok").await;
    s.enter("DC0_C0_H1").await;
    s.wait_actions("DC0_C0_H1", false, Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn missing_privilege_is_reported_denied_and_retried() {
    let s = setup("interval = \"1s\"\ndisable_on_enter = true").await;
    s.sim
        .control_post("/vcsim/alarm-actions/deny?deny=true")
        .await;
    s.enter("DC0_C0_H0").await;
    let g = s.wait_status("denied").await;
    assert!(
        g["vcenters"][0]["error"]
            .as_str()
            .unwrap()
            .contains("Alarm.DisableActions"),
        "{g}"
    );
    let failed = actions_for(&g, "DC0_C0_H0")[0];
    assert_eq!(failed["outcome"], "failed");
    assert!(s.actions_enabled("DC0_C0_H0").await);
    assert!(
        names(&g, "guarded").is_empty(),
        "guarded without acting: {g}"
    );

    s.sim
        .control_post("/vcsim/alarm-actions/deny?deny=false")
        .await;
    s.wait_actions("DC0_C0_H0", false, Duration::from_secs(15))
        .await;
    s.wait_status("ok").await;
}

#[tokio::test]
async fn dry_run_only_logs_and_records_once() {
    let s = setup("interval = \"1s\"\ndisable_on_enter = true\ndry_run = true").await;
    s.enter("DC0_C0_H0").await;
    s.let_reconcile(3).await;
    assert!(
        s.actions_enabled("DC0_C0_H0").await,
        "dry run changed vCenter"
    );
    let g = s.guard().await;
    let actions = actions_for(&g, "DC0_C0_H0");
    assert_eq!(
        actions.len(),
        1,
        "one record per transition, not per interval: {g}"
    );
    assert_eq!(actions[0]["outcome"], "dry_run");
    assert_eq!(actions[0]["action"], "disable");
    assert!(names(&g, "guarded").is_empty(), "{g}");
    assert_eq!(g["settings"]["dry_run"], true);
    assert!(s.app.log().contains("guard dry run: would disable"));
    assert!(
        s.app
            .events("type=guard.alarm.actions.disabled")
            .await
            .is_empty()
    );
}
