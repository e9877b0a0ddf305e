//! `[guard]`: re-enabling host alarm actions after maintenance mode.

use serde::Deserialize;
use std::time::Duration;

use super::VcenterConfig;

/// `[guard]`: the maintenance-mode alarm-action reconciler (see `crate::guard`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Default: on when some `[[vcenter]]` has a `url` (see `GuardConfig::active`).
    pub enabled: Option<bool>,
    /// Full reconcile period; maintenance events trigger one at once in between.
    #[serde(default = "default_guard_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Disable a host's alarm actions when it is seen entering maintenance.
    #[serde(default)]
    pub disable_on_enter: bool,
    /// Which hosts out of maintenance get their actions re-enabled.
    #[serde(default)]
    pub reenable: Reenable,
    /// Host name globs the guard never touches.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Log and record decisions without calling vCenter.
    #[serde(default)]
    pub dry_run: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl GuardConfig {
    /// Whether the guard runs for `vcenters` (explicit `enabled`, else on
    /// when at least one vCenter has an API `url`).
    pub fn active(&self, vcenters: &[VcenterConfig]) -> bool {
        let any_api = vcenters.iter().any(|vc| vc.url.is_some());
        self.enabled.unwrap_or(any_api) && any_api
    }
}

/// `[guard] reenable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reenable {
    /// Only hosts whose actions the guard disabled (or saw disabled during maintenance).
    #[default]
    Guarded,
    /// Every host out of maintenance.
    All,
}

fn default_guard_interval() -> Duration {
    Duration::from_secs(60)
}
