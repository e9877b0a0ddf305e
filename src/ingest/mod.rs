//! Sources: the edges where events enter (SNMP notifications, the vCenter
//! event stream; the HTTP alarm hook and CloudEvent emit are handlers of the
//! API router, `crate::api::ingest`, and enter through `Ingestor` too).
//!
//! Owns: `Ingestor`, the single path from a normalized event to "accepted":
//! hand it to the pipeline's admission (which decides dedup and routing in
//! memory and commits the event with its decision), or, without one
//! (PostgreSQL: one decider for the cluster), commit it undecided and wake
//! the pipeline. Either way the caller hears back once the event is
//! durable. Sources never call a later stage directly: [`Admission`] is a
//! channel message and the store is the record.
//! Must not: depend on the API (it sits above every source).

pub mod snmp;
pub mod vcenter_events;

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::model::Event;
use crate::store::{AcceptOutcome, Store, StoreError};
use crate::telemetry::Stats;

/// Events handed to the pipeline's admission: it answers once they are
/// durable (decided, or stored undecided for the pipeline), one outcome per
/// event in order.
pub struct Admission {
    pub events: Vec<Event>,
    pub reply: AdmissionReply,
}

/// Where admission answers: one outcome per event, or why none was stored.
pub type AdmissionReply = oneshot::Sender<Result<Vec<AcceptOutcome>, StoreError>>;

/// How old an alarm's own timestamp (`sent_at`) must be before acceptance
/// asks the store whether its delivery is stored already. The VCSA hook
/// stamps `sent_at` and the delivery id when the alarm is raised and keeps
/// both for every retry, and it retries a POST that went unanswered only
/// after its timeout (1 s at least, 5 s by default) or from its spool,
/// later. A first attempt arrives well within this, so only retries pay the
/// read; a clock out of step by more costs a read per alarm, not a wrong
/// answer.
pub const REDELIVERY_AGE: time::Duration = time::Duration::seconds(2);

/// Whether `event` may be a retry of a delivery stored earlier: it has a
/// delivery id and its own timestamp is older than [`REDELIVERY_AGE`].
pub fn may_be_redelivery(event: &Event) -> bool {
    event.delivery_id.is_some()
        && event
            .time
            .is_some_and(|sent| sent < event.received_at - REDELIVERY_AGE)
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the pipeline has stopped (shutting down)".into())
}

/// Commits events and tells the pipeline there is work.
#[derive(Clone)]
pub struct Ingestor {
    pub store: Store,
    pub stats: Arc<Stats>,
    /// Woken after every undecided commit; the pipeline reads pending
    /// events from the store.
    pub pipeline_wake: Arc<Notify>,
    /// The pipeline's admission, when it decides at acceptance (SQLite).
    pub admissions: Option<mpsc::Sender<Admission>>,
}

impl Ingestor {
    /// Commits one event; resolves once it is durable.
    pub async fn accept(&self, event: Event) -> Result<AcceptOutcome, StoreError> {
        let mut outcomes = self.accept_many(vec![event]).await?;
        Ok(outcomes.remove(0))
    }

    /// The stored event of a retried delivery ([`may_be_redelivery`]: the
    /// first attempt was stored but answered too late), looked up before the
    /// retry reaches admission. There it would pass through dedup as a new
    /// transition: memory is taken back once the commit finds the delivery
    /// stored, but an event of the same alarm decided while that commit is
    /// in flight was marked a duplicate of the retry, which is never stored,
    /// and never reached monitoring. `None` also when the store cannot be
    /// read (acceptance then reports the store's state itself).
    pub async fn stored_redelivery(&self, event: &Event) -> Option<crate::model::EventId> {
        let delivery = event
            .delivery_id
            .as_ref()
            .filter(|_| may_be_redelivery(event))?;
        match self
            .store
            .find_delivery(event.source, delivery.clone())
            .await
        {
            Ok(Some(id)) => {
                self.stats.duplicate_delivery(event.source);
                Some(id)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "cannot look a delivery up; accepting it as new");
                None
            }
        }
    }

    /// Commits several events in one write (used by the SNMP receiver's batches).
    pub async fn accept_many(&self, events: Vec<Event>) -> Result<Vec<AcceptOutcome>, StoreError> {
        self.submit_many(events).await?.await
    }

    /// `accept_many` in two steps, for a source that takes its next batch
    /// while this one commits: resolves once the events are handed to
    /// admission (batches handed over later are decided after them),
    /// returning the future of their commit. Without admission the returned
    /// future does the whole commit.
    pub async fn submit_many(
        &self,
        events: Vec<Event>,
    ) -> Result<
        impl Future<Output = Result<Vec<AcceptOutcome>, StoreError>> + Send + 'static,
        StoreError,
    > {
        let labels: Vec<_> = events
            .iter()
            .map(|e| (e.source, e.vcenter.clone(), e.received_at))
            .collect();
        let handed = match &self.admissions {
            Some(admissions) => Ok(Self::hand_over(admissions, events).await?),
            None => Err(events),
        };
        let ingestor = self.clone();
        Ok(async move {
            let (outcomes, wake) = match handed {
                Ok(answer) => (answer.await.map_err(|_| stopped())??, false),
                Err(events) => (ingestor.store.accept_many(events).await?, true),
            };
            ingestor.count(&labels, &outcomes, wake);
            Ok(outcomes)
        })
    }

    /// Hands events to the pipeline's admission; its answer comes once
    /// they are committed.
    async fn hand_over(
        admissions: &mpsc::Sender<Admission>,
        events: Vec<Event>,
    ) -> Result<oneshot::Receiver<Result<Vec<AcceptOutcome>, StoreError>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        admissions
            .send(Admission { events, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(answer)
    }

    /// Commits events of a vCenter's event stream together with the stream's
    /// checkpoint, in one write (see `Store::accept_with_checkpoint`).
    pub async fn accept_with_checkpoint(
        &self,
        events: Vec<Event>,
        vcenter: &str,
        checkpoint: crate::store::StreamCheckpoint,
    ) -> Result<Vec<AcceptOutcome>, StoreError> {
        let labels: Vec<_> = events
            .iter()
            .map(|e| (e.source, vcenter.to_owned(), e.received_at))
            .collect();
        let outcomes = self
            .store
            .accept_with_checkpoint(events, vcenter.to_owned(), checkpoint)
            .await?;
        self.count(&labels, &outcomes, true);
        Ok(outcomes)
    }

    /// Books a commit's outcomes: one stats update per (source, vCenter) and,
    /// for undecided commits (`wake`), one pipeline wake per batch, not per
    /// event (the trap path is hot).
    fn count(
        &self,
        labels: &[(crate::model::Source, String, OffsetDateTime)],
        outcomes: &[AcceptOutcome],
        wake: bool,
    ) {
        let mut accepted: Vec<((crate::model::Source, &str), u64)> = Vec::new();
        let mut received = Vec::with_capacity(outcomes.len());
        let mut any_new = false;
        for ((source, vcenter, at), outcome) in labels.iter().zip(outcomes) {
            match outcome {
                AcceptOutcome::Accepted(_) => {
                    any_new = true;
                    received.push(*at);
                    match accepted
                        .iter_mut()
                        .find(|(k, _)| *k == (*source, vcenter.as_str()))
                    {
                        Some((_, n)) => *n += 1,
                        None => accepted.push(((*source, vcenter.as_str()), 1)),
                    }
                }
                AcceptOutcome::AlreadyAccepted(_) => self.stats.duplicate_delivery(*source),
            }
        }
        for ((source, vcenter), n) in accepted {
            self.stats.accepted_n(source, vcenter, n);
        }
        self.stats
            .emit(crate::telemetry::internal_events::EventsCommitted {
                received: &received,
            });
        if any_new && wake {
            self.pipeline_wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, Source};

    fn hook_alarm(delivery: Option<&str>, sent_ago: Option<time::Duration>) -> Event {
        let mut event = Event::new(
            Source::AlarmHook,
            "vc1",
            EventType::parse("alarm.status.changed").unwrap(),
        );
        event.delivery_id = delivery.map(str::to_owned);
        event.time = sent_ago.map(|ago| event.received_at - ago);
        event
    }

    #[test]
    fn only_an_alarm_with_a_delivery_id_sent_a_while_ago_may_be_a_redelivery() {
        let secs = time::Duration::seconds;
        assert!(may_be_redelivery(&hook_alarm(Some("d"), Some(secs(6)))));
        assert!(may_be_redelivery(&hook_alarm(Some("d"), Some(secs(3600)))));
        // A first attempt: sent just now (or stamped a little ahead).
        assert!(!may_be_redelivery(&hook_alarm(Some("d"), Some(secs(1)))));
        assert!(!may_be_redelivery(&hook_alarm(Some("d"), Some(-secs(30)))));
        // Nothing to look up, or no age to tell.
        assert!(!may_be_redelivery(&hook_alarm(None, Some(secs(60)))));
        assert!(!may_be_redelivery(&hook_alarm(Some("d"), None)));
    }
}
