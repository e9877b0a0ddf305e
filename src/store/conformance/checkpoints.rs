//! Conformance cases: event-stream checkpoints committed with their events.

use super::*;

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
