//! Crash safety: `kill -9` while clients stream alarms; every acknowledged
//! event must be there after a restart, exactly once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestApp, alarm_body};

/// Acknowledgements each round waits for before the kill, while the
/// writers keep sending (the fixed 400 ms this replaced gave 130 to 340).
const ACKS_PER_ROUND: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_load_loses_no_acknowledged_alarm() {
    let mut app = TestApp::spawn().await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..3 {
        let acked_before = acked.lock().unwrap().len();
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
        // Killed mid-stream: once this round has acknowledgements, while
        // the writers keep sending.
        app.wait_for(
            "acknowledgements under load",
            Duration::from_secs(20),
            || async {
                (acked.lock().unwrap().len() >= acked_before + ACKS_PER_ROUND).then_some(())
            },
        )
        .await;
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
    let stored = app.all_pages("/api/v1/events", "events").await;
    let mut seen_deliveries = HashSet::new();
    let mut delivery_by_id = std::collections::HashMap::new();
    for e in &stored {
        let delivery = e["delivery_id"].as_str().unwrap();
        assert!(
            seen_deliveries.insert(delivery),
            "delivery {delivery} stored twice"
        );
        delivery_by_id.insert(e["id"].as_str().unwrap(), delivery);
    }
    for (delivery, id) in &acked {
        assert_eq!(
            delivery_by_id.get(id.as_str()),
            Some(&delivery.as_str()),
            "acknowledged alarm {id} lost"
        );
    }
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

/// With more originals in the window than dedup memory holds, the rebuild
/// after a kill -9 keeps the newest `max_entries` (it reads newest first and
/// stops there): their repeats merge, a repeat of an older one is new.
#[tokio::test]
async fn dedup_rebuild_keeps_the_newest_originals_memory_holds() {
    let mut app = TestApp::spawn_with("[dedup]\nmax_entries = 3\n").await;
    for i in 0..6 {
        let body = alarm_body(
            &format!("before-{i}"),
            "Host CPU",
            &format!("vm-{i}"),
            "Red",
        );
        app.post_accepted("/api/v1/alarms", &body).await;
    }
    app.wait_processed().await;
    app.restart().await;

    for i in [5, 4, 3, 2] {
        let body = alarm_body(&format!("after-{i}"), "Host CPU", &format!("vm-{i}"), "Red");
        app.post_accepted("/api/v1/alarms", &body).await;
    }
    app.wait_processed().await;
    let latest = app.events("limit=4").await;
    let mut merged: Vec<&str> = latest
        .iter()
        .filter(|e| e["disposition"]["duplicate_of"].is_string())
        .map(|e| e["delivery_id"].as_str().unwrap())
        .collect();
    merged.sort_unstable();
    assert_eq!(merged, ["after-3", "after-4", "after-5"], "{latest:#?}");
}

/// After a kill -9, the events the last run left undecided are decided
/// before any new alarm is (decisions keep arrival order per alarm), so an
/// alarm sent meanwhile would wait unanswered. `/readyz` says so: 503
/// "starting" until that recovery is done, then ready. Recovery is made to
/// take seconds with a vCenter API that accepts connections and never
/// answers: the undecided alarm's enrichment waits for its timeout.
/// (On PostgreSQL acceptance never waits for the decider: ready at once.)
#[tokio::test]
async fn readyz_waits_for_start_up_recovery() {
    // Never accepted, never answered: connections sit in the backlog.
    let silent_vcenter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sdk", silent_vcenter.local_addr().unwrap());
    let mut app = TestApp::spawn_with(&format!(
        "[[vcenter]]\nname = \"vc1\"\nurl = \"{url}\"\nusername = \"u\"\npassword = \"p\"\ntimeout = \"4s\"\n\n[enrich]\ntimeout = \"4s\"\n"
    ))
    .await;
    let id = app
        .post_accepted(
            "/api/v1/alarms",
            &alarm_body("undecided-1", "Host CPU", "vm-1", "Red"),
        )
        .await;
    // Stored undecided: its lookup is waiting for the silent vCenter.
    assert_eq!(app.status().await["store"]["pending_pipeline"], 1);
    app.restart_listening().await;

    if app.on_postgres() {
        app.wait_readyz(200).await;
        app.wait_processed().await;
    } else {
        let starting: Value = app
            .wait_for(
                "/readyz 503 while recovering",
                Duration::from_secs(10),
                || async {
                    let r = app.read("/readyz").send().await.ok()?;
                    (r.status() == 503).then_some(())?;
                    r.json().await.ok()
                },
            )
            .await;
        assert!(
            starting["detail"].to_string().contains("starting"),
            "{starting}"
        );
        assert_eq!(app.status().await["store"]["pending_pipeline"], 1);
        app.wait_readyz(200).await;
        // Ready only once the event from before the kill is decided.
        assert_eq!(app.status().await["store"]["pending_pipeline"], 0);
    }
    // Its lookup timed out: decided without enrichment.
    let event = app.event(&id).await;
    assert!(event["disposition"].is_object(), "{event:#}");
    assert_eq!(event["enrichment"]["status"], "failed", "{event:#}");
    drop(silent_vcenter);
}
