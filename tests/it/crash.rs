//! Crash safety: `kill -9` while clients stream alarms; every acknowledged
//! event must be there after a restart, exactly once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::http_ingest::alarm_body;
use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_load_loses_no_acknowledged_alarm() {
    let mut app = TestApp::spawn().await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..3 {
        let mut writers = Vec::new();
        for w in 0..4 {
            let url = format!("{}/api/v1/alarms", app.base_url);
            let token = app.ingest_token.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0.. {
                    let delivery = format!("r{round}-w{w}-{i}");
                    let body = alarm_body(&delivery, "Crash test", &format!("vm-{i}"), "Red");
                    match client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 202 => {
                            let id = r.json::<Value>().await.unwrap()["id"]
                                .as_str()
                                .unwrap()
                                .to_owned();
                            acked.lock().unwrap().push((delivery, id));
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => return, // server killed mid-request: not acknowledged
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.kill9();
        for w in writers {
            w.await.unwrap();
        }
        app.restart().await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "the load should have produced acknowledgements, got {}",
        acked.len()
    );
    let stored = app.events("limit=1000").await;
    let mut seen_deliveries = HashSet::new();
    for e in &stored {
        assert!(
            seen_deliveries.insert(e["delivery_id"].as_str().unwrap().to_owned()),
            "delivery stored twice"
        );
    }
    let stored_ids: HashSet<&str> = stored.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut total = stored.len();
    let mut next = stored.last().and_then(|e| e["seq"].as_i64());
    while let Some(before) = next {
        let page = app.events(&format!("limit=1000&before={before}")).await;
        total += page.len();
        next = if page.len() == 1000 {
            page.last().and_then(|e| e["seq"].as_i64())
        } else {
            None
        };
        for e in &page {
            assert!(
                seen_deliveries.insert(e["delivery_id"].as_str().unwrap().to_owned()),
                "delivery stored twice"
            );
        }
    }
    for (delivery, id) in &acked {
        if !stored_ids.contains(id.as_str()) {
            let event = app.event(id).await;
            assert_eq!(event["delivery_id"], delivery.as_str());
        }
    }
    assert!(total >= acked.len());
    // After restart the pipeline resumes and decides every event.
    app.wait_processed().await;
}

/// Dedup state is rebuilt from the store after a crash, page by page: a
/// repeat of an alarm decided before the kill is still merged, both for the
/// oldest one in the window and for one past the first rebuild page (1024).
#[tokio::test]
async fn dedup_state_is_rebuilt_after_kill9() {
    use futures::StreamExt;
    let mut app = TestApp::spawn().await;
    let total = 1100;
    let statuses: Vec<u16> = futures::stream::iter(0..total)
        .map(|i| {
            let body = alarm_body(
                &format!("before-{i}"),
                "Host CPU",
                &format!("vm-{i}"),
                "Red",
            );
            let app = &app;
            async move {
                app.post_json("/api/v1/alarms", &body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    app.wait_processed().await;
    app.restart().await;

    for (delivery, target) in [("after-0", "vm-0"), ("after-last", "vm-1099")] {
        let body = alarm_body(delivery, "Host CPU", target, "Red");
        let r = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
        assert_eq!(r.status(), 202);
    }
    // A different status is a new transition, not a duplicate.
    let body = alarm_body("after-green", "Host CPU", "vm-5", "Green");
    assert_eq!(
        app.post_json("/api/v1/alarms", &body)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    app.wait_processed().await;
    assert_eq!(app.pipeline_counter("dedup.merged").await, 2);
    let latest = app.events("limit=3").await;
    let merged: Vec<&str> = latest
        .iter()
        .filter(|e| e["disposition"]["duplicate_of"].is_string())
        .map(|e| e["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(merged.len(), 2, "{latest:#?}");
    assert!(
        merged.contains(&"after-0") && merged.contains(&"after-last"),
        "{merged:?}"
    );
}
