//! The deliveries aggregate: forwards of an event to a monitoring target,
//! queued by [`super::EventStore::record_processed`] (and by released
//! alerts), taken by the target's forwarder and settled with retries.
//!
//! Owns: [`DeliveryStore`] and its rows. Must not: know SQL.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::model::{Event, EventId};

#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Pending deliveries for `target` whose retry time has come, oldest first.
    async fn due_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Takes due deliveries for `target` to send now: like
    /// [`Self::due_deliveries`], and on a shared backend exclusive — another
    /// node does not get them until they are settled or this node's claim
    /// lapses (it died). A single-node backend just reads them.
    async fn claim_deliveries(
        &self,
        target: String,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.due_deliveries(target, limit).await
    }

    /// Settles one attempt (counted) of delivering `event` to `target`.
    async fn settle_delivery(
        &self,
        event: EventId,
        target: String,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError>;
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its retry.
    Pending,
    Sent,
    /// Gave up.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One queued forward of an event to a monitoring target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub target: String,
    pub state: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A due delivery handed to a forwarder.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub event: Event,
    /// Attempts made so far.
    pub attempts: u32,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent,
    /// Failed; try again at `at`.
    Retry {
        error: String,
        at: OffsetDateTime,
    },
    /// Failed for good (permanent error or out of attempts).
    GaveUp {
        error: String,
    },
}
