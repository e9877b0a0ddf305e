//! The stages' sections: `[dedup]`, `[[route]]`, `[enrich]`, `[silence]`.

use serde::Deserialize;
use std::time::Duration;

use super::default_true;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    #[serde(default = "default_dedup_window", with = "humantime_serde")]
    pub window: Duration,
    /// A still-active condition is notified again after this long.
    #[serde(default = "default_repeat_interval", with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Most identities remembered at once (about 200 bytes each); beyond it
    /// the least recently seen are forgotten early (counted).
    #[serde(default = "default_dedup_max_entries")]
    pub max_entries: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_dedup_window() -> Duration {
    Duration::from_secs(300)
}

fn default_dedup_max_entries() -> usize {
    100_000
}

fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

/// Where a routing rule sends matching events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteTarget {
    Automation,
    Monitoring,
    Both,
    Drop,
}

impl RouteTarget {
    pub fn to_automation(self) -> bool {
        matches!(self, RouteTarget::Automation | RouteTarget::Both)
    }
    pub fn to_monitoring(self) -> bool {
        matches!(self, RouteTarget::Monitoring | RouteTarget::Both)
    }
}

/// One `[[route]]` rule; every given matcher must match (globs with `*`/`?`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub name: Option<String>,
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub alarm: Option<String>,
    pub entity: Option<String>,
    pub new_status: Option<String>,
    pub vcenter: Option<String>,
    pub to: RouteTarget,
}

/// `[enrich]`: looking up the vCenter event behind an alarm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// On when a `[[vcenter]]` has a `url`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How far before the alarm to look for its triggering event.
    #[serde(default = "default_enrich_window", with = "humantime_serde")]
    pub window: Duration,
    /// Longest one lookup may take; the event then goes on unenriched.
    #[serde(default = "default_enrich_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// After vCenter failed, skip lookups for this long (events say why).
    #[serde(default = "default_enrich_cooldown", with = "humantime_serde")]
    pub retry_after: Duration,
    /// How long VM-name lookups are cached.
    #[serde(default = "default_enrich_cache", with = "humantime_serde")]
    pub cache_ttl: Duration,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_enrich_window() -> Duration {
    Duration::from_secs(600)
}

fn default_enrich_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_enrich_cooldown() -> Duration {
    Duration::from_secs(10)
}

fn default_enrich_cache() -> Duration {
    Duration::from_secs(300)
}

/// `[silence]`: holding monitoring traffic back (never automation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Hold monitoring traffic for hosts in maintenance and what runs or is
    /// stored on them. Default: on when a `[[vcenter]]` has a `url`.
    pub maintenance: Option<bool>,
    /// How often vCenter's maintenance state (and VM/datastore placement) is read.
    #[serde(default = "default_silence_poll", with = "humantime_serde")]
    pub poll: Duration,
    /// Expired silences are kept this long for audit.
    #[serde(default = "default_silence_retention", with = "humantime_serde")]
    pub expired_retention: Duration,
    /// Inhibition rules: while a source alert fires on a host, alerts on its VMs are held.
    #[serde(default)]
    pub inhibit: Vec<InhibitRule>,
    /// When a host leaves maintenance, alarms still firing on it and its VMs
    /// that maintenance held are sent to the monitoring targets then.
    /// (Alerts held by a silence or an inhibition that ends are always sent,
    /// as Alertmanager does.)
    #[serde(default = "default_true")]
    pub resolve_on_exit: bool,
}

impl Default for SilenceConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_silence_poll() -> Duration {
    Duration::from_secs(30)
}

fn default_silence_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

/// `[[silence.inhibit]]`: while an alert matching `source_alarm` with a status
/// matching `source_status` fires on a host, alerts on the VMs on that host are
/// held from monitoring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    pub name: String,
    pub source_alarm: String,
    #[serde(default = "default_inhibit_status")]
    pub source_status: String,
}

fn default_inhibit_status() -> String {
    "red".to_owned()
}
