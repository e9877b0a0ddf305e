//! The events aggregate: accepting events, reading them back, the
//! pipeline's decisions about them, retention.
//!
//! Owns: [`EventStore`] and its rows. Must not: know SQL (backends do).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AlertInput, DeliveryState, NewRun, StoreError};
use crate::config::RouteTarget;
use crate::model::{Event, EventId, Source};

/// Events: the acceptance path, the read side and the pipeline's record.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// Commits a new event; resolves once it is durable. An event with a
    /// delivery id already stored for the same source is not stored again:
    /// the earlier id is returned.
    async fn accept(&self, event: Event) -> Result<AcceptOutcome, StoreError> {
        let mut outcomes = self.accept_many(vec![event]).await?;
        Ok(outcomes.remove(0))
    }

    /// Commits several events in one go (same semantics as `accept`, in
    /// order): `accept_decided` without decisions, the one write path.
    async fn accept_many(&self, events: Vec<Event>) -> Result<Vec<AcceptOutcome>, StoreError> {
        self.accept_decided(events.into_iter().map(|e| (e, None)).collect())
            .await
    }

    /// Commits new events, each with the pipeline's decision when it was
    /// decided at acceptance (`Some`: stored as processed, with its merge,
    /// runs, deliveries and alert-table change), in one commit; `None`
    /// events are stored undecided for the pipeline, as by `accept_many`.
    /// An event whose delivery was stored before is `AlreadyAccepted` and
    /// its decision is dropped.
    async fn accept_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<Vec<AcceptOutcome>, StoreError>;

    /// `accept_decided` in two steps, for a caller that prepares its next
    /// batch while this one commits and must keep commit order: resolves
    /// once the batch is queued for its commit (writes queued later commit
    /// after it), returning the commit to await for durability. A backend
    /// without a commit queue (PostgreSQL) commits before it resolves.
    async fn submit_decided(
        &self,
        batch: Vec<(Event, Option<ProcessedEvent>)>,
    ) -> Result<PendingCommit, StoreError>;

    /// One event with what the pipeline did with it.
    async fn get_event(&self, id: EventId) -> Result<Option<StoredEvent>, StoreError>;

    /// The stored event of `source`'s delivery `delivery_id`, if any (a read:
    /// acceptance asks before a possible retry reaches dedup).
    async fn find_delivery(
        &self,
        source: Source,
        delivery_id: String,
    ) -> Result<Option<EventId>, StoreError>;

    /// `GET /api/v1/events`: one page of events matching `query`, newest
    /// first, and the cursor to the next page (see [`EventPage`]).
    async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError>;

    /// Events the pipeline has not decided yet with `seq > after_seq`,
    /// oldest first, at most `limit` (resumed at start).
    async fn pending_events(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Event)>, StoreError>;

    /// One page of recently processed, non-duplicate events, **newest
    /// first**: those received since `since` with `seq < before_seq`
    /// (`i64::MAX` for the first page), reading at most `page` rows, back
    /// to the smallest seq among the first few thousand events received
    /// since `since` (an event at the window's old edge committed far out
    /// of its arrival order may be left out).
    /// Returns them and the lowest seq read (`None`: no more). For
    /// rebuilding dedup state at start, which wants only the newest (memory
    /// is bounded); paged because a busy window can hold 100 000s of
    /// events, which at once took RSS to 444 MiB.
    async fn recent_originals(
        &self,
        since: OffsetDateTime,
        before_seq: i64,
        page: usize,
    ) -> Result<(Vec<Event>, Option<i64>), StoreError>;

    /// Records the pipeline's decision for several events, queues their runs
    /// and deliveries and applies their effect on the active-alert table
    /// ([`super::alerts::apply`]), all in one commit: a restart never redoes a
    /// decided event and never loses a queued run or forward.
    async fn record_processed(&self, outcomes: Vec<ProcessedEvent>) -> Result<(), StoreError>;

    /// Deletes events older than `max_age` and beyond the newest
    /// `max_events`, oldest first, with their deliveries and runs; an event
    /// beyond `max_events` with work left (a run queued, running or waiting
    /// for a retry, a forward pending) is kept until that work is done or
    /// `max_age` takes it ([`PRUNABLE_EVENT`]). Returns how many events went.
    async fn prune(&self, max_age: Duration, max_events: u64) -> Result<u64, StoreError>;

    /// Size figures for the status endpoint and metrics.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
}

/// A queued commit of [`EventStore::submit_decided`]: resolves once it is
/// durable (or known to have failed), with one outcome per event.
pub type PendingCommit = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<AcceptOutcome>, StoreError>> + Send>,
>;

/// Result of accepting one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Newly committed under this id.
    Accepted(EventId),
    /// The same delivery (source + delivery id) was already committed earlier.
    AlreadyAccepted(EventId),
}

impl AcceptOutcome {
    pub fn id(self) -> EventId {
        match self {
            Self::Accepted(id) | Self::AlreadyAccepted(id) => id,
        }
    }

    /// True when this acceptance stored a new row.
    pub fn is_new(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }
}

/// Filter for listing events, newest first. Globs are the routes' dialect:
/// `*` any run, `?` one character, everything else literal (`[` too),
/// case-sensitive.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Event type, exact or a glob.
    pub event_type: Option<String>,
    /// Source wire name (`alarm-hook`, `snmp`, …), exact.
    pub source: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// Only events with a sequence number below this (pagination cursor).
    pub before_seq: Option<i64>,
    pub limit: usize,
    /// vCenter name glob.
    pub vcenter: Option<String>,
    /// Entity name glob (events without an entity name never match).
    pub entity: Option<String>,
    /// Alarm name glob (events without an alarm name never match).
    pub alarm: Option<String>,
    /// The alarm's new status, as routes match it: a glob on the colour
    /// (`red`, any case) or on the raw text vCenter sent.
    pub status: Option<String>,
    /// The routing decision (undecided events and duplicates have none).
    pub route: Option<RouteTarget>,
    /// Held back from monitoring (`true`) or not (`false`, also undecided).
    pub held: Option<bool>,
    /// A duplicate of an earlier event (`true`) or not (`false`).
    pub duplicate: Option<bool>,
}

impl EventQuery {
    /// True when a filter no index serves is set: such a listing examines a
    /// bounded window of events per call ([`EventPage`]).
    pub fn scans(&self) -> bool {
        self.vcenter.is_some()
            || self.entity.is_some()
            || self.alarm.is_some()
            || self.status.is_some()
            || self.route.is_some()
            || self.held.is_some()
            || self.duplicate.is_some()
    }
}

/// One page of a listing.
///
/// `next_before` is the cursor for the next page (`before=`), `None` when
/// there is nothing more. Without a scanning filter ([`EventQuery::scans`])
/// it is the last event's seq when the page is full. With one, a call
/// examines a bounded window of events, so a page may hold fewer than
/// `limit` events (even none) while the cursor is set: follow it until it
/// is `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next_before: Option<i64>,
}

/// Where an event is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStage {
    /// Committed; the pipeline has not decided yet.
    Accepted,
    /// The pipeline's decision (`disposition`) is recorded.
    Processed,
}

impl EventStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Processed => "processed",
        }
    }
}

/// What the pipeline decided for an event (after dedup and routing).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Disposition {
    /// Set when this event repeated an earlier one inside the dedup window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<EventId>,
    /// Routing decision; absent for duplicates (they go nowhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTarget>,
    /// Name of the rule that decided, or `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Monitoring targets a delivery was queued for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_to: Vec<String>,
    /// Subscriptions a run was queued for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
    /// What held it back from monitoring (`maintenance:<host>`,
    /// `silence:<id>`, `inhibit:<rule>`); automation is never held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

/// An event as stored, with what the pipeline did with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredEventJson")]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    /// Insertion order; stable cursor for pagination.
    pub seq: i64,
    pub stage: EventStage,
    /// How many later arrivals were merged into this event by dedup.
    pub duplicates: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// Delivery state per monitoring target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<DeliveryState>,
}

/// `StoredEvent` as read back from JSON (the CLI, tests). serde's `flatten`
/// buffer cannot carry the event's `raw` JSON text (`RawPayload`), so the
/// event's own fields are collected as a tree and read into `Event` from it.
#[derive(Deserialize)]
struct StoredEventJson {
    #[serde(flatten)]
    event: serde_json::Value,
    seq: i64,
    stage: EventStage,
    duplicates: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    last_seen: Option<OffsetDateTime>,
    #[serde(default)]
    disposition: Option<Disposition>,
    #[serde(default)]
    deliveries: Vec<DeliveryState>,
}

impl TryFrom<StoredEventJson> for StoredEvent {
    type Error = serde_json::Error;

    fn try_from(json: StoredEventJson) -> Result<Self, Self::Error> {
        Ok(Self {
            event: serde_json::from_value(json.event)?,
            seq: json.seq,
            stage: json.stage,
            duplicates: json.duplicates,
            last_seen: json.last_seen,
            disposition: json.disposition,
            deliveries: json.deliveries,
        })
    }
}

/// One event's decision, as the pipeline hands it to the store.
#[derive(Debug, Clone)]
pub struct ProcessedEvent {
    pub id: EventId,
    pub disposition: Disposition,
    /// When set, bump this earlier event's `duplicates` and `last_seen`.
    pub merge_into: Option<EventId>,
    pub seen_at: OffsetDateTime,
    /// Automation runs to queue.
    pub runs: Vec<NewRun>,
    /// The event as enriched, to replace the stored one.
    pub updated: Option<Event>,
    /// The event's effect on the active-alert table, applied in the same
    /// commit; the targets it queues are added to `disposition.forward_to`.
    pub alert: Option<AlertInput>,
}

/// The condition, on an event aliased `e`, that `max_events` may prune it:
/// no run of it is unfinished and no forward of it pending. In a storm the
/// count rule reaches events hours old, whose work is still live: pruning
/// lost a pending forward with its event. (`max_age` prunes regardless, so
/// work that can never finish, for a function or target since removed from
/// the configuration, pins its event for `max_age` at most.) Both backends'
/// SQL; the look-ups use the `(event_id, …)` keys of `runs` and `deliveries`.
pub(crate) const PRUNABLE_EVENT: &str = "NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id \
     AND r.status IN ('queued', 'running', 'failed')) \
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = 'pending')";

/// Store size figures for the status endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub events: u64,
    pub pending_pipeline: u64,
    pub pending_deliveries: u64,
    pub size_bytes: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub oldest_event: Option<OffsetDateTime>,
    pub writable: bool,
}
