//! Conformance cases: accepting, deciding, listing and pruning events; kv.

use super::*;

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
    // Found by its delivery before it is sent again; per source.
    let find = |source, delivery: &str| store.find_delivery(source, delivery.to_owned());
    assert_eq!(
        find(Source::AlarmHook, "d-1").await.unwrap(),
        Some(first_id)
    );
    assert_eq!(find(Source::Api, "d-1").await.unwrap(), None);
    assert_eq!(find(Source::AlarmHook, "d-9").await.unwrap(), None);
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
    let (originals, lowest) = store.recent_originals(since, i64::MAX, 10).await.unwrap();
    assert_eq!(
        originals.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![original]
    );
    let (rest, _) = store
        .recent_originals(since, lowest.unwrap(), 10)
        .await
        .unwrap();
    assert!(rest.is_empty());
}

/// Dedup's rebuild reads recent originals newest first, a page at a time,
/// and never an event received before the window or a duplicate.
pub async fn recent_originals_page_newest_first(store: &Store) {
    let now = OffsetDateTime::now_utc();
    let mut before_window = event(Source::Snmp, "snmp.trap", None);
    before_window.received_at = now - time::Duration::hours(1);
    let originals: Vec<Event> = (0..5)
        .map(|_| event(Source::Snmp, "snmp.trap", None))
        .collect();
    let repeat = event(Source::Snmp, "snmp.trap", None);
    let mut batch = vec![(
        before_window.clone(),
        Some(processed(before_window.id, disposition(None))),
    )];
    batch.extend(
        originals
            .iter()
            .map(|e| (e.clone(), Some(processed(e.id, disposition(None))))),
    );
    let duplicate = Disposition {
        duplicate_of: Some(originals[0].id),
        ..disposition(None)
    };
    batch.push((
        repeat.clone(),
        Some(ProcessedEvent {
            merge_into: Some(originals[0].id),
            ..processed(repeat.id, duplicate)
        }),
    ));
    store.accept_decided(batch).await.unwrap();

    let since = now - time::Duration::minutes(5);
    let mut read = Vec::new();
    let mut before_seq = i64::MAX;
    let mut pages = 0;
    while let (page, Some(lowest)) = store.recent_originals(since, before_seq, 2).await.unwrap() {
        assert!(lowest < before_seq, "pages move back");
        read.extend(page.iter().map(|e| e.id));
        before_seq = lowest;
        pages += 1;
        assert!(pages < 10, "paging ends");
    }
    let newest_first: Vec<EventId> = originals.iter().rev().map(|e| e.id).collect();
    assert_eq!(
        read, newest_first,
        "the repeat and the old event are left out"
    );
    assert_eq!(pages, 3, "six rows in the window, two per page");
}

/// Events decided at acceptance are stored processed, with their merge,
/// runs and deliveries, in the commit that accepts them; an undecided one
/// waits for the pipeline; a redelivery keeps the earlier event and its
/// decision is dropped.
pub async fn accept_decided_stores_events_with_their_decisions(store: &Store) {
    let original = event(Source::Snmp, "alarm.status.changed", Some("trap-1"));
    let repeat = event(Source::Snmp, "alarm.status.changed", None);
    let undecided = event(Source::AlarmHook, "alarm.status.changed", None);
    let mut decided = disposition(Some(RouteTarget::Both));
    decided.forward_to = vec!["nms".into()];
    decided.subscriptions = vec!["sub".into()];
    let seen = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let original_decision = ProcessedEvent {
        runs: vec![NewRun {
            subscription: "sub".into(),
            function: "f".into(),
            secrets: Vec::new(),
        }],
        ..processed(original.id, decided.clone())
    };
    let merged = Disposition {
        duplicate_of: Some(original.id),
        route: None,
        ..disposition(None)
    };
    let repeat_decision = ProcessedEvent {
        merge_into: Some(original.id),
        seen_at: seen,
        ..processed(repeat.id, merged.clone())
    };
    let outcomes = store
        .accept_decided(vec![
            (original.clone(), Some(original_decision.clone())),
            (repeat.clone(), Some(repeat_decision)),
            (undecided.clone(), None),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            AcceptOutcome::Accepted(original.id),
            AcceptOutcome::Accepted(repeat.id),
            AcceptOutcome::Accepted(undecided.id),
        ]
    );
    let stored = store.get_event(original.id).await.unwrap().unwrap();
    assert_eq!(stored.event, original);
    assert_eq!(stored.stage, EventStage::Processed);
    assert_eq!(stored.disposition.as_ref(), Some(&decided));
    assert_eq!((stored.duplicates, stored.last_seen), (1, Some(seen)));
    assert_eq!(stored.deliveries.len(), 1);
    let runs = store
        .list_runs(RunQuery {
            event: Some(original.id),
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let stored_repeat = store.get_event(repeat.id).await.unwrap().unwrap();
    assert_eq!(stored_repeat.disposition.as_ref(), Some(&merged));
    // Only the undecided one is left for the pipeline.
    let pending = store.pending_events(0, 10).await.unwrap();
    assert_eq!(
        pending.iter().map(|(_, e)| e.id).collect::<Vec<_>>(),
        vec![undecided.id]
    );
    // The same delivery again: the earlier event; its decision is not applied.
    let again = event(Source::Snmp, "alarm.status.changed", Some("trap-1"));
    let outcomes = store
        .accept_decided(vec![(
            again.clone(),
            Some(ProcessedEvent {
                merge_into: Some(original.id),
                ..processed(again.id, merged)
            }),
        )])
        .await
        .unwrap();
    assert_eq!(outcomes, vec![AcceptOutcome::AlreadyAccepted(original.id)]);
    let stored = store.get_event(original.id).await.unwrap().unwrap();
    assert_eq!(stored.duplicates, 1, "a redelivery merges nothing");
    assert!(store.get_event(again.id).await.unwrap().is_none());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.pending_pipeline), (3, 1));
}

/// Old events go with their deliveries, pending or not (`max_age` prunes
/// regardless); beyond `max_events` the oldest go first, except one whose
/// forward is still pending, kept until it is settled.
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
    let forwarded = |id| {
        let mut d = disposition(Some(RouteTarget::Monitoring));
        d.forward_to = vec!["nms".into()];
        processed(id, d)
    };
    store
        .record_processed(vec![forwarded(ids[0]), forwarded(ids[1])])
        .await
        .unwrap();
    let max_age = Duration::from_secs(2 * 86_400);
    assert_eq!(store.prune(max_age, 100).await.unwrap(), 1, "too old");
    assert!(store.get_event(ids[0]).await.unwrap().is_none());
    assert_eq!(store.stats().await.unwrap().pending_deliveries, 1);
    // Beyond the cap, oldest first: ids[1] waits for its forward.
    assert_eq!(
        store.prune(max_age, 1).await.unwrap(),
        1,
        "beyond the cap, the oldest without work left"
    );
    assert!(store.get_event(ids[1]).await.unwrap().is_some());
    assert!(store.get_event(ids[2]).await.unwrap().is_none());
    let retry_later = DeliveryOutcome::Retry {
        error: "down".into(),
        at: OffsetDateTime::now_utc() + time::Duration::HOUR,
    };
    store
        .settle_delivery(ids[1], "nms".into(), retry_later)
        .await
        .unwrap();
    assert_eq!(store.prune(max_age, 1).await.unwrap(), 0, "still pending");
    store
        .settle_delivery(ids[1], "nms".into(), DeliveryOutcome::Sent)
        .await
        .unwrap();
    assert_eq!(store.prune(max_age, 1).await.unwrap(), 1, "forwarded");
    assert!(store.get_event(ids[1]).await.unwrap().is_none());
    assert!(
        store
            .due_deliveries("nms".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.prune(max_age, 1).await.unwrap(), 0);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.pending_deliveries), (1, 0));
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
