//! `list_events` against a reference model, and its query plans.

use time::OffsetDateTime;

use super::super::SqliteStore;
use super::super::ms_to_time;
use super::super::testing::{open_in, stored_seqs};
use super::*;
use crate::filter::glob_match;
use crate::model::{Alarm, Event, EventId, EventType, Source, StatusText};
use crate::store::{Disposition, EventStore, ProcessedEvent, StoredEvent};

const TYPES: [&str; 6] = [
    "vm.created",
    "vm.deleted",
    "vm.power.on",
    "host.created",
    "alarm.status.changed",
    "bench.rare",
];
/// Queried type filters: globs (some matching nothing) and exact types.
const TYPE_FILTERS: [&str; 11] = [
    "vm.*",
    "*",
    "*.created",
    "nomatch.*",
    "host*",
    "*.power.*",
    "v*d",
    "vm.created",
    "bench.rare",
    "vm.missing",
    "zzz*",
];
const T0_MS: i64 = 1_700_000_000_000;

fn at_ms(ms: i64) -> OffsetDateTime {
    ms_to_time(ms).unwrap()
}

/// vCenter, entity, alarm and status values, some with glob characters
/// (`[`, `]`, `?`, `*`) that must match only themselves.
const VCENTERS: [&str; 3] = ["vc1", "vc2", "vc[3]"];
const ENTITIES: [Option<&str>; 4] = [None, Some("esx01"), Some("esx02"), Some("web[1]*")];
const ALARMS: [Option<&str>; 3] = [None, Some("Host down"), Some("VM CPU?")];
const STATUSES: [&str; 3] = ["Red", "green", "红色"];

/// Stores events of (type index, source index, received ms after T0), in
/// order. Their other fields and the pipeline's decision (none, routed,
/// held, duplicate) follow from those three, so every filter finds some.
async fn fill(store: &SqliteStore, events: &[(usize, usize, i64)]) {
    let events: Vec<Event> = events
        .iter()
        .map(|&(t, s, ms)| {
            let seed = t * 31 + s * 7 + ms.rem_euclid(97) as usize;
            let mut e = Event::new(
                Source::ALL[s],
                VCENTERS[seed % 3],
                EventType::parse(TYPES[t]).unwrap(),
            );
            e.received_at = at_ms(T0_MS + ms);
            e.entity.name = ENTITIES[seed / 3 % 4].map(str::to_owned);
            e.alarm = ALARMS[seed / 12 % 3].map(|name| Alarm {
                name: Some(name.to_owned()),
                new_status: Some(StatusText::parse(STATUSES[seed / 36 % 3])),
                ..Alarm::default()
            });
            e
        })
        .collect();
    let first = events.first().map(|e| e.id);
    let decisions = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let disposition = match (i + e.vcenter.len()) % 5 {
                0 => return None,
                1 => decided(Some(RouteTarget::Monitoring), None, None),
                2 => decided(Some(RouteTarget::Automation), Some("silence:x"), None),
                3 => decided(None, None, first),
                _ => decided(Some(RouteTarget::Both), Some("maintenance:esx01"), None),
            };
            Some(ProcessedEvent {
                id: e.id,
                disposition,
                merge_into: None,
                seen_at: e.received_at,
                runs: Vec::new(),
                updated: None,
                alert: None,
            })
        })
        .collect();
    store.accept_many(events).await.unwrap();
    store.record_processed(decisions).await.unwrap();
}

fn decided(
    route: Option<RouteTarget>,
    held_by: Option<&str>,
    duplicate_of: Option<EventId>,
) -> Disposition {
    Disposition {
        duplicate_of,
        route,
        rule: None,
        forward_to: Vec::new(),
        subscriptions: Vec::new(),
        held_by: held_by.map(str::to_owned),
    }
}

/// Does a stored event match the query's filters (not the cursor)? In Rust,
/// with the routes' own glob: listing and routing speak one dialect.
fn matches(q: &EventQuery, e: &StoredEvent) -> bool {
    let glob = |p: &Option<String>, v: Option<&str>| {
        p.as_ref()
            .is_none_or(|p| v.is_some_and(|v| glob_match(p, v)))
    };
    let ev = &e.event;
    let alarm = ev.alarm.as_ref();
    let status = alarm.and_then(|a| a.new_status.as_ref());
    let d = e.disposition.as_ref();
    glob(&q.event_type, Some(ev.event_type.as_str()))
        && q.source.as_ref().is_none_or(|s| s == ev.source.as_str())
        && q.since.is_none_or(|since| ms(ev.received_at) >= ms(since))
        && glob(&q.vcenter, Some(&ev.vcenter))
        && glob(&q.entity, ev.entity.name.as_deref())
        && glob(&q.alarm, alarm.and_then(|a| a.name.as_deref()))
        && q.status
            .as_ref()
            .is_none_or(|p| status.is_some_and(|s| crate::filter::status_matches(p, s)))
        && q.route.is_none_or(|r| d.and_then(|d| d.route) == Some(r))
        && q.held
            .is_none_or(|h| d.and_then(|d| d.held_by.as_ref()).is_some() == h)
        && q.duplicate
            .is_none_or(|x| d.and_then(|d| d.duplicate_of).is_some() == x)
}

/// Every stored event, newest first.
async fn all_events(store: &SqliteStore) -> Vec<StoredEvent> {
    let raw = store
        .read(|conn| {
            conn.prepare(&format!("{SELECT_EVENT} ORDER BY seq DESC"))?
                .query_map([], row_to_raw)?
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    raw.into_iter()
        .map(|r| r.decode(Vec::new()).unwrap())
        .collect()
}

/// Every stored row filtered and ordered in Rust: the ids `list_events`
/// must return (scanning filters: within the window below the cursor).
async fn reference(store: &SqliteStore, q: &EventQuery) -> Vec<String> {
    reference_in(store, q, SCAN_WINDOW).await
}

async fn reference_in(store: &SqliteStore, q: &EventQuery, window: i64) -> Vec<String> {
    let all = all_events(store).await;
    let top = q
        .before_seq
        .unwrap_or_else(|| all.first().map_or(0, |e| e.seq + 1));
    all.into_iter()
        .filter(|e| {
            matches(q, e)
                && q.before_seq.is_none_or(|b| e.seq < b)
                && (!q.scans() || e.seq >= top - window)
        })
        .take(q.limit.max(1))
        .map(|e| e.event.id.to_string())
        .collect()
}

/// One page: its ids and its cursor.
async fn page(
    store: &SqliteStore,
    q: &EventQuery,
    probe: i64,
    window: i64,
) -> (Vec<String>, Option<i64>) {
    let q = q.clone();
    let (raw, next) = store
        .read(move |conn| list_events(conn, &q, &Budget { probe, window }))
        .await
        .unwrap();
    (raw.into_iter().map(|r| r.id).collect(), next)
}

async fn listed(store: &SqliteStore, q: &EventQuery, probe: i64) -> Vec<String> {
    let (ids, next) = page(store, q, probe, SCAN_WINDOW).await;
    // Without a scanning filter the cursor is what the API always gave.
    if !q.scans() {
        assert_eq!(next.is_some(), ids.len() == q.limit.max(1), "{q:?}");
    }
    ids
}

#[tokio::test]
async fn list_events_matches_the_reference_for_every_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    // 300 events, types and sources cycling at different periods, received
    // 10 ms apart with jitter of up to ±45 ms (out of seq order).
    let events: Vec<_> = (0..300i64)
        .map(|i| {
            (
                (i * 7 % 5) as usize,
                (i % 3) as usize,
                i * 10 + (i * 37 % 91) - 45,
            )
        })
        .collect();
    fill(&store, &events).await;
    // The API's source is the wire name: also a rare one at the oldest end.
    fill(&store, &[(5, 3, -1000), (5, 3, -999)]).await;

    // And a rare source with a common type.
    fill(&store, &[(4, 4, 2995)]).await;
    let mut checked = 0;
    let mut nonempty = 0;
    for type_filter in [None].into_iter().chain(TYPE_FILTERS.map(Some)) {
        for source in [
            None,
            Some("alarm-hook"),
            Some("snmp"),
            Some("api"),
            Some("guard"),
        ] {
            for since in [
                None,
                Some(-5000),
                Some(0),
                Some(1500),
                Some(2990),
                Some(99_999),
            ] {
                for before in [None, Some(1), Some(150), Some(290)] {
                    for limit in [1, 7, 50, 1000] {
                        let q = EventQuery {
                            event_type: type_filter.map(str::to_owned),
                            source: source.map(str::to_owned),
                            since: since.map(|ms| at_ms(T0_MS + ms)),
                            before_seq: before,
                            limit,
                            ..EventQuery::default()
                        };
                        let want = reference(&store, &q).await;
                        // The real probe, and tiny ones forcing the two-pass path.
                        for probe in [PROBE, 1, 3] {
                            assert_eq!(
                                listed(&store, &q, probe).await,
                                want,
                                "{q:?} probe {probe}"
                            );
                        }
                        checked += 1;
                        nonempty += usize::from(!want.is_empty());
                    }
                }
            }
        }
    }
    assert!(
        nonempty > checked / 5,
        "{nonempty} of {checked} queries found something"
    );
}

#[tokio::test]
async fn since_finds_rows_stored_before_the_probed_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    // Ten events 10 ms apart, but the second was received last (clock
    // step, slow batch): a row below any bound read from the oldest
    // received matches.
    let mut events: Vec<_> = (0..10).map(|i| (0, 0, i * 10)).collect();
    events[1].2 = 1000;
    fill(&store, &events).await;
    let seqs = stored_seqs(&store).await;
    let q = EventQuery {
        since: Some(at_ms(T0_MS + 50)),
        limit: 10,
        ..EventQuery::default()
    };
    let want = reference(&store, &q).await;
    assert_eq!(want.len(), 6);
    for probe in [1, 2, 5, 6, PROBE] {
        assert_eq!(listed(&store, &q, probe).await, want, "probe {probe}");
        // Paged, two at a time, through the same rows.
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page_q = EventQuery {
                before_seq: before,
                limit: 2,
                ..q.clone()
            };
            let (ids, next) = page(&store, &page_q, probe, SCAN_WINDOW).await;
            before = next;
            let n = ids.len();
            paged.extend(ids);
            if n < 2 {
                break;
            }
        }
        assert_eq!(paged, want, "paged, probe {probe}");
    }
    assert!(seqs.len() == 10);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Random stores (types, sources, received times far out of seq order)
    /// and random queries: always exactly the reference's ids, in order.
    #[test]
    fn list_events_equals_the_reference(
        events in proptest::collection::vec((0usize..6, 0usize..5, -300i64..300), 0..80),
        queries in proptest::collection::vec(
            (
                proptest::option::of(0usize..TYPE_FILTERS.len()),
                proptest::option::of(0usize..5),
                proptest::option::of(-400i64..1200),
                proptest::option::of(0i64..90),
                1usize..40,
                1i64..10,
            ),
            1..25,
        ),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = open_in(&dir);
            // Received i*10 ms plus a jitter of up to ±300 ms.
            let events: Vec<_> = events
                .iter()
                .enumerate()
                .map(|(i, &(t, s, jitter))| (t, s, i as i64 * 10 + jitter))
                .collect();
            fill(&store, &events).await;
            for (t, s, since, before, limit, probe) in queries {
                let q = EventQuery {
                    event_type: t.map(|t| TYPE_FILTERS[t].to_owned()),
                    source: s.map(|s| Source::ALL[s].as_str().to_owned()),
                    since: since.map(|ms| at_ms(T0_MS + ms)),
                    before_seq: before,
                    limit,
                    ..EventQuery::default()
                };
                let want = reference(&store, &q).await;
                assert_eq!(listed(&store, &q, probe).await, want, "{q:?} probe {probe}");
            }
        });
    }
}

/// Scanning-filter values: globs of the routes' dialect, some with `[`.
const VCENTER_FILTERS: [&str; 4] = ["vc1", "vc?", "vc[3]", "*[*"];
const ENTITY_FILTERS: [&str; 4] = ["esx*", "esx01", "web[1]*", "web?1?\\*"];
const ALARM_FILTERS: [&str; 3] = ["Host*", "VM CPU?", "*"];
const STATUS_FILTERS: [&str; 6] = ["red", "RED", "gre*", "红色", "unknown", "unk*"];
const ROUTES: [RouteTarget; 4] = [
    RouteTarget::Automation,
    RouteTarget::Monitoring,
    RouteTarget::Both,
    RouteTarget::Drop,
];

fn pick<T: Copy>(values: &[T], i: Option<usize>) -> Option<T> {
    i.map(|i| values[i % values.len()])
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Random stores and random queries with scanning filters (vCenter,
    /// entity, alarm, status, route, held, duplicate) and tiny windows:
    /// each page is exactly the reference's matches inside the window, and
    /// following the cursor to its end lists every match, in order, once.
    #[test]
    fn scanning_filters_page_through_every_match(
        events in proptest::collection::vec((0usize..6, 0usize..5, -300i64..300), 0..80),
        queries in proptest::collection::vec(
            (
                proptest::collection::vec(proptest::option::of(0usize..8), 7),
                proptest::option::of(0usize..TYPE_FILTERS.len()),
                proptest::option::of(-400i64..1200),
                proptest::option::of(0i64..90),
                1usize..20,
                1i64..40,
            ),
            1..12,
        ),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = open_in(&dir);
            let events: Vec<_> = events
                .iter()
                .enumerate()
                .map(|(i, &(t, s, jitter))| (t, s, i as i64 * 10 + jitter))
                .collect();
            fill(&store, &events).await;
            for (f, t, since, before, limit, window) in queries {
                let mut q = EventQuery {
                    event_type: t.map(|t| TYPE_FILTERS[t].to_owned()),
                    since: since.map(|ms| at_ms(T0_MS + ms)),
                    before_seq: before,
                    limit,
                    vcenter: pick(&VCENTER_FILTERS, f[0]).map(str::to_owned),
                    entity: pick(&ENTITY_FILTERS, f[1]).map(str::to_owned),
                    alarm: pick(&ALARM_FILTERS, f[2]).map(str::to_owned),
                    status: pick(&STATUS_FILTERS, f[3]).map(str::to_owned),
                    route: pick(&ROUTES, f[4]),
                    held: f[5].map(|h| h % 2 == 0),
                    duplicate: f[6].map(|d| d % 2 == 0),
                    ..EventQuery::default()
                };
                if !q.scans() {
                    q.held = Some(false);
                }
                for probe in [PROBE, 2] {
                    let (ids, _) = page(&store, &q, probe, window).await;
                    assert_eq!(ids, reference_in(&store, &q, window).await, "{q:?} probe {probe} window {window}");
                }
                // Paged to the end through the cursors.
                let everything = reference_in(
                    &store,
                    &EventQuery { limit: usize::MAX, ..q.clone() },
                    i64::MAX / 2,
                )
                .await;
                let mut paged = Vec::new();
                let mut cursor = q.clone();
                for _ in 0..1000 {
                    let (ids, next) = page(&store, &cursor, 3, window).await;
                    paged.extend(ids);
                    match next {
                        Some(b) => cursor.before_seq = Some(b),
                        None => break,
                    }
                }
                assert_eq!(paged, everything, "{q:?} window {window}");
            }
        });
    }
}

#[tokio::test]
async fn glob_characters_of_other_dialects_match_only_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    fill(
        &store,
        &(0..40)
            .map(|i| (i % 6, i % 5, i as i64 * 10))
            .collect::<Vec<_>>(),
    )
    .await;
    let listed_entities = |pattern: &str| {
        let q = EventQuery {
            entity: Some(pattern.to_owned()),
            limit: 1000,
            ..EventQuery::default()
        };
        let store = &store;
        async move {
            let (ids, _) = page(store, &q, PROBE, SCAN_WINDOW).await;
            ids.len()
        }
    };
    let literal = listed_entities("web[1]*").await;
    assert!(literal > 0);
    // SQLite would read `[1]` as a class matching `1`: here it is literal.
    assert_eq!(listed_entities("web1*").await, 0);
    // Without a wildcard a pattern is exact.
    assert_eq!(listed_entities("web[1]").await, 0);
    assert_eq!(listed_entities("web?1?*").await, literal);
    // A type `?` is a wildcard too (before, only `*` made a glob).
    let q = EventQuery {
        event_type: Some("vm.?reated".to_owned()),
        limit: 1000,
        ..EventQuery::default()
    };
    let (ids, _) = page(&store, &q, PROBE, SCAN_WINDOW).await;
    let exact = EventQuery {
        event_type: Some("vm.created".to_owned()),
        ..q.clone()
    };
    assert_eq!(ids, page(&store, &exact, PROBE, SCAN_WINDOW).await.0);
    assert!(!ids.is_empty());
}

/// The query plans of every list shape: each filter is served by an index
/// range in seq order (no full scan, no sort of what matched).
#[tokio::test]
async fn list_query_plans_use_an_index_in_seq_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    fill(&store, &[(0, 0, 0), (1, 1, 10)]).await;
    let plans = store
        .read(|conn| {
            let plan = |sql: &str, n: usize| -> Result<String, rusqlite::Error> {
                let args = vec![rusqlite::types::Value::Integer(1); n];
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?.join(" | "))
            };
            // Every scanning filter at once (each is a row check).
            let scan_terms = ScanTerms::of(&EventQuery {
                vcenter: Some("vc*".into()),
                entity: Some("esx*".into()),
                alarm: Some("Host".into()),
                status: Some("red".into()),
                route: Some(RouteTarget::Monitoring),
                held: Some(false),
                duplicate: Some(false),
                ..EventQuery::default()
            });
            let mut plans = Vec::new();
            for (typed, bits) in [false, true]
                .into_iter()
                .flat_map(|typed| (0..32u32).map(move |bits| (typed, bits)))
            {
                let f = |b: u32| bits & (1 << b) != 0;
                let (source, since, lo, hi, scan) = (f(0), f(1), f(2), f(3), f(4));
                // `since` always comes with its seq bound, and so do the
                // scanning filters (the window's floor).
                if (since || scan) && !lo {
                    continue;
                }
                let terms = if scan { scan_terms.sql.as_str() } else { "" };
                let sql = range_sql(typed, source, since, terms, lo, hi);
                let n = sql.matches('?').count();
                plans.push((
                    format!(
                        "typed={typed} source={source} since={since} lo={lo} hi={hi}{}",
                        if scan { " scan" } else { "" }
                    ),
                    plan(&sql, n)?,
                ));
            }
            plans.push(("since probe".into(), plan(SINCE_PROBE_SQL, 2)?));
            plans.push(("since below".into(), plan(SINCE_BELOW_SQL, 2)?));
            plans.push(("matching types".into(), plan(MATCHING_TYPES_SQL, 2)?));
            Ok(plans)
        })
        .await
        .unwrap();
    for (shape, plan) in &plans {
        println!("{shape}: {plan}");
    }
    for (shape, plan) in &plans {
        assert!(!plan.contains("TEMP B-TREE"), "{shape}: {plan}");
        if shape == "typed=false source=false since=false lo=false hi=false"
            || shape == "typed=false source=true since=false lo=false hi=false"
        {
            // The plain list (and a source alone, which has no index):
            // the rowid newest first, stopping at the limit.
            assert_eq!(plan, "SCAN events", "{shape}");
            continue;
        }
        assert!(!plan.contains("SCAN events"), "{shape}: {plan}");
        if shape.starts_with("typed=true") {
            assert!(
                plan.contains("USING INDEX events_type_seq (type=?"),
                "{shape}: {plan}"
            );
        }
        assert!(
            !plan.contains("events_received") || shape.starts_with("since"),
            "{shape}: {plan}"
        );
    }
}
