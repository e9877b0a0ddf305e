//! HTTP ingest and read API against a running `vcgate serve`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{INGEST_TOKEN, READ_TOKEN, TestApp, TestConfig, alarm_body};

#[tokio::test]
async fn alarm_is_accepted_once_and_redelivery_is_idempotent() {
    let app = TestApp::spawn().await;
    let body = alarm_body(
        "7b0c6f5e-1111-4000-8000-000000000001",
        "VM created",
        "web01",
        "Red",
    );
    let id = app.post_accepted("/api/v1/alarms", &body).await;

    let event = app.event(&id).await;
    assert_eq!(event["type"], "alarm.status.changed");
    assert_eq!(event["source"], "alarm-hook");
    assert_eq!(event["vcenter"], "vc1");
    assert_eq!(event["entity"]["type"], "VirtualMachine");
    assert_eq!(event["entity"]["moref"], "vm-42");
    assert_eq!(event["entity"]["name"], "web01");
    assert_eq!(event["alarm"]["name"], "VM created");
    assert_eq!(event["alarm"]["moref"], "alarm-7");
    assert_eq!(event["alarm"]["new_status"]["status"], "red");
    assert_eq!(event["alarm"]["new_status"]["raw"], "Red");
    assert_eq!(event["event_key"], 4711);
    assert_eq!(event["user"], "VSPHERE.LOCAL\\alice");
    assert_eq!(event["metadata"]["vm_name"], "web01");
    assert_eq!(event["delivery_id"], "7b0c6f5e-1111-4000-8000-000000000001");
    assert_eq!(event["raw"], body);

    let again = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["duplicate"], true);
    assert_eq!(app.events("limit=100").await.len(), 1);

    let status = app.status().await;
    assert_eq!(status["sources"]["alarm-hook"]["accepted"], 1);
    assert_eq!(status["sources"]["alarm-hook"]["duplicate"], 1);
    app.wait_processed().await;
    let processed = app.event(&id).await;
    assert_eq!(processed["stage"], "processed");
    assert_eq!(processed["disposition"]["route"], "monitoring");
}

/// A hook retry of an old alarm that arrives after the alarm changed again
/// (parallel alarm actions on the VCSA, one of them retried) is recognised
/// by its delivery id and changes nothing: the next real transition back to
/// that status is still a new alert for monitoring, not a repeat of the old
/// one.
///
/// Both ways a retry is recognised: sent a while ago (as the hook's retries
/// are: `sent_at` is kept from the first attempt), it is looked up before
/// admission; stamped as new, the store finds it at commit and dedup memory
/// is taken back.
#[tokio::test]
async fn a_late_retry_of_an_old_alarm_does_not_swallow_the_next_transition() {
    let app = TestApp::spawn().await;
    for (n, sent_at) in [(1, Some(now_rfc3339())), (2, None)] {
        let body = |delivery: &str, status: &str| {
            let mut body = alarm_body(
                &format!("late-{n}-{delivery}"),
                "VM created",
                "web01",
                status,
            );
            if let Some(sent_at) = &sent_at {
                body["sent_at"] = json!(sent_at);
            }
            body
        };
        let red = app.post_accepted("/api/v1/alarms", &body("1", "Red")).await;
        app.post_accepted("/api/v1/alarms", &body("2", "Green"))
            .await;
        let retry = app
            .post_json("/api/v1/alarms", &body("1", "Red"))
            .send()
            .await
            .unwrap();
        assert_eq!(retry.status(), 200);
        let retry: Value = retry.json().await.unwrap();
        assert_eq!(retry["id"], red.as_str());

        let red_again = app.post_accepted("/api/v1/alarms", &body("3", "Red")).await;
        app.wait_processed().await;
        let event = app.event(&red_again).await;
        assert_eq!(event["disposition"]["route"], "monitoring", "{event}");
        assert!(
            event["disposition"]["duplicate_of"].is_null(),
            "Green → Red is a new alert, not a repeat of the first Red: {event}"
        );
        // Green closes the round, so the next one starts from Green too.
        app.post_accepted("/api/v1/alarms", &body("4", "Green"))
            .await;
    }
    assert_eq!(app.events("limit=100").await.len(), 8);
}

/// The retry of an alarm stored long ago, arriving while commits wait (a
/// busy gateway is when the hook retries), and the alarm's next real
/// transition right behind it: the retry is answered from the store
/// without waiting and without touching dedup, and the transition is an
/// alert. Before, the retry went through dedup as a new Red whose commit
/// was in flight, and the real Red was made its duplicate: a duplicate of
/// an event never stored, that never reached monitoring.
#[tokio::test]
async fn a_retry_during_a_slow_commit_does_not_swallow_the_next_transition() {
    let app = TestApp::spawn().await;
    let body = |delivery: &str, status: &str| {
        alarm_body(&format!("slow-{delivery}"), "VM created", "web01", status)
    };
    let red = app.post_accepted("/api/v1/alarms", &body("1", "Red")).await;
    app.post_accepted("/api/v1/alarms", &body("2", "Green"))
        .await;
    app.wait_processed().await;

    let lock = app.block_event_commits().await;
    // `alarm_body` is stamped days ago, as a spooled or timed-out alarm is.
    let retry = tokio::time::timeout(
        Duration::from_secs(2),
        app.post_json("/api/v1/alarms", &body("1", "Red")).send(),
    )
    .await
    .expect("a known delivery is answered while commits wait")
    .unwrap();
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.json::<Value>().await.unwrap()["id"], red.as_str());
    // Held until the lock goes; it is decided meanwhile (admission logs
    // each batch it decides, at debug).
    let decided = || app.log().matches("admission decided a batch").count();
    let before = decided();
    let red_again = tokio::spawn({
        let request = app.post_json("/api/v1/alarms", &body("3", "Red"));
        async move { request.send().await.unwrap() }
    });
    // (On PostgreSQL nothing is decided at acceptance: the decider takes
    // stored events, so there is no such window.)
    if !app.on_postgres() {
        app.wait_for(
            "the new Red to be decided",
            Duration::from_secs(3),
            || async { (decided() > before).then_some(()) },
        )
        .await;
    }
    drop(lock);
    let red_again = red_again.await.unwrap();
    assert_eq!(red_again.status(), 202);
    let id = red_again.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_processed().await;
    let event = app.event(&id).await;
    assert!(
        event["disposition"]["duplicate_of"].is_null(),
        "Green → Red is a new alert: {event}"
    );
    assert_eq!(event["disposition"]["route"], "monitoring", "{event}");
}

/// On a single-node store an alarm that needs no vCenter lookup is decided
/// at acceptance: the commit its 202 waited for already holds the decision
/// (route, forward queued), so nothing is left for the pipeline. On
/// PostgreSQL one decider serves the cluster: the event is decided shortly
/// after.
#[tokio::test]
async fn an_acknowledged_alarm_is_already_decided() {
    let app = TestApp::spawn().await;
    for n in 0..20 {
        let body = alarm_body(&format!("decided-{n}"), "VM created", "web01", "Red");
        let id = app.post_accepted("/api/v1/alarms", &body).await;
        let event = app.event(&id).await;
        if app.on_postgres() {
            continue;
        }
        assert_eq!(event["stage"], "processed", "{event}");
        // The first is an original routed to monitoring; the rest repeat it.
        match n {
            0 => assert_eq!(event["disposition"]["route"], "monitoring", "{event}"),
            _ => assert!(event["disposition"]["duplicate_of"].is_string(), "{event}"),
        }
    }
    let status = app.status().await;
    assert_eq!(status["sources"]["alarm-hook"]["accepted"], 20, "{status}");
    if !app.on_postgres() {
        assert_eq!(status["store"]["pending_pipeline"], 0, "{status}");
    }
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_counter() {
    let app = TestApp::spawn_config(TestConfig {
        http: "max_body = 1024".into(),
        ..TestConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/alarms", app.base_url);
    let ok_body = alarm_body("d-1", "A", "vm", "Red");

    let expect = |status: u16, detail: &'static str| {
        move |r: reqwest::Response| async move {
            assert_eq!(r.status(), status);
            let body: Value = r.json().await.expect("error bodies are JSON");
            assert!(body["error"].is_string(), "{body}");
            let text = body["detail"].as_str().unwrap_or_default().to_owned();
            assert!(
                text.contains(detail),
                "detail {text:?} should mention {detail:?}"
            );
        }
    };

    // 401: no token, wrong token, read token on ingest.
    expect(401, "token")(client.post(&url).json(&ok_body).send().await.unwrap()).await;
    expect(401, "token")(
        client
            .post(&url)
            .bearer_auth("wrong-token-xxxxxxxx")
            .json(&ok_body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    expect(401, "token")(
        client
            .post(&url)
            .bearer_auth(READ_TOKEN)
            .json(&ok_body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // 415
    let r = client
        .post(&url)
        .bearer_auth(INGEST_TOKEN)
        .header("content-type", "text/plain")
        .body(ok_body.to_string())
        .send()
        .await
        .unwrap();
    expect(415, "application/json")(r).await;
    // 413 with a declared length, and streamed without one.
    let big = json!({"delivery_id": "big", "env": {"VMWARE_ALARM_NAME": "x".repeat(2000)}});
    expect(413, "1024")(
        client
            .post(&url)
            .bearer_auth(INGEST_TOKEN)
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(big.to_string().into_bytes())];
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = client
        .post(&url)
        .bearer_auth(INGEST_TOKEN)
        .header("content-type", "application/json")
        .body(streamed)
        .send()
        .await
        .unwrap();
    expect(413, "1024")(r).await;
    // 400 naming the problem.
    let post_raw = |body: &'static str| {
        client
            .post(&url)
            .bearer_auth(INGEST_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect(400, "JSON")(post_raw("{not json").await.unwrap()).await;
    expect(400, "delivery_id")(post_raw(r#"{"env": {}}"#).await.unwrap()).await;
    expect(400, "env")(post_raw(r#"{"delivery_id": "x"}"#).await.unwrap()).await;
    expect(400, "env.VMWARE_ALARM_NAME")(
        post_raw(r#"{"delivery_id": "x", "env": {"VMWARE_ALARM_NAME": 5}}"#)
            .await
            .unwrap(),
    )
    .await;

    assert!(
        app.events("limit=10").await.is_empty(),
        "nothing may be stored from bad input"
    );
    let status = app.status().await;
    let rejected = &status["sources"]["alarm-hook"]["rejected"];
    assert_eq!(rejected["unauthorized"], 3, "{status}");
    assert_eq!(rejected["unsupported_media_type"], 1, "{status}");
    assert_eq!(rejected["too_large"], 2, "{status}");
    assert_eq!(rejected["bad_request"], 4, "{status}");

    let metrics = client
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vcgate_rejected_total")
                && l.contains("reason=\"bad_request\"")
                && l.ends_with(" 4")),
        "metrics:\n{metrics}"
    );
    let log = app.log();
    assert!(
        !log.contains(INGEST_TOKEN)
            && !log.contains(READ_TOKEN)
            && !log.contains("wrong-token-xxxxxxxx"),
        "a token reached the log"
    );
}

#[tokio::test]
async fn flood_from_one_address_is_rate_limited_with_retry_after() {
    let app = TestApp::spawn_config(TestConfig {
        http: "rate_limit = 2\nrate_burst = 3".into(),
        ..TestConfig::default()
    })
    .await;
    let mut limited = None;
    let mut accepted = 0;
    for i in 0..20 {
        let r = app
            .post_json(
                "/api/v1/alarms",
                &alarm_body(&format!("flood-{i}"), "A", "vm", "Red"),
            )
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            202 => accepted += 1,
            429 => {
                limited = Some(r);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let r = limited.expect("a flood must hit the rate limit");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!(
        (1..=3).contains(&accepted),
        "burst allowance is 3, accepted {accepted}"
    );
    assert_eq!(app.rejected("alarm-hook", "rate_limited").await, 1);
    assert_eq!(app.events("limit=100").await.len(), accepted);
}

#[tokio::test]
async fn full_store_answers_503_and_acknowledges_only_what_it_stored() {
    let app = TestApp::spawn_config(TestConfig {
        // `max_size` is the SQLite store's cap (PostgreSQL is sized with its
        // own quotas), so this test pins the backend.
        store: "backend = \"sqlite\"\nmax_size = \"256KiB\"".into(),
        ..TestConfig::default()
    })
    .await;
    let filler = "y".repeat(30_000);
    let mut acked = Vec::new();
    let mut unavailable = None;
    for i in 0..200 {
        let mut body = alarm_body(&format!("fill-{i}"), "A", "vm", "Red");
        body["env"]["VMWARE_ALARM_ALARMVALUE"] = json!(filler);
        let r = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
        match r.status().as_u16() {
            202 => acked.push(
                r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            503 => {
                unavailable = Some(r.json::<Value>().await.unwrap());
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let body = unavailable.expect("a capped store must fill up");
    assert_eq!(body["error"], "store unavailable");
    assert!(!acked.is_empty());
    for id in &acked {
        app.event(id).await;
    }
    let stored = app.events("limit=1000").await.len();
    assert_eq!(
        stored,
        acked.len(),
        "exactly the acknowledged events are stored"
    );
    assert!(app.rejected("alarm-hook", "store_unavailable").await >= 1);
    // Readiness follows the last commit, and the pipeline still commits its
    // small updates for what was acknowledged (those fit): once it is done,
    // a refused alarm is the last commit and the gateway is not ready.
    app.wait_processed().await;
    let mut body = alarm_body("fill-last", "A", "vm", "Red");
    body["env"]["VMWARE_ALARM_ALARMVALUE"] = json!(filler);
    let r = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
    assert_eq!(r.status(), 503, "still full");
    let ready = reqwest::get(format!("{}/readyz", app.base_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "log:\n{}", app.log());
}

#[tokio::test]
async fn reads_need_the_read_token_and_health_is_open() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/status",
        "/api/v1/events",
        "/api/v1/events/01a21291-7a63-7008-a46e-a4c97f265960",
    ] {
        let r = client
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} without token");
        let r = client
            .get(format!("{}{path}", app.base_url))
            .bearer_auth(INGEST_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with the ingest token");
    }
    let missing = app
        .read("/api/v1/events/01a21291-7a63-7008-a46e-a4c97f265960")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = app.read("/api/v1/events/not-a-uuid").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = client
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let unknown = client
        .get(format!("{}/nope", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn cloudevent_emit_and_event_listing() {
    let app = TestApp::spawn().await;
    let ce = json!({
        "specversion": "1.0", "id": "ce-1", "source": "test", "type": "vm.created",
        "subject": "web02",
        "data": {"message": "Created web02", "user": "alice", "metadata": {"vm_name": "web02"}}
    });
    let id = app.post_accepted("/api/v1/events", &ce).await;
    let again = app.post_json("/api/v1/events", &ce).send().await.unwrap();
    assert_eq!(
        again.status(),
        200,
        "same CloudEvent id+source is one event"
    );
    app.post_json("/api/v1/alarms", &alarm_body("d-2", "A", "vm", "Red"))
        .send()
        .await
        .unwrap();

    let event = app.event(&id).await;
    assert_eq!(event["type"], "vm.created");
    assert_eq!(event["source"], "api");
    assert_eq!(event["user"], "alice");
    assert_eq!(event["entity"]["name"], "web02");
    let only_vm = app.events("type=vm.created").await;
    assert_eq!(only_vm.len(), 1);
    let all = app.events("limit=10").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["id"], id.as_str(), "newest first");
    let globbed = app.events("type=vm.*").await;
    assert_eq!(globbed.len(), 1);
    let bad = app
        .post_json("/api/v1/events", &json!({"type": "Not A Type"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_keeps_everything() {
    let mut app = TestApp::spawn().await;
    let r = app
        .post_json("/api/v1/alarms", &alarm_body("term-1", "A", "vm", "Red"))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.terminate(), Some(0));
    assert!(app.log().contains("vcgate stopped"));
    app.restart().await;
    assert_eq!(app.event(&id).await["id"], id.as_str());
}

#[tokio::test]
async fn tls_listener_serves_https_only() {
    let app = TestApp::spawn_config(TestConfig {
        tls: true,
        ..TestConfig::default()
    })
    .await;
    assert!(app.base_url.starts_with("https://"));
    let r = app
        .post_json("/api/v1/alarms", &alarm_body("tls-1", "A", "vm-tls", "Red"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(app.events("limit=5").await.len(), 1);
    // Without trusting the CA the handshake fails; plain HTTP gets no answer.
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{}/healthz", app.base_url))
            .send()
            .await
            .is_err()
    );
    let plain = app.base_url.replace("https://", "http://");
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(answer.map(|r| !r.status().is_success()).unwrap_or(true));
}

/// Now, as the hook stamps `sent_at`.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
