//! Render tests of every console page from fixtures: the real `/ui/`
//! assets (`vcgate::ui::router`) served next to a fixture API whose every
//! free-text field carries a hostile value, opened in headless Chromium.
//! Each page must show its fixture's facts and every hostile value as text,
//! run none of them, and report no script error or policy violation.
//! The fixtures are checked against the API's own wire types first, so a
//! changed shape breaks this test instead of silently rendering `-`.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use vcgate::api::wire;

use super::{open, sign_in, text};
use crate::support::peers::browser::Browser;

/// In every free-text field of the fixtures. Shown as HTML it would load an
/// image, run a handler and a script, each setting `window.pwned`.
const EVIL: &str = r#"<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>&amp;"#;
const TOKEN: &str = "fixture-token-0123456789";
const EVENT_ID: &str = "01a22a3e-6b7c-76c2-b856-3ddf66984751";
const FIRST_ID: &str = "01a22a3e-6b7c-76c2-b856-3ddf66984700";
const RUN_ID: &str = "01a22a3e-6b8b-76d1-aff8-9b9513c4b660";

fn evil(prefix: &str) -> String {
    format!("{prefix}{EVIL}")
}

fn event() -> Value {
    json!({
        "id": EVENT_ID, "source": "snmp", "vcenter": evil("vc-"), "type": "alarm.status.changed",
        "time": "2026-11-30T02:00:00Z", "received_at": "2026-11-30T02:00:01Z",
        "entity": {"type": "HostSystem", "moref": "host-12", "name": evil("esx-")},
        "alarm": {"name": evil("alarm-"), "moref": "alarm-7",
                  "old_status": {"raw": "Green", "status": "green"},
                  "new_status": {"raw": evil("Rot-"), "status": "red"}},
        "message": evil("message-"), "user": evil("user-"), "category": "error",
        "metadata": {evil("key-"): evil("value-")},
        "raw": {"varbinds": [evil("varbind-")]},
        "fingerprint": "62cf6ad8fcb64a0439ddd4b64f58efe8",
        "enrichment": {"status": "failed", "reason": evil("vCenter timeout ")},
        "seq": 42, "stage": "processed", "duplicates": 3, "last_seen": "2026-11-30T02:03:00Z",
        "disposition": {"duplicate_of": FIRST_ID, "route": "monitoring", "rule": evil("rule-"),
                        "forward_to": ["webhook[0]"], "held_by": evil("silence:")},
        "deliveries": [{"target": "webhook[0]", "state": "failed", "attempts": 7,
                        "last_error": evil("connection refused ")}]
    })
}

fn run() -> Value {
    json!({
        "id": RUN_ID, "function": evil("fn-"), "subscription": evil("sub-"), "event_id": EVENT_ID,
        "status": "dead", "attempt": 5, "reason": evil("exit status 3 "),
        "input": {"payload": {"message": evil("input-")}}, "output": {"note": evil("output-")},
        "logs": {"stdout": [evil("out-")], "stderr": [evil("err-")], "truncated": true},
        "queued": "2026-11-30T02:00:02Z", "started": "2026-11-30T02:00:03Z",
        "finished": "2026-11-30T02:00:04.250Z", "next_attempt": null,
        "secrets": [evil("secret-")], "seq": 9
    })
}

fn status() -> Value {
    json!({
        "version": "9.9.9", "started_at": "2026-11-30T00:00:00Z", "uptime_seconds": 93784,
        "store": {"events": 1234567, "pending_pipeline": 2500, "pending_deliveries": 17,
                  "size_bytes": 1, "oldest_event": null, "writable": false},
        "sources": {"snmp": {"received": 1000, "accepted": 990, "duplicate": 4,
                             "rejected": {evil("reason-"): 6}, "last_at": "2026-11-30T02:00:00Z"}},
        "vcenters": {evil("vc-"): {"accepted": 990, "last_diagnostic_at": null, "last_event_at": null}},
        "pipeline": {"forward.webhook[0].failed": 12, evil("counter-"): 1},
        "event_streams": {evil("vc-"): {"connected": false, "last_error": evil("stream "), "last_poll_at": null,
            "last_event_key": null, "last_event_time": null, "lag_seconds": 12.5,
            "events_by_class": {}, "delivered": 0, "excluded": 0, "polls": 3, "errors": 3,
            "key_resets": 0, "collectors_open": 0}},
        "snmp": null, "active_alerts": {}, "auth_failures": {},
        "http": {"open": 1, "max": 10, "rate_limit_addresses": 0, "closed": {}},
        "runs": {"dead": 2, "succeeded": 5},
        "silences": {"active": 1, "maintenance_silencing": true,
                     "hosts_in_maintenance": [{"vcenter": evil("vc-"), "host": evil("esx-")}]}
    })
}

fn guard() -> Value {
    let host = json!({"vcenter": evil("vc-"), "moref": "host-12", "name": evil("esx-"),
                      "in_maintenance": true, "alarm_actions_enabled": false, "guarded": true});
    let mut guarded = host.clone();
    guarded["reason"] = json!(evil("guard reason "));
    json!({
        "settings": {"enabled": true, "interval_seconds": 60.0, "dry_run": true, "disable_on_enter": true,
                     "reenable": "guarded", "exclude": [evil("exclude-")], "vcenters": [evil("vc-")]},
        "vcenters": [{"name": evil("vc-"), "status": "denied", "last_reconcile": null, "last_attempt": null,
                      "next_attempt": null, "error": evil("NoPermission "), "consecutive_failures": 4,
                      "reconciles": 0, "hosts": 3}],
        "in_maintenance": [host], "guarded": [guarded],
        "actions": [{"time": "2026-11-30T01:00:00Z", "vcenter": evil("vc-"), "moref": "host-12",
                     "host": evil("esx-"), "action": "disable", "reason": evil("entered maintenance "),
                     "outcome": "dry_run", "error": null, "event_id": EVENT_ID}]
    })
}

fn silences() -> Value {
    json!({"silences": [{"id": "s-1", "status": {"state": "active"}, "updatedAt": "2026-11-30T01:00:00Z",
        "matchers": [{"name": "entity", "value": evil("esx-"), "isRegex": false, "isEqual": true}],
        "startsAt": "2026-11-30T01:00:00Z", "endsAt": "2026-11-30T05:00:00Z",
        "createdBy": evil("by-"), "comment": evil("comment-")}]})
}

fn functions() -> Value {
    json!({"functions": [{"name": evil("fn-"), "kind": "command", "command": ["/bin/true"], "url": null,
        "builtin": null, "env": [], "secrets": [], "timeout": "60s", "max_attempts": 5,
        "concurrency": 1, "signed": false, "event_format": "vcgate", "encoding": null,
        "subscriptions": []}]})
}

/// The fixtures must be what the API's types serialize.
fn check_shapes() {
    fn shape<T: serde::de::DeserializeOwned>(what: &str, v: &Value) {
        if let Err(e) = serde_json::from_value::<T>(v.clone()) {
            panic!("fixture {what} is not the API's shape: {e}");
        }
    }
    shape::<wire::EventList>("events", &json!({"events": [event()], "next_before": 41}));
    shape::<vcgate::store::StoredEvent>("event", &event());
    shape::<wire::RunList>("runs", &json!({"runs": [run()]}));
    let mut view = run();
    view["event"] = json!({"id": EVENT_ID, "type": "alarm.status.changed"});
    shape::<wire::RunView>("run", &view);
    shape::<wire::Status>("status", &status());
    shape::<wire::GuardView>("guard", &guard());
    shape::<wire::SilenceList>("silences", &silences());
    shape::<wire::FunctionList>("functions", &functions());
}

/// The fixture API (answers only with the bearer token) plus the real console.
async fn serve() -> String {
    let reply = |body: Value| {
        move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                if auth != Some(&format!("Bearer {TOKEN}")) {
                    let e = json!({"error": "unauthorized", "detail": "missing or invalid bearer token"});
                    return (StatusCode::UNAUTHORIZED, Json(e)).into_response();
                }
                Json(body).into_response()
            }
        }
    };
    let mut run_view = run();
    run_view["event"] = json!({"id": EVENT_ID, "type": "alarm.status.changed"});
    let not_ready = || async { (StatusCode::SERVICE_UNAVAILABLE, "{}").into_response() };
    let app: axum::Router = vcgate::ui::router()
        .route("/api/v1/status", get(reply(status())))
        .route("/api/v1/guard", get(reply(guard())))
        .route(
            "/api/v1/events",
            get(reply(json!({"events": [event()], "next_before": 41}))),
        )
        .route(&format!("/api/v1/events/{EVENT_ID}"), get(reply(event())))
        .route("/api/v1/runs", get(reply(json!({"runs": [run()]}))))
        .route(&format!("/api/v1/runs/{RUN_ID}"), get(reply(run_view)))
        .route("/api/v1/functions", get(reply(functions())))
        .route("/api/v1/silences", get(reply(silences())))
        .route("/healthz", get(|| async { "{}" }))
        .route("/readyz", get(not_ready));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// How many text nodes of the page hold the hostile value verbatim, after
/// checking that none of it ran or became an element.
fn evil_shown(b: &mut Browser, page: &str) -> u64 {
    assert_eq!(
        b.eval("typeof window.pwned"),
        "undefined",
        "{page}: a payload ran"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('img, main script, body > script').length"),
        0,
        "{page}: a payload became an element"
    );
    let walk = format!(
        "(() => {{ const w = document.createTreeWalker(document.getElementById('main'), NodeFilter.SHOW_TEXT); \
         let n = 0; while (w.nextNode()) if (w.currentNode.data.includes({})) n++; return n; }})()",
        json!(EVIL)
    );
    b.eval(&walk).as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_its_fixture_and_hostile_values_as_text() {
    check_shapes();
    let base = serve().await;
    let mut b = Browser::launch();
    sign_in(&mut b, &base, TOKEN);

    // Overview: the figures, the alarms raised on them, hostile names as text.
    let main = text(&mut b, "main");
    for shown in [
        "not ready",
        "9.9.9 · 1d 2h 3m",
        "NOT WRITABLE",
        "disconnected",
        "lag 12.5 s",
    ] {
        assert!(main.contains(shown), "overview lacks {shown:?}: {main}");
    }
    assert_eq!(text(&mut b, "[data-stat='store.events']"), "1,234,567");
    assert_eq!(text(&mut b, "[data-stat='runs.dead']"), "2");
    assert_eq!(text(&mut b, "[data-stat='source.snmp.rejected']"), "6");
    assert_eq!(b.eval("document.querySelectorAll('.card.bad').length"), 3);
    // reason, vCenter, stream error, pipeline counter.
    assert!(evil_shown(&mut b, "overview") >= 4);

    open(&mut b, "#/events", "events");
    assert!(text(&mut b, "main").contains("Older »"));
    assert!(evil_shown(&mut b, "events") >= 3);

    open(&mut b, &format!("#/events/{EVENT_ID}"), "events-detail");
    let timeline = text(&mut b, "ol.timeline");
    for shown in [
        "enrichmentfailed vCenter timeout",
        &format!("duplicate of {FIRST_ID}"),
        "3 later duplicates merged",
        "routed to monitoring by rule rule-",
        "held back from monitoring by silence:",
        "after 7 attempts",
        "connection refused",
        "exit status 3",
    ] {
        assert!(
            timeline.contains(shown),
            "timeline lacks {shown:?}: {timeline}"
        );
    }
    // vCenter, entity, alarm, raw status, message, user, rule, hold, error,
    // run function, subscription and reason; metadata and raw as JSON text.
    assert!(evil_shown(&mut b, "event detail") >= 12);

    open(&mut b, &format!("#/runs/{RUN_ID}"), "runs-detail");
    let main = text(&mut b, "main");
    for shown in ["took1.250 s", "Logs truncated.", "Retry this run"] {
        assert!(main.contains(shown), "run detail lacks {shown:?}: {main}");
    }
    assert!(text(&mut b, "#stdout").contains(EVIL));
    assert!(evil_shown(&mut b, "run detail") >= 6);

    open(&mut b, "#/runs", "runs");
    assert!(evil_shown(&mut b, "runs") >= 3);

    open(&mut b, "#/silences", "silences");
    let main = text(&mut b, "main");
    assert!(main.contains(&format!("entity=esx-{EVIL}")), "{main}");
    assert!(evil_shown(&mut b, "silences") >= 4);

    open(&mut b, "#/guard", "guard");
    let main = text(&mut b, "main");
    for shown in ["dry run", "denied", "dry_run", "disabled"] {
        assert!(main.contains(shown), "guard lacks {shown:?}: {main}");
    }
    assert!(evil_shown(&mut b, "guard") >= 8);

    let problems = b.problems();
    assert!(problems.is_empty(), "the page reported: {problems:#?}");
}
