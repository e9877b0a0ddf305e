//! `GET /api/v1/guard`: the alarm-action guard's view — settings, the last
//! reconcile per vCenter (with stale/denied status), hosts in maintenance,
//! guarded hosts and recent actions with their reasons.
//!
//! Read-only over the store (the reconcilers persist everything they show),
//! so the answer is the same after a restart.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::error::ApiError;
use crate::guard::{GuardSettings, GuardSnapshot, ReconcileRecord, ReconcileStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardParams {
    /// How many recent actions to list (default 50, at most 1000).
    limit: Option<usize>,
}

pub async fn guard(
    State(state): State<AppState>,
    params: Result<Query<GuardParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|_| ApiError::bad_request("invalid query string (parameter: limit)"))?;
    let limit = params.limit.unwrap_or(50).clamp(1, 1000);
    let snapshot = state.ingestor.store.guard_snapshot(limit).await?;
    Ok(Json(render(&state.guard, &snapshot, OffsetDateTime::now_utc())).into_response())
}

/// The status a reconcile record is shown with (here and in
/// `vcgate_guard_status`): an `ok` one that is overdue (three intervals plus
/// slack) is reported `stale`: the reconciler is not keeping up.
pub fn shown_status(
    settings: &GuardSettings,
    record: &ReconcileRecord,
    now: OffsetDateTime,
) -> ReconcileStatus {
    let overdue = settings.interval * 3 + Duration::from_secs(30);
    match (record.status, record.last_reconcile) {
        (ReconcileStatus::Ok, Some(at)) if now - at > overdue => ReconcileStatus::Stale,
        (status, _) => status,
    }
}

/// The last reconcile of each guarded vCenter, in config order (`pending`
/// for one not reconciled yet).
pub fn records(settings: &GuardSettings, snapshot: &GuardSnapshot) -> Vec<ReconcileRecord> {
    settings
        .vcenters
        .iter()
        .map(|name| {
            snapshot
                .reconciles
                .iter()
                .find(|r| &r.vcenter == name)
                .cloned()
                .unwrap_or_else(|| ReconcileRecord::new(name))
        })
        .collect()
}

fn vcenter_json(settings: &GuardSettings, record: &ReconcileRecord, now: OffsetDateTime) -> Value {
    let status = shown_status(settings, record, now);
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    value["name"] = json!(record.vcenter);
    value["status"] = serde_json::to_value(status).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("vcenter");
    }
    value
}

pub fn render(settings: &GuardSettings, snapshot: &GuardSnapshot, now: OffsetDateTime) -> Value {
    let vcenters: Vec<Value> = records(settings, snapshot)
        .iter()
        .map(|record| vcenter_json(settings, record, now))
        .collect();
    let host = |vcenter: &str, moref: &str, m: &crate::guard::decide::HostMemory| {
        json!({
            "vcenter": vcenter,
            "moref": moref,
            "name": m.name,
            "in_maintenance": m.in_maintenance,
            "alarm_actions_enabled": m.actions_enabled,
            "guarded": m.guarded,
        })
    };
    let in_maintenance: Vec<Value> = snapshot
        .hosts
        .iter()
        .filter(|(_, _, m, _)| m.in_maintenance)
        .map(|(vc, moref, m, _)| host(vc, moref, m))
        .collect();
    let guarded: Vec<Value> = snapshot
        .hosts
        .iter()
        .filter(|(_, _, m, _)| m.guarded)
        .map(|(vc, moref, m, _)| {
            let mut v = host(vc, moref, m);
            v["reason"] = json!(m.guarded_reason);
            v
        })
        .collect();
    json!({
        "settings": settings,
        "vcenters": vcenters,
        "in_maintenance": in_maintenance,
        "guarded": guarded,
        "actions": snapshot.actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::decide::HostMemory;

    #[test]
    fn overdue_ok_reconcile_is_stale_and_unknown_vcenters_are_pending() {
        let config = crate::config::Config::parse(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"http://127.0.0.1:1/sdk\"\nusername = \"u\"\npassword = \"p\"\n\
             [[vcenter]]\nname = \"vc2\"\nurl = \"http://127.0.0.1:2/sdk\"\nusername = \"u\"\npassword = \"p\"\n",
        )
        .unwrap();
        let settings = GuardSettings::from_config(&config);
        let now = OffsetDateTime::now_utc();
        let mut record = ReconcileRecord {
            vcenter: "vc1".into(),
            status: ReconcileStatus::Ok,
            last_reconcile: Some(now),
            last_attempt: Some(now),
            next_attempt: None,
            error: None,
            consecutive_failures: 0,
            reconciles: 3,
            hosts: 4,
        };
        let mut snapshot = GuardSnapshot {
            reconciles: vec![record.clone()],
            hosts: vec![(
                "vc1".into(),
                "host-1".into(),
                HostMemory {
                    name: "esx01".into(),
                    in_maintenance: true,
                    actions_enabled: Some(false),
                    guarded: true,
                    guarded_reason: Some("why".into()),
                    episode_handled: true,
                },
                None,
            )],
            actions: Vec::new(),
        };
        let v = render(&settings, &snapshot, now);
        assert_eq!(v["vcenters"][0]["name"], "vc1");
        assert_eq!(v["vcenters"][0]["status"], "ok");
        assert_eq!(v["vcenters"][1]["status"], "pending");
        assert_eq!(v["in_maintenance"][0]["name"], "esx01");
        assert_eq!(v["guarded"][0]["reason"], "why");
        assert_eq!(v["settings"]["reenable"], "guarded");
        record.last_reconcile = Some(now - time::Duration::hours(1));
        snapshot.reconciles = vec![record];
        let v = render(&settings, &snapshot, now);
        assert_eq!(v["vcenters"][0]["status"], "stale");
    }
}
