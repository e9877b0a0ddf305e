//! `GET /api/v1/status`: version, uptime, store figures, the live counters
//! (`telemetry::StatsSnapshot`, flattened), runs by status, silences and,
//! on PostgreSQL, the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{ClusterStatus, StoreStats};
use crate::telemetry::StatsSnapshot;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub uptime_seconds: u64,
    pub store: StoreStats,
    /// `sources`, `vcenters`, `pipeline`, `active_alerts`, `event_streams`,
    /// `snmp`, `http`, `auth_failures`.
    #[serde(flatten)]
    pub counters: StatsSnapshot,
    /// Runs by status (`queued`, `succeeded`, …); a status without runs is absent.
    pub runs: BTreeMap<String, u64>,
    pub silences: SilenceSummary,
    /// With `[store] backend = "postgres"`: this node's id, the nodes
    /// sharing the database (heartbeat rows) and the singleton holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// The silences part of status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceSummary {
    /// Manual silences in force now.
    pub active: usize,
    /// `[silence] maintenance` is on (a vCenter API is configured).
    pub maintenance_silencing: bool,
    pub hosts_in_maintenance: Vec<HostRef>,
}

/// A host by vCenter and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRef {
    pub vcenter: String,
    pub host: String,
}
