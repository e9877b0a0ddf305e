//! Two nodes on one PostgreSQL database, at the store level: what the
//! database must make exactly-once (acceptance by delivery id, decisions,
//! run and delivery claims, the decider lease) and the takeover after a
//! node's lease expires. The gateway-level tests are `tests/it/ha.rs`.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::testing::{PgCluster, cluster, config};
use crate::config::{RouteTarget, StoreConfig};
use crate::model::{Event, EventId, EventType, Source};
use crate::store::singletons::PIPELINE;
use crate::store::{
    DeliveryOutcome, Disposition, NewRun, ProcessedEvent, Role, RunLogs, RunOutcome, RunStatus,
    Store,
};

/// Two stores (nodes `a` and `b`) on one fresh database; short leases.
async fn two_nodes() -> (Store, Store, StoreConfig, Arc<PgCluster>) {
    let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
    let c = cluster.clone();
    let mut a = tokio::task::spawn_blocking(move || config(&c, "a"))
        .await
        .unwrap();
    a.node_timeout = Duration::from_millis(900);
    let b = StoreConfig {
        node_id: Some("b".into()),
        ..a.clone()
    };
    let (sa, sb) = tokio::join!(Store::open(&a), Store::open(&b));
    (sa.unwrap(), sb.unwrap(), b, cluster)
}

fn event(delivery: Option<&str>) -> Event {
    let mut e = Event::new(
        Source::AlarmHook,
        "vc1",
        EventType::parse("vm.created").unwrap(),
    );
    e.delivery_id = delivery.map(str::to_owned);
    e
}

fn decided(id: EventId, runs: bool, forward: bool) -> ProcessedEvent {
    ProcessedEvent {
        id,
        disposition: Disposition {
            duplicate_of: None,
            route: Some(RouteTarget::Both),
            rule: Some("default".into()),
            forward_to: if forward {
                vec!["nms".into()]
            } else {
                Vec::new()
            },
            subscriptions: Vec::new(),
            held_by: None,
        },
        merge_into: None,
        seen_at: OffsetDateTime::now_utc(),
        runs: if runs {
            vec![NewRun {
                subscription: "s".into(),
                function: "f".into(),
                secrets: Vec::new(),
            }]
        } else {
            Vec::new()
        },
        updated: None,
        alert: None,
    }
}

/// Polls `check` until true or 20 s pass (then fails with `what`).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_to_both_nodes_at_once_is_one_event() {
    let (a, b, _, _cluster) = two_nodes().await;
    for i in 0..20 {
        let id = format!("d-{i}");
        let (ra, rb) = tokio::join!(a.accept(event(Some(&id))), b.accept(event(Some(&id))));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.id(), rb.id(), "both nodes answer with one id");
        assert!(ra.is_new() != rb.is_new(), "exactly one stored it");
    }
    assert_eq!(a.stats().await.unwrap().events, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_recorded_by_two_nodes_counts_once() {
    let (a, b, _, _cluster) = two_nodes().await;
    let original = a.accept(event(None)).await.unwrap().id();
    let repeat = a.accept(event(None)).await.unwrap().id();
    a.record_processed(vec![decided(original, true, true)])
        .await
        .unwrap();
    let mut merge = decided(repeat, false, false);
    merge.merge_into = Some(original);
    let (ra, rb) = tokio::join!(
        a.record_processed(vec![merge.clone()]),
        b.record_processed(vec![merge])
    );
    ra.unwrap();
    rb.unwrap();
    let stored = b.get_event(original).await.unwrap().unwrap();
    assert_eq!(stored.duplicates, 1, "merged once");
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(a.run_counts().await.unwrap()[&RunStatus::Queued], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_deliveries_are_claimed_by_one_node_each() {
    let (a, b, _, _cluster) = two_nodes().await;
    let ids: Vec<EventId> = a
        .accept_many((0..40).map(|_| event(None)).collect())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id())
        .collect();
    a.record_processed(ids.iter().map(|id| decided(*id, true, true)).collect())
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(a.claim_runs("f".into(), 25), b.claim_runs("f".into(), 25));
    let mut runs: Vec<String> = ra.unwrap().into_iter().map(|r| r.run.id).collect();
    let from_b: Vec<String> = rb.unwrap().into_iter().map(|r| r.run.id).collect();
    runs.extend(from_b);
    let total = runs.len();
    runs.sort();
    runs.dedup();
    assert_eq!((total, runs.len()), (40, 40), "every run claimed once");
    let (da, db) = tokio::join!(
        a.claim_deliveries("nms".into(), 25),
        b.claim_deliveries("nms".into(), 25)
    );
    let mut sent: Vec<EventId> = da.unwrap().into_iter().map(|d| d.event.id).collect();
    sent.extend(db.unwrap().into_iter().map(|d| d.event.id));
    let total = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!((total, sent.len()), (40, 40), "every delivery claimed once");
    assert!(
        a.claim_deliveries("nms".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    a.settle_delivery(ids[0], "nms".into(), DeliveryOutcome::Sent)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_runs_and_decider_role_are_taken_over() {
    let (a, b, _, _cluster) = two_nodes().await;
    let ids: Vec<EventId> = a
        .accept_many((0..3).map(|_| event(None)).collect())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id())
        .collect();
    a.record_processed(ids.iter().map(|id| decided(*id, true, false)).collect())
        .await
        .unwrap();
    assert_eq!(a.singleton(PIPELINE).await.unwrap(), Role::TookOver);
    assert_eq!(a.singleton(PIPELINE).await.unwrap(), Role::Holding);
    assert_eq!(b.singleton(PIPELINE).await.unwrap(), Role::Standby);
    let claimed = a.claim_runs("f".into(), 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // One run succeeds on `a`; then `a` dies holding the other.
    let done = claimed[0].run.id.clone();
    let outcome = RunOutcome {
        status: RunStatus::Succeeded,
        reason: None,
        input: None,
        output: None,
        logs: RunLogs::default(),
        retry_at: None,
    };
    a.settle_run(done.clone(), outcome.clone()).await.unwrap();
    drop(a);
    // `b` gets the unclaimed run now, the dead node's only after its lease.
    let taken = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    eventually("b takes over a's running run", || {
        let (b, taken) = (b.clone(), taken.clone());
        async move {
            let claimed = b.claim_runs("f".into(), 5).await.unwrap();
            let mut taken = taken.lock().unwrap();
            taken.extend(claimed.into_iter().map(|r| r.run.id));
            taken.len() == 2
        }
    })
    .await;
    let taken = taken.lock().unwrap().clone();
    assert!(!taken.contains(&done), "a succeeded run is never run again");
    let over = b.get_run(claimed[1].run.id.clone()).await.unwrap().unwrap();
    assert_eq!(over.run.attempt, 2, "the lost attempt is counted");
    assert!(
        over.run
            .reason
            .unwrap_or_default()
            .contains("taken over from a")
    );
    eventually("b becomes the decider", || {
        let b = b.clone();
        async move { b.singleton(PIPELINE).await.unwrap() == Role::TookOver }
    })
    .await;
    let cluster = b.cluster().unwrap();
    assert_eq!(cluster.node_id, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
    let c = cluster.clone();
    let base = tokio::task::spawn_blocking(move || config(&c, "n0"))
        .await
        .unwrap();
    let opens = (0..4).map(|i| {
        let config = StoreConfig {
            node_id: Some(format!("n{i}")),
            ..base.clone()
        };
        async move { Store::open(&config).await }
    });
    for store in futures::future::join_all(opens).await {
        store.unwrap();
    }
    assert_eq!(
        super::migrate_only(&base).await.unwrap(),
        0,
        "nothing left to run"
    );
}
