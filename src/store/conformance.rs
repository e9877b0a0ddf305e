//! The backend conformance suite: what every store backend must do, written
//! against the aggregate traits only (through a [`Store`] handle), so SQLite
//! and PostgreSQL cannot drift.
//!
//! Each case is an `async fn(&Store)` that starts from an empty store.
//! [`conformance_tests!`] turns the list of cases into one `#[tokio::test]`
//! per case for a backend, given its constructor: an `async fn()` returning
//! the handle and a guard kept alive for the test (a temporary directory, a
//! private database). A new backend adds one line next to SQLite's, at the
//! bottom of this file.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use time::OffsetDateTime;

use super::alerts::{Change, Observation};
use super::*;
use crate::config::RouteTarget;
use crate::model::{Event, EventId, EventType, Source};

/// One `#[tokio::test]` per case, in a module named after the backend.
macro_rules! conformance_tests {
    ($backend:ident, $open:path) => {
        mod $backend {
            $crate::store::conformance::conformance_tests!(@cases $open;
                accept_is_idempotent_by_delivery_id,
                pending_events_come_in_order_until_decided,
                record_processed_decides_merges_and_queues,
                runs_are_claimed_settled_retried_and_requeued,
                deliveries_are_sent_retried_and_given_up,
                guard_memory_commits_whole_and_snapshots,
                silences_upsert_expire_list_and_prune,
                checkpoints_commit_with_their_events,
                alerts_fire_hold_release_resolve_and_forget,
                prune_removes_old_events_and_their_deliveries,
                listing_filters_and_pages,
                kv_values_round_trip,
            );
        }
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _keep) = $open().await;
                $crate::store::conformance::$case(&store).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

fn event(source: Source, event_type: &str, delivery: Option<&str>) -> Event {
    let mut e = Event::new(source, "vc1", EventType::parse(event_type).unwrap());
    e.delivery_id = delivery.map(str::to_owned);
    e
}

fn disposition(route: Option<RouteTarget>) -> Disposition {
    Disposition {
        duplicate_of: None,
        route,
        rule: Some("default".into()),
        forward_to: Vec::new(),
        subscriptions: Vec::new(),
        held_by: None,
    }
}

fn processed(id: EventId, disposition: Disposition) -> ProcessedEvent {
    ProcessedEvent {
        id,
        disposition,
        merge_into: None,
        seen_at: OffsetDateTime::now_utc(),
        runs: Vec::new(),
        updated: None,
        alert: None,
    }
}

async fn accept_all(store: &Store, events: Vec<Event>) -> Vec<EventId> {
    let outcomes = store.accept_many(events).await.unwrap();
    outcomes.into_iter().map(AcceptOutcome::id).collect()
}

pub async fn accept_is_idempotent_by_delivery_id(store: &Store) {
    let first = event(Source::AlarmHook, "vm.created", Some("d-1"));
    let first_id = first.id;
    assert_eq!(
        store.accept(first.clone()).await.unwrap(),
        AcceptOutcome::Accepted(first_id)
    );
    // The same delivery again (a new event id): the first one's id.
    let again = event(Source::AlarmHook, "vm.created", Some("d-1"));
    assert_eq!(
        store.accept(again).await.unwrap(),
        AcceptOutcome::AlreadyAccepted(first_id)
    );
    // Another source may use the same delivery id; no delivery id never clashes.
    let other = event(Source::Api, "vm.created", Some("d-1"));
    assert!(matches!(
        store.accept(other).await.unwrap(),
        AcceptOutcome::Accepted(_)
    ));
    let outcomes = store
        .accept_many(vec![
            event(Source::AlarmHook, "vm.created", None),
            event(Source::AlarmHook, "vm.created", None),
            event(Source::AlarmHook, "vm.created", Some("d-2")),
            event(Source::AlarmHook, "vm.created", Some("d-2")),
        ])
        .await
        .unwrap();
    assert!(
        outcomes[..3]
            .iter()
            .all(|o| matches!(o, AcceptOutcome::Accepted(_)))
    );
    assert_eq!(
        outcomes[3],
        AcceptOutcome::AlreadyAccepted(outcomes[2].id())
    );

    let stored = store.get_event(first_id).await.unwrap().unwrap();
    assert_eq!(stored.event, first);
    assert_eq!(stored.stage, EventStage::Accepted);
    assert_eq!((stored.duplicates, stored.last_seen), (0, None));
    assert!(stored.disposition.is_none() && stored.deliveries.is_empty());
    assert!(store.get_event(EventId::new()).await.unwrap().is_none());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.pending_pipeline), (5, 5));
    assert!(stats.writable && store.is_writable());
}

pub async fn pending_events_come_in_order_until_decided(store: &Store) {
    let ids = accept_all(
        store,
        (0..5)
            .map(|_| event(Source::Snmp, "snmp.trap", None))
            .collect(),
    )
    .await;
    let pending = store.pending_events(0, 10).await.unwrap();
    assert_eq!(
        pending.iter().map(|(_, e)| e.id).collect::<Vec<_>>(),
        ids,
        "oldest first"
    );
    assert!(pending.windows(2).all(|w| w[0].0 < w[1].0));
    let after_second = store.pending_events(pending[1].0, 2).await.unwrap();
    assert_eq!(
        after_second.iter().map(|(_, e)| e.id).collect::<Vec<_>>(),
        ids[2..4]
    );
    store
        .record_processed(vec![
            processed(ids[0], disposition(Some(RouteTarget::Monitoring))),
            processed(ids[3], disposition(Some(RouteTarget::Drop))),
        ])
        .await
        .unwrap();
    let left: Vec<EventId> = store
        .pending_events(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.id)
        .collect();
    assert_eq!(left, vec![ids[1], ids[2], ids[4]]);
    assert_eq!(store.stats().await.unwrap().pending_pipeline, 3);
}

pub async fn record_processed_decides_merges_and_queues(store: &Store) {
    let ids = accept_all(
        store,
        vec![
            event(Source::AlarmHook, "alarm.status.changed", None),
            event(Source::Snmp, "alarm.status.changed", None),
        ],
    )
    .await;
    let (original, repeat) = (ids[0], ids[1]);
    let mut enriched = store.get_event(original).await.unwrap().unwrap().event;
    enriched.event_type = EventType::parse("vm.created").unwrap();
    enriched.user = Some("admin".into());
    let mut decided = disposition(Some(RouteTarget::Both));
    decided.forward_to = vec!["nms".into()];
    decided.subscriptions = vec!["sub".into()];
    let seen = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    store
        .record_processed(vec![
            ProcessedEvent {
                runs: vec![NewRun {
                    subscription: "sub".into(),
                    function: "f".into(),
                    secrets: vec!["vsphere".into()],
                }],
                updated: Some(enriched.clone()),
                ..processed(original, decided.clone())
            },
            ProcessedEvent {
                merge_into: Some(original),
                seen_at: seen,
                ..processed(
                    repeat,
                    Disposition {
                        duplicate_of: Some(original),
                        route: None,
                        ..disposition(None)
                    },
                )
            },
        ])
        .await
        .unwrap();
    let stored = store.get_event(original).await.unwrap().unwrap();
    assert_eq!(stored.stage, EventStage::Processed);
    assert_eq!(
        stored.event, enriched,
        "the enriched event replaces the stored one"
    );
    assert_eq!(stored.disposition.as_ref(), Some(&decided));
    assert_eq!((stored.duplicates, stored.last_seen), (1, Some(seen)));
    assert_eq!(
        stored.deliveries,
        vec![DeliveryState {
            target: "nms".into(),
            state: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
        }]
    );
    let runs = store
        .list_runs(RunQuery {
            event: Some(original),
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].function.as_str(), runs[0].attempt),
        (RunStatus::Queued, "f", 0)
    );
    assert_eq!(runs[0].secrets, vec!["vsphere".to_owned()]);
    // The listing finds it by its new type; only originals rebuild dedup.
    let page = store
        .list_events(EventQuery {
            event_type: Some("vm.created".into()),
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let since = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let (originals, last) = store.recent_originals(since, 0, 10).await.unwrap();
    assert_eq!(
        originals.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![original]
    );
    let (rest, _) = store
        .recent_originals(since, last.unwrap(), 10)
        .await
        .unwrap();
    assert!(rest.is_empty());
}

/// Two runs of `f` queued for one event each; returns (run ids, event ids).
async fn queue_runs(store: &Store, n: usize) -> Vec<EventId> {
    let ids = accept_all(
        store,
        (0..n)
            .map(|_| event(Source::Api, "vm.created", None))
            .collect(),
    )
    .await;
    let outcomes = ids
        .iter()
        .map(|id| ProcessedEvent {
            runs: vec![NewRun {
                subscription: "sub".into(),
                function: "f".into(),
                secrets: Vec::new(),
            }],
            ..processed(*id, disposition(Some(RouteTarget::Automation)))
        })
        .collect();
    store.record_processed(outcomes).await.unwrap();
    ids
}

fn ended(status: RunStatus, retry_at: Option<OffsetDateTime>) -> RunOutcome {
    RunOutcome {
        status,
        reason: Some(status.as_str().into()),
        input: Some(serde_json::json!({"in": 1})),
        output: Some(serde_json::json!({"out": 2})),
        logs: RunLogs {
            stdout: vec!["hello".into()],
            stderr: Vec::new(),
            truncated: false,
        },
        retry_at,
    }
}

pub async fn runs_are_claimed_settled_retried_and_requeued(store: &Store) {
    let events = queue_runs(store, 2).await;
    assert_eq!(
        store.next_run_due("f".into()).await.unwrap(),
        Some(Duration::ZERO)
    );
    assert_eq!(store.next_run_due("g".into()).await.unwrap(), None);
    let first = store.claim_runs("f".into(), 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].event.id, events[0], "oldest due first");
    assert_eq!(
        (first[0].run.status, first[0].run.attempt),
        (RunStatus::Running, 1)
    );
    let second = store.claim_runs("f".into(), 5).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(
        store.claim_runs("f".into(), 5).await.unwrap().is_empty(),
        "claimed once"
    );
    let (done, retried) = (first[0].run.id.clone(), second[0].run.id.clone());

    store
        .settle_run(done.clone(), ended(RunStatus::Succeeded, None))
        .await
        .unwrap();
    let run = store.get_run(done.clone()).await.unwrap().unwrap();
    assert_eq!(run.run.status, RunStatus::Succeeded);
    assert_eq!(run.run.output, Some(serde_json::json!({"out": 2})));
    assert_eq!(run.run.logs.stdout, vec!["hello".to_owned()]);
    assert!(run.run.finished.is_some());
    assert_eq!(run.event.id, events[0]);

    // Failed with its retry due: claimable again, attempt 2.
    let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store
        .settle_run(retried.clone(), ended(RunStatus::Failed, Some(past)))
        .await
        .unwrap();
    let failed = store.get_run(retried.clone()).await.unwrap().unwrap().run;
    assert!(failed.next_attempt.is_some());
    let again = store.claim_runs("f".into(), 5).await.unwrap();
    assert_eq!((again.len(), again[0].run.attempt), (1, 2));
    store
        .settle_run(retried.clone(), ended(RunStatus::Dead, None))
        .await
        .unwrap();

    assert_eq!(
        store.retry_run(retried.clone()).await.unwrap(),
        RetryOutcome::Queued
    );
    assert_eq!(
        store.retry_run(done.clone()).await.unwrap(),
        RetryOutcome::NotRetryable(RunStatus::Succeeded)
    );
    assert_eq!(
        store.retry_run("nope".into()).await.unwrap(),
        RetryOutcome::NotFound
    );
    let fresh = store.claim_runs("f".into(), 5).await.unwrap();
    assert_eq!(
        (fresh.len(), fresh[0].run.attempt),
        (1, 1),
        "fresh attempts"
    );

    // A restart finds it running: queued again while attempts are left…
    assert_eq!(
        store
            .requeue_interrupted(HashMap::from([("f".into(), 3)]))
            .await
            .unwrap(),
        1
    );
    let requeued = store.get_run(retried.clone()).await.unwrap().unwrap().run;
    assert_eq!(requeued.status, RunStatus::Queued);
    // …and dead when that was its last attempt (or its function is gone).
    store.claim_runs("f".into(), 5).await.unwrap();
    store.requeue_interrupted(HashMap::new()).await.unwrap();
    let dead = store.get_run(retried.clone()).await.unwrap().unwrap().run;
    assert_eq!(dead.status, RunStatus::Dead);

    assert_eq!(
        store.run_counts().await.unwrap(),
        BTreeMap::from([(RunStatus::Succeeded, 1), (RunStatus::Dead, 1)])
    );
    let listed = store
        .list_runs(RunQuery {
            status: Some(RunStatus::Dead),
            function: Some("f".into()),
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&retried]
    );
    let newest_first = store
        .list_runs(RunQuery {
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest_first.len(), 2);
    assert!(newest_first[0].seq > newest_first[1].seq);
    let older = store
        .list_runs(RunQuery {
            before_seq: Some(newest_first[0].seq),
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert!(store.get_run("nope".into()).await.unwrap().is_none());
}

pub async fn deliveries_are_sent_retried_and_given_up(store: &Store) {
    let id = accept_all(store, vec![event(Source::Snmp, "snmp.trap", None)]).await[0];
    let mut d = disposition(Some(RouteTarget::Monitoring));
    d.forward_to = vec!["a".into(), "b".into()];
    store
        .record_processed(vec![processed(id, d)])
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().pending_deliveries, 2);
    let due = store.due_deliveries("a".into(), 10).await.unwrap();
    assert_eq!((due.len(), due[0].event.id, due[0].attempts), (1, id, 0));

    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let retry = |at| DeliveryOutcome::Retry {
        error: "timeout".into(),
        at,
    };
    store
        .settle_delivery(id, "a".into(), retry(later))
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries("a".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let now = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store
        .settle_delivery(id, "a".into(), retry(now))
        .await
        .unwrap();
    assert_eq!(
        store.due_deliveries("a".into(), 10).await.unwrap()[0].attempts,
        2
    );
    store
        .settle_delivery(id, "a".into(), DeliveryOutcome::Sent)
        .await
        .unwrap();
    store
        .settle_delivery(
            id,
            "b".into(),
            DeliveryOutcome::GaveUp {
                error: "refused".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries("a".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .due_deliveries("b".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let stored = store.get_event(id).await.unwrap().unwrap();
    let states: Vec<_> = stored
        .deliveries
        .iter()
        .map(|d| {
            (
                d.target.as_str(),
                d.state,
                d.attempts,
                d.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("a", DeliveryStatus::Sent, 3, None),
            ("b", DeliveryStatus::Failed, 1, Some("refused")),
        ]
    );
    assert_eq!(store.stats().await.unwrap().pending_deliveries, 0);
}

fn host(name: &str, guarded: bool) -> HostMemory {
    HostMemory {
        name: name.into(),
        in_maintenance: guarded,
        actions_enabled: Some(!guarded),
        guarded,
        guarded_reason: guarded.then(|| "entered maintenance".into()),
        episode_handled: guarded,
    }
}

fn action(n: i64, outcome: ActionOutcome) -> ActionRecord {
    ActionRecord {
        time: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + n),
        vcenter: "vc1".into(),
        moref: format!("host-{n}"),
        host: format!("esx{n}"),
        action: ActionKind::Disable,
        reason: "entered maintenance".into(),
        outcome,
        error: None,
        event_id: None,
    }
}

pub async fn guard_memory_commits_whole_and_snapshots(store: &Store) {
    assert!(store.guard_memory("vc1").await.unwrap().is_empty());
    let memory = Memory::from([
        ("host-1".into(), host("esx1", true)),
        ("host-2".into(), host("esx2", false)),
    ]);
    let mut record = ReconcileRecord::new("vc1");
    record.status = ReconcileStatus::Ok;
    record.reconciles = 1;
    store
        .guard_commit(
            memory.clone(),
            record.clone(),
            vec![
                action(1, ActionOutcome::Done),
                action(2, ActionOutcome::DryRun),
            ],
        )
        .await
        .unwrap();
    store
        .guard_commit(
            Memory::from([("host-9".into(), host("other", true))]),
            ReconcileRecord::new("vc2"),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(store.guard_memory("vc1").await.unwrap(), memory);
    // A commit replaces the vCenter's whole memory.
    let smaller = Memory::from([("host-2".into(), host("esx2", false))]);
    store
        .guard_commit(
            smaller.clone(),
            record.clone(),
            vec![action(3, ActionOutcome::Failed)],
        )
        .await
        .unwrap();
    assert_eq!(store.guard_memory("vc1").await.unwrap(), smaller);
    // A failed reconcile changes the record only.
    record.status = ReconcileStatus::Stale;
    record.consecutive_failures = 1;
    store.guard_record_reconcile(record.clone()).await.unwrap();
    assert_eq!(store.guard_memory("vc1").await.unwrap(), smaller);

    let snapshot = store.guard_snapshot(2).await.unwrap();
    let hosts: Vec<_> = snapshot
        .hosts
        .iter()
        .map(|h| (h.vcenter.as_str(), h.moref.as_str(), h.updated.is_some()))
        .collect();
    assert_eq!(
        hosts,
        vec![("vc1", "host-2", true), ("vc2", "host-9", true)]
    );
    assert_eq!(snapshot.reconciles.len(), 2);
    assert_eq!(snapshot.reconciles[0], record);
    let actions: Vec<_> = snapshot
        .actions
        .iter()
        .map(|a| (a.moref.as_str(), a.outcome))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("host-3", ActionOutcome::Failed),
            ("host-2", ActionOutcome::DryRun)
        ],
        "newest first, at most the limit"
    );
}

fn silence(matcher: &str, starts: OffsetDateTime, ends: OffsetDateTime) -> Silence {
    Silence {
        id: String::new(),
        matchers: vec![Matcher {
            name: "alertname".into(),
            value: matcher.into(),
            is_regex: false,
            is_equal: true,
            glob: false,
        }],
        starts_at: starts,
        ends_at: ends,
        created_by: "ops".into(),
        comment: "patching".into(),
        updated_at: None,
    }
}

pub async fn silences_upsert_expire_list_and_prune(store: &Store) {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let hour = time::Duration::hours(1);
    let active = store
        .upsert_silence(silence("Host down", now - hour, now + hour), now)
        .await
        .unwrap()
        .unwrap();
    assert!(!active.id.is_empty());
    assert_eq!(active.updated_at, Some(now));
    assert_eq!(
        store.get_silence(active.id.clone()).await.unwrap(),
        Some(active.clone())
    );
    // Same matchers and start: updated in place.
    let mut longer = active.clone();
    longer.ends_at = now + hour * 2;
    let updated = store.upsert_silence(longer, now).await.unwrap().unwrap();
    assert_eq!(
        (updated.id.as_str(), updated.ends_at),
        (active.id.as_str(), now + hour * 2)
    );
    // New matchers: the old one expires, a new one replaces it.
    let mut changed = updated.clone();
    changed.matchers[0].value = "CPU".into();
    let replaced = store.upsert_silence(changed, now).await.unwrap().unwrap();
    assert_ne!(replaced.id, active.id);
    let old = store.get_silence(active.id.clone()).await.unwrap().unwrap();
    assert_eq!(old.state(now), SilenceState::Expired);
    let mut unknown = replaced.clone();
    unknown.id = "no-such-id".into();
    assert_eq!(store.upsert_silence(unknown, now).await.unwrap(), None);

    let expired = store
        .expire_silence(replaced.id.clone(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((expired.ends_at, expired.updated_at), (now, Some(now)));
    assert_eq!(
        store
            .expire_silence("no-such-id".into(), now)
            .await
            .unwrap(),
        None
    );
    let pending = store
        .upsert_silence(silence("Later", now + hour, now + hour * 3), now)
        .await
        .unwrap()
        .unwrap();
    let listed: Vec<String> = store
        .list_silences(now - hour)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 3, "ended within the hour, or not yet");
    assert_eq!(listed.last(), Some(&pending.id), "by start time");
    assert_eq!(store.list_silences(now).await.unwrap().len(), 1);
    assert_eq!(
        store
            .prune_silences(now + time::Duration::SECOND)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.get_silence(active.id).await.unwrap(), None);
}

pub async fn checkpoints_commit_with_their_events(store: &Store) {
    let stream = |d: &str| event(Source::VcenterEvents, "vm.powered.on", Some(d));
    assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), None);
    let t = time::macros::datetime!(2026-11-25 12:00:00.123456789 UTC);
    let cp = StreamCheckpoint {
        key: 2_147_483_647,
        time: t,
    };
    let first = store
        .accept_with_checkpoint(vec![stream("vc1:1:a"), stream("vc1:2:b")], "vc1".into(), cp)
        .await
        .unwrap();
    assert!(
        first
            .iter()
            .all(|o| matches!(o, AcceptOutcome::Accepted(_)))
    );
    assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), Some(cp));
    assert_eq!(store.stream_checkpoint("vc2").await.unwrap(), None);
    // A replay stores nothing twice; the key may wrap to negative.
    let wrapped = StreamCheckpoint {
        key: -2_147_483_648,
        time: t + time::Duration::SECOND,
    };
    let replay = store
        .accept_with_checkpoint(
            vec![stream("vc1:2:b"), stream("vc1:3:c")],
            "vc1".into(),
            wrapped,
        )
        .await
        .unwrap();
    assert_eq!(replay[0], AcceptOutcome::AlreadyAccepted(first[1].id()));
    assert!(matches!(replay[1], AcceptOutcome::Accepted(_)));
    assert_eq!(store.stream_checkpoint("vc1").await.unwrap(), Some(wrapped));
    let known = store
        .known_deliveries(
            Source::VcenterEvents,
            vec!["vc1:1:a".into(), "vc1:9:z".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        known,
        std::collections::HashSet::from(["vc1:1:a".to_owned()])
    );
    assert!(
        store
            .known_deliveries(Source::AlarmHook, vec!["vc1:1:a".into()])
            .await
            .unwrap()
            .is_empty()
    );
}

fn observation(event: EventId, change: Change, held: Option<&str>) -> Observation {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    Observation {
        change,
        identity: AlertIdentity {
            vcenter: "vc1".into(),
            entity_moref: Some("host-7".into()),
            entity_name: "esx01".into(),
            entity_type: Some("HostSystem".into()),
            alarm_moref: None,
            alarm_name: "Host down".into(),
        },
        severity: "critical".into(),
        status: "Red".into(),
        summary: "Host down".into(),
        event_id: event,
        time: now,
        now,
        held: held.map(str::to_owned),
        routed: true,
    }
}

/// Records `event`'s effect on the table for an Alertmanager and an
/// event-by-event target.
async fn observe(store: &Store, event: EventId, change: Change, held: Option<&str>) -> Disposition {
    let targets = vec![
        ("am".to_owned(), TargetKind::Alertmanager),
        ("trap".to_owned(), TargetKind::Events),
    ];
    let mut d = disposition(Some(RouteTarget::Monitoring));
    d.held_by = held.map(str::to_owned);
    store
        .record_processed(vec![ProcessedEvent {
            alert: Some(AlertInput {
                observation: observation(event, change, held),
                targets,
            }),
            ..processed(event, d)
        }])
        .await
        .unwrap();
    store
        .get_event(event)
        .await
        .unwrap()
        .unwrap()
        .disposition
        .unwrap()
}

pub async fn alerts_fire_hold_release_resolve_and_forget(store: &Store) {
    let ids = accept_all(
        store,
        (0..3)
            .map(|_| event(Source::Snmp, "alarm.status.changed", None))
            .collect(),
    )
    .await;
    // Held: tracked in the table, nobody told.
    let held = observe(store, ids[0], Change::Fire, Some("maintenance:esx01")).await;
    assert!(held.forward_to.is_empty());
    let rows = store.list_alerts(true).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.state == AlertState::Firing && r.sent_event_id.is_none())
    );
    assert!(
        rows[0].version != rows[1].version,
        "versions increase across the table"
    );
    let am = store.target_alerts("am".into()).await.unwrap();
    assert_eq!(am.len(), 1);
    assert_eq!(am[0].labels["alertname"], "Host down");

    // A release of a stale version does nothing; the current one sends.
    let release = |r: &AlertRow, version| AlertRelease {
        target: r.target.clone(),
        key: r.key.clone(),
        version,
        send: true,
        queue_delivery: r.target == "trap",
    };
    let stale: Vec<_> = rows.iter().map(|r| release(r, r.version - 100)).collect();
    assert_eq!(store.release_alerts(stale).await.unwrap(), 0);
    let current: Vec<_> = rows.iter().map(|r| release(r, r.version)).collect();
    assert_eq!(store.release_alerts(current).await.unwrap(), 2);
    assert!(store.list_alerts(true).await.unwrap().is_empty());
    let due = store.due_deliveries("trap".into(), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.event.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(
        store
            .due_deliveries("am".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The resolve: told to both; Alertmanager keeps a resolved row, the
    // event target's row goes.
    let resolved = observe(store, ids[1], Change::Resolve, None).await;
    let mut told = resolved.forward_to.clone();
    told.sort();
    assert_eq!(told, vec!["am".to_owned(), "trap".to_owned()]);
    let rows = store.list_alerts(false).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].target.as_str(), rows[0].state),
        ("am", AlertState::Resolved)
    );
    assert_eq!(
        store.due_deliveries("trap".into(), 10).await.unwrap().len(),
        2,
        "the clear is queued to the event target"
    );
    // Forgotten only at (or above) the version the sender saw.
    let key = rows[0].key.clone();
    store
        .forget_resolved("am".into(), vec![(key.clone(), rows[0].version - 1)])
        .await
        .unwrap();
    assert_eq!(store.list_alerts(false).await.unwrap().len(), 1);
    store
        .forget_resolved("am".into(), vec![(key, rows[0].version)])
        .await
        .unwrap();
    assert!(store.list_alerts(false).await.unwrap().is_empty());

    // Targets no longer configured lose their rows.
    observe(store, ids[2], Change::Fire, None).await;
    assert_eq!(
        store.forget_alerts_except(vec!["am".into()]).await.unwrap(),
        1
    );
    let left = store.list_alerts(false).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
        vec!["am"]
    );
}

pub async fn prune_removes_old_events_and_their_deliveries(store: &Store) {
    let day = time::Duration::days(1);
    let mut old = event(Source::Snmp, "snmp.trap", None);
    old.received_at = OffsetDateTime::now_utc() - day * 3;
    let ids = accept_all(
        store,
        vec![
            old,
            event(Source::Snmp, "snmp.trap", None),
            event(Source::Snmp, "snmp.trap", None),
            event(Source::Snmp, "snmp.trap", None),
        ],
    )
    .await;
    let mut d = disposition(Some(RouteTarget::Monitoring));
    d.forward_to = vec!["nms".into()];
    store
        .record_processed(vec![processed(ids[0], d)])
        .await
        .unwrap();
    let max_age = Duration::from_secs(2 * 86_400);
    assert_eq!(store.prune(max_age, 100).await.unwrap(), 1, "too old");
    assert!(store.get_event(ids[0]).await.unwrap().is_none());
    assert!(
        store
            .due_deliveries("nms".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.stats().await.unwrap().pending_deliveries, 0);
    assert_eq!(
        store.prune(max_age, 2).await.unwrap(),
        1,
        "beyond the cap, oldest first"
    );
    assert!(store.get_event(ids[1]).await.unwrap().is_none());
    assert_eq!(store.prune(max_age, 2).await.unwrap(), 0);
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.events, 2);
    assert!(stats.oldest_event.is_some());
}

pub async fn listing_filters_and_pages(store: &Store) {
    let mut events: Vec<Event> = (0..6)
        .map(|i| {
            event(
                Source::ALL[i % 2],
                ["vm.created", "host.removed"][i % 2],
                None,
            )
        })
        .collect();
    events[4].entity.name = Some("web[1]".into());
    events[4].vcenter = "vc2".into();
    let ids = accept_all(store, events).await;
    store
        .record_processed(vec![processed(
            ids[2],
            disposition(Some(RouteTarget::Drop)),
        )])
        .await
        .unwrap();
    let list = |q: EventQuery| async move { store.list_events(q).await.unwrap() };
    let all = list(EventQuery {
        limit: 4,
        ..EventQuery::default()
    })
    .await;
    let newest: Vec<EventId> = ids.iter().rev().take(4).copied().collect();
    assert_eq!(
        all.events.iter().map(|e| e.event.id).collect::<Vec<_>>(),
        newest
    );
    assert_eq!(
        all.next_before,
        Some(all.events[3].seq),
        "a full page has a cursor"
    );
    let rest = list(EventQuery {
        limit: 4,
        before_seq: all.next_before,
        ..EventQuery::default()
    })
    .await;
    assert_eq!(rest.events.len(), 2);
    assert_eq!(rest.next_before, None);
    let vms = list(EventQuery {
        event_type: Some("vm.*".into()),
        source: Some("alarm-hook".into()),
        limit: 10,
        ..EventQuery::default()
    })
    .await;
    assert_eq!(vms.events.len(), 3);
    // Scanning filters, one dialect of globs.
    let by = |q: EventQuery| async move {
        let page = list(EventQuery { limit: 10, ..q }).await;
        page.events.iter().map(|e| e.event.id).collect::<Vec<_>>()
    };
    assert_eq!(
        by(EventQuery {
            entity: Some("web[1]".into()),
            ..EventQuery::default()
        })
        .await,
        vec![ids[4]]
    );
    assert_eq!(
        by(EventQuery {
            vcenter: Some("vc?".into()),
            entity: Some("web?1?".into()),
            ..EventQuery::default()
        })
        .await,
        vec![ids[4]]
    );
    assert_eq!(
        by(EventQuery {
            route: Some(RouteTarget::Drop),
            ..EventQuery::default()
        })
        .await,
        vec![ids[2]]
    );
    assert_eq!(
        by(EventQuery {
            held: Some(false),
            duplicate: Some(false),
            ..EventQuery::default()
        })
        .await
        .len(),
        6
    );
}

pub async fn kv_values_round_trip(store: &Store) {
    assert_eq!(store.kv_get("a.b").await.unwrap(), None);
    store.kv_set("a.b", "1").await.unwrap();
    store.kv_set("a.b", "2").await.unwrap();
    assert_eq!(store.kv_get("a.b").await.unwrap().as_deref(), Some("2"));
}

// The backends. PostgreSQL adds its line here.
conformance_tests!(sqlite, crate::store::sqlite::testing::open_temp);
