//! `[monitoring]`: SNMP and webhook targets, and their names.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::{AuthProtocol, Config, PrivProtocol, Secret};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    #[serde(default)]
    pub snmp: Vec<SnmpForwardTarget>,
    #[serde(default)]
    pub webhook: Vec<WebhookForwardTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpForwardTarget {
    pub name: Option<String>,
    pub target: String,
    #[serde(default)]
    pub version: SnmpVersion,
    pub community: Option<Secret>,
    pub user: Option<String>,
    /// Our SNMPv3 engine id (hex) as trap sender; generated and persisted when absent.
    /// The NMS needs it to localize the user's keys (`createUser -e <id>`).
    pub engine_id: Option<String>,
    pub auth_protocol: Option<AuthProtocol>,
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<PathBuf>,
    pub priv_protocol: Option<PrivProtocol>,
    pub priv_password: Option<Secret>,
    pub priv_password_file: Option<PathBuf>,
}

/// SNMP version a `[[monitoring.snmp]]` target is sent (`"2c"` or `"3"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SnmpVersion {
    #[default]
    #[serde(rename = "2c")]
    V2c,
    #[serde(rename = "3")]
    V3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookForwardTarget {
    pub name: Option<String>,
    /// One receiver (kept for configs written before `urls`).
    pub url: Option<String>,
    /// Every receiver of this target (e.g. an Alertmanager HA pair): each
    /// gets every alert, each one's failures are retried on their own.
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default = "default_webhook_format")]
    pub format: WebhookFormat,
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Alertmanager: every firing alert is re-sent this often, with
    /// `endsAt = now + 4 × resend_interval`.
    #[serde(default = "default_resend_interval", with = "humantime_serde")]
    pub resend_interval: Duration,
    /// `format = "cloudevents"`: vcgate's event shape or VEBA's.
    #[serde(default)]
    pub event_format: crate::cloudevents::EventFormat,
    /// `format = "cloudevents"`: structured (default) or binary content mode.
    #[serde(default)]
    pub encoding: crate::cloudevents::Encoding,
}

impl WebhookForwardTarget {
    /// `url` and `urls` together, in order, without repeats.
    pub fn all_urls(&self) -> Vec<String> {
        let mut all: Vec<String> = self.url.iter().cloned().collect();
        for u in &self.urls {
            if !all.contains(u) {
                all.push(u.clone());
            }
        }
        all
    }
}

fn default_resend_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_webhook_format() -> WebhookFormat {
    WebhookFormat::Alertmanager
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Alertmanager,
    Cloudevents,
}

/// Names of the monitoring targets, in config order (`[[monitoring.*]]` `name`,
/// else `snmp[N]` / `webhook[N]`).
pub fn monitoring_target_names(config: &Config) -> Vec<String> {
    let snmp = config
        .monitoring
        .snmp
        .iter()
        .enumerate()
        .map(|(i, t)| t.name.clone().unwrap_or_else(|| format!("snmp[{i}]")));
    let webhook = config
        .monitoring
        .webhook
        .iter()
        .enumerate()
        .map(|(i, t)| t.name.clone().unwrap_or_else(|| format!("webhook[{i}]")));
    snmp.chain(webhook).collect()
}
