//! Conformance cases: silences: Alertmanager's upsert, expiry, retention.

use super::*;

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
