//! `GET /api/v1/guard`: the alarm-action guard's view — settings, the last
//! reconcile per vCenter (with stale/denied status), hosts in maintenance,
//! guarded hosts and recent actions with their reasons.
//!
//! Read-only over the store (the reconcilers persist everything they show),
//! so the answer is the same after a restart.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::ApiError;
use super::wire::{GuardHost, GuardVcenter, GuardView, GuardedHost};
use super::{AppState, Sorted};
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
    Ok(Sorted(render(&state.guard, snapshot, OffsetDateTime::now_utc())).into_response())
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

/// The guard view: every configured vCenter (`pending` until its first
/// reconcile), hosts in maintenance, guarded hosts and the actions.
pub fn render(settings: &GuardSettings, snapshot: GuardSnapshot, now: OffsetDateTime) -> GuardView {
    let vcenters = records(settings, &snapshot)
        .iter()
        .map(|record| GuardVcenter::new(record, shown_status(settings, record, now)))
        .collect();
    let in_maintenance = snapshot
        .hosts
        .iter()
        .filter(|h| h.memory.in_maintenance)
        .map(|h| GuardHost::new(&h.vcenter, &h.moref, &h.memory))
        .collect();
    let guarded = snapshot
        .hosts
        .iter()
        .filter(|h| h.memory.guarded)
        .map(|h| GuardedHost {
            host: GuardHost::new(&h.vcenter, &h.moref, &h.memory),
            reason: h.memory.guarded_reason.clone(),
        })
        .collect();
    GuardView {
        settings: settings.clone(),
        vcenters,
        in_maintenance,
        guarded,
        actions: snapshot.actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::decide::{ActionKind, HostMemory};

    fn settings() -> GuardSettings {
        let config = crate::config::Config::parse(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"http://127.0.0.1:1/sdk\"\nusername = \"u\"\npassword = \"p\"\n\
             [[vcenter]]\nname = \"vc2\"\nurl = \"http://127.0.0.1:2/sdk\"\nusername = \"u\"\npassword = \"p\"\n",
        )
        .unwrap();
        GuardSettings::from_config(&config)
    }

    fn snapshot(now: OffsetDateTime) -> GuardSnapshot {
        GuardSnapshot {
            reconciles: vec![ReconcileRecord {
                vcenter: "vc1".into(),
                status: ReconcileStatus::Ok,
                last_reconcile: Some(now),
                last_attempt: Some(now),
                next_attempt: None,
                error: None,
                consecutive_failures: 0,
                reconciles: 3,
                hosts: 4,
            }],
            hosts: vec![crate::guard::GuardHost {
                vcenter: "vc1".into(),
                moref: "host-1".into(),
                memory: HostMemory {
                    name: "esx01".into(),
                    in_maintenance: true,
                    actions_enabled: Some(false),
                    guarded: true,
                    guarded_reason: Some("why".into()),
                    episode_handled: true,
                },
                updated: None,
            }],
            actions: vec![crate::guard::ActionRecord {
                time: now,
                vcenter: "vc1".into(),
                moref: "host-1".into(),
                host: "esx01".into(),
                action: ActionKind::Enable,
                reason: "out of maintenance".into(),
                outcome: crate::store::ActionOutcome::Done,
                error: None,
                event_id: None,
            }],
        }
    }

    #[test]
    fn overdue_ok_reconcile_is_stale_and_unknown_vcenters_are_pending() {
        let settings = settings();
        let now = OffsetDateTime::now_utc();
        let v = render(&settings, snapshot(now), now);
        assert_eq!(v.vcenters[0].name, "vc1");
        assert_eq!(v.vcenters[0].status, ReconcileStatus::Ok);
        assert_eq!(v.vcenters[1].status, ReconcileStatus::Pending);
        assert_eq!(v.in_maintenance[0].name, "esx01");
        assert_eq!(v.guarded[0].reason.as_deref(), Some("why"));
        let mut old = snapshot(now);
        old.reconciles[0].last_reconcile = Some(now - time::Duration::hours(1));
        let v = render(&settings, old, now);
        assert_eq!(v.vcenters[0].status, ReconcileStatus::Stale);
    }

    /// The bytes of `GET /api/v1/guard`, as the handler built them before
    /// the view was typed (keys sorted; `reason` only on guarded hosts).
    #[test]
    fn guard_view_keeps_its_bytes() {
        let now = time::macros::datetime!(2026-11-25 10:00 UTC);
        let view = render(&settings(), snapshot(now), now);
        let text = serde_json::to_string(&serde_json::to_value(&view).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"actions":[{"action":"enable","error":null,"event_id":null,"host":"esx01","moref":"host-1","outcome":"done","reason":"out of maintenance","time":"2026-11-25T10:00:00Z","vcenter":"vc1"}],"guarded":[{"alarm_actions_enabled":false,"guarded":true,"in_maintenance":true,"moref":"host-1","name":"esx01","reason":"why","vcenter":"vc1"}],"in_maintenance":[{"alarm_actions_enabled":false,"guarded":true,"in_maintenance":true,"moref":"host-1","name":"esx01","vcenter":"vc1"}],"settings":{"disable_on_enter":false,"dry_run":false,"enabled":true,"exclude":[],"interval_seconds":60.0,"reenable":"guarded","vcenters":["vc1","vc2"]},"vcenters":[{"consecutive_failures":0,"error":null,"hosts":4,"last_attempt":"2026-11-25T10:00:00Z","last_reconcile":"2026-11-25T10:00:00Z","name":"vc1","next_attempt":null,"reconciles":3,"status":"ok"},{"consecutive_failures":0,"error":null,"hosts":0,"last_attempt":null,"last_reconcile":null,"name":"vc2","next_attempt":null,"reconciles":0,"status":"pending"}]}"#
        );
        let back: GuardView = serde_json::from_str(&text).unwrap();
        assert_eq!(back.guarded, view.guarded);
        assert_eq!(back.vcenters, view.vcenters);
    }
}
