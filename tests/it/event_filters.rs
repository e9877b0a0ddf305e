//! `GET /api/v1/events` filters beyond type/source/since: vCenter, entity,
//! alarm and status globs in the routes' dialect, the routing decision,
//! held and duplicate — against a running gateway fed through the hook API.

use serde_json::{Value, json};

use crate::support::TestApp;

fn hook(delivery: &str, alarm: &str, target: &str, status: &str) -> Value {
    json!({
        "delivery_id": delivery,
        "vcenter": "vc1",
        "sent_at": "2026-11-25T10:00:00Z",
        "env": {
            "VMWARE_ALARM_NAME": alarm,
            "VMWARE_ALARM_TARGET_NAME": target,
            "VMWARE_ALARM_OLDSTATUS": "Green",
            "VMWARE_ALARM_NEWSTATUS": status,
        }
    })
}

/// The ids of the listed events for `query`, and the cursor.
async fn listed(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let body = app.get_json(&format!("/api/v1/events?{query}")).await;
    let ids = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, body["next_before"].clone())
}

#[tokio::test]
async fn events_are_filtered_by_vcenter_entity_alarm_status_route_held_and_duplicate() {
    let app =
        TestApp::spawn_with("[[route]]\nalarm = \"VM created*\"\nto = \"automation\"\n").await;
    let silence = json!({
        "matchers": [{"name": "alarm", "value": "Disk*", "isRegex": false}],
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "ops", "comment": "test"
    });
    let r = app
        .admin(reqwest::Method::POST, "/api/v1/silences")
        .json(&silence)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ids = Vec::new();
    for (i, (alarm, target, status)) in [
        ("VM created", "web01", "Red"),
        ("Host down", "esx[1]", "Red"),
        ("Host down", "esx[1]", "Red"), // a duplicate of the one before
        ("Disk full", "ds01", "Yellow"), // held by the silence
        ("Host down", "esx02", "Rot"),  // a status vcgate cannot read
    ]
    .into_iter()
    .enumerate()
    {
        let body = hook(&format!("filter-{i}"), alarm, target, status);
        ids.push(app.post_accepted("/api/v1/alarms", &body).await);
        // One at a time, so the duplicate is decided after its original.
        app.wait_processed().await;
    }
    let newest_first = |picked: &[usize]| -> Vec<String> {
        picked.iter().rev().map(|&i| ids[i].clone()).collect()
    };
    for (query, want) in [
        ("entity=esx[1]", vec![1, 2]),
        ("entity=esx*", vec![1, 2, 4]),
        ("entity=esx%3F", vec![]),
        ("alarm=Host*&entity=esx0?", vec![4]),
        ("status=red", vec![0, 1, 2]),
        ("status=RED", vec![0, 1, 2]),
        ("status=Rot", vec![4]),
        ("status=yellow&held=true", vec![3]),
        ("route=automation", vec![0]),
        ("route=monitoring", vec![1, 3, 4]),
        ("duplicate=true", vec![2]),
        ("duplicate=false&held=false", vec![0, 1, 4]),
        ("vcenter=vc?", vec![0, 1, 2, 3, 4]),
        ("vcenter=vc9", vec![]),
    ] {
        let (got, next) = listed(&app, query).await;
        assert_eq!(got, newest_first(&want), "{query}");
        assert!(next.is_null(), "{query}: the window covers every event");
    }
    // Paged: one at a time through the cursor.
    let (first, next) = listed(&app, "alarm=Host*&duplicate=false&limit=1").await;
    assert_eq!(first, newest_first(&[4]));
    let before = next.as_i64().expect("a full page has a cursor");
    let (second, next) = listed(
        &app,
        &format!("alarm=Host*&duplicate=false&limit=1&before={before}"),
    )
    .await;
    assert_eq!(second, newest_first(&[1]));
    let before = next.as_i64().unwrap();
    let (rest, next) = listed(
        &app,
        &format!("alarm=Host*&duplicate=false&limit=1&before={before}"),
    )
    .await;
    assert!(rest.is_empty() && next.is_null());

    // Bad values are refused with the parameter named.
    for (query, names) in [
        ("route=nowhere", "route"),
        ("held=yes", "held"),
        ("duplicate=1", "duplicate"),
    ] {
        let r = app
            .read(&format!("/api/v1/events?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains(names), "{body}");
    }
    let long = "x".repeat(1025);
    let r = app
        .read(&format!("/api/v1/events?entity={long}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "globs are limited as in [[route]]");
}
