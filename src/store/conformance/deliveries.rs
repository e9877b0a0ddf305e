//! Conformance cases: deliveries: sent, retried, given up.

use super::*;

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
