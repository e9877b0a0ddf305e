//! `GET /api/v1/guard`: the alarm-action guard's settings, the last
//! reconcile per vCenter, hosts in maintenance, guarded hosts and recent
//! actions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::guard::{ActionRecord, GuardSettings, ReconcileRecord, ReconcileStatus};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardView {
    pub settings: GuardSettings,
    /// One per vCenter the guard reconciles, in config order.
    pub vcenters: Vec<GuardVcenter>,
    pub in_maintenance: Vec<GuardHost>,
    pub guarded: Vec<GuardedHost>,
    /// Newest first.
    pub actions: Vec<ActionRecord>,
}

/// How the guard stands with one vCenter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardVcenter {
    pub name: String,
    /// As reconciled, except that an `ok` which is overdue shows `stale`.
    pub status: ReconcileStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reconcile: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub consecutive_failures: u32,
    pub reconciles: u64,
    pub hosts: usize,
}

impl GuardVcenter {
    /// The record as shown, with `status` decided by the caller.
    pub fn new(record: &ReconcileRecord, status: ReconcileStatus) -> Self {
        Self {
            name: record.vcenter.clone(),
            status,
            last_reconcile: record.last_reconcile,
            last_attempt: record.last_attempt,
            next_attempt: record.next_attempt,
            error: record.error.clone(),
            consecutive_failures: record.consecutive_failures,
            reconciles: record.reconciles,
            hosts: record.hosts,
        }
    }
}

/// A host the guard remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardHost {
    pub vcenter: String,
    pub moref: String,
    pub name: String,
    pub in_maintenance: bool,
    /// `null` until read from vCenter.
    pub alarm_actions_enabled: Option<bool>,
    pub guarded: bool,
}

impl GuardHost {
    pub fn new(vcenter: &str, moref: &str, memory: &crate::guard::decide::HostMemory) -> Self {
        Self {
            vcenter: vcenter.to_owned(),
            moref: moref.to_owned(),
            name: memory.name.clone(),
            in_maintenance: memory.in_maintenance,
            alarm_actions_enabled: memory.actions_enabled,
            guarded: memory.guarded,
        }
    }
}

/// A guarded host (re-enabled once out of maintenance) and why it is guarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardedHost {
    #[serde(flatten)]
    pub host: GuardHost,
    pub reason: Option<String>,
}
