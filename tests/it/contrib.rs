//! `contrib/`: the Prometheus rules and the Grafana dashboard.
//!
//! The rules pass `promtool check rules` and their unit tests
//! (`promtool test rules`), every alert has a case that fires and one that
//! does not, annotations and a runbook section in docs/operations.md. The
//! dashboard is an importable Grafana model whose queries parse (promtool).
//! And the metric names both use exist: a real gateway with a vCenter
//! simulator, an NMS (snmptrapd) and a function gets traffic on every path,
//! then its `/metrics` is scraped and compared with the names in the rules,
//! the dashboard and the metric reference. And a delivery the NMS refuses
//! is given up, counted (`vcgate_forwards_given_up_total`) and logged.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use vcgate::vsphere::Client;

use crate::support::peers::vcsim::{client_config, host_named};
use crate::support::{
    Snmptrapd, TestApp, TestConfig, Vcsim, alarm_body, closed_port, require_tool,
};

const RULES: &str = "contrib/prometheus/vcgate.rules.yml";
const RULE_TESTS: &str = "contrib/prometheus/vcgate.rules.test.yml";
const DASHBOARD: &str = "contrib/grafana/vcgate.json";
const OPERATIONS: &str = "docs/operations.md";

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new(require_tool("promtool", "prometheus"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Every identifier `vcgate_<letter>…` in `text` (PromQL, YAML, JSON or
/// Markdown): metric names. Recording rules (`instance:vcgate_…:p99_rate5m`)
/// are one token with colons, and package file names (`vcgate_0.1.0-1`)
/// have a digit, so neither is taken for a metric.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| {
            t.strip_prefix("vcgate_")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
        })
        .map(str::to_owned)
        .collect()
}

/// The alerts of the rules file with their rule text (up to the next rule).
fn alerts(rules: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert: ") {
            out.push((name.trim().to_owned(), String::new()));
        } else if trimmed.starts_with("- record: ") || trimmed.starts_with("- name: ") {
            out.push((String::new(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus");
    let checked = promtool(&["check", "rules", "vcgate.rules.yml"], &dir);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "vcgate.rules.test.yml"], &dir);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_alert_is_tested_both_ways_annotated_and_has_a_runbook() {
    let rules = repo_file(RULES);
    let tests = repo_file(RULE_TESTS);
    let docs = repo_file(OPERATIONS);
    let alerts = alerts(&rules);
    assert!(alerts.len() >= 15, "alerts found: {alerts:?}");
    // (alert, fires?) for every case of the unit tests.
    let mut cases = BTreeSet::new();
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(name) = line.strip_prefix("alertname: ") {
            let expected = lines[i + 1..]
                .iter()
                .find(|l| l.starts_with("exp_alerts:"))
                .unwrap_or_else(|| panic!("no exp_alerts after alertname {name}"));
            cases.insert((name.to_owned(), *expected != "exp_alerts: []"));
        }
    }
    for (name, body) in &alerts {
        for fires in [true, false] {
            assert!(
                cases.contains(&(name.clone(), fires)),
                "{RULE_TESTS} lacks a case where {name} {}",
                if fires { "fires" } else { "stays quiet" }
            );
        }
        for key in ["for: ", "summary: ", "description: "] {
            assert!(body.contains(key), "{name} lacks `{key}`");
        }
        assert!(
            body.contains("severity: critical") || body.contains("severity: warning"),
            "{name} needs severity critical or warning"
        );
        let anchor = name.to_lowercase();
        assert!(
            body.contains(&format!("runbook_url: docs/operations.md#{anchor}\n")),
            "{name}: runbook_url must be docs/operations.md#{anchor}"
        );
        assert!(
            docs.lines().any(|l| l == format!("### {name}")),
            "{OPERATIONS} lacks the runbook section `### {name}`"
        );
    }
}

/// Every value of a `datasource` key anywhere in the model.
fn datasources<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "datasource" {
                    out.push(v);
                }
                datasources(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| datasources(v, out)),
        _ => {}
    }
}

/// Every panel query (`targets[].expr`).
fn exprs(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("a target without expr")
                .to_owned()
        })
        .collect()
}

#[test]
fn dashboard_is_an_importable_model_whose_queries_parse() {
    let dashboard: Value = serde_json::from_str(&repo_file(DASHBOARD)).expect("dashboard JSON");
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
    assert!(dashboard["id"].is_null(), "an exported model has id null");
    let mut refs = Vec::new();
    datasources(&dashboard, &mut refs);
    assert!(refs.len() > 30);
    for ds in refs {
        let builtin = ds == &json!({"type": "grafana", "uid": "-- Grafana --"});
        assert!(
            builtin || ds == &json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"}),
            "a datasource that is not the ${{DS_PROMETHEUS}} input: {ds}"
        );
    }
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids must be unique");
    // No two panels overlap on the 24-column grid.
    let mut cells = BTreeSet::new();
    for p in panels {
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().expect("gridPos"));
        assert!(x + w <= 24, "panel {} is wider than the grid", p["title"]);
        for cell in (y..y + h).flat_map(|r| (x..x + w).map(move |c| (r, c))) {
            assert!(cells.insert(cell), "panel {} overlaps another", p["title"]);
        }
    }
    // Each query parses: promtool checks them as recording rules, with the
    // dashboard's variables replaced the way Grafana would.
    let exprs = exprs(&dashboard);
    assert!(exprs.len() > 30, "{} queries", exprs.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$job", ".*")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dashboard.rules.yml"), rules).unwrap();
    let checked = promtool(&["check", "rules", "dashboard.rules.yml"], dir.path());
    assert!(
        checked.contains(&format!("{} rules found", exprs.len())),
        "{checked}"
    );
}

/// Metric names in a Prometheus text exposition: every sample's name and
/// every `# TYPE` family (a histogram `x` has samples `x_bucket`, …).
fn exported(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ") {
            names.insert(family.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

fn snmptrap(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    crate::support::builders::send_trap(&args);
}

/// A vpxdAlarmInfo-style v2c trap about `target` (VMWARE-VC-EVENT-MIB).
fn alarm_trap(app: &TestApp, community: &str, target: &str) {
    const VC: &str = "1.3.6.1.4.1.6876.4.3";
    let (kind, old, new, obj, name) = (
        format!("{VC}.308.0"),
        format!("{VC}.304.0"),
        format!("{VC}.305.0"),
        format!("{VC}.306.0"),
        format!("{VC}.307.0"),
    );
    let summary = format!("alarm.HostConnectionStateAlarm - {target} not responding");
    snmptrap(&[
        "-v",
        "2c",
        "-c",
        community,
        &app.snmp_target(),
        "",
        &format!("{VC}.0.203"),
        &kind,
        "i",
        "3",
        &old,
        "s",
        "Green",
        &new,
        "s",
        "Red",
        &obj,
        "s",
        &summary,
        &name,
        "s",
        target,
    ]);
}

async fn gateway_with_traffic(sim: &Vcsim, trapd: &Snmptrapd) -> TestApp {
    let closed = closed_port();
    let unreachable = &closed.url;
    let app = TestApp::spawn_config(TestConfig {
        http: "header_read_timeout = \"2s\"\n".into(),
        extra: format!(
            r#"[[vcenter]]
name = "vc1"
url = "{url}"
username = "vcgate-it"
password = "any-password"
timeout = "3s"
events = true
events_poll = "200ms"

[[vcenter]]
name = "vc-unreachable"
url = "{unreachable}/sdk"
username = "u"
password = "p"
timeout = "1s"

[guard]
interval = "1s"
disable_on_enter = true

[[route]]
alarm = "VM created*"
to = "automation"

[[function]]
name = "noop"
kind = "command"
command = ["/bin/sh", "-c", "cat >/dev/null"]

[[subscription]]
name = "on-vm-created"
event_type = "alarm.status.changed"
alarm = "VM created*"
function = "noop"

[[monitoring.snmp]]
name = "nms"
target = "{nms}"
version = "2c"
community = "public"

[[monitoring.webhook]]
name = "am"
urls = ["{unreachable}/api/v2/alerts"]
format = "alertmanager"
timeout = "1s"
"#,
            url = sim.url,
            nms = trapd.target(),
        ),
        ..TestConfig::default()
    })
    .await;

    // Hook: an alarm for automation, then its redelivery (a duplicate) and
    // one with a wrong token (rejected, an auth failure).
    let alarm = alarm_body(
        &uuid::Uuid::now_v7().to_string(),
        "VM created",
        "web01",
        "Red",
    );
    for _ in 0..2 {
        let r = app
            .post_json("/api/v1/alarms", &alarm)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "hook: {}", r.status());
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/alarms", app.base_url))
        .bearer_auth("not-a-token")
        .json(&alarm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // SNMP: a host alarm for monitoring (forwarded to snmptrapd), and one
    // with a wrong community.
    alarm_trap(&app, "public", "esx-metrics-01");
    alarm_trap(&app, "wrong-community", "esx-metrics-02");
    // HTTP: a connection that never sends a request is closed by a limit.
    let idle = tokio::net::TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .unwrap();
    // vCenter: a host entering maintenance (a guard action, an event in the stream).
    let admin =
        Client::new(client_config(&sim.url, "admin", "any-password")).expect("admin client");
    let host = host_named(&admin, "DC0_C0_H0").await;
    admin
        .enter_maintenance_mode(&host.moref, Duration::from_secs(30))
        .await
        .expect("enter maintenance");

    app.wait_for("traffic on every path", Duration::from_secs(30), || async {
        let s = app.status().await;
        let p = &s["pipeline"];
        let done = trapd.contents().contains("esx-metrics-01")
            && p["runs.noop.succeeded"].as_u64() >= Some(1)
            && p["forward.am.failed"].as_u64() >= Some(1)
            && s["sources"]["snmp"]["rejected"]["bad_community"].as_u64() >= Some(1)
            && s["http"]["closed"]["header_timeout"].as_u64() >= Some(1)
            && s["event_streams"]["vc1"]["polls"].as_u64() >= Some(1);
        let guard = app.get_json("/api/v1/guard").await;
        let acted = guard["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["outcome"] == "done"));
        let failing = guard["vcenters"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["status"] == "stale"));
        (done && acted && failing).then_some(())
    })
    .await;
    drop(idle);
    app
}

#[tokio::test]
async fn rules_dashboard_and_docs_name_only_metrics_the_gateway_exports() {
    let sim = Vcsim::start();
    let trapd = Snmptrapd::start();
    let app = gateway_with_traffic(&sim, &trapd).await;
    let scrape = app
        .read("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exported(&scrape);

    let rules = repo_file(RULES);
    let dashboard = repo_file(DASHBOARD);
    let docs = repo_file(OPERATIONS);
    for (file, text) in [
        (RULES, &rules),
        (DASHBOARD, &dashboard),
        (OPERATIONS, &docs),
    ] {
        let missing: Vec<_> = metric_names(text).difference(&exported).cloned().collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics the gateway does not export: {missing:?}\nscrape:\n{scrape}"
        );
    }
    // The rules and the dashboard cover the alert path, the latency
    // histograms and the new gauges.
    let used: BTreeSet<String> = metric_names(&rules)
        .union(&metric_names(&dashboard))
        .cloned()
        .collect();
    for name in [
        "vcgate_store_writable",
        "vcgate_guard_status",
        "vcgate_snmp_kernel_rcvbuf_errors_total",
        "vcgate_forwards_given_up_total",
        "vcgate_receipt_to_commit_seconds_bucket",
        "vcgate_receipt_to_forward_seconds_bucket",
        "vcgate_receipt_to_run_start_seconds_bucket",
    ] {
        assert!(
            used.contains(name),
            "neither rules nor dashboard use {name}"
        );
    }
    // The metric reference lists every family the gateway exports.
    let families: BTreeSet<String> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let documented = metric_names(&docs);
    let undocumented: Vec<_> = families.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "{OPERATIONS} does not document {undocumented:?}"
    );
    // Each family explains itself.
    for family in &families {
        assert!(
            scrape.contains(&format!("# HELP {family} ")),
            "/metrics has no # HELP for {family}"
        );
    }
    // The dashboard shows every family too.
    let shown = metric_names(&dashboard);
    let unshown: Vec<_> = families
        .iter()
        .filter(|f| {
            !shown
                .iter()
                .any(|n| n == *f || n.strip_suffix("_bucket") == Some(f.as_str()))
        })
        .collect();
    assert!(unshown.is_empty(), "{DASHBOARD} does not show {unshown:?}");
    // Values that say the gateway is healthy and measured what happened.
    let sample = |name: &str| -> f64 {
        sample(&scrape, name).unwrap_or_else(|| panic!("no sample {name} in:\n{scrape}"))
    };
    assert_eq!(sample("vcgate_store_writable "), 1.0);
    assert_eq!(
        sample("vcgate_guard_status{vcenter=\"vc1\",status=\"ok\"}"),
        1.0
    );
    assert_eq!(
        sample("vcgate_guard_status{vcenter=\"vc-unreachable\",status=\"stale\"}"),
        1.0
    );
    assert_eq!(
        sample("vcgate_runs_total{function=\"noop\",status=\"dead\"}"),
        0.0
    );
    assert!(sample("vcgate_duplicate_deliveries_total{source=\"alarm-hook\"}") >= 1.0);
    assert!(sample("vcgate_http_connections_max ") >= 1.0);
}

/// A sample value of the scrape (the line that starts with `series`).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_refused_delivery_is_given_up_counted_and_logged() {
    // The NMS refuses everything with 400: a permanent error, no retry.
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::BAD_REQUEST }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let app = TestApp::spawn_with(&format!(
        "[[monitoring.webhook]]\nname = \"nms\"\nurl = \"{url}\"\nformat = \"cloudevents\"\ntimeout = \"2s\"\n"
    ))
    .await;
    let scrape = || async {
        app.read("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let series = "vcgate_forwards_given_up_total{target=\"nms\"}";
    assert_eq!(
        sample(&scrape().await, series),
        Some(0.0),
        "declared at zero"
    );
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("given-up-1", "Host connection lost", "esx01", "Red"),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    app.wait_for("the delivery given up", Duration::from_secs(20), || async {
        (sample(&scrape().await, series) == Some(1.0)).then_some(())
    })
    .await;
    let text = scrape().await;
    assert_eq!(
        sample(
            &text,
            "vcgate_forwards_total{target=\"nms\",outcome=\"failed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(app.pipeline_counter("forward.nms.given_up").await, 1);
    let log = app.log();
    let line = log
        .lines()
        .find(|l| l.contains("forward given up"))
        .unwrap_or_else(|| panic!("no `forward given up` line:\n{log}"));
    assert!(
        line.contains("ERROR") && line.contains("target=\"nms\"") && line.contains("HTTP 400"),
        "{line}"
    );
}
