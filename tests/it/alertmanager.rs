//! Monitoring against a real Alertmanager (Debian `prometheus-alertmanager`,
//! started here on loopback with a short `resolve_timeout` and a webhook
//! receiver served by the test) and real amtool against vcgate's silences.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::peers::alertmanager::RESOLVE_TIMEOUT_SECS;
use crate::support::{
    Alertmanager, TestApp, TestConfig, WebhookReceiver, alarm_body, alarm_trap, require_tool,
};

/// What Alertmanager notified: (status, fingerprint, alertname) per alert.
fn notified(receiver: &WebhookReceiver) -> Vec<(String, String, String)> {
    receiver
        .bodies()
        .iter()
        .flat_map(|body| body["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (
                text(&a["status"]),
                text(&a["fingerprint"]),
                text(&a["labels"]["alertname"]),
            )
        })
        .collect()
}

/// Whether Alertmanager notified `status` for the alert `fingerprint`.
fn has(receiver: &WebhookReceiver, status: &str, fingerprint: &str) -> bool {
    notified(receiver)
        .iter()
        .any(|(s, f, _)| s == status && f == fingerprint)
}

fn am_config(am_url: &str, extra: &str) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[monitoring.webhook]]\nname = \"am\"\nurls = [\"{am_url}/api/v2/alerts\"]\nformat = \"alertmanager\"\nresend_interval = \"2s\"\ntimeout = \"2s\"\n\n{extra}"
        ),
        ..TestConfig::default()
    }
}

fn host_alarm(delivery: &str, alarm: &str, host: &str, status: &str) -> Value {
    let mut body = alarm_body(delivery, alarm, host, status);
    body["env"]["VMWARE_ALARM_TARGET_ID"] = "host-77".into();
    body
}

/// Polls for `window`, failing as soon as `alertname` is not active in `am`.
async fn stays_active(am: &Alertmanager, alertname: &str, window: Duration) -> String {
    let until = Instant::now() + window;
    let mut fingerprint = String::new();
    while Instant::now() < until {
        let active = am.active_named(alertname).await;
        assert_eq!(
            active.len(),
            1,
            "exactly one active {alertname}: {active:?}"
        );
        let fp = active[0]["fingerprint"].as_str().unwrap().to_owned();
        if fingerprint.is_empty() {
            fingerprint = fp;
        } else {
            assert_eq!(fp, fingerprint, "the same alert throughout");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fingerprint
}

async fn wait_active(app: &TestApp, am: &Alertmanager, alertname: &str) -> Value {
    app.wait_for(
        &format!("{alertname} active in Alertmanager"),
        Duration::from_secs(20),
        || async { am.active_named(alertname).await.into_iter().next() },
    )
    .await
}

#[tokio::test]
async fn a_red_alarm_stays_firing_past_resolve_timeout_and_its_green_resolves_that_same_alert() {
    let receiver = WebhookReceiver::start("/notify").await;
    let am = Alertmanager::start(&receiver.url).await;
    let app = TestApp::spawn_config(am_config(&am.url(), "")).await;
    let alarm = "alarm.HostConnectionStateAlarm";

    // Yellow by trap, red by the hook (with morefs): one alert.
    alarm_trap(&app, 2, "Yellow", alarm, "esx-am-01");
    let first = wait_active(&app, &am, alarm).await;
    assert_eq!(first["labels"]["entity"], "esx-am-01");
    assert_eq!(first["labels"]["vcenter"], "vc1");
    assert_eq!(first["labels"]["entity_type"], "HostSystem");
    assert!(first["labels"].get("severity").is_none(), "{first}");
    assert!(first["labels"].get("source").is_none(), "{first}");
    assert_eq!(first["annotations"]["severity"], "warning");
    let r = app
        .post_json(
            "/api/v1/alarms",
            &host_alarm("am-red", alarm, "esx-am-01", "Red"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.wait_for("severity critical", Duration::from_secs(15), || async {
        let a = am.active_named(alarm).await;
        (a.len() == 1 && a[0]["annotations"]["severity"] == "critical").then_some(())
    })
    .await;
    assert!(
        first["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/api/v1/events/", app.base_url)),
        "{first}"
    );

    // Well past resolve_timeout (2 s) it is still the one active alert.
    let fingerprint = stays_active(&am, alarm, Duration::from_secs(RESOLVE_TIMEOUT_SECS * 4)).await;
    assert_eq!(fingerprint, first["fingerprint"].as_str().unwrap());
    assert!(
        !has(&receiver, "resolved", &fingerprint),
        "resolved on its own"
    );
    let table = app.get_json("/api/v1/alerts").await;
    assert_eq!(table["alerts"].as_array().unwrap().len(), 1, "{table}");
    assert_eq!(
        table["alerts"][0]["identity"]["entity_moref"], "host-77",
        "moref learnt"
    );

    // Green by trap (no moref) resolves that very alert.
    alarm_trap(&app, 2, "Green", alarm, "esx-am-01");
    app.wait_for("resolved notification", Duration::from_secs(20), || async {
        has(&receiver, "resolved", &fingerprint).then_some(())
    })
    .await;
    assert!(has(&receiver, "firing", &fingerprint));
    assert!(am.active_named(alarm).await.is_empty());
    let statuses: Vec<String> = notified(&receiver).into_iter().map(|(_, f, _)| f).collect();
    assert!(
        statuses.iter().all(|f| *f == fingerprint),
        "one alert only: {statuses:?}"
    );
    let metrics = app
        .read("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vcgate_forwards_total{target=\"am\",outcome=\"sent\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vcgate_receipt_to_forward_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("vcgate_build_info{"), "{metrics}");
    assert!(!metrics.contains("vcgate_pipeline_total"), "{metrics}");
}

#[tokio::test]
async fn alerts_survive_a_vcgate_restart_and_an_alertmanager_restart() {
    let receiver = WebhookReceiver::start("/notify").await;
    let mut am = Alertmanager::start(&receiver.url).await;
    let mut app = TestApp::spawn_config(am_config(&am.url(), "")).await;
    let alarm = "alarm.DatastoreDiskUsageAlarm";
    let r = app
        .post_json(
            "/api/v1/alarms",
            &host_alarm("restart-red", alarm, "esx-restart", "Red"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first = wait_active(&app, &am, alarm).await;

    // vcgate dies mid-alert and comes back: the alert never ends.
    app.kill9();
    app.restart().await;
    let fp = stays_active(&am, alarm, Duration::from_secs(10)).await;
    assert_eq!(fp, first["fingerprint"].as_str().unwrap());

    // Alertmanager is gone for a while and comes back empty: it gets the active set again.
    am.stop();
    let failed_before = app.pipeline_counter("forward.am.failed").await;
    app.wait_for(
        "vcgate to find Alertmanager down",
        Duration::from_secs(15),
        || async {
            (app.pipeline_counter("forward.am.failed").await > failed_before).then_some(())
        },
    )
    .await;
    am.run().await;
    assert!(
        am.active_named(alarm).await.is_empty(),
        "a fresh Alertmanager knows nothing"
    );
    let again = wait_active(&app, &am, alarm).await;
    assert_eq!(again["fingerprint"], first["fingerprint"]);
}

/// An amtool HTTP config that sends `token` as a bearer token.
fn amtool(app: &TestApp, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let http = dir.join("http.yml");
    std::fs::write(
        &http,
        format!("authorization:\n  credentials: {}\n", app.admin_token),
    )
    .unwrap();
    Command::new(require_tool("amtool", "prometheus-alertmanager"))
        .arg(format!("--alertmanager.url={}", app.base_url))
        .arg(format!("--http.config.file={}", http.display()))
        .args(args)
        .output()
        .expect("running amtool")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "amtool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn amtool_adds_queries_and_expires_silences_that_hold_exactly_their_alarms() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let regex_id = ok(&amtool(
        &app,
        dir.path(),
        &[
            "silence",
            "add",
            r"alertname=~alarm\.Datastore.*",
            "--comment=storage work",
            "--author=ops",
            "--duration=1h",
        ],
    ));
    let negative_id = ok(&amtool(
        &app,
        dir.path(),
        &[
            "silence",
            "add",
            "alertname=alarm.HostConnectionStateAlarm",
            "entity!=esx-keep",
            "--comment=hosts but one",
        ],
    ));
    assert_ne!(regex_id, negative_id);
    let listed: Value = serde_json::from_str(&ok(&amtool(
        &app,
        dir.path(),
        &["silence", "query", "-o", "json"],
    )))
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let negative = listed
        .iter()
        .find(|s| s["id"] == negative_id.as_str())
        .unwrap();
    let entity = negative["matchers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "entity")
        .unwrap();
    assert_eq!(entity["isEqual"], false);
    assert_eq!(entity["isRegex"], false);
    assert_eq!(negative["status"]["state"], "active");
    assert!(negative["updatedAt"].is_string());
    let regex = listed
        .iter()
        .find(|s| s["id"] == regex_id.as_str())
        .unwrap();
    assert_eq!(regex["matchers"][0]["isRegex"], true);
    assert_eq!(regex["createdBy"], "ops");
    // The filter is applied server-side, as Alertmanager does.
    let filtered: Value = serde_json::from_str(&ok(&amtool(
        &app,
        dir.path(),
        &["silence", "query", "-o", "json", "entity!=esx-keep"],
    )))
    .unwrap();
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");

    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 95%",
        "ds-held",
    );
    alarm_trap(&app, 2, "Red", "alarm.HostConnectionStateAlarm", "esx-held");
    alarm_trap(&app, 2, "Red", "alarm.HostConnectionStateAlarm", "esx-keep");
    alarm_trap(&app, 2, "Red", "alarm.HostCPUUsageAlarm", "esx-other-alarm");
    let held_by = |e: &Value| e["disposition"]["held_by"].as_str().map(str::to_owned);
    assert_eq!(
        held_by(&app.processed("ds-held").await),
        Some(format!("silence:{regex_id}"))
    );
    assert_eq!(
        held_by(&app.processed("esx-held").await),
        Some(format!("silence:{negative_id}"))
    );
    assert_eq!(
        held_by(&app.processed("esx-keep").await),
        None,
        "the negative matcher spares it"
    );
    assert_eq!(held_by(&app.processed("esx-other-alarm").await), None);
    assert_eq!(app.pipeline_counter("held.silence").await, 2);
    assert!(
        !app.status().await["pipeline"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains(&regex_id))
    );

    ok(&amtool(&app, dir.path(), &["silence", "expire", &regex_id]));
    let active = ok(&amtool(&app, dir.path(), &["silence", "query", "-q"]));
    assert_eq!(active, negative_id, "only the unexpired silence is listed");
    let expired = ok(&amtool(
        &app,
        dir.path(),
        &["silence", "query", "--expired", "-q"],
    ));
    assert_eq!(expired, regex_id);
    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 97%",
        "ds-after-expiry",
    );
    assert_eq!(held_by(&app.processed("ds-after-expiry").await), None);

    // The v1 alias still lists every silence in its old shape.
    let v1 = app.get_json("/api/v1/silences").await;
    assert_eq!(v1["silences"].as_array().unwrap().len(), 2);
    // A matcher vcgate cannot evaluate is refused, naming the field.
    let bad = app
        .admin(reqwest::Method::POST, "/api/v2/silences")
            .json(&json!({"matchers": [{"name": "colour", "value": "x", "isRegex": false}],
            "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-01-02T00:00:00Z", "createdBy": "t", "comment": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("matchers[0]: name is not one of")
    );
}

#[tokio::test]
async fn long_silence_patterns_and_a_200kb_entity_name_do_not_stall_the_pipeline() {
    let app = TestApp::spawn_config(TestConfig {
        http: "max_body = \"1MiB\"".into(),
        ..TestConfig::default()
    })
    .await;
    let long_regex = format!("(a|b|c)*{}(x|y)+.*z", "[a-z]?".repeat(150));
    let long_glob = format!("*{}", "a*".repeat(200));
    for (path, matcher) in [
        (
            "/api/v2/silences",
            json!({"name": "entity", "value": long_regex, "isRegex": true}),
        ),
        (
            "/api/v1/silences",
            json!({"name": "entity", "value": long_glob}),
        ),
    ] {
        let r = app
            .admin(reqwest::Method::POST, path)
            .json(&json!({"matchers": [matcher], "endsAt": "2099-01-01T00:00:00Z", "startsAt": "2020-01-01T00:00:00Z", "createdBy": "t", "comment": "t"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    }
    // Over the limits: refused, naming the limit.
    let r = app
        .admin(reqwest::Method::POST, "/api/v2/silences")
            .json(&json!({"matchers": [{"name": "entity", "value": "a{1000}{1000}", "isRegex": true}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z", "createdBy": "t", "comment": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("regex_size_limit"));

    let huge = "a".repeat(200 * 1024);
    let started = Instant::now();
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("huge", "alarm.X", &huge, "Red"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("small", "alarm.X", "after-the-huge-one", "Red"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.processed("after-the-huge-one").await;
    app.wait_processed().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
