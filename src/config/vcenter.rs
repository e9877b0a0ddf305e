//! `[[vcenter]]`: the vSphere API of each vCenter and its event stream.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{ByteSize, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterConfig {
    pub name: String,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default = "default_vc_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest SOAP answer read from this vCenter; a bigger one fails that
    /// call (the body is read incrementally and never held beyond this).
    #[serde(default = "default_vc_max_response")]
    pub max_response: ByteSize,
    /// Source addresses whose traps belong to this vCenter.
    #[serde(default)]
    pub snmp_sources: Vec<IpAddr>,
    /// Tail this vCenter's event history (event-stream source).
    #[serde(default)]
    pub events: bool,
    /// Event-stream: only these classes (sent to vCenter as `eventTypeId`;
    /// base classes such as `VmEvent` match their subclasses). Empty = all.
    #[serde(default)]
    pub events_include: Vec<String>,
    /// Event-stream: drop these classes (exact class or EventEx `eventTypeId`).
    #[serde(default)]
    pub events_exclude: Vec<String>,
    /// Event-stream poll interval (grows up to 4x while idle).
    #[serde(default = "default_events_poll", with = "humantime_serde")]
    pub events_poll: Duration,
    /// Event-stream look-back when there is no checkpoint or it is older.
    #[serde(default = "default_events_lookback", with = "humantime_serde")]
    pub events_lookback: Duration,
}

fn default_events_poll() -> Duration {
    Duration::from_secs(5)
}

fn default_events_lookback() -> Duration {
    Duration::from_secs(3600)
}

fn default_vc_max_response() -> ByteSize {
    ByteSize(crate::vsphere::DEFAULT_MAX_RESPONSE)
}

fn default_vc_timeout() -> Duration {
    Duration::from_secs(10)
}
