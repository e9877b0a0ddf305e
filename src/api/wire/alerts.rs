//! Alert bodies: the active-alert table (`GET /api/v1/alerts`, one row per
//! target and alert) and Alertmanager's `gettableAlerts` view of it
//! (`GET /api/v2/alerts`, firing alerts once per label set).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::EventId;
use crate::store::{AlertRow, AlertState};

/// `GET /api/v1/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// One row of the table with its Alertmanager fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    #[serde(flatten)]
    pub row: AlertRow,
    pub fingerprint: String,
}

impl From<AlertRow> for AlertView {
    fn from(row: AlertRow) -> Self {
        let fingerprint = crate::monitoring::alerts::fingerprint(&row.labels);
        Self { row, fingerprint }
    }
}

/// Alertmanager's `gettableAlert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: AlertAnnotations,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// A few minutes ahead: the alert stays firing while vcgate re-sends it.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub fingerprint: String,
    pub status: GettableAlertStatus,
    /// The monitoring targets told about it.
    pub receivers: Vec<Receiver>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertAnnotations {
    pub summary: String,
    /// `critical` / `warning`.
    pub severity: String,
    /// The alarm status as vCenter gave it.
    pub status: String,
    pub event_id: EventId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlertStatus {
    /// `active`, or `suppressed` while held (silence, maintenance, inhibition).
    pub state: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub name: String,
}

/// How far ahead `endsAt` is set.
const ENDS_AHEAD: time::Duration = time::Duration::minutes(4);

/// The firing rows, once per label set (by fingerprint, in fingerprint
/// order), each listing the targets that hold it; the first row of a label
/// set gives the annotations.
pub fn gettable_alerts(rows: &[AlertRow], now: OffsetDateTime) -> Vec<GettableAlert> {
    let mut by_fingerprint: BTreeMap<String, GettableAlert> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.state == AlertState::Firing) {
        let fingerprint = crate::monitoring::alerts::fingerprint(&r.labels);
        let alert = by_fingerprint
            .entry(fingerprint.clone())
            .or_insert_with(|| GettableAlert {
                labels: r.labels.clone(),
                annotations: AlertAnnotations {
                    summary: r.summary.clone(),
                    severity: r.severity.clone(),
                    status: r.status.clone(),
                    event_id: r.event_id,
                },
                starts_at: r.starts_at,
                updated_at: now,
                ends_at: now + ENDS_AHEAD,
                fingerprint,
                status: GettableAlertStatus {
                    state: if r.held_by.is_some() {
                        "suppressed"
                    } else {
                        "active"
                    }
                    .into(),
                    silenced_by: r.held_by.iter().cloned().collect(),
                    inhibited_by: Vec::new(),
                },
                receivers: Vec::new(),
            });
        alert.receivers.push(Receiver {
            name: r.target.clone(),
        });
    }
    by_fingerprint.into_values().collect()
}
