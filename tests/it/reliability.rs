//! Reliability: every endpoint refuses the wrong token, a flood from one
//! address leaves others unaffected (HTTP and SNMP), a hanging webhook
//! function times out, and `kill -9` under mixed load (hook POSTs, traps,
//! informs, running functions, forwards) loses nothing acknowledged.

use std::collections::HashSet;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::builders::{AlarmInfo, net_snmp};
use crate::support::peers::webhook::BlackHole;
use crate::support::{
    ADMIN_TOKEN, INGEST_TOKEN, READ_TOKEN, TestApp, TestConfig, WebhookReceiver, alarm_body,
};

#[tokio::test]
async fn every_endpoint_refuses_a_missing_or_wrong_token() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let id = "01a21291-7a63-7008-a46e-a4c97f265960";
    // Each endpoint with the tokens of the wrong scope (on top of none and a
    // made-up one). Admin implies read; ingest opens only ingest.
    let ingest_only: &[&str] = &[READ_TOKEN, ADMIN_TOKEN];
    let admin_only: &[&str] = &[READ_TOKEN, INGEST_TOKEN];
    let read: &[&str] = &[INGEST_TOKEN];
    let endpoints: Vec<(&str, String, &[&str])> = vec![
        ("POST", "/api/v1/alarms".into(), ingest_only),
        ("POST", "/api/v1/events".into(), ingest_only),
        ("POST", format!("/api/v1/runs/{id}/retry"), admin_only),
        ("POST", "/api/v1/reload".into(), admin_only),
        ("POST", "/api/v1/silences".into(), admin_only),
        ("DELETE", format!("/api/v1/silences/{id}"), admin_only),
        ("GET", "/api/v1/status".into(), read),
        ("GET", "/api/v1/events".into(), read),
        ("GET", format!("/api/v1/events/{id}"), read),
        ("GET", "/api/v1/runs".into(), read),
        ("GET", format!("/api/v1/runs/{id}"), read),
        ("GET", "/api/v1/functions".into(), read),
        ("GET", "/api/v1/subscriptions".into(), read),
        ("GET", "/api/v1/silences".into(), read),
        ("GET", "/api/v1/guard".into(), read),
    ];
    let mut refused = 0;
    for (method, path, wrong) in &endpoints {
        let url = format!("{}{path}", app.base_url);
        let build = |token: Option<&str>| {
            let request = match *method {
                "GET" => client.get(&url),
                "DELETE" => client.delete(&url),
                _ => client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}"),
            };
            match token {
                Some(t) => request.bearer_auth(t),
                None => request,
            }
        };
        let tokens = [None, Some("not-a-token-at-all")]
            .into_iter()
            .chain(wrong.iter().map(|t| Some(*t)));
        for token in tokens {
            let r = build(token).send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {token:?}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
            refused += 1;
        }
        if *method == "GET" {
            let r = build(Some(ADMIN_TOKEN)).send().await.unwrap();
            assert_ne!(r.status(), 401, "an admin token reads {path}");
        }
    }
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            client
                .get(format!("{}{open}", app.base_url))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{open}"
        );
    }
    assert!(!app.log().contains("not-a-token-at-all"));
    // Every refusal is counted by scope, read and admin included.
    let failures = &app.status().await["auth_failures"];
    let counted: u64 = ["ingest", "read", "admin"]
        .iter()
        .map(|s| failures[*s].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, refused, "{failures}");
    assert!(failures["read"].as_u64().unwrap() > 0 && failures["admin"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_flood_from_one_address_leaves_other_senders_unaffected() {
    let app = TestApp::spawn_config(TestConfig {
        http: "rate_limit = 5\nrate_burst = 5".into(),
        snmp: "rate_limit = 5\nrate_burst = 5".into(),
        ..TestConfig::default()
    })
    .await;
    // HTTP: one client address floods, another is served.
    let flooder = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let url = format!("{}/api/v1/alarms", app.base_url);
    let mut limited = 0;
    for i in 0..40 {
        let r = flooder
            .post(&url)
            .bearer_auth(INGEST_TOKEN)
            .json(&alarm_body(&format!("f{i}"), "A", "vm", "Red"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 30, "the flood was limited ({limited} of 40)");
    let polite = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 3]))
        .build()
        .unwrap();
    let r = polite
        .post(&url)
        .bearer_auth(INGEST_TOKEN)
        .json(&alarm_body("polite", "A", "vm", "Red"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "another address is unaffected");

    // SNMP: the same with real packets from two source addresses.
    let packet = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/traps/v2c-alarminfo-vm-red.bin"
    ))
    .unwrap();
    let noisy = UdpSocket::bind("127.0.0.2:0").unwrap();
    for _ in 0..200 {
        noisy.send_to(&packet, app.snmp_target()).unwrap();
    }
    let quiet = UdpSocket::bind("127.0.0.3:0").unwrap();
    app.wait_for("flood counted", Duration::from_secs(10), || async {
        (app.rejected("snmp", "rate_limited").await >= 150).then_some(())
    })
    .await;
    quiet.send_to(&packet, app.snmp_target()).unwrap();
    app.wait_for("quiet sender served", Duration::from_secs(10), || async {
        app.events("source=snmp&limit=100")
            .await
            .into_iter()
            .any(|e| e["metadata"]["agent_address"] == "127.0.0.3")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_hanging_webhook_function_times_out() {
    // Accepts connections and never answers.
    let hole = BlackHole::start().await;
    let url = format!("{}/hang", hole.url);
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"hang\"\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"500ms\"\nmax_attempts = 2\nbackoff = \"100ms\"\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"hang\"\n"
        ),
        ..TestConfig::default()
    })
    .await;
    let ce = json!({"specversion": "1.0", "id": "hang-1", "source": "t", "type": "vm.created"});
    app.post_json("/api/v1/events", &ce).send().await.unwrap();
    let run = app
        .wait_for("dead run", Duration::from_secs(15), || async {
            let runs = app.get_json("/api/v1/runs?function=hang").await["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            runs.into_iter().find(|r| r["status"] == "dead")
        })
        .await;
    assert_eq!(run["attempt"], 2);
    assert!(
        run["reason"].as_str().unwrap().contains("timed out"),
        "{run}"
    );
}

/// Hook acknowledgements each round waits for before the kill (the fixed
/// 300 ms this replaced gave 50 to 90 here).
const ACKS_PER_ROUND: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_mixed_load_loses_nothing_acknowledged() {
    // A monitoring webhook that records every event it receives.
    let receiver = WebhookReceiver::start("/am").await;
    let am = &receiver.url;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("work.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\ncat >/dev/null; sleep 0.2; echo done\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut app = TestApp::spawn_config(TestConfig {
        extra: format!(
            "[[route]]\ntype = \"alarm.*\"\nto = \"both\"\n\n[[monitoring.webhook]]\nname = \"am\"\nurl = \"{am}\"\nformat = \"cloudevents\"\n\n[[function]]\nname = \"work\"\nkind = \"command\"\ncommand = [\"{}\"]\nconcurrency = 4\nbackoff = \"100ms\"\n\n[[subscription]]\nname = \"s\"\nevent_type = \"alarm.*\"\nfunction = \"work\"\n",
            script.display()
        ),
        ..TestConfig::default()
    })
    .await;
    let acked_http: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut acked_informs = Vec::new();
    for round in 0..3 {
        let acked_before = acked_http.lock().unwrap().len();
        let mut writers = Vec::new();
        for w in 0..2 {
            let (url, acked) = (
                format!("{}/api/v1/alarms", app.base_url),
                acked_http.clone(),
            );
            writers.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let body = alarm_body(
                        &format!("m{round}-{w}-{i}"),
                        "Mixed",
                        &format!("vm-{round}-{w}-{i}"),
                        "Red",
                    );
                    match client
                        .post(&url)
                        .bearer_auth(INGEST_TOKEN)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 202 => {
                            let id = r.json::<Value>().await.unwrap()["id"]
                                .as_str()
                                .unwrap()
                                .to_owned();
                            acked.lock().unwrap().push(id);
                        }
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(_) => return,
                    }
                }
            }));
        }
        // Traps and informs from net-snmp while the HTTP load runs.
        for i in 0..4 {
            let target = format!("esx-inform-{round}-{i}");
            let inform = AlarmInfo::new("Red", "alarm.Mixed", &target).v2c_args(
                "public",
                &["-t", "1", "-r", "0"],
                &app.snmp_target(),
            );
            let out = net_snmp("snmpinform", &inform);
            if out.status.success() {
                acked_informs.push(target);
            }
        }
        // Killed mid-load: the hook POSTs still going, functions running.
        app.wait_for(
            "acknowledgements and running functions",
            Duration::from_secs(20),
            || async {
                let acked = acked_http.lock().unwrap().len() - acked_before;
                let running = app.status().await["runs"]["running"].as_u64();
                (acked >= ACKS_PER_ROUND && running >= Some(1)).then_some(())
            },
        )
        .await;
        app.kill9();
        for w in writers {
            w.await.unwrap();
        }
        app.restart().await;
    }
    let acked_http = acked_http.lock().unwrap().clone();
    assert!(
        acked_http.len() > 20 && !acked_informs.is_empty(),
        "load produced acknowledgements"
    );
    // Everything settles: pipeline drained, every run final, every forward sent.
    app.wait_processed().await;
    let all_events = app
        .wait_for(
            "runs and forwards settled",
            Duration::from_secs(120),
            || async {
                let events = app.all_pages("/api/v1/events", "events").await;
                let settled = events.iter().all(|e| {
                    e["stage"] == "processed"
                        && e["deliveries"]
                            .as_array()
                            .is_some_and(|d| d.iter().all(|d| d["state"] == "sent"))
                });
                let runs = app.status().await["runs"].clone();
                let unfinished = ["queued", "running", "failed"]
                    .iter()
                    .map(|s| runs[s].as_u64().unwrap_or(0))
                    .sum::<u64>();
                (settled && unfinished == 0).then_some(events)
            },
        )
        .await;
    let ids: HashSet<&str> = all_events
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), all_events.len(), "no event stored twice");
    for id in &acked_http {
        assert!(ids.contains(id.as_str()), "acknowledged alarm {id} lost");
    }
    for target in &acked_informs {
        assert!(
            all_events
                .iter()
                .any(|e| e["entity"]["name"] == target.as_str()),
            "acknowledged inform {target} lost"
        );
    }
    // Each event got exactly one run, and it succeeded.
    // All runs: there can be more than one page of them.
    let runs = app.all_pages("/api/v1/runs", "runs").await;
    let mut per_event = std::collections::HashMap::new();
    for r in &runs {
        assert_eq!(r["status"], "succeeded", "{r}");
        *per_event
            .entry(r["event_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert!(per_event.values().all(|n| *n == 1), "one run per event");
    assert_eq!(per_event.len(), all_events.len(), "every event got its run");
    // Every event reached the NMS webhook at least once (at-least-once delivery).
    let received: HashSet<String> = receiver
        .bodies()
        .iter()
        .map(|body| body["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in &ids {
        assert!(received.contains(*id), "event {id} never forwarded");
    }
}
