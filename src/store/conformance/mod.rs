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

mod alerts;
mod checkpoints;
mod deliveries;
mod events;
mod guard;
mod runs;
mod silences;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use time::OffsetDateTime;

use super::alerts::{Change, Observation};
use super::*;
use crate::config::RouteTarget;
use crate::model::{Event, EventId, EventType, Source};

pub use alerts::*;
pub use checkpoints::*;
pub use deliveries::*;
pub use events::*;
pub use guard::*;
pub use runs::*;
pub use silences::*;

/// One `#[tokio::test]` per case, in a module named after the backend.
macro_rules! conformance_tests {
    ($backend:ident, $open:path) => {
        mod $backend {
            $crate::store::conformance::conformance_tests!(@cases $open;
                accept_is_idempotent_by_delivery_id,
                pending_events_come_in_order_until_decided,
                record_processed_decides_merges_and_queues,
                accept_decided_stores_events_with_their_decisions,
                recent_originals_page_newest_first,
                runs_are_claimed_settled_retried_and_requeued,
                deliveries_are_sent_retried_and_given_up,
                guard_memory_commits_whole_and_snapshots,
                silences_upsert_expire_list_and_prune,
                checkpoints_commit_with_their_events,
                alerts_fire_hold_release_resolve_and_forget,
                prune_removes_old_events_and_their_deliveries,
                prune_takes_runs_along_and_max_events_keeps_unfinished_work,
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

// The backends.
conformance_tests!(sqlite, crate::store::sqlite::testing::open_temp);
conformance_tests!(postgres, crate::store::postgres::testing::open_temp);
