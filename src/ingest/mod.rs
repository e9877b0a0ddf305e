//! Sources: the edges where events enter (SNMP notifications, the vCenter
//! event stream; the HTTP alarm hook and CloudEvent emit are handlers of the
//! API router, `crate::api::ingest`, and enter through `Ingestor` too).
//!
//! Owns: `Ingestor`, the single path from a normalized event to "accepted":
//! commit to the store, count it, wake the pipeline. Sources never call a
//! later stage directly; the pipeline picks accepted events up from the store.
//! Must not: depend on the API (it sits above every source).

pub mod snmp;
pub mod vcenter_events;

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::model::Event;
use crate::store::{AcceptOutcome, Store, StoreError};
use crate::telemetry::Stats;

/// Commits events and tells the pipeline there is work.
#[derive(Clone)]
pub struct Ingestor {
    pub store: Store,
    pub stats: Arc<Stats>,
    /// Woken after every commit; the pipeline reads pending events from the store.
    pub pipeline_wake: Arc<Notify>,
}

impl Ingestor {
    /// Commits one event; resolves once it is durable.
    pub async fn accept(&self, event: Event) -> Result<AcceptOutcome, StoreError> {
        let label = (event.source, event.vcenter.clone(), event.received_at);
        let outcome = self.store.accept(event).await?;
        self.count(&[label], &[outcome]);
        Ok(outcome)
    }

    /// Commits several events in one write (used by the SNMP receiver's batches).
    pub async fn accept_many(&self, events: Vec<Event>) -> Result<Vec<AcceptOutcome>, StoreError> {
        let labels: Vec<_> = events
            .iter()
            .map(|e| (e.source, e.vcenter.clone(), e.received_at))
            .collect();
        let outcomes = self.store.accept_many(events).await?;
        self.count(&labels, &outcomes);
        Ok(outcomes)
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
        self.count(&labels, &outcomes);
        Ok(outcomes)
    }

    /// Books a commit's outcomes: one stats update per (source, vCenter) and
    /// one pipeline wake per batch, not per event (the trap path is hot).
    fn count(
        &self,
        labels: &[(crate::model::Source, String, OffsetDateTime)],
        outcomes: &[AcceptOutcome],
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
        if any_new {
            self.pipeline_wake.notify_one();
        }
    }
}
