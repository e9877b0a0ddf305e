//! Read side of the API: status, events, health (`/metrics` is `metrics.rs`).
//!
//! Everything here reads the store or live counters; nothing writes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use super::error::ApiError;
use crate::model::EventId;
use crate::store::EventQuery;

/// Largest page `GET /api/v1/events` returns.
const MAX_LIMIT: usize = 1000;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = &state.ingestor.stats;
    let store = state.ingestor.store.stats().await?;
    let snapshot = stats.snapshot();
    let runs = state.ingestor.store.run_counts().await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": crate::model::format_rfc3339(stats.started_at),
        "uptime_seconds": stats.started.elapsed().as_secs(),
        "store": store,
        "sources": snapshot.sources,
        "vcenters": snapshot.vcenters,
        "pipeline": snapshot.pipeline,
        "active_alerts": snapshot.active_alerts,
        "event_streams": snapshot.event_streams,
        "snmp": snapshot.snmp,
        "http": snapshot.http,
        "auth_failures": snapshot.auth_failures,
        "runs": runs,
        "silences": silence_status(&state),
    }))
    .into_response())
}

fn silence_status(state: &AppState) -> serde_json::Value {
    let now = OffsetDateTime::now_utc();
    let silences = state.silencer.silences();
    let active = silences
        .iter()
        .filter(|s| s.state(now) == crate::silence::SilenceState::Active)
        .count();
    let in_maintenance: Vec<serde_json::Value> = state
        .silencer
        .maintenance()
        .map(|m| m.snapshot().hosts_in_maintenance())
        .unwrap_or_default()
        .into_iter()
        .map(|(vcenter, host)| json!({"vcenter": vcenter, "host": host}))
        .collect();
    json!({
        "active": active,
        "maintenance_silencing": state.silencer.maintenance().is_some(),
        "hosts_in_maintenance": in_maintenance,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(rename = "type")]
    event_type: Option<String>,
    source: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    /// Cursor: only events older than this sequence number.
    before: Option<i64>,
}

pub async fn list_events(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|_| {
        ApiError::bad_request(
            "invalid query string (parameters: type, source, since, limit, before)",
        )
    })?;
    let since = params
        .since
        .as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| ApiError::bad_request("parameter `since` must be RFC 3339"))
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let events = state
        .ingestor
        .store
        .list_events(EventQuery {
            event_type: params.event_type,
            source: params.source,
            since,
            before_seq: params.before,
            limit,
        })
        .await?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({"events": events, "next_before": next})).into_response())
}

pub async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = EventId::parse(&id).ok_or_else(|| ApiError::bad_request("event id must be a UUID"))?;
    match state.ingestor.store.get_event(id).await? {
        Some(event) => Ok(Json(event).into_response()),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

/// `GET /api/v1/alerts`: the active-alert table, one row per target and alert.
pub async fn list_alerts(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = state.ingestor.store.list_alerts(false).await?;
    let alerts: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["fingerprint"] = crate::monitoring::alerts::fingerprint(&r.labels).into();
            v
        })
        .collect();
    Ok(Json(json!({"alerts": alerts})).into_response())
}

/// `GET /api/v2/alerts`: Alertmanager's `gettableAlerts` view of the table
/// (firing alerts, once per label set), for amtool and Grafana.
pub async fn list_alerts_v2(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = state.ingestor.store.list_alerts(false).await?;
    let mut by_fingerprint: std::collections::BTreeMap<
        String,
        (serde_json::Value, Vec<serde_json::Value>),
    > = std::collections::BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.state == crate::store::AlertState::Firing)
    {
        let fp = crate::monitoring::alerts::fingerprint(&r.labels);
        let entry = by_fingerprint.entry(fp.clone()).or_insert_with(|| {
            let held: Vec<&str> = r.held_by.iter().map(String::as_str).collect();
            let alert = json!({
                "labels": r.labels,
                "annotations": {"summary": r.summary, "severity": r.severity, "status": r.status, "event_id": r.event_id.to_string()},
                "startsAt": crate::model::format_rfc3339(r.starts_at),
                "updatedAt": crate::model::format_rfc3339(OffsetDateTime::now_utc()),
                "endsAt": crate::model::format_rfc3339(OffsetDateTime::now_utc() + time::Duration::minutes(4)),
                "fingerprint": fp,
                "status": {
                    "state": if held.is_empty() { "active" } else { "suppressed" },
                    "silencedBy": held,
                    "inhibitedBy": [],
                },
            });
            (alert, Vec::new())
        });
        entry.1.push(json!({"name": r.target}));
    }
    let alerts: Vec<serde_json::Value> = by_fingerprint
        .into_values()
        .map(|(mut a, receivers)| {
            a["receivers"] = receivers.into();
            a
        })
        .collect();
    Ok(Json(serde_json::Value::Array(alerts)).into_response())
}

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when the store takes writes.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.ingestor.store.is_writable() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "not ready", "detail": "store is not writable"})),
        )
            .into_response()
    }
}
