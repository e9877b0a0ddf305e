//! The active-alert aggregate: one row per (monitoring target, alert), and
//! the table's transitions.
//!
//! Owns: [`AlertStore`], the rows, and the pure transition rules every
//! backend applies inside the commit that records an event's disposition
//! ([`super::EventStore::record_processed`]) — [`apply`] for an event's
//! [`Observation`], [`release`] for a held alert — so the table and the
//! queued forwards never disagree, and a backend where several writers run
//! at once (PostgreSQL) reads, decides and writes a row under one lock.
//! `monitoring::alerts` maps an event onto an [`Observation`] and documents
//! the life cycle. Must not: know SQL or events beyond their ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::model::EventId;

#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// Every row of one target, by key (what its Alertmanager sender sends).
    async fn target_alerts(&self, target: String) -> Result<Vec<AlertRow>, StoreError>;

    /// Every row (by target, then key), or only held ones.
    async fn list_alerts(&self, held_only: bool) -> Result<Vec<AlertRow>, StoreError>;

    /// Stops holding alerts whose rows did not change since they were read
    /// (same version); queues the deliveries asked for. Returns how many
    /// were released.
    async fn release_alerts(&self, releases: Vec<AlertRelease>) -> Result<usize, StoreError>;

    /// Deletes resolved rows of `target` still at (or below) the given
    /// versions: their resolve reached every URL, or their last `endsAt`
    /// passed.
    async fn forget_resolved(
        &self,
        target: String,
        rows: Vec<(String, i64)>,
    ) -> Result<(), StoreError>;

    /// Deletes rows of targets no longer configured; returns how many.
    async fn forget_alerts_except(&self, targets: Vec<String>) -> Result<usize, StoreError>;
}

/// Who an alert is about, as far as the events seen so far tell (a trap
/// knows names only; the hook and enrichment add morefs). Matching an event
/// to an alert uses morefs where both sides know them, names otherwise
/// ([`identity_matches`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertIdentity {
    pub vcenter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_moref: Option<String>,
    pub entity_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_moref: Option<String>,
    pub alarm_name: String,
}

/// Where an alert stands for one monitoring target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    /// Resolved; kept (Alertmanager targets only) until every URL has taken
    /// the resolve, or the alert's last `endsAt` has passed anyway.
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

/// One row of the active-alert table: an alert (identity) per monitoring
/// target, with the label set frozen when it first fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub target: String,
    /// Stable row key (assigned at first fire).
    pub key: String,
    pub identity: AlertIdentity,
    /// Labels sent to Alertmanager, frozen at first fire: the resolve carries
    /// exactly these.
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    /// `critical` / `warning` (annotation; changes within one alert).
    pub severity: String,
    /// The alarm status as vCenter gave it (annotation).
    pub status: String,
    pub summary: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// The latest event about this alert.
    pub event_id: EventId,
    /// The last event the target was told about (`None`: the target has not
    /// been told this alert fired, e.g. it was held all along).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_event_id: Option<EventId>,
    /// What holds it back now (`maintenance:<host>`, `silence:<id>`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// Change counter, increasing across the table (set by the store).
    #[serde(default)]
    pub version: i64,
}

/// How a monitoring target takes alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Event by event (SNMP traps, CloudEvents): the firing and the clear
    /// are each one delivery of the event.
    Events,
    /// Alertmanager: the table is the state; a sender re-sends it.
    Alertmanager,
}

/// What an event does to the active-alert table.
#[derive(Debug, Clone)]
pub struct AlertInput {
    pub observation: Observation,
    /// Every monitoring target, with its kind.
    pub targets: Vec<(String, TargetKind)>,
}

/// A held alert that may now be sent (see [`AlertStore::release_alerts`]).
#[derive(Debug, Clone)]
pub struct AlertRelease {
    pub target: String,
    pub key: String,
    /// Only if the row is still at this version (nothing changed meanwhile).
    pub version: i64,
    /// Tell the target (`false`: just stop holding, e.g. `resolve_on_exit = false`).
    pub send: bool,
    /// Queue a delivery of the row's latest event (event-by-event targets).
    pub queue_delivery: bool,
}

/// What an event does to the alert it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Fire,
    Resolve,
    /// The entity was removed: every alert on it resolves.
    EntityRemoved,
}

/// One event, as the table sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub change: Change,
    pub identity: AlertIdentity,
    pub severity: String,
    pub status: String,
    pub summary: String,
    pub event_id: EventId,
    /// When it happened (a new alert's `startsAt`).
    pub time: OffsetDateTime,
    /// When vcgate decided it (a resolve's `endsAt`).
    pub now: OffsetDateTime,
    /// What holds the event back from monitoring, if anything.
    pub held: Option<String>,
    /// Whether the event was routed to monitoring (resolves apply anyway).
    pub routed: bool,
}

fn same(a: &Option<String>, b: &Option<String>, name_a: &str, name_b: &str, fold: bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ if fold => name_a.eq_ignore_ascii_case(name_b),
        _ => name_a == name_b,
    }
}

/// Same vCenter and entity (moref when both know it, else the name, any case).
pub fn entity_matches(row: &AlertIdentity, event: &AlertIdentity) -> bool {
    row.vcenter == event.vcenter
        && same(
            &row.entity_moref,
            &event.entity_moref,
            &row.entity_name,
            &event.entity_name,
            true,
        )
}

/// Same alert: same entity and alarm (moref when both know it, else the name).
pub fn identity_matches(row: &AlertIdentity, event: &AlertIdentity) -> bool {
    entity_matches(row, event)
        && same(
            &row.alarm_moref,
            &event.alarm_moref,
            &row.alarm_name,
            &event.alarm_name,
            false,
        )
}

/// The label set of a new alert.
pub fn labels(identity: &AlertIdentity) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("alertname".to_owned(), identity.alarm_name.clone()),
        ("vcenter".to_owned(), identity.vcenter.clone()),
        ("entity".to_owned(), identity.entity_name.clone()),
    ]);
    if let Some(kind) = &identity.entity_type {
        labels.insert("entity_type".to_owned(), kind.clone());
    }
    labels
}

/// What to do with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write this row (the store sets its version).
    Upsert(Box<AlertRow>),
    /// Delete the existing row.
    Delete,
    Nothing,
}

/// A transition's result: the row step, and whether this event is queued
/// to the target (event-by-event targets) or a send is due (Alertmanager).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub step: Step,
    pub tell: bool,
}

/// Morefs learnt from a later event are kept (names and type stay).
pub fn learn(mut row: AlertIdentity, from: &AlertIdentity) -> AlertIdentity {
    row.entity_moref = row.entity_moref.or_else(|| from.entity_moref.clone());
    row.alarm_moref = row.alarm_moref.or_else(|| from.alarm_moref.clone());
    row.entity_type = row.entity_type.or_else(|| from.entity_type.clone());
    row
}

/// The transition of one target's row (`existing`, already matched to the
/// observation) for `obs`. `key` names a row created here.
pub fn apply(
    kind: TargetKind,
    target: &str,
    existing: Option<&AlertRow>,
    obs: &Observation,
    key: &str,
) -> Applied {
    let firing = existing.filter(|r| r.state == AlertState::Firing);
    match obs.change {
        Change::Fire if !obs.routed => Applied {
            step: Step::Nothing,
            tell: false,
        },
        Change::Fire => {
            let tell = obs.held.is_none();
            let row = match firing {
                Some(r) => AlertRow {
                    identity: learn(r.identity.clone(), &obs.identity),
                    severity: obs.severity.clone(),
                    status: obs.status.clone(),
                    summary: obs.summary.clone(),
                    event_id: obs.event_id,
                    sent_event_id: if tell {
                        Some(obs.event_id)
                    } else {
                        r.sent_event_id
                    },
                    held_by: obs.held.clone(),
                    ..r.clone()
                },
                None => AlertRow {
                    target: target.to_owned(),
                    // A resolved row coming back keeps its key and labels: its
                    // resolve may still be on its way with those labels.
                    key: existing.map_or_else(|| key.to_owned(), |r| r.key.clone()),
                    identity: existing.map_or_else(
                        || obs.identity.clone(),
                        |r| learn(r.identity.clone(), &obs.identity),
                    ),
                    labels: existing.map_or_else(|| labels(&obs.identity), |r| r.labels.clone()),
                    state: AlertState::Firing,
                    severity: obs.severity.clone(),
                    status: obs.status.clone(),
                    summary: obs.summary.clone(),
                    starts_at: obs.time,
                    resolved_at: None,
                    event_id: obs.event_id,
                    sent_event_id: tell.then_some(obs.event_id),
                    held_by: obs.held.clone(),
                    version: 0,
                },
            };
            Applied {
                step: Step::Upsert(Box::new(row)),
                tell,
            }
        }
        Change::Resolve | Change::EntityRemoved => match firing {
            None => Applied {
                step: Step::Nothing,
                // An unknown clear passes through to event-by-event targets.
                tell: existing.is_none()
                    && obs.change == Change::Resolve
                    && kind == TargetKind::Events
                    && obs.routed
                    && obs.held.is_none(),
            },
            Some(r) if r.sent_event_id.is_none() => Applied {
                step: Step::Delete,
                tell: false,
            },
            Some(r) => {
                // The removal event is not a clear trap: it travels as itself.
                let tell = obs.change == Change::Resolve || kind == TargetKind::Alertmanager;
                let step = match kind {
                    TargetKind::Events => Step::Delete,
                    TargetKind::Alertmanager => Step::Upsert(Box::new(AlertRow {
                        identity: learn(r.identity.clone(), &obs.identity),
                        state: AlertState::Resolved,
                        resolved_at: Some(obs.now),
                        status: obs.status.clone(),
                        event_id: obs.event_id,
                        sent_event_id: Some(obs.event_id),
                        held_by: None,
                        ..r.clone()
                    })),
                };
                Applied { step, tell }
            }
        },
    }
}

/// Which of one target's rows on the observed entity an observation
/// applies to: fire and resolve concern one alert (the firing one first,
/// `None`: a new one); a removal concerns every alert on the entity.
pub fn rows_to_apply<'r>(rows: &'r [AlertRow], obs: &Observation) -> Vec<Option<&'r AlertRow>> {
    let matching: Vec<&AlertRow> = rows
        .iter()
        .filter(|r| match obs.change {
            Change::EntityRemoved => entity_matches(&r.identity, &obs.identity),
            _ => identity_matches(&r.identity, &obs.identity),
        })
        .collect();
    match obs.change {
        Change::EntityRemoved => matching.into_iter().map(Some).collect(),
        _ => vec![
            matching
                .iter()
                .find(|r| r.state == AlertState::Firing)
                .or(matching.first())
                .copied(),
        ],
    }
}

/// The targets an event's delivery is queued for: `forward_to` less the
/// Alertmanager targets, which take alarm transitions from the table (their
/// sender), not as event deliveries.
pub fn delivery_targets<'a>(
    forward_to: &'a [String],
    alert: Option<&'a AlertInput>,
) -> impl Iterator<Item = &'a String> {
    forward_to.iter().filter(move |t| {
        !alert.is_some_and(|a| {
            a.targets
                .iter()
                .any(|(name, kind)| *kind == TargetKind::Alertmanager && name == *t)
        })
    })
}

/// The row a held alert becomes once nothing holds it: told (`send`) or
/// just no longer held. Returns the row and whether its latest event must be
/// queued to an event-by-event target.
pub fn release(row: &AlertRow, send: bool) -> (AlertRow, bool) {
    let mut next = row.clone();
    next.held_by = None;
    let queue = send && row.sent_event_id != Some(row.event_id);
    if send {
        next.sent_event_id = Some(row.event_id);
    }
    (next, queue)
}
