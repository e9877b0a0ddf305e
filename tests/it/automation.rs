//! Automation end to end: events routed to automation → subscriptions →
//! command and webhook functions → run records; retries, dead runs, manual
//! retry, crash recovery, secret redaction, timeouts.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::peers::webhook::Received;
use crate::support::{TestApp, TestConfig, WebhookReceiver, alarm_body};

const SECRET_PASSWORD: &str = "s3cr3t-Pa55word-xyz";

fn write_script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn emit(
    app: &TestApp,
    event_type: &str,
    subject: &str,
) -> impl std::future::Future<Output = String> {
    let body = json!({"specversion": "1.0", "id": uuid_like(subject), "source": "test", "type": event_type, "subject": subject,
        "data": {"message": format!("{event_type} {subject}"), "metadata": {"vm_name": subject}}});
    let request = app.post_json("/api/v1/events", &body);
    async move {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 202);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn uuid_like(seed: &str) -> String {
    format!(
        "{seed}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn runs_of(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/runs?{query}")).await["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_runs(app: &TestApp, query: &str, count: usize, status: &str) -> Vec<Value> {
    app.wait_for(
        &format!("{count} {status} runs ({query})"),
        Duration::from_secs(30),
        || async {
            let runs = runs_of(app, query).await;
            (runs.len() == count && runs.iter().all(|r| r["status"] == status)).then_some(runs)
        },
    )
    .await
}

#[tokio::test]
async fn alarm_to_command_function_records_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        "set-vmattributes.sh",
        r#"input=$(cat)
echo "handling $(printf '%s' "$input" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["context"]["event"]["type"], d["payload"]["metadata"]["vm_name"])')"
echo "a warning" >&2
printf '%s' "$input" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"vm": d["payload"]["metadata"]["vm_name"], "run": d["context"]["run_id"]}))'"#,
    );
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\nalarm = \"VM created*\"\nto = \"automation\"\n\n[[function]]\nname = \"set-vmattributes\"\nkind = \"command\"\ncommand = [\"{script}\"]\ntimeout = \"20s\"\n\n[[subscription]]\nname = \"on-vm-created-alarm\"\nevent_type = \"alarm.status.changed\"\nalarm = \"VM created*\"\nfunction = \"set-vmattributes\"\n\n[[subscription]]\nname = \"never\"\nevent_type = \"host.*\"\nfunction = \"set-vmattributes\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("auto-1", "VM created", "web01", "Red"),
        )
        .send()
        .await
        .unwrap();
    let event_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runs = wait_runs(&app, "function=set-vmattributes", 1, "succeeded").await;
    let run = app
        .get_json(&format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(run["subscription"], "on-vm-created-alarm");
    assert_eq!(run["event_id"], event_id.as_str());
    assert_eq!(run["event"]["id"], event_id.as_str());
    assert_eq!(run["event"]["specversion"], "1.0");
    assert_eq!(run["attempt"], 1);
    assert_eq!(
        run["logs"]["stdout"][0],
        "handling alarm.status.changed web01"
    );
    assert_eq!(run["logs"]["stderr"][0], "a warning");
    assert_eq!(run["output"]["vm"], "web01");
    assert_eq!(run["output"]["run"], run["id"]);
    assert_eq!(run["input"]["context"]["run_id"], run["id"]);
    assert_eq!(run["input"]["payload"]["metadata"]["vm_name"], "web01");
    for key in ["queued", "started", "finished"] {
        assert!(run[key].is_string(), "{key} missing: {run}");
    }
    let event = app.event(&event_id).await;
    assert_eq!(
        event["disposition"]["subscriptions"][0],
        "on-vm-created-alarm"
    );
    // Monitoring-routed events get no runs.
    app.post_json(
        "/api/v1/alarms",
        &alarm_body("auto-2", "Host down", "esx01", "Red"),
    )
    .send()
    .await
    .unwrap();
    app.wait_processed().await;
    assert_eq!(runs_of(&app, "").await.len(), 1);

    let functions = app.get_json("/api/v1/functions").await;
    assert_eq!(functions["functions"][0]["name"], "set-vmattributes");
    assert_eq!(
        functions["functions"][0]["subscriptions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let subscriptions = app.get_json("/api/v1/subscriptions").await;
    assert_eq!(
        subscriptions["subscriptions"][0]["event_type"],
        "alarm.status.changed"
    );
    let status = app.status().await;
    assert_eq!(status["runs"]["succeeded"], 1);

    let env = [
        ("VCGATE_TOKEN", app.read_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let table = crate::support::vcgate_cli(&["get", "runs", "set-vmattributes"], &env);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("ID")
            && text.contains("succeeded")
            && text.contains(run["id"].as_str().unwrap()),
        "{text}"
    );
    let one = crate::support::vcgate_cli(&["get", "run", run["id"].as_str().unwrap()], &env);
    assert!(String::from_utf8_lossy(&one.stdout).contains("handling alarm.status.changed web01"));
    let json_out: Value = serde_json::from_slice(
        &crate::support::vcgate_cli(&["get", "run", run["id"].as_str().unwrap(), "--json"], &env)
            .stdout,
    )
    .unwrap();
    assert_eq!(json_out["id"], run["id"]);
    assert!(
        String::from_utf8_lossy(&crate::support::vcgate_cli(&["get", "functions"], &env).stdout)
            .contains("set-vmattributes")
    );
    assert!(
        String::from_utf8_lossy(
            &crate::support::vcgate_cli(&["get", "subscriptions"], &env).stdout
        )
        .contains("on-vm-created-alarm")
    );
}

#[tokio::test]
async fn webhook_function_is_signed() {
    let receiver = WebhookReceiver::start("/fn").await;
    let url = &receiver.url;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("hmac.key");
    std::fs::write(&key_file, "hmac-signing-key-123\n").unwrap();
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"vro\"\nkind = \"webhook\"\nurl = \"{url}\"\nsigning_key_file = \"{}\"\n\n[[subscription]]\nname = \"vm-to-vro\"\nevent_type = \"vm.*\"\nfunction = \"vro\"\n",
            key_file.display()
        ),
        ..TestConfig::default()
    })
    .await;
    let id = emit(&app, "vm.deployed", "web07").await;
    let runs = wait_runs(&app, "function=vro", 1, "succeeded").await;
    assert_eq!(runs[0]["output"]["ok"], true);
    let Received { headers, body } = receiver.received()[0].clone();
    let ce: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ce["id"], id.as_str());
    assert_eq!(ce["type"], "vm.deployed");
    assert_eq!(headers["content-type"], "application/cloudevents+json");
    // Verify the signature independently with python's hmac.
    let timestamp = headers["x-vcgate-timestamp"].to_str().unwrap().to_owned();
    let signature = headers["x-vcgate-signature"].to_str().unwrap().to_owned();
    let out = std::process::Command::new("python3")
        .args(["-c", "import hmac,hashlib,sys; print('sha256='+hmac.new(b'hmac-signing-key-123', (sys.argv[1]+'.').encode()+sys.stdin.buffer.read(), hashlib.sha256).hexdigest())", &timestamp])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), signature);
}

#[tokio::test]
async fn failing_function_retries_then_dies_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("fixed");
    let script = write_script(
        dir.path(),
        "flaky.sh",
        &format!(
            "cat >/dev/null; if [ -e {} ]; then echo fixed; exit 0; fi; echo broken >&2; exit 3",
            marker.display()
        ),
    );
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"flaky\"\nkind = \"command\"\ncommand = [\"{script}\"]\nmax_attempts = 3\nbackoff = \"200ms\"\nmax_backoff = \"1s\"\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"flaky\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    emit(&app, "vm.created", "vm-flaky").await;
    let runs = wait_runs(&app, "function=flaky", 1, "dead").await;
    let run = &runs[0];
    assert_eq!(run["attempt"], 3);
    assert!(
        run["reason"].as_str().unwrap().contains("exit status 3"),
        "{run}"
    );
    assert_eq!(run["logs"]["stderr"][0], "broken");
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(app.pipeline_counter("runs.flaky.failed").await, 2);

    // Retrying needs an admin token (neither read nor ingest will do).
    let readable = app
        .read(&format!("/api/v1/runs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(readable.status(), 200);
    let client = reqwest::Client::new();
    for token in [&app.read_token, &app.ingest_token] {
        let r = client
            .post(format!("{}/api/v1/runs/{id}/retry", app.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    std::fs::write(&marker, "").unwrap();
    let out = crate::support::vcgate_cli(
        &["retry", &id, "--server", &app.base_url],
        &[
            ("VCGATE_TOKEN", &app.read_token),
            ("VCGATE_ADMIN_TOKEN", &app.admin_token),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = wait_runs(&app, "function=flaky", 1, "succeeded").await;
    assert_eq!(runs[0]["logs"]["stdout"][0], "fixed");
    let again = client
        .post(format!("{}/api/v1/runs/{id}/retry", app.base_url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "a succeeded run is not retried");
}

#[tokio::test]
async fn kill9_with_queued_and_running_runs_finishes_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let script = write_script(
        dir.path(),
        "slow.sh",
        &format!(
            "cat >/dev/null; echo \"start $VCGATE_RUN_ID\" >> {l}; sleep 0.6; echo \"done $VCGATE_RUN_ID\" >> {l}",
            l = ledger.display()
        ),
    );
    let mut app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"{script}\"]\nconcurrency = 2\nbackoff = \"100ms\"\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"slow\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    for i in 0..6 {
        emit(&app, "vm.created", &format!("vm-crash-{i}")).await;
    }
    app.wait_for("some runs running", Duration::from_secs(10), || async {
        (!runs_of(&app, "status=running").await.is_empty()).then_some(())
    })
    .await;
    app.kill9();
    // What the packaged unit's stop does (systemd's default
    // KillMode=control-group): the functions the dead gateway started die
    // with it, before the restart. Without that, an orphaned execution could
    // still be going when the restarted gateway runs the run again (it
    // re-queues at once: docs/reliability.md).
    let orphans = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &script])
        .status()
        .expect("run pkill");
    assert!(orphans.code().is_some_and(|c| c <= 1), "pkill: {orphans}");
    app.restart().await;
    let runs = wait_runs(&app, "function=slow", 6, "succeeded").await;
    let ledger = std::fs::read_to_string(&ledger).unwrap();
    for run in &runs {
        let id = run["id"].as_str().unwrap();
        assert!(
            ledger.contains(&format!("done {id}")),
            "run {id} never completed:\n{ledger}"
        );
    }
    // Never two executions of one run at the same time: each start is
    // followed by its done before the next start. The one exception is an
    // execution the kill ended (a start with no done, once per run: there
    // was one kill), which ended before the restart.
    for run in &runs {
        let id = run["id"].as_str().unwrap();
        let mine: Vec<&str> = ledger.lines().filter(|l| l.ends_with(id)).collect();
        let mut executions = mine.clone();
        if let Some(killed) = executions
            .windows(2)
            .position(|w| w[0].starts_with("start") && w[1].starts_with("start"))
        {
            executions.remove(killed);
        }
        assert!(
            executions.len().is_multiple_of(2)
                && executions
                    .chunks(2)
                    .all(|pair| pair[0].starts_with("start") && pair[1].starts_with("done")),
            "overlapping executions of {id}: {mine:?}"
        );
    }
    assert!(
        app.log()
            .contains("runs interrupted by the last shutdown were re-queued")
    );
}

#[tokio::test]
async fn secrets_reach_the_function_but_no_answer_record_or_log() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("vsphere.json");
    std::fs::write(
        &secret_file,
        format!(r#"{{"username": "svc-vcgate", "password": "{SECRET_PASSWORD}"}}"#),
    )
    .unwrap();
    let script = write_script(
        dir.path(),
        "leaky.sh",
        r#"pw=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["context"]["secrets"]["password"])')
echo "the password is $pw"
echo "stderr: $pw" >&2
echo "{\"echo\": \"$pw\"}""#,
    );
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[secret]]\nname = \"vsphere\"\nfile = \"{}\"\n\n[[function]]\nname = \"leaky\"\nkind = \"command\"\ncommand = [\"{script}\"]\nsecrets = [\"vsphere\"]\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"leaky\"\n",
            secret_file.display()
        ),
        ..TestConfig::default()
    })
    .await;
    emit(&app, "vm.created", "vm-secret").await;
    let runs = wait_runs(&app, "function=leaky", 1, "succeeded").await;
    let run = app
        .get_json(&format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        run["logs"]["stdout"][0], "the password is [REDACTED]",
        "the function got the secret, the record hides it"
    );
    assert_eq!(run["output"]["echo"], "[REDACTED]");
    assert_eq!(run["input"]["context"]["secrets"]["password"], "[REDACTED]");
    assert_eq!(run["secrets"], json!(["vsphere"]));
    let mut answers = String::new();
    for path in [
        "/api/v1/runs",
        "/api/v1/events",
        "/api/v1/functions",
        "/api/v1/subscriptions",
        "/api/v1/status",
    ] {
        answers.push_str(&app.read(path).send().await.unwrap().text().await.unwrap());
    }
    answers.push_str(
        &reqwest::get(format!("{}/metrics", app.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        !answers.contains(SECRET_PASSWORD),
        "a secret leaked into an API answer"
    );
    assert!(
        !app.log().contains(SECRET_PASSWORD),
        "a secret leaked into the log"
    );
    let stored = app.store_bytes();
    let needle = SECRET_PASSWORD.as_bytes();
    assert!(
        !stored.windows(needle.len()).any(|w| w == needle),
        "a secret reached the store"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let script = write_script(
        dir.path(),
        "hang.sh",
        &format!(
            "cat >/dev/null; sleep 300 & echo $! > {}; echo started; wait",
            pidfile.display()
        ),
    );
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"hang\"\nkind = \"command\"\ncommand = [\"{script}\"]\ntimeout = \"1s\"\nmax_attempts = 1\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"hang\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    emit(&app, "vm.created", "vm-hang").await;
    let runs = wait_runs(&app, "function=hang", 1, "dead").await;
    assert!(
        runs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{}",
        runs[0]
    );
    assert_eq!(runs[0]["logs"]["stdout"][0], "started");
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    app.wait_for("grandchild gone", Duration::from_secs(5), || async {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        (stat.is_empty() || stat.contains(") Z ")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_example_function_handles_a_deployed_vm() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/functions/set-vmattributes.py"
    );
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"set-vmattributes\"\nkind = \"command\"\ncommand = [\"{script}\"]\n\n[[subscription]]\nname = \"set-vmattributes-vmdeployed\"\nevent_type = \"vm.deployed\"\nfunction = \"set-vmattributes\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    let ce = json!({"specversion": "1.0", "id": "example-1", "source": "test", "type": "vm.deployed", "time": "2026-11-25T10:00:00Z",
        "data": {"user": "VSPHERE.LOCAL\\bob", "metadata": {"vm_name": "web03", "vm_id": "vm-77", "src_template": "tmpl-linux"}}});
    assert_eq!(
        app.post_json("/api/v1/events", &ce)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let runs = wait_runs(&app, "function=set-vmattributes", 1, "succeeded").await;
    assert_eq!(
        runs[0]["logs"]["stdout"][0],
        "vm.deployed: web03 created by VSPHERE.LOCAL\\bob on 2026-11-25T10:00:00Z"
    );
    assert_eq!(
        runs[0]["logs"]["stdout"][1],
        "deployed from template tmpl-linux"
    );
    assert_eq!(runs[0]["output"]["vm_id"], "vm-77");
    assert_eq!(runs[0]["output"]["created_by"], "VSPHERE.LOCAL\\bob");
}

#[tokio::test]
async fn reload_swaps_functions_and_subscriptions_and_rejects_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_script(dir.path(), "first.sh", "cat >/dev/null; echo first");
    let second = write_script(dir.path(), "second.sh", "cat >/dev/null; echo second");
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"first\"\nkind = \"command\"\ncommand = [\"{first}\"]\n\n[[subscription]]\nname = \"s1\"\nevent_type = \"vm.*\"\nfunction = \"first\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    emit(&app, "vm.created", "before-reload").await;
    wait_runs(&app, "function=first", 1, "succeeded").await;

    let original = std::fs::read_to_string(app.config_path()).unwrap();
    let base = &original[..original.find("[[route]]").unwrap()];
    let swapped = format!(
        "{base}[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"second\"\nkind = \"command\"\ncommand = [\"{second}\"]\n\n[[subscription]]\nname = \"s2\"\nevent_type = \"vm.*\"\nfunction = \"second\"\n"
    );
    std::fs::write(app.config_path(), &swapped).unwrap();
    app.signal("HUP");
    app.wait_for("reload applied", Duration::from_secs(10), || async {
        let subs = app.get_json("/api/v1/subscriptions").await;
        (subs["subscriptions"][0]["name"] == "s2").then_some(())
    })
    .await;
    emit(&app, "vm.created", "after-reload").await;
    let runs = wait_runs(&app, "function=second", 1, "succeeded").await;
    assert_eq!(runs[0]["logs"]["stdout"][0], "second");
    assert_eq!(
        runs_of(&app, "function=first").await.len(),
        1,
        "the removed subscription queued nothing"
    );

    // An invalid config is rejected with the key named; the current settings stay.
    std::fs::write(app.config_path(), format!("{swapped}\n[[subscription]]\nname = \"bad\"\nevent_type = \"vm.*\"\nfunction = \"nope\"\n")).unwrap();
    let r = app
        .admin(reqwest::Method::POST, "/api/v1/reload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("subscription[1].function"),
        "{body}"
    );
    for token in [&app.read_token, &app.ingest_token] {
        let denied = reqwest::Client::new()
            .post(format!("{}/api/v1/reload", app.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
    }
    emit(&app, "vm.created", "after-bad-reload").await;
    wait_runs(&app, "function=second", 2, "succeeded").await;
    std::fs::write(app.config_path(), &swapped).unwrap();
    let ok = app
        .admin(reqwest::Method::POST, "/api/v1/reload")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["functions"], 1);
}
