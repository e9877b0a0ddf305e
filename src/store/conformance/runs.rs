//! Conformance cases: runs: claims, settling, retries, recovery.

use super::*;

/// Queues one run of `f` for each of `n` new events; returns the events' ids.
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

/// Pruning takes an event's runs with it (a queued run whose event was
/// pruned failed every claim that picked it), and `max_events` keeps an
/// event while a run of it is queued, running or waiting for a retry.
pub async fn prune_takes_runs_along_and_max_events_keeps_unfinished_work(store: &Store) {
    let events = queue_runs(store, 3).await;
    let claimed = store.claim_runs("f".into(), 2).await.unwrap();
    let (done, retrying) = (claimed[0].run.id.clone(), claimed[1].run.id.clone());
    store
        .settle_run(done.clone(), ended(RunStatus::Succeeded, None))
        .await
        .unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::HOUR;
    store
        .settle_run(retrying.clone(), ended(RunStatus::Failed, Some(later)))
        .await
        .unwrap();
    // Every event is beyond `max_events` = 0; only the first one's work is done.
    let max_age = Duration::from_secs(86_400);
    assert_eq!(store.prune(max_age, 0).await.unwrap(), 1);
    assert!(store.get_event(events[0]).await.unwrap().is_none());
    assert!(
        store.get_run(done).await.unwrap().is_none(),
        "the run went with its event"
    );
    assert_eq!(
        store.run_counts().await.unwrap(),
        BTreeMap::from([(RunStatus::Queued, 1), (RunStatus::Failed, 1)])
    );
    // The queued run is still claimed with its event.
    let third = store.claim_runs("f".into(), 5).await.unwrap();
    assert_eq!(
        third.iter().map(|c| c.event.id).collect::<Vec<_>>(),
        vec![events[2]]
    );
    assert_eq!(store.prune(max_age, 0).await.unwrap(), 0, "running");
    store
        .settle_run(third[0].run.id.clone(), ended(RunStatus::Dead, None))
        .await
        .unwrap();
    assert_eq!(store.prune(max_age, 0).await.unwrap(), 1);
    assert!(store.get_event(events[2]).await.unwrap().is_none());
    assert!(
        store.get_event(events[1]).await.unwrap().is_some(),
        "retry pending"
    );
    assert_eq!(
        store.run_counts().await.unwrap(),
        BTreeMap::from([(RunStatus::Failed, 1)])
    );
    // `max_age` prunes regardless, the unfinished run with its event.
    assert_eq!(store.prune(Duration::ZERO, 100).await.unwrap(), 1);
    assert!(store.get_run(retrying).await.unwrap().is_none());
    assert!(store.run_counts().await.unwrap().is_empty());
}
