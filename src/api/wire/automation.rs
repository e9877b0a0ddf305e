//! Automation bodies: runs (`GET /api/v1/runs`, `/runs/{id}`, the retry
//! answer), configured functions and subscriptions. Function and
//! subscription views are their own types, not the config structs, so the
//! API keeps its shape when the config is parsed differently.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::FunctionKind;
use crate::store::{RunRecord, RunStatus};

/// `GET /api/v1/runs`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunList {
    pub runs: Vec<RunRecord>,
}

/// `GET /api/v1/runs/{id}`: the record plus its event as a CloudEvent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: RunRecord,
    /// The CloudEvent (structured JSON) the function got.
    pub event: Value,
}

/// The CloudEvent attributes shown beside a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CloudEventHead {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl RunView {
    /// The event's id and type; `None` when `event` is not a CloudEvent.
    pub fn event_head(&self) -> Option<CloudEventHead> {
        CloudEventHead::deserialize(&self.event).ok()
    }
}

/// `POST /api/v1/runs/{id}/retry` (202): the run is queued again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunQueued {
    pub id: String,
    pub status: RunStatus,
}

/// `GET /api/v1/functions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionList {
    pub functions: Vec<FunctionView>,
}

/// One configured function, without anything secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionView {
    pub name: String,
    pub kind: FunctionKind,
    /// `command` functions: the argv; `null` for the other kinds.
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub builtin: Option<String>,
    /// Names of the extra environment variables (values may be sensitive).
    pub env: Vec<String>,
    /// Names of the secret sets the function gets.
    pub secrets: Vec<String>,
    /// humantime, e.g. `1m`.
    pub timeout: String,
    pub max_attempts: u32,
    pub concurrency: usize,
    /// A webhook signing key is configured.
    pub signed: bool,
    /// The event shape the function gets (`vcgate` or `veba`).
    pub event_format: crate::cloudevents::EventFormat,
    /// `webhook` functions: the CloudEvents content mode; `null` otherwise.
    pub encoding: Option<crate::cloudevents::Encoding>,
    /// Subscriptions that call this function.
    pub subscriptions: Vec<String>,
}

/// `GET /api/v1/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

/// One configured subscription; a filter not set is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub name: String,
    pub event_type: String,
    pub function: String,
    pub vcenter: Option<String>,
    pub entity: Option<String>,
    pub alarm: Option<String>,
    /// New alarm status (a colour or vCenter's text).
    pub status: Option<String>,
    /// The event shape for this subscription, when it overrides the
    /// function's (`vcgate` or `veba`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_format: Option<crate::cloudevents::EventFormat>,
}

impl From<&crate::config::SubscriptionConfig> for SubscriptionView {
    fn from(s: &crate::config::SubscriptionConfig) -> Self {
        Self {
            name: s.name.clone(),
            event_type: s.event_type.clone(),
            function: s.function.clone(),
            vcenter: s.vcenter.clone(),
            entity: s.entity.clone(),
            alarm: s.alarm.clone(),
            status: s.status.clone(),
            event_format: s.event_format,
        }
    }
}
