//! Admission: the pipeline's decision at acceptance (single-node store).
//!
//! Owns: taking [`Admission`]s from the sources' channel, deciding dedup,
//! routing and silences in memory for every event that needs no vCenter
//! lookup, and committing each batch with its decisions in one write
//! ([`EventStore::submit_decided`]); then, once that commit is durable,
//! answering the sources (their 202 or inform acknowledgement) and waking
//! the sinks. The event is written once, already decided: no second
//! commit, no re-read, no pending-index entry. A batch is whatever queued
//! while the previous one was decided; up to [`COMMITS_IN_FLIGHT`] batches
//! wait for their commits at once, and the store's writer folds those
//! queued together into one transaction (group commit shared by HTTP and
//! SNMP).
//!
//! Events that want enrichment are committed undecided in the same write
//! and decided by the stage loop (`mod.rs`), which also resumes undecided
//! events after a restart; admission starts only once that recovery pass is
//! done, so decisions keep arrival order per alarm.
//!
//! Why the dedup lock is held until a batch is queued: a later duplicate
//! (decided here or by the stage loop) merges into its original, so the
//! original's write must be queued first. A failed commit makes dedup
//! memory forget what it learnt (rebuilt from the store); a batch decided
//! against that memory meanwhile fails with it in practice (the same full
//! disk or stopped writer).
//!
//! [`EventStore::submit_decided`]: crate::store::EventStore::submit_decided

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{Stage, Wakes};
use crate::dedup::{Dedup, Undo, Verdict};
use crate::ingest::{Admission, AdmissionReply};
use crate::model::{Event, EventId};
use crate::store::{AcceptOutcome, ProcessedEvent, StoreError};

/// Admissions taken per commit (each holds one event or an SNMP batch).
const ADMISSIONS_PER_COMMIT: usize = 1024;
/// Batches queued for commit at once: the next batch is decided and queued
/// while earlier ones commit (the writer folds queued batches into one
/// transaction), and no more are taken while this many are unanswered.
const COMMITS_IN_FLIGHT: usize = 4;

/// A queued batch: resolves with its commit's result and what to do then.
type InFlight = std::pin::Pin<Box<dyn std::future::Future<Output = Settle> + Send>>;

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
    let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
    // `draining`: shutdown seen, the inbox closed; `closed`: and emptied.
    let (mut draining, mut closed) = (false, false);
    loop {
        tokio::select! {
            biased;
            Some(settle) = in_flight.next(), if !in_flight.is_empty() => {
                stage.settle(&dedup, settle).await;
            }
            taken = inbox.recv_many(&mut admissions, ADMISSIONS_PER_COMMIT),
                if !closed && in_flight.len() < COMMITS_IN_FLIGHT =>
            {
                if taken == 0 {
                    closed = true; // closed and drained
                } else if let Some(queued) =
                    stage.submit(&dedup, std::mem::take(&mut admissions)).await
                {
                    in_flight.push(queued);
                }
            }
            _ = shutdown.cancelled(), if !draining => {
                // Nothing new; what is queued is still committed and answered.
                inbox.close();
                draining = true;
            }
        }
        if closed && in_flight.is_empty() {
            return;
        }
    }
}

/// One admitted event on its way to the store.
struct Entry {
    event: Event,
    /// Decided now (`Some`) or left to the stage loop (enrichment).
    verdict: Option<Verdict>,
    /// How to take the verdict's mark on dedup memory back, should the
    /// store hold this delivery already (events with a delivery id).
    undo: Option<Undo>,
}

impl Stage {
    /// Decides one batch of admissions and queues its commit (holding the
    /// dedup lock until it is queued, so later decisions commit after it);
    /// `None` when it could not be queued (its sources have their answer).
    async fn submit(&self, dedup: &Mutex<Dedup>, admissions: Vec<Admission>) -> Option<InFlight> {
        let mut replies = Vec::with_capacity(admissions.len());
        let mut entries = Vec::new();
        let mut dedup = dedup.lock().await;
        let now = OffsetDateTime::now_utc();
        let evicted_before = dedup.evicted();
        for Admission { events, reply } in admissions {
            replies.push((reply, events.len()));
            for event in events {
                let seen_at = event.received_at.min(now);
                let (verdict, undo) = match (self.defers(&event), event.delivery_id.is_some()) {
                    (true, _) => (None, None),
                    (false, false) => (Some(dedup.observe(&event, seen_at)), None),
                    (false, true) => {
                        let (verdict, undo) = dedup.observe_undoable(&event, seen_at);
                        (Some(verdict), Some(undo))
                    }
                };
                entries.push(Entry {
                    event,
                    verdict,
                    undo,
                });
            }
        }
        let evicted = dedup.evicted() - evicted_before;
        let Decided {
            batch,
            take_backs,
            wakes,
            tally,
        } = self.decide_entries(entries, now);
        let deferred = batch.iter().any(|(_, decision)| decision.is_none());
        tracing::debug!(events = batch.len(), "admission decided a batch");
        let after = After {
            replies,
            take_backs,
            wakes,
            tally,
            evicted,
            deferred,
        };
        match self.store.submit_decided(batch).await {
            Ok(commit) => Some(Box::pin(async move {
                Settle {
                    result: commit.await,
                    after,
                }
            })),
            Err(e) => {
                self.forget_failed(&mut dedup, &e).await;
                answer(after.replies, Err(e));
                None
            }
        }
    }

    /// Answers a batch's sources once its commit is known, then counts and
    /// wakes the sinks (or, on failure, forgets what dedup learnt from it).
    async fn settle(&self, dedup: &Mutex<Dedup>, Settle { result, mut after }: Settle) {
        match &result {
            Ok(outcomes) if !after.take_backs.is_empty() => {
                let take_backs = std::mem::take(&mut after.take_backs);
                take_back_redeliveries(&mut *dedup.lock().await, take_backs, outcomes)
            }
            Ok(_) => {}
            Err(e) => self.forget_failed(&mut *dedup.lock().await, e).await,
        }
        let committed = result.is_ok();
        answer(after.replies, result);
        if committed {
            self.stats.emit(after.tally.emitted(after.evicted));
            self.wake(after.wakes);
            if after.deferred {
                self.undecided_wake.notify_one();
            }
        }
    }

    /// After a failed commit dedup memory holds events the store does not:
    /// rebuild it from the store (kept as it is if the store cannot be read).
    async fn forget_failed(&self, dedup: &mut Dedup, error: &StoreError) {
        tracing::warn!(error = %error, "admission commit failed; nothing in it was acknowledged");
        if let Ok(rebuilt) = self.rebuild_dedup().await {
            *dedup = rebuilt;
        }
    }

    /// Whether an event waits for the stage loop: it wants a vCenter lookup
    /// (enrichment runs off the acceptance path), or it comes from the event
    /// stream (committed with its checkpoint, never admitted here).
    fn defers(&self, event: &Event) -> bool {
        event.source == crate::model::Source::VcenterEvents
            || self.enricher.as_deref().is_some_and(|e| e.wants(event))
    }

    /// Decides the entries that have a verdict ([`Decided`]) against one
    /// settings snapshot.
    fn decide_entries(&self, entries: Vec<Entry>, now: OffsetDateTime) -> Decided {
        let settings = self.live.load();
        let mut tally = super::Tally::default();
        let mut wakes = Wakes::default();
        let mut take_backs = Vec::new();
        let batch = entries
            .into_iter()
            .enumerate()
            .map(
                |(
                    position,
                    Entry {
                        event,
                        verdict,
                        undo,
                    },
                )| {
                    let decision = verdict.map(|verdict| {
                        // Only a delivery id can make the commit keep an earlier
                        // event; a duplicate left no mark to take back.
                        if let Some(undo) = undo
                            && !matches!(verdict, Verdict::Duplicate { .. })
                        {
                            take_backs.push(TakeBack {
                                position,
                                admitted: event.id,
                                undo,
                            });
                        }
                        let processed =
                            self.decide_one(&event, verdict, false, &settings, now, &mut tally);
                        wakes.note(&event, &processed);
                        processed
                    });
                    (event, decision)
                },
            )
            .collect();
        wakes.forward = tally.monitoring > 0;
        Decided {
            batch,
            take_backs,
            wakes,
            tally,
        }
    }
}

/// A batch decided at admission.
struct Decided {
    /// Every entry in admission order, with its decision when it has one.
    batch: Vec<(Event, Option<ProcessedEvent>)>,
    /// Events whose mark on dedup memory is taken back should the commit
    /// find their delivery stored already (a retry).
    take_backs: Vec<TakeBack>,
    wakes: Wakes,
    tally: super::Tally,
}

/// What to do once a queued batch's commit is known.
struct After {
    replies: Vec<(AdmissionReply, usize)>,
    take_backs: Vec<TakeBack>,
    wakes: Wakes,
    tally: super::Tally,
    evicted: u64,
    /// Some events were left undecided for the stage loop.
    deferred: bool,
}

/// A batch's commit result with what to do about it.
struct Settle {
    result: Result<Vec<AcceptOutcome>, StoreError>,
    after: After,
}

/// A decided event with a delivery id that dedup remembered as an original:
/// should the store keep an earlier event for that delivery (a retry), the
/// event never existed and its mark on memory is taken back.
struct TakeBack {
    position: usize,
    admitted: EventId,
    undo: Undo,
}

fn take_back_redeliveries(
    dedup: &mut Dedup,
    take_backs: Vec<TakeBack>,
    outcomes: &[AcceptOutcome],
) {
    for retry in take_backs {
        if let Some(AcceptOutcome::AlreadyAccepted(_)) = outcomes.get(retry.position) {
            dedup.take_back(retry.admitted, retry.undo);
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
