//! Sources: the edges where events enter (HTTP alarm hook and CloudEvent
//! emit, SNMP notifications, the vCenter event stream).
//!
//! Owns: `Ingestor`, the single path from a normalized event to "accepted":
//! commit to the store, count it, wake the pipeline. Sources never call a
//! later stage directly; the pipeline picks accepted events up from the store.

pub mod http;
pub mod snmp;
pub mod vcenter_events;

use std::sync::Arc;

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
        let source = event.source;
        let vcenter = event.vcenter.clone();
        let outcome = self.store.accept(event).await?;
        self.count(source, &vcenter, outcome);
        Ok(outcome)
    }

    /// Commits several events in one write (used by the SNMP receiver's batches).
    pub async fn accept_many(&self, events: Vec<Event>) -> Result<Vec<AcceptOutcome>, StoreError> {
        let labels: Vec<_> = events
            .iter()
            .map(|e| (e.source, e.vcenter.clone()))
            .collect();
        let outcomes = self.store.accept_many(events).await?;
        for ((source, vcenter), outcome) in labels.iter().zip(&outcomes) {
            self.count(*source, vcenter, *outcome);
        }
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
        let sources: Vec<_> = events.iter().map(|e| e.source).collect();
        let outcomes = self
            .store
            .accept_with_checkpoint(events, vcenter.to_owned(), checkpoint)
            .await?;
        for (source, outcome) in sources.iter().zip(&outcomes) {
            self.count(*source, vcenter, *outcome);
        }
        Ok(outcomes)
    }

    fn count(&self, source: crate::model::Source, vcenter: &str, outcome: AcceptOutcome) {
        match outcome {
            AcceptOutcome::Accepted(_) => {
                self.stats.accepted(source, vcenter);
                self.pipeline_wake.notify_one();
            }
            AcceptOutcome::AlreadyAccepted(_) => self.stats.duplicate_delivery(source),
        }
    }
}
