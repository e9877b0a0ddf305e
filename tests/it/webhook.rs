//! Monitoring webhooks (Alertmanager v2 and CloudEvents) against a real local
//! HTTP receiver: retries with backoff, and resumption after a crash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::http_ingest::alarm_body;
use crate::support::{TestApp, TestConfig};

/// A receiver that fails the first `fail_first` requests with 500.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
    requests: Arc<AtomicUsize>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.fail_first.store(fail_first, Ordering::SeqCst);
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let state = state.clone();
                async move {
                    let n = state.requests.fetch_add(1, Ordering::SeqCst);
                    if n < state.fail_first.load(Ordering::SeqCst) {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    state.bodies.lock().unwrap().push((ct, body));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn bodies(&self) -> Vec<(String, Value)> {
        self.bodies.lock().unwrap().clone()
    }
}

fn webhook_config(url: &str, format: &str) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[monitoring.webhook]]\nname = \"am\"\nurl = \"{url}\"\nformat = \"{format}\"\ntimeout = \"2s\"\n"
        ),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn alertmanager_webhook_is_retried_until_delivered() {
    let (receiver, url) = Receiver::start(2).await;
    let app = TestApp::spawn_config(webhook_config(&url, "alertmanager")).await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("am-1", "Host down", "esx01", "Red"),
        )
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for(
        "delivery after retries",
        Duration::from_secs(20),
        || async { (!receiver.bodies().is_empty()).then_some(()) },
    )
    .await;
    let (_, alerts) = &receiver.bodies()[0];
    assert_eq!(alerts[0]["labels"]["alertname"], "Host down");
    assert_eq!(alerts[0]["labels"]["entity"], "esx01");
    assert!(
        alerts[0]["labels"].get("severity").is_none(),
        "severity is an annotation"
    );
    assert_eq!(alerts[0]["annotations"]["severity"], "critical");
    assert_eq!(alerts[0]["annotations"]["event_id"], id.as_str());
    assert!(
        alerts[0]["endsAt"].is_string(),
        "firing alerts end 4 resend intervals out"
    );
    let event = app
        .wait_for("decided", Duration::from_secs(5), || async {
            let e = app.event(&id).await;
            (e["stage"] == "processed").then_some(e)
        })
        .await;
    assert_eq!(event["disposition"]["forward_to"][0], "am");
    assert!(app.pipeline_counter("forward.am.failed").await >= 2);
    assert!(app.pipeline_counter("forward.am.sent").await >= 1);

    // Green resolves the alert: same labels, endsAt set to the resolve time.
    app.post_json(
        "/api/v1/alarms",
        &alarm_body("am-2", "Host down", "esx01", "Green"),
    )
    .send()
    .await
    .unwrap();
    let resolved = app
        .wait_for("resolve", Duration::from_secs(10), || async {
            receiver
                .bodies()
                .into_iter()
                .flat_map(|(_, b)| b.as_array().cloned().unwrap_or_default())
                .find(|a| a["annotations"]["status"] == "Green")
        })
        .await;
    assert_eq!(resolved["labels"], alerts[0]["labels"]);
    assert!(resolved["endsAt"].is_string());
}

#[tokio::test]
async fn unfinished_forwards_resume_after_kill9() {
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let mut app = TestApp::spawn_config(webhook_config(&url, "cloudevents")).await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("ce-1", "Datastore full", "ds01", "Red"),
        )
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for("a failed attempt", Duration::from_secs(10), || async {
        (receiver.requests.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    app.kill9();
    receiver.fail_first.store(0, Ordering::SeqCst);
    app.restart().await;
    app.wait_for(
        "delivery after restart",
        Duration::from_secs(20),
        || async { (!receiver.bodies().is_empty()).then_some(()) },
    )
    .await;
    let (content_type, ce) = &receiver.bodies()[0];
    assert_eq!(content_type, "application/cloudevents+json");
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["id"], id.as_str());
    assert_eq!(ce["type"], "alarm.status.changed");
    assert_eq!(ce["subject"], "ds01");
    assert_eq!(ce["data"]["alarm"]["name"], "Datastore full");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.bodies().len(), 1, "delivered once");
}
