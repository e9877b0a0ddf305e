//! `[[secret]]`, `[[function]]` and `[[subscription]]`.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A named set of secrets (`[[secret]]`), given to the functions that list it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSet {
    pub name: String,
    /// JSON or TOML file holding an object of string values.
    pub file: Option<PathBuf>,
    /// Environment variables whose values join the set (key = variable name).
    #[serde(default)]
    pub env: Vec<String>,
}

/// What a function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Command,
    Webhook,
    Builtin,
}

/// What a `builtin` function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    SetCreatedBy,
    AlarmActions,
}

impl Builtin {
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::SetCreatedBy => "set-created-by",
            Builtin::AlarmActions => "alarm-actions",
        }
    }
}

/// What `builtin = "alarm-actions"` does to the entity's alarm actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmAction {
    #[default]
    Enable,
    Disable,
}

/// One `[[function]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    pub kind: FunctionKind,
    /// `command`: argv; the input JSON arrives on stdin.
    #[serde(default)]
    pub command: Vec<String>,
    /// `command`: working directory.
    pub working_dir: Option<PathBuf>,
    /// `command`: extra environment (the gateway's own environment is not passed on).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// `webhook`: where to POST the CloudEvent.
    pub url: Option<String>,
    /// `webhook`: HMAC-SHA256 signing key, from a file or an environment variable.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_env: Option<String>,
    /// `builtin`: `set-created-by` or `alarm-actions`.
    pub builtin: Option<Builtin>,
    /// `builtin = "set-created-by"`: attribute names.
    pub created_by_attribute: Option<String>,
    pub created_on_attribute: Option<String>,
    /// `builtin = "alarm-actions"`: `enable` (default) or `disable`.
    pub action: Option<AlarmAction>,
    /// Names of `[[secret]]` sets handed to the function.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default = "default_function_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a run is `dead`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Runs of this function at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// First retry delay; doubles per attempt (with jitter) up to `max_backoff`.
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// The event shape the function gets: `vcgate` (default) or `veba`
    /// (VMware Event Broker Appliance CloudEvents); a subscription may
    /// override it.
    #[serde(default)]
    pub event_format: crate::cloudevents::EventFormat,
    /// `webhook`: CloudEvents content mode, `structured` (default) or `binary`.
    #[serde(default)]
    pub encoding: crate::cloudevents::Encoding,
}

fn default_function_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_attempts() -> u32 {
    5
}

fn default_concurrency() -> usize {
    4
}

fn default_backoff() -> Duration {
    Duration::from_secs(1)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(300)
}

/// One `[[subscription]]`: events of a type (glob) and filters → a function.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    pub name: String,
    pub event_type: String,
    pub function: String,
    pub vcenter: Option<String>,
    pub entity: Option<String>,
    pub alarm: Option<String>,
    /// New alarm status (`red`, or the raw text).
    pub status: Option<String>,
    /// The event shape for runs of this subscription (default: the function's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_format: Option<crate::cloudevents::EventFormat>,
}
