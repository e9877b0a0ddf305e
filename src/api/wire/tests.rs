//! Byte pins of the API bodies: each test builds a body from fixed values,
//! serializes it as the handler does (`api::Sorted`: through a `Value`, keys
//! sorted) and compares the text with what the API has always answered, then
//! reads it back as the CLI does. A test failing here means a contract
//! change: update `design.md`/README and say so, or fix the type.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::model::{Alarm, Entity, EntityKind, Event, EventType, Moref, Source, StatusText};
use crate::silence::{Matcher, Silence};
use crate::store::{
    AlertIdentity, AlertRow, AlertState, DeliveryState, Disposition, RunLogs, RunRecord, RunStatus,
    StoreStats,
};

const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);
const ID: &str = "01a21295-be64-75ab-a89a-97d7d5862a53";

/// The body as the handler sends it.
fn sorted<T: Serialize>(body: &T) -> String {
    serde_json::to_string(&serde_json::to_value(body).unwrap()).unwrap()
}

/// Pins `body`'s bytes and reads them back as the CLI does.
fn pin<T: Serialize + DeserializeOwned>(body: &T, expected: &str) -> T {
    let text = sorted(body);
    assert_eq!(text, expected);
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(sorted(&back), expected, "read back unchanged");
    back
}

fn event_id() -> crate::model::EventId {
    crate::model::EventId::parse(ID).unwrap()
}

fn stored_event() -> StoredEvent {
    let mut event = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
    event.id = event_id();
    event.received_at = T0;
    event.time = Some(T0);
    event.entity = Entity {
        kind: Some(EntityKind::VirtualMachine),
        moref: Moref::parse("vm-42"),
        name: Some("web01".into()),
    };
    event.alarm = Some(Alarm {
        name: Some("VM created".into()),
        new_status: Some(StatusText::parse("Red")),
        ..Alarm::default()
    });
    event.raw =
        crate::model::RawPayload::from_json(br#"{"env":{"VMWARE_ALARM_NAME":"VM created"}}"#)
            .unwrap();
    event.fingerprint = event.compute_fingerprint();
    StoredEvent {
        event,
        seq: 7,
        stage: crate::store::EventStage::Processed,
        duplicates: 1,
        last_seen: Some(T0),
        disposition: Some(Disposition {
            duplicate_of: None,
            route: Some(crate::config::RouteTarget::Monitoring),
            rule: Some("default".into()),
            forward_to: vec!["nms".into()],
            subscriptions: Vec::new(),
            held_by: None,
        }),
        deliveries: vec![DeliveryState {
            target: "nms".into(),
            state: crate::store::DeliveryStatus::Sent,
            attempts: 1,
            last_error: None,
        }],
    }
}

#[test]
fn errors_health_and_acceptance() {
    pin(
        &ErrorBody {
            error: "bad request".into(),
            detail: "event id must be a UUID".into(),
        },
        r#"{"detail":"event id must be a UUID","error":"bad request"}"#,
    );
    pin(
        &Health {
            status: "ok".into(),
        },
        r#"{"status":"ok"}"#,
    );
    let accepted = Accepted {
        id: event_id(),
        duplicate: false,
    };
    pin(&accepted, &format!(r#"{{"id":"{ID}"}}"#));
    pin(
        &Accepted {
            duplicate: true,
            ..accepted
        },
        &format!(r#"{{"duplicate":true,"id":"{ID}"}}"#),
    );
}

#[test]
fn event_list_and_event() {
    let list = EventList {
        events: vec![stored_event()],
        next_before: Some(7),
    };
    let fp = stored_event().event.fingerprint.0;
    let back = pin(
        &list,
        &format!(
            r#"{{"events":[{{"alarm":{{"name":"VM created","new_status":{{"raw":"Red","status":"red"}}}},"deliveries":[{{"attempts":1,"state":"sent","target":"nms"}}],"disposition":{{"forward_to":["nms"],"route":"monitoring","rule":"default"}},"duplicates":1,"entity":{{"moref":"vm-42","name":"web01","type":"VirtualMachine"}},"fingerprint":"{fp}","id":"{ID}","last_seen":"2026-11-25T10:00:00Z","metadata":{{}},"raw":{{"env":{{"VMWARE_ALARM_NAME":"VM created"}}}},"received_at":"2026-11-25T10:00:00Z","seq":7,"source":"alarm-hook","stage":"processed","time":"2026-11-25T10:00:00Z","type":"alarm.status.changed","vcenter":"vc1"}}],"next_before":7}}"#
        ),
    );
    assert_eq!(back.events[0].event, stored_event().event);
    // `GET /api/v1/events/{id}` is serialized straight from the type, in
    // field order (as it always was).
    let one = serde_json::to_string(&stored_event()).unwrap();
    assert!(
        one.starts_with(&format!(
            r#"{{"id":"{ID}","source":"alarm-hook","vcenter":"vc1","type":"alarm.status.changed""#
        )),
        "{one}"
    );
    assert!(one.ends_with(r#""deliveries":[{"target":"nms","state":"sent","attempts":1}]}"#));
    let back: StoredEvent = serde_json::from_str(&one).unwrap();
    assert_eq!(
        back,
        stored_event(),
        "reads back whole, raw payload included"
    );
    // An event without deliveries or disposition omits both and reads back.
    let mut bare = stored_event();
    bare.deliveries.clear();
    bare.disposition = None;
    let text = serde_json::to_string(&bare).unwrap();
    assert!(!text.contains("deliveries") && !text.contains("disposition"));
    let back: StoredEvent = serde_json::from_str(&text).unwrap();
    assert!(back.deliveries.is_empty() && back.disposition.is_none());
}

#[test]
fn status() {
    let stats = crate::telemetry::Stats::new();
    stats.rejected(Source::AlarmHook, "unauthorized");
    stats.auth_failed("read");
    stats.http_closed("idle_timeout");
    let status = Status {
        version: "0.1.0".into(),
        started_at: T0,
        uptime_seconds: 2,
        store: StoreStats {
            events: 2,
            pending_pipeline: 0,
            pending_deliveries: 1,
            size_bytes: 4096,
            oldest_event: Some(T0),
            writable: true,
        },
        counters: stats.snapshot(),
        runs: BTreeMap::from([("succeeded".to_owned(), 3)]),
        silences: SilenceSummary {
            active: 1,
            maintenance_silencing: true,
            hosts_in_maintenance: vec![HostRef {
                vcenter: "vc1".into(),
                host: "esx01".into(),
            }],
        },
        cluster: None,
    };
    let zero = r#"{"accepted":0,"duplicate":0,"last_at":null,"received":0,"rejected":{}}"#;
    let back = pin(
        &status,
        &format!(
            r#"{{"active_alerts":{{}},"auth_failures":{{"read":1}},"event_streams":{{}},"http":{{"closed":{{"idle_timeout":1}},"max":0,"open":0,"rate_limit_addresses":0}},"pipeline":{{}},"runs":{{"succeeded":3}},"silences":{{"active":1,"hosts_in_maintenance":[{{"host":"esx01","vcenter":"vc1"}}],"maintenance_silencing":true}},"snmp":null,"sources":{{"alarm-hook":{{"accepted":0,"duplicate":0,"last_at":null,"received":0,"rejected":{{"unauthorized":1}}}},"api":{zero},"guard":{zero},"snmp":{zero},"vcenter-events":{zero}}},"started_at":"2026-11-25T10:00:00Z","store":{{"events":2,"oldest_event":"2026-11-25T10:00:00Z","pending_deliveries":1,"pending_pipeline":0,"size_bytes":4096,"writable":true}},"uptime_seconds":2,"vcenters":{{}},"version":"0.1.0"}}"#
        ),
    );
    assert_eq!(
        back.counters.sources["alarm-hook"].rejected["unauthorized"],
        1
    );
}

/// A renamed or missing field is an error for the CLI, not a `-`.
#[test]
fn a_missing_field_fails_loudly() {
    let mut value = serde_json::to_value(Status {
        version: "0.1.0".into(),
        started_at: T0,
        uptime_seconds: 0,
        store: StoreStats::default(),
        counters: Default::default(),
        runs: BTreeMap::new(),
        silences: SilenceSummary {
            active: 0,
            maintenance_silencing: false,
            hosts_in_maintenance: Vec::new(),
        },
        cluster: None,
    })
    .unwrap();
    value["store"]
        .as_object_mut()
        .unwrap()
        .remove("pending_pipeline");
    let err = serde_json::from_value::<Status>(value).unwrap_err();
    assert!(err.to_string().contains("pending_pipeline"), "{err}");
}

fn run_record() -> RunRecord {
    RunRecord {
        id: "01a21295-c000-7000-8000-000000000001".into(),
        function: "set-vmattributes".into(),
        subscription: "on-vm-created".into(),
        event_id: event_id(),
        status: RunStatus::Failed,
        attempt: 2,
        reason: Some("exit status 1".into()),
        input: None,
        output: Some(serde_json::json!({"ok": false})),
        logs: RunLogs {
            stdout: vec!["hello".into()],
            stderr: Vec::new(),
            truncated: false,
        },
        queued: T0,
        started: Some(T0),
        finished: None,
        next_attempt: Some(T0),
        secrets: vec!["vsphere".into()],
        seq: 3,
    }
}

#[test]
fn runs() {
    let run = r#"{"attempt":2,"event_id":"01a21295-be64-75ab-a89a-97d7d5862a53","finished":null,"function":"set-vmattributes","id":"01a21295-c000-7000-8000-000000000001","input":null,"logs":{"stderr":[],"stdout":["hello"],"truncated":false},"next_attempt":"2026-11-25T10:00:00Z","output":{"ok":false},"queued":"2026-11-25T10:00:00Z","reason":"exit status 1","secrets":["vsphere"],"seq":3,"started":"2026-11-25T10:00:00Z","status":"failed","subscription":"on-vm-created"}"#;
    pin(
        &RunList {
            runs: vec![run_record()],
        },
        &format!(r#"{{"runs":[{run}]}}"#),
    );
    let view = RunView {
        run: run_record(),
        event: serde_json::json!({"id": ID, "type": "vm.created", "specversion": "1.0"}),
    };
    let back = pin(
        &view,
        &format!(
            r#"{}"event":{{"id":"{ID}","specversion":"1.0","type":"vm.created"}},"event_id"{}"#,
            &run[..run.find("\"event_id\"").unwrap()],
            &run[run.find("\"event_id\"").unwrap() + "\"event_id\"".len()..],
        ),
    );
    let head = back.event_head().unwrap();
    assert_eq!(
        (head.id.as_str(), head.event_type.as_str()),
        (ID, "vm.created")
    );
    pin(
        &RunQueued {
            id: "r1".into(),
            status: RunStatus::Queued,
        },
        r#"{"id":"r1","status":"queued"}"#,
    );
}

#[test]
fn functions_and_subscriptions() {
    let function = FunctionView {
        name: "set-vmattributes".into(),
        kind: crate::config::FunctionKind::Command,
        command: Some(vec!["/opt/f.py".into()]),
        url: None,
        builtin: None,
        env: vec!["MODE".into()],
        secrets: vec!["vsphere".into()],
        timeout: "1m".into(),
        max_attempts: 5,
        concurrency: 4,
        signed: false,
        event_format: crate::cloudevents::EventFormat::Vcgate,
        encoding: None,
        subscriptions: vec!["on-vm-created".into()],
    };
    pin(
        &FunctionList {
            functions: vec![function],
        },
        r#"{"functions":[{"builtin":null,"command":["/opt/f.py"],"concurrency":4,"encoding":null,"env":["MODE"],"event_format":"vcgate","kind":"command","max_attempts":5,"name":"set-vmattributes","secrets":["vsphere"],"signed":false,"subscriptions":["on-vm-created"],"timeout":"1m","url":null}]}"#,
    );
    pin(
        &SubscriptionList {
            subscriptions: vec![SubscriptionView {
                name: "on-vm-created".into(),
                event_type: "vm.*".into(),
                function: "f".into(),
                vcenter: None,
                entity: Some("web*".into()),
                alarm: None,
                status: None,
                event_format: None,
            }],
        },
        r#"{"subscriptions":[{"alarm":null,"entity":"web*","event_type":"vm.*","function":"f","name":"on-vm-created","status":null,"vcenter":null}]}"#,
    );
    // Reload is serialized straight from the type, in field order.
    let summary = ReloadSummary {
        generation: 1,
        routes: 1,
        functions: 2,
        subscriptions: 2,
        secret_sets: 0,
    };
    let text = serde_json::to_string(&summary).unwrap();
    assert_eq!(
        text,
        r#"{"generation":1,"routes":1,"functions":2,"subscriptions":2,"secret_sets":0}"#
    );
    assert_eq!(
        serde_json::from_str::<ReloadSummary>(&text).unwrap(),
        summary
    );
}

#[test]
fn silences_v1_and_v2() {
    let silence = Silence {
        id: "s1".into(),
        matchers: vec![
            Matcher {
                glob: true,
                ..Matcher::new("alarm", "alarm.Datastore*", false, true)
            },
            Matcher::new("entity", "ds-(a|b)", true, false),
        ],
        starts_at: T0,
        ends_at: T0 + time::Duration::hours(2),
        created_by: "alice".into(),
        comment: "storage migration".into(),
        updated_at: None,
    };
    let now = T0 + time::Duration::minutes(1);
    let tail = r#""startsAt":"2026-11-25T10:00:00Z","status":{"state":"active"},"updatedAt":"2026-11-25T10:00:00Z"}"#;
    let head = r#"{"comment":"storage migration","createdBy":"alice","endsAt":"2026-11-25T12:00:00Z","id":"s1","matchers":"#;
    pin(
        &vec![GettableSilence::v2(&silence, now)],
        &format!(
            r#"[{head}[{{"isEqual":true,"isRegex":true,"name":"alarm","value":"alarm\\.Datastore.*"}},{{"isEqual":false,"isRegex":true,"name":"entity","value":"ds-(a|b)"}}],{tail}]"#
        ),
    );
    pin(
        &SilenceList {
            silences: vec![GettableSilence::v1(&silence, now)],
        },
        &format!(
            r#"{{"silences":[{head}[{{"isEqual":true,"isRegex":false,"name":"alarm","value":"alarm.Datastore*"}},{{"isEqual":false,"isRegex":true,"name":"entity","value":"ds-(a|b)"}}],{tail}]}}"#
        ),
    );
    pin(
        &SilenceCreated {
            silence_id: "s1".into(),
        },
        r#"{"silenceID":"s1"}"#,
    );
    // What amtool posts: isRegex/isEqual may be left out.
    let posted: PostableSilence = serde_json::from_str(
        r#"{"matchers":[{"name":"alertname","value":"x"}],"endsAt":"2026-11-25T12:00:00Z","extra":1}"#,
    )
    .unwrap();
    assert!(posted.matchers[0].is_equal && !posted.matchers[0].is_regex);
    assert!(posted.starts_at.is_none() && posted.id.is_none());
    // What the CLI posts.
    let cli = PostableSilence {
        id: None,
        matchers: posted.matchers.clone(),
        starts_at: Some(T0),
        ends_at: T0 + time::Duration::hours(1),
        created_by: "alice".into(),
        comment: String::new(),
    };
    assert_eq!(
        serde_json::to_string(&cli).unwrap(),
        r#"{"matchers":[{"name":"alertname","value":"x","isRegex":false,"isEqual":true}],"startsAt":"2026-11-25T10:00:00Z","endsAt":"2026-11-25T11:00:00Z","createdBy":"alice","comment":""}"#
    );
    assert!(
        serde_json::from_str::<NewSilenceV1>(
            r#"{"matchers":[],"endsAt":"2026-11-25T12:00:00Z","extra":1}"#
        )
        .is_err(),
        "v1 refuses unknown fields"
    );
    pin(
        &AlertmanagerStatus::of_vcgate(T0),
        r#"{"cluster":{"peers":[],"status":"disabled"},"config":{"original":""},"uptime":"2026-11-25T10:00:00Z","versionInfo":{"branch":"","buildDate":"","buildUser":"vcgate","goVersion":"none (vcgate is written in Rust)","revision":"","version":"0.1.0"}}"#,
    );
}

fn alert_row(target: &str, held_by: Option<&str>) -> AlertRow {
    AlertRow {
        target: target.into(),
        key: "k1".into(),
        identity: AlertIdentity {
            vcenter: "vc1".into(),
            entity_moref: None,
            entity_name: "ds1".into(),
            entity_type: Some("Datastore".into()),
            alarm_moref: None,
            alarm_name: "Datastore usage".into(),
        },
        labels: BTreeMap::from([
            ("alertname".to_owned(), "Datastore usage".to_owned()),
            ("entity".to_owned(), "ds1".to_owned()),
        ]),
        state: AlertState::Firing,
        severity: "warning".into(),
        status: "Yellow".into(),
        summary: "Datastore usage".into(),
        starts_at: T0,
        resolved_at: None,
        event_id: event_id(),
        sent_event_id: None,
        held_by: held_by.map(str::to_owned),
        version: 1,
    }
}

#[test]
fn alerts_v1_and_v2() {
    let fp = crate::monitoring::alerts::fingerprint(&alert_row("am", None).labels);
    pin(
        &AlertList {
            alerts: vec![alert_row("am", None).into()],
        },
        &format!(
            r#"{{"alerts":[{{"event_id":"{ID}","fingerprint":"{fp}","identity":{{"alarm_name":"Datastore usage","entity_name":"ds1","entity_type":"Datastore","vcenter":"vc1"}},"key":"k1","labels":{{"alertname":"Datastore usage","entity":"ds1"}},"resolved_at":null,"severity":"warning","starts_at":"2026-11-25T10:00:00Z","state":"firing","status":"Yellow","summary":"Datastore usage","target":"am","version":1}}]}}"#
        ),
    );
    let mut resolved = alert_row("other", None);
    resolved.state = AlertState::Resolved;
    let rows = [
        alert_row("am", Some("silence:s1")),
        alert_row("am2", None),
        resolved,
    ];
    pin(
        &gettable_alerts(&rows, T0),
        &format!(
            r#"[{{"annotations":{{"event_id":"{ID}","severity":"warning","status":"Yellow","summary":"Datastore usage"}},"endsAt":"2026-11-25T10:04:00Z","fingerprint":"{fp}","labels":{{"alertname":"Datastore usage","entity":"ds1"}},"receivers":[{{"name":"am"}},{{"name":"am2"}}],"startsAt":"2026-11-25T10:00:00Z","status":{{"inhibitedBy":[],"silencedBy":["silence:s1"],"state":"suppressed"}},"updatedAt":"2026-11-25T10:00:00Z"}}]"#
        ),
    );
}
