//! SQLite side of the pipeline's record: one commit per batch of decided
//! events, holding each event's disposition (and its enriched body), the
//! dedup merge into the event it repeats, the runs and deliveries it queues,
//! and its effect on the active-alert table.
//!
//! Why one commit: a restart never redoes a decided event and never loses a
//! queued run or forward; a crash loses a decision and its table change
//! together, and the pipeline redoes both.

use std::borrow::Cow;

use rusqlite::{CachedStatement, Connection, params};

use super::{SqliteStore, alerts, ms, now_ms, unavailable};
use crate::model::Event;
use crate::store::alerts as alerts_rules;
use crate::store::{AcceptOutcome, ProcessedEvent, StoreError, to_json_text};

/// One decided event, encoded before it reaches the writer thread (the
/// writer is the bottleneck).
pub(super) struct Encoded {
    id: String,
    disposition: String,
    /// The enriched event's (body, type), when it changed.
    updated: Option<(String, String)>,
}

impl Encoded {
    pub(super) fn of(o: &ProcessedEvent) -> Self {
        let updated = o.updated.as_ref().and_then(|e| {
            serde_json::to_string(e)
                .ok()
                .map(|body| (body, e.event_type.as_str().to_owned()))
        });
        Self {
            id: o.id.to_string(),
            disposition: to_json_text(&o.disposition),
            updated,
        }
    }
}

/// The batch's statements, prepared once per commit.
pub(super) struct Statements<'c> {
    decide: CachedStatement<'c>,
    /// An event decided at acceptance: inserted with its decision.
    insert_decided: CachedStatement<'c>,
    /// The alert table completed a just-inserted event's disposition.
    set_disposition: CachedStatement<'c>,
    merge: CachedStatement<'c>,
    queue_run: CachedStatement<'c>,
    queue_delivery: CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    pub(super) fn prepare(conn: &'c Connection) -> Result<Self, rusqlite::Error> {
        Ok(Self {
            decide: conn.prepare_cached(
                "UPDATE events SET processed = 1, disposition = ?2, body = coalesce(?3, body), type = coalesce(?4, type) WHERE id = ?1",
            )?,
            insert_decided: conn.prepare_cached(
                "INSERT INTO events (id, source, vcenter, type, received_ms, fingerprint, delivery_id, body, processed, disposition) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9) ON CONFLICT DO NOTHING",
            )?,
            set_disposition: conn.prepare_cached(
                "UPDATE events SET disposition = ?2 WHERE seq = ?1",
            )?,
            merge: conn.prepare_cached(
                "UPDATE events SET duplicates = duplicates + 1, last_seen_ms = max(coalesce(last_seen_ms, 0), ?2) WHERE id = ?1",
            )?,
            queue_run: conn.prepare_cached(
                "INSERT OR IGNORE INTO runs (id, event_id, subscription, function, status, attempt, next_ms, queued_ms, secrets) \
                 VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?6)",
            )?,
            queue_delivery: conn.prepare_cached(
                "INSERT OR IGNORE INTO deliveries (event_id, target, state, attempts, next_ms, updated_ms) VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
            )?,
        })
    }
}

impl SqliteStore {
    /// `EventStore::record_processed`.
    pub(super) async fn record_decisions(
        &self,
        outcomes: Vec<ProcessedEvent>,
    ) -> Result<(), StoreError> {
        let encoded: Vec<Encoded> = outcomes.iter().map(Encoded::of).collect();
        self.write(move |conn| {
            let now = now_ms();
            let mut stmts = Statements::prepare(conn).map_err(unavailable)?;
            for (outcome, encoded) in outcomes.iter().zip(&encoded) {
                record_one(conn, &mut stmts, now, outcome, encoded)?;
            }
            Ok(super::writer::FreeElsewhere((outcomes, encoded)))
        })
        .await
        .map(drop)
    }
}

/// One event's decision, inside the batch's transaction.
fn record_one(
    conn: &Connection,
    stmts: &mut Statements<'_>,
    now: i64,
    outcome: &ProcessedEvent,
    encoded: &Encoded,
) -> Result<(), StoreError> {
    let (body, event_type) = match &encoded.updated {
        Some((body, event_type)) => (Some(body.as_str()), Some(event_type.as_str())),
        None => (None, None),
    };
    let (disposition, forward_to) = complete_disposition(conn, outcome, encoded)?;
    stmts
        .decide
        .execute(params![encoded.id, disposition.as_ref(), body, event_type])
        .map_err(unavailable)?;
    queue_effects(stmts, now, outcome, encoded, &forward_to)
}

/// A new event decided at acceptance, inserted with its decision (one row
/// write, no pending-index entry, nothing for the pipeline to re-read).
/// Its delivery stored before: `AlreadyAccepted`, and the decision is
/// dropped (the earlier event's stands).
pub(super) fn insert_decided(
    conn: &Connection,
    stmts: &mut Statements<'_>,
    now: i64,
    (event, body): (&Event, &str),
    outcome: &ProcessedEvent,
    encoded: &Encoded,
) -> Result<AcceptOutcome, StoreError> {
    let inserted = stmts
        .insert_decided
        .execute(params![
            encoded.id,
            event.source.as_str(),
            event.vcenter,
            event.event_type.as_str(),
            ms(event.received_at),
            event.fingerprint.0,
            event.delivery_id,
            body,
            encoded.disposition,
        ])
        .map_err(unavailable)?;
    if inserted == 0 {
        return super::events::earlier_delivery(conn, event);
    }
    let seq = conn.last_insert_rowid();
    let (disposition, forward_to) = complete_disposition(conn, outcome, encoded)?;
    if let Cow::Owned(completed) = disposition {
        stmts
            .set_disposition
            .execute(params![seq, completed])
            .map_err(unavailable)?;
    }
    queue_effects(stmts, now, outcome, encoded, &forward_to)?;
    Ok(AcceptOutcome::Accepted(event.id))
}

/// The event's disposition with the targets its alert-table change queues
/// (the table decides which targets hear of an alarm transition): borrowed
/// when unchanged, and the targets to queue deliveries for.
fn complete_disposition<'e>(
    conn: &Connection,
    outcome: &ProcessedEvent,
    encoded: &'e Encoded,
) -> Result<(Cow<'e, str>, Vec<String>), StoreError> {
    let mut forward_to = outcome.disposition.forward_to.clone();
    let Some(input) = &outcome.alert else {
        return Ok((Cow::Borrowed(encoded.disposition.as_str()), forward_to));
    };
    let key = uuid::Uuid::now_v7().to_string();
    for target in alerts::apply_input(conn, input, &key)? {
        if !forward_to.contains(&target) {
            forward_to.push(target);
        }
    }
    let mut d = outcome.disposition.clone();
    d.forward_to = forward_to.clone();
    Ok((Cow::Owned(to_json_text(&d)), forward_to))
}

/// The dedup merge, the runs and the deliveries a decision queues.
fn queue_effects(
    stmts: &mut Statements<'_>,
    now: i64,
    outcome: &ProcessedEvent,
    encoded: &Encoded,
    forward_to: &[String],
) -> Result<(), StoreError> {
    let id = &encoded.id;
    if let Some(original) = outcome.merge_into {
        stmts
            .merge
            .execute(params![original.to_string(), ms(outcome.seen_at)])
            .map_err(unavailable)?;
    }
    for run in &outcome.runs {
        stmts
            .queue_run
            .execute(params![
                uuid::Uuid::now_v7().to_string(),
                id,
                run.subscription,
                run.function,
                now,
                to_json_text(&run.secrets),
            ])
            .map_err(unavailable)?;
    }
    for target in alerts_rules::delivery_targets(forward_to, outcome.alert.as_ref()) {
        stmts
            .queue_delivery
            .execute(params![id, target, now])
            .map_err(unavailable)?;
    }
    Ok(())
}
