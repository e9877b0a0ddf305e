//! The `vcgate` command line against a running server: every view in every
//! output format, event filters and paging, `--follow`, the token of each
//! scope, and YAML read back by a real YAML reader.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{READ_TOKEN, TestApp, alarm_body, vcgate_cli};

#[tokio::test]
async fn get_and_emit_talk_to_the_server() {
    let app = TestApp::spawn_with("").await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("cli-1", "VM created", "web01", "Red"),
        )
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_processed().await;

    // emit needs the ingest token: with the read token it is refused, naming why.
    let denied = vcgate_cli(
        &[
            "emit",
            "vm.created",
            "--data",
            "{}",
            "--server",
            &app.base_url,
        ],
        &[("VCGATE_TOKEN", READ_TOKEN)],
    );
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    let emitted = vcgate_cli(
        &[
            "emit",
            "vm.deployed",
            "--data",
            r#"{"message":"from cli"}"#,
            "--subject",
            "web09",
            "--server",
            &app.base_url,
        ],
        &[("VCGATE_TOKEN", &app.ingest_token)],
    );
    assert!(
        emitted.status.success(),
        "{}",
        String::from_utf8_lossy(&emitted.stderr)
    );
    assert!(String::from_utf8_lossy(&emitted.stdout).starts_with("accepted event "));

    let env = [
        ("VCGATE_TOKEN", READ_TOKEN),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let table = vcgate_cli(&["get", "events"], &env);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.contains(&id) && text.contains("web01") && text.contains("vm.deployed"),
        "{text}"
    );

    let json = vcgate_cli(&["get", "event", &id, "--json"], &env);
    let event: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(event["id"], id.as_str());

    let one = vcgate_cli(&["get", "event", &id], &env);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("VM created") && text.contains("monitoring"),
        "{text}"
    );

    let status = vcgate_cli(&["get", "status"], &env);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("alarm-hook") && text.contains("ACCEPTED"),
        "{text}"
    );
    let status_json: Value =
        serde_json::from_slice(&vcgate_cli(&["get", "status", "--json"], &env).stdout).unwrap();
    assert_eq!(status_json["sources"]["api"]["accepted"], 1);

    let no_token = vcgate_cli(&["get", "events", "--server", &app.base_url], &[]);
    assert!(!no_token.status.success());
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[http]\nlisten = \"127.0.0.1:1\"\nmax_bodyy = 5\n").unwrap();
    let out = vcgate_cli(&["check-config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_bodyy"));

    let public = dir.path().join("public.toml");
    std::fs::write(&public, "[http]\nlisten = \"0.0.0.0:8443\"\n").unwrap();
    let out = vcgate_cli(&["check-config", public.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.ingest_tokens"));

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/vcgate.example.toml");
    let out = vcgate_cli(&["check-config", example], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `VCGATE_*` variables a client command may read; each test sets its own.
const CLIENT_VARIABLES: [&str; 5] = [
    "VCGATE_TOKEN",
    "VCGATE_READ_TOKEN",
    "VCGATE_INGEST_TOKEN",
    "VCGATE_ADMIN_TOKEN",
    "VCGATE_SERVER",
];

/// The `vcgate` binary as a client command with exactly the `VCGATE_*`
/// variables given (none inherited from the test runner).
fn client(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vcgate"));
    cmd.args(args);
    for var in CLIENT_VARIABLES {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    client(args, env).output().expect("running vcgate")
}

/// stdout of a command that must succeed.
fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(args, env);
    assert!(
        out.status.success(),
        "vcgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// stderr of a command that must fail.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(args, env);
    assert!(!out.status.success(), "vcgate {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A YAML stream read by PyYAML (a real YAML 1.1 reader), as JSON values.
fn pyyaml(yaml: &str) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
        for d in yaml.safe_load_all(sys.stdin): print(json.dumps(d))";
    python_yaml(script, &[], yaml)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// stdout of a Python `script` (with PyYAML, Debian python3-yaml) fed `input`.
fn python_yaml(script: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(crate::support::require_tool("python3", "python3"))
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    // A writer thread: Python may answer before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "PyYAML read other values or refused the YAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Words in a table's header line.
fn columns(table: &str) -> usize {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .filter(|c| !c.trim().is_empty())
        .count()
}

/// An Alertmanager stand-in that takes every alert (the test's runtime
/// serves it); its URL.
async fn alertmanager_stub() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/api/v2/alerts", axum::routing::post(|| async { "" }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/api/v2/alerts")
}

/// A gateway with a function and subscription (events of type `vm.*` go to
/// automation) and an Alertmanager target (monitoring events fire alerts).
async fn automation_app() -> TestApp {
    let alertmanager = alertmanager_stub().await;
    TestApp::spawn_with(&format!(
        "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n\
         [[function]]\nname = \"echo\"\nkind = \"command\"\n\
         command = [\"/bin/sh\", \"-c\", \"cat >/dev/null; echo '{{\\\"ok\\\":true}}'\"]\ntimeout = \"20s\"\n\n\
         [[subscription]]\nname = \"on-vm\"\nevent_type = \"vm.*\"\nfunction = \"echo\"\n\n\
         [[monitoring.webhook]]\nname = \"am\"\nurl = \"{alertmanager}\"\nformat = \"alertmanager\"\n",
    ))
    .await
}

/// Emits a CloudEvent through the API; its id.
async fn emit_event(app: &TestApp, event_type: &str, subject: &str) -> String {
    let body = serde_json::json!({"specversion": "1.0", "type": event_type, "source": "cli-test",
        "id": format!("{subject}-{event_type}"), "subject": subject, "data": {"message": subject}});
    app.post_accepted("/api/v1/events", &body).await
}

/// Waits until the run of `event` has finished; its id.
async fn finished_run(app: &TestApp, event: &str) -> String {
    app.wait_for("the run to finish", Duration::from_secs(30), || async {
        let runs = app.get_json(&format!("/api/v1/runs?event={event}")).await;
        let run = runs["runs"].get(0)?;
        (run["status"] == "succeeded").then(|| run["id"].as_str().unwrap().to_owned())
    })
    .await
}

#[tokio::test]
async fn every_view_prints_as_table_wide_json_and_yaml() {
    let app = automation_app().await;
    let event = emit_event(&app, "vm.created", "web01").await;
    let run_id = finished_run(&app, &event).await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("cli-views", "Datastore usage", "ds1", "Yellow"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.wait_processed().await;
    app.wait_for("the alert to be sent", Duration::from_secs(30), || async {
        let status = app.status().await;
        (status["store"]["pending_deliveries"] == 0 && status["active_alerts"]["am"] == 1)
            .then_some(())
    })
    .await;
    let admin = [
        ("VCGATE_ADMIN_TOKEN", app.admin_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let added = ok(&["silence", "add", "entity=ds9", "--comment", "c"], &admin);
    assert!(added.starts_with("silence "), "{added}");

    let env = [
        ("VCGATE_READ_TOKEN", app.read_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    // (command, the API path it shows, whether its document is stable)
    let views: [(&[&str], String, bool); 10] = [
        (&["get", "status"], "/api/v1/status".into(), false),
        (&["get", "events"], "/api/v1/events?limit=20".into(), true),
        (
            &["get", "event", &event],
            format!("/api/v1/events/{event}"),
            true,
        ),
        (&["get", "runs"], "/api/v1/runs?limit=20".into(), true),
        (
            &["get", "run", &run_id],
            format!("/api/v1/runs/{run_id}"),
            true,
        ),
        (&["get", "functions"], "/api/v1/functions".into(), true),
        (
            &["get", "subscriptions"],
            "/api/v1/subscriptions".into(),
            true,
        ),
        (&["get", "guard"], "/api/v1/guard?limit=20".into(), true),
        (&["get", "alerts"], "/api/v1/alerts".into(), true),
        (&["silence", "list"], "/api/v2/silences".into(), true),
    ];
    for (command, path, stable) in views {
        let with = |format: &[&str]| ok(&[command, format].concat(), &env);
        let table = with(&[]);
        let wide = with(&["-o", "wide"]);
        assert!(
            !table.is_empty() && wide.len() > table.len(),
            "{command:?}:\n{table}\n{wide}"
        );
        let json: Value = serde_json::from_str(&with(&["-o", "json"])).unwrap();
        let legacy: Value = serde_json::from_str(&with(&["--json"])).unwrap();
        let yaml = pyyaml(&with(&["-o", "yaml"]));
        assert_eq!(yaml.len(), 1, "{command:?}: one YAML document");
        if stable {
            assert_eq!(
                json,
                app.get_json(&path).await,
                "{command:?}: the API's document"
            );
            assert_eq!(legacy, json, "{command:?}: --json is -o json");
            assert_eq!(yaml[0], json, "{command:?}: YAML holds the same document");
        } else {
            assert_eq!(json["version"], yaml[0]["version"]);
            assert_eq!(legacy["store"]["writable"], true);
        }
    }
    // Lists get more columns in wide.
    for command in [&["get", "events"][..], &["get", "runs"], &["get", "alerts"]] {
        let table = ok(command, &env);
        let wide = ok(&[command, &["-o", "wide"]].concat(), &env);
        assert!(columns(&wide) > columns(&table), "{table}\n{wide}");
    }
    let table = ok(&["get", "alerts"], &env);
    assert!(
        table.contains("am") && table.contains("Datastore usage") && table.contains("firing"),
        "{table}"
    );
    let wide = ok(&["get", "event", &event, "-o", "wide"], &env);
    assert!(
        wide.contains("fingerprint ") && wide.contains("runs for     on-vm"),
        "{wide}"
    );

    // --json and -o together are refused by the parser.
    let both = refused(&["get", "status", "--json", "-o", "yaml"], &env);
    assert!(both.contains("cannot be used with"), "{both}");
}

#[tokio::test]
async fn event_filters_and_paging_work_end_to_end() {
    let app = TestApp::spawn().await;
    let vm = emit_event(&app, "vm.created", "web01").await;
    let vm2 = emit_event(&app, "vm.deployed", "web02").await;
    let host = emit_event(&app, "host.connected", "esx01").await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("filters-1", "VM created", "web03", "Red"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.wait_processed().await;
    let env = [
        ("VCGATE_READ_TOKEN", app.read_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let ids = |args: &[&str]| -> Vec<String> {
        let page: Value = serde_json::from_str(&ok(
            &[&["get", "events", "-o", "json"], args].concat(),
            &env,
        ))
        .unwrap();
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&["--type", "vm.*"]), [vm2.clone(), vm.clone()]);
    assert_eq!(
        ids(&["--source", "api", "--type", "host.*"]),
        [host.as_str()]
    );
    assert_eq!(ids(&["--source", "alarm-hook"]).len(), 1);
    assert_eq!(ids(&["--since", "1h"]).len(), 4);
    assert!(ids(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    let first: Value =
        serde_json::from_str(&ok(&["get", "events", "--limit", "2", "-o", "json"], &env)).unwrap();
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let cursor = first["next_before"]
        .as_i64()
        .expect("a full page has a cursor")
        .to_string();
    let rest = ids(&["--before", &cursor]);
    assert_eq!(rest.len(), 2);
    assert!(
        rest.contains(&vm) && !rest.contains(&host),
        "oldest two: {rest:?}"
    );
    // A bad value is refused before any request.
    let bad = refused(&["get", "events", "--route", "sideways"], &env);
    assert!(bad.contains("automation"), "{bad}");
    let bad = refused(&["get", "events", "--since", "yesterday"], &env);
    assert!(bad.contains("--since"), "{bad}");
}

/// Reads a child's stdout lines on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects lines until one satisfies `found` (panics after `timeout`).
fn wait_line(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    timeout: Duration,
    found: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !seen.iter().any(|l| found(l)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no such line within {timeout:?}; got:\n{}", seen.join("\n")),
        }
    }
}

/// Ctrl-C ends a followed listing with success.
fn interrupt(mut child: std::process::Child) {
    use nix::sys::signal::{Signal, kill};
    kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "--follow ended with {status} on Ctrl-C");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("--follow did not stop on Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn follow_prints_events_and_runs_as_they_come() {
    let app = automation_app().await;
    let before = emit_event(&app, "host.connected", "esx01").await;
    app.wait_processed().await;
    let env = [
        ("VCGATE_READ_TOKEN", app.read_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let spawn = |args: &[&str]| {
        client(args, &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut events_json = spawn(&["get", "events", "--follow", "-o", "json"]);
    let mut events_table = spawn(&["get", "events", "-f", "--type", "vm.*"]);
    let mut runs_json = spawn(&["get", "runs", "echo", "--follow", "-o", "json"]);
    let (json_rx, table_rx, runs_rx) = (
        lines_of(&mut events_json),
        lines_of(&mut events_table),
        lines_of(&mut runs_json),
    );
    let (mut json_lines, mut table_lines, mut run_lines) = (Vec::new(), Vec::new(), Vec::new());
    let wait = Duration::from_secs(30);
    // The page so far comes first: the older event.
    wait_line(&json_rx, &mut json_lines, wait, |l| l.contains(&before));

    let first = emit_event(&app, "vm.created", "web01").await;
    let second = emit_event(&app, "vm.deployed", "web02").await;
    let id_is = |id: &str| {
        let id = id.to_owned();
        move |l: &str| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|e| e["id"] == id.as_str() && e["stage"] == "processed")
        }
    };
    wait_line(&json_rx, &mut json_lines, wait, id_is(&first));
    wait_line(&json_rx, &mut json_lines, wait, id_is(&second));
    for line in &json_lines {
        let event: Value = serde_json::from_str(line).expect("one JSON event per line");
        assert!(event["seq"].is_i64(), "{line}");
    }
    wait_line(&table_rx, &mut table_lines, wait, |l| {
        l.contains(&second) && l.contains("automation")
    });
    assert!(table_lines[0].starts_with("ID "), "{table_lines:?}");
    assert_eq!(
        table_lines.iter().filter(|l| l.starts_with("ID ")).count(),
        1,
        "one header"
    );
    assert!(
        table_lines.iter().any(|l| l.contains(&first)),
        "{table_lines:?}"
    );
    assert!(
        !table_lines.iter().any(|l| l.contains(&before)),
        "the filter applies"
    );
    // Runs: printed when queued and again when their status changes.
    for event in [&first, &second] {
        let done = |l: &str| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|r| r["event_id"] == event.as_str() && r["status"] == "succeeded")
        };
        wait_line(&runs_rx, &mut run_lines, wait, done);
    }
    interrupt(events_json);
    interrupt(events_table);
    interrupt(runs_json);
}

#[tokio::test]
async fn each_command_sends_the_token_of_its_scope() {
    let app = TestApp::spawn().await;
    let server = ("VCGATE_SERVER", app.base_url.as_str());
    let read = ("VCGATE_READ_TOKEN", app.read_token.as_str());
    let ingest = ("VCGATE_INGEST_TOKEN", app.ingest_token.as_str());
    let admin = ("VCGATE_ADMIN_TOKEN", app.admin_token.as_str());
    let fallback_read = ("VCGATE_TOKEN", app.read_token.as_str());

    // Reads use VCGATE_READ_TOKEN, never the ingest one.
    ok(&["get", "status"], &[server, read]);
    assert!(refused(&["get", "status"], &[server, ingest]).contains("401"));
    // Emit uses VCGATE_INGEST_TOKEN before VCGATE_TOKEN.
    let emitted = ok(&["emit", "vm.created"], &[server, ingest, fallback_read]);
    assert!(emitted.starts_with("accepted event "), "{emitted}");
    assert!(refused(&["emit", "vm.created"], &[server, read]).contains("401"));
    // Admin verbs use VCGATE_ADMIN_TOKEN before VCGATE_TOKEN.
    let added = ok(
        &["silence", "add", "entity=esx09"],
        &[server, admin, fallback_read],
    );
    let id = added.split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        refused(
            &["silence", "add", "entity=esx09"],
            &[server, read, fallback_read]
        )
        .contains("401")
    );
    assert!(ok(&["silence", "list"], &[server, read]).contains(&id));
    ok(&["silence", "expire", &id], &[server, admin]);
    let reloaded = ok(&["reload"], &[server, admin, fallback_read]);
    assert!(
        reloaded.starts_with("reloaded (generation 1)"),
        "{reloaded}"
    );
    let summary: Value =
        serde_json::from_str(&ok(&["reload", "-o", "json"], &[server, admin])).unwrap();
    assert_eq!(summary["generation"], 2);
    assert!(refused(&["reload"], &[server, read]).contains("401"));

    // --token-file wins over the environment.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("read.token");
    std::fs::write(&file, format!("{}\n", app.read_token)).unwrap();
    let file = file.to_str().unwrap();
    let wrong = ("VCGATE_READ_TOKEN", "not-a-token");
    assert!(refused(&["get", "status"], &[server, wrong]).contains("401"));
    ok(&["get", "status", "--token-file", file], &[server, wrong]);
    assert!(refused(&["reload", "--token-file", file], &[server, admin]).contains("401"));
}

/// `-o yaml` writes YAML that a YAML 1.1 reader (PyYAML) reads back to the
/// same values, for generated documents and strings chosen to look like
/// something else.
#[test]
fn yaml_reads_back_with_pyyaml() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let text = "\\PC{0,12}|[\\x00-\\x{9f}\\x{2028}\\x{2029}\\x{202e}\\x{feff}\\x{fffe}\\x{ffff}a-z0-9 :#'\"\\-?*&!|>{}\\[\\],.]{0,16}";
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        text.prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(text, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut values: Vec<Value> = (0..400)
        .map(|_| value.new_tree(&mut runner).unwrap().current())
        .collect();
    for tricky in [
        "yes",
        "No",
        "on",
        "null",
        "~",
        "0x1F",
        "0o17",
        "1_000",
        "1e3",
        "190:20:30",
        "2026-11-25",
        "2026-11-25T10:00:00Z",
        ".inf",
        "-.NaN",
        "<<",
        "=",
        "",
        " ",
        "- a",
        "? b",
        ": c",
        "#d",
        "%e",
        "@f",
        "`g",
        "!h",
        "&i",
        "*j",
        "|k",
        ">l",
        "'m'",
        "\"n\"",
        "a\u{85}b",
        "\u{feff}",
        "tab\tline\nreturn\r",
        "\u{1b}[2J",
        "\u{202e}",
        "é ✓ 红色",
    ] {
        values.push(serde_json::json!({ tricky: tricky, "list": [tricky] }));
    }
    values.push(serde_json::json!({ "k".repeat(2000): {"v": "x".repeat(5000)} }));
    values.push(serde_json::json!([
        1e300,
        -0.0,
        5e-324,
        0.1,
        1.5,
        60.0,
        u64::MAX,
        i64::MIN
    ]));
    let stream: String = values
        .iter()
        .map(|v| format!("---\n{}", vcgate::cli::yaml::to_yaml(v)))
        .collect();
    // Python compares (its JSON parser reads floats exactly; serde_json's
    // default one may be a unit in the last place off).
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("expected.json");
    std::fs::write(&expected, serde_json::to_string(&values).unwrap()).unwrap();
    let script = "import json, sys, yaml\n\
        docs = list(yaml.safe_load_all(sys.stdin))\n\
        expected = json.load(open(sys.argv[1]))\n\
        assert len(docs) == len(expected), (len(docs), len(expected))\n\
        bad = [i for i, (d, e) in enumerate(zip(docs, expected)) if d != e]\n\
        assert not bad, [(i, docs[i], expected[i]) for i in bad[:3]]\n\
        print(len(docs))";
    let checked = python_yaml(script, &[expected.to_str().unwrap()], &stream);
    assert_eq!(checked.trim(), values.len().to_string());
}
