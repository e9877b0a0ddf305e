//! Conformance cases: the guard's memory, records and actions.

use super::*;

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
