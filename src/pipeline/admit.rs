//! Admission: the pipeline's decision at acceptance (single-node store).
//!
//! Owns: taking [`Admission`]s from the sources' channel, deciding dedup,
//! routing and silences in memory for every event that needs no vCenter
//! lookup, and committing each batch with its decisions in one write
//! ([`EventStore::accept_decided`]); then answering the sources (their 202
//! or inform acknowledgement) and waking the sinks. The event is written
//! once, already decided: no second commit, no re-read, no pending-index
//! entry. The batch a commit holds is whatever queued while the previous
//! commit ran (group commit shared by HTTP and SNMP).
//!
//! Events that want enrichment are committed undecided in the same write
//! and decided by the stage loop (`mod.rs`), which also resumes undecided
//! events after a restart; admission starts only once that recovery pass is
//! done, so decisions keep arrival order per alarm.
//!
//! Why the dedup lock is held across the commit: a later duplicate decided
//! by the stage loop merges into the original, so the original's row must
//! be committed first.
//!
//! [`EventStore::accept_decided`]: crate::store::EventStore::accept_decided

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{Stage, Wakes};
use crate::dedup::{Dedup, Verdict};
use crate::ingest::{Admission, AdmissionReply};
use crate::model::{Event, EventId, Fingerprint};
use crate::store::{AcceptOutcome, ProcessedEvent, StoreError};

/// Admissions taken per commit (each holds one event or an SNMP batch).
const ADMISSIONS_PER_COMMIT: usize = 1024;

/// Runs admission until shutdown; then answers what is still queued.
pub(super) async fn run(
    stage: Arc<Stage>,
    dedup: Arc<Mutex<Dedup>>,
    mut inbox: mpsc::Receiver<Admission>,
    mut recovered: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = recovered.wait_for(|done| *done) => {}
    }
    let mut admissions = Vec::with_capacity(ADMISSIONS_PER_COMMIT);
    loop {
        let taken = tokio::select! {
            biased;
            taken = inbox.recv_many(&mut admissions, ADMISSIONS_PER_COMMIT) => taken,
            _ = shutdown.cancelled() => {
                // Nothing new; what is queued is still committed and answered.
                inbox.close();
                continue;
            }
        };
        if taken == 0 {
            return; // closed and drained
        }
        stage.admit(&dedup, std::mem::take(&mut admissions)).await;
    }
}

/// One admitted event on its way to the store.
struct Entry {
    event: Event,
    /// Decided now (`Some`) or left to the stage loop (enrichment).
    verdict: Option<Verdict>,
}

impl Stage {
    /// Decides, commits and answers one batch of admissions.
    async fn admit(&self, dedup: &Mutex<Dedup>, admissions: Vec<Admission>) {
        let mut replies = Vec::with_capacity(admissions.len());
        let mut entries = Vec::new();
        let mut dedup = dedup.lock().await;
        let now = OffsetDateTime::now_utc();
        let evicted_before = dedup.evicted();
        for Admission { events, reply } in admissions {
            replies.push((reply, events.len()));
            for event in events {
                let verdict = (!self.defers(&event))
                    .then(|| dedup.observe(&event, event.received_at.min(now)));
                entries.push(Entry { event, verdict });
            }
        }
        let evicted = dedup.evicted() - evicted_before;
        let Decided {
            batch,
            rebinds,
            wakes,
            tally,
        } = self.decide_entries(entries, now);
        let deferred = batch.iter().any(|(_, decision)| decision.is_none());
        let result = self.store.accept_decided(batch).await;
        match &result {
            Ok(outcomes) => rebind_redeliveries(&mut dedup, &rebinds, outcomes),
            // Our memory now holds events the store does not: rebuild it.
            Err(e) => {
                tracing::warn!(error = %e, "admission commit failed; nothing in it was acknowledged");
                if let Ok(rebuilt) = self.rebuild_dedup().await {
                    *dedup = rebuilt;
                }
            }
        }
        drop(dedup);
        answer(replies, result.clone());
        if result.is_ok() {
            self.stats.emit(tally.emitted(evicted));
            self.wake(wakes);
            if deferred {
                self.undecided_wake.notify_one();
            }
        }
    }

    /// Whether an event waits for the stage loop: it wants a vCenter lookup
    /// (enrichment runs off the acceptance path), or it comes from the event
    /// stream (committed with its checkpoint, never admitted here).
    fn defers(&self, event: &Event) -> bool {
        event.source == crate::model::Source::VcenterEvents
            || self.enricher.as_deref().is_some_and(|e| e.wants(event))
    }

    /// Decides the entries that have a verdict ([`Decided`]).
    fn decide_entries(&self, entries: Vec<Entry>, now: OffsetDateTime) -> Decided {
        let mut order = Vec::with_capacity(entries.len());
        let mut decided = Vec::with_capacity(entries.len());
        let mut undecided = Vec::new();
        let mut rebinds = Vec::new();
        for (i, Entry { event, verdict }) in entries.into_iter().enumerate() {
            order.push(verdict.is_some());
            match verdict {
                Some(verdict) => {
                    // Only a delivery id can make the commit keep an earlier event.
                    if event.delivery_id.is_some() && !matches!(verdict, Verdict::Duplicate { .. })
                    {
                        rebinds.push(Rebind {
                            position: i,
                            identity: event.dedup_identity().0,
                            admitted: event.id,
                        });
                    }
                    decided.push((event, verdict));
                }
                None => undecided.push(event),
            }
        }
        let enriched = vec![false; decided.len()];
        let (outcomes, tally) = self.decide_batch(&decided, &enriched, now);
        let wakes = Wakes::of(&outcomes, &decided, tally.monitoring > 0);
        let mut decided = decided.into_iter().zip(outcomes);
        let mut undecided = undecided.into_iter();
        let batch = order
            .into_iter()
            .filter_map(|is_decided| {
                if is_decided {
                    decided.next().map(|((e, _), o)| (e, Some(o)))
                } else {
                    undecided.next().map(|e| (e, None))
                }
            })
            .collect();
        Decided {
            batch,
            rebinds,
            wakes,
            tally,
        }
    }
}

/// A batch decided at admission.
struct Decided {
    /// Every entry in admission order, with its decision when it has one.
    batch: Vec<(Event, Option<ProcessedEvent>)>,
    /// Redeliveries that may need dedup memory rebound after the commit.
    rebinds: Vec<Rebind>,
    wakes: Wakes,
    tally: super::Tally,
}

/// A decided event with a delivery id that dedup remembered as an original:
/// should the store keep an earlier event for that delivery, memory must
/// point at the stored one.
struct Rebind {
    position: usize,
    identity: Fingerprint,
    admitted: EventId,
}

fn rebind_redeliveries(dedup: &mut Dedup, rebinds: &[Rebind], outcomes: &[AcceptOutcome]) {
    for rebind in rebinds {
        if let Some(AcceptOutcome::AlreadyAccepted(stored)) = outcomes.get(rebind.position) {
            dedup.rebind(&rebind.identity, rebind.admitted, *stored);
        }
    }
}

/// Answers each admission with its slice of the outcomes (or the error).
fn answer(replies: Vec<(AdmissionReply, usize)>, result: Result<Vec<AcceptOutcome>, StoreError>) {
    match result {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (reply, n) in replies {
                let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
            }
        }
        Err(e) => {
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
