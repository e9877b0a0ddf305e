//! Monitoring webhooks (Alertmanager v2 and CloudEvents) against a real local
//! HTTP receiver: retries with backoff, and resumption after a crash.

use std::time::Duration;

use serde_json::Value;

use crate::support::{TestApp, TestConfig, WebhookReceiver, alarm_body};

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
    let receiver = WebhookReceiver::start("/hook").await;
    receiver.fail_first(2);
    let app = TestApp::spawn_config(webhook_config(&receiver.url, "alertmanager")).await;
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
    let alerts = &receiver.bodies()[0];
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
                .flat_map(|b| b.as_array().cloned().unwrap_or_default())
                .find(|a| a["annotations"]["status"] == "Green")
        })
        .await;
    assert_eq!(resolved["labels"], alerts[0]["labels"]);
    assert!(resolved["endsAt"].is_string());
}

#[tokio::test]
async fn unfinished_forwards_resume_after_kill9() {
    let receiver = WebhookReceiver::start("/hook").await;
    receiver.fail_first(usize::MAX);
    let mut app = TestApp::spawn_config(webhook_config(&receiver.url, "cloudevents")).await;
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
        (receiver.requests() >= 1).then_some(())
    })
    .await;
    app.kill9();
    receiver.fail_first(0);
    app.restart().await;
    app.wait_for(
        "delivery after restart",
        Duration::from_secs(20),
        || async { (!receiver.bodies().is_empty()).then_some(()) },
    )
    .await;
    let delivered = &receiver.received()[0];
    assert_eq!(delivered.content_type(), "application/cloudevents+json");
    let ce = delivered.json();
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["id"], id.as_str());
    assert_eq!(ce["type"], "alarm.status.changed");
    assert_eq!(ce["subject"], "ds01");
    assert_eq!(ce["data"]["alarm"]["name"], "Datastore full");

    // Delivered once: its delivery is settled (sent, no retry left), and a
    // later event through the same target arrives with nothing before it.
    app.wait_for("the delivery settled", Duration::from_secs(10), || async {
        let e = app.event(&id).await;
        (e["deliveries"][0]["state"] == "sent").then_some(())
    })
    .await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("ce-sentinel", "Datastore full", "ds-sentinel", "Red"),
        )
        .send()
        .await
        .unwrap();
    let sentinel = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for(
        "the sentinel delivered",
        Duration::from_secs(20),
        || async {
            receiver
                .bodies()
                .iter()
                .any(|ce| ce["id"] == sentinel.as_str())
                .then_some(())
        },
    )
    .await;
    let ids: Vec<Value> = receiver
        .bodies()
        .iter()
        .map(|ce| ce["id"].clone())
        .collect();
    assert_eq!(ids, [id.as_str(), sentinel.as_str()], "delivered once");
}
