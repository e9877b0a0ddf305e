//! Conformance cases: the active-alert table.

use super::*;

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
