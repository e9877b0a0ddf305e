//! Read side of the API: status, events, health (`/metrics` is `metrics.rs`).
//!
//! Everything here reads the store or live counters; nothing writes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::wire::{self, AlertList, EventList, Health, HostRef, SilenceSummary, Status};
use super::{AppState, Sorted};
use crate::config::RouteTarget;
use crate::model::EventId;
use crate::store::EventQuery;

/// Largest page `GET /api/v1/events` returns.
const MAX_LIMIT: usize = 1000;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = &state.ingestor.stats;
    let store = state.ingestor.store.stats().await?;
    let snapshot = stats.snapshot();
    let runs = state.ingestor.store.run_counts().await?;
    Ok(Sorted(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: stats.started_at,
        uptime_seconds: stats.started.elapsed().as_secs(),
        store,
        counters: snapshot,
        runs: runs
            .into_iter()
            .map(|(status, n)| (status.as_str().to_owned(), n))
            .collect(),
        silences: silence_summary(&state),
        cluster: state.ingestor.store.cluster(),
    })
    .into_response())
}

fn silence_summary(state: &AppState) -> SilenceSummary {
    let now = OffsetDateTime::now_utc();
    let silences = state.silencer.silences();
    let active = silences
        .iter()
        .filter(|s| s.state(now) == crate::silence::SilenceState::Active)
        .count();
    let hosts_in_maintenance = state
        .silencer
        .maintenance()
        .map(|m| m.snapshot().hosts_in_maintenance())
        .unwrap_or_default()
        .into_iter()
        .map(|(vcenter, host)| HostRef { vcenter, host })
        .collect();
    SilenceSummary {
        active,
        maintenance_silencing: state.silencer.maintenance().is_some(),
        hosts_in_maintenance,
    }
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
    /// Globs (`*`, `?`), as routes match them.
    vcenter: Option<String>,
    entity: Option<String>,
    alarm: Option<String>,
    /// The alarm's new status: colour or raw text (a glob).
    status: Option<String>,
    /// `automation`, `monitoring`, `both` or `drop`.
    route: Option<String>,
    /// `true` / `false`.
    held: Option<String>,
    duplicate: Option<String>,
}

impl ListParams {
    /// The store query, or which parameter is wrong.
    fn query(self) -> Result<EventQuery, ApiError> {
        let since = self
            .since
            .as_deref()
            .map(|s| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| ApiError::bad_request("parameter `since` must be RFC 3339"))
            })
            .transpose()?;
        for (name, value) in [
            ("type", &self.event_type),
            ("vcenter", &self.vcenter),
            ("entity", &self.entity),
            ("alarm", &self.alarm),
            ("status", &self.status),
        ] {
            if let Some(Err(why)) = value.as_deref().map(crate::filter::check_glob) {
                return Err(ApiError::bad_request(format!("parameter `{name}`: {why}")));
            }
        }
        let route = self
            .route
            .as_deref()
            .map(|r| {
                route_target(r).ok_or_else(|| {
                    ApiError::bad_request(
                        "parameter `route` must be automation, monitoring, both or drop",
                    )
                })
            })
            .transpose()?;
        Ok(EventQuery {
            event_type: self.event_type,
            source: self.source,
            since,
            before_seq: self.before,
            limit: self.limit.unwrap_or(100).clamp(1, MAX_LIMIT),
            vcenter: self.vcenter,
            entity: self.entity,
            alarm: self.alarm,
            status: self.status,
            route,
            held: flag("held", self.held.as_deref())?,
            duplicate: flag("duplicate", self.duplicate.as_deref())?,
        })
    }
}

fn route_target(name: &str) -> Option<RouteTarget> {
    match name {
        "automation" => Some(RouteTarget::Automation),
        "monitoring" => Some(RouteTarget::Monitoring),
        "both" => Some(RouteTarget::Both),
        "drop" => Some(RouteTarget::Drop),
        _ => None,
    }
}

/// A `true`/`false` parameter.
fn flag(name: &str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_request(format!(
            "parameter `{name}` must be true or false"
        ))),
    }
}

/// `GET /api/v1/events`: one page, newest first, and `next_before`, the
/// cursor to the next page (see `store::EventPage`: with a filter no index
/// serves, a page may be short while the cursor is set).
pub async fn list_events(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|_| {
        ApiError::bad_request(
            "invalid query string (parameters: type, source, since, limit, before, vcenter, \
             entity, alarm, status, route, held, duplicate)",
        )
    })?;
    let page = state.ingestor.store.list_events(params.query()?).await?;
    Ok(Sorted(EventList {
        events: page.events,
        next_before: page.next_before,
    })
    .into_response())
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
    let alerts = rows.into_iter().map(wire::AlertView::from).collect();
    Ok(Sorted(AlertList { alerts }).into_response())
}

/// `GET /api/v2/alerts`: Alertmanager's `gettableAlerts` view of the table
/// (firing alerts, once per label set), for amtool and Grafana.
pub async fn list_alerts_v2(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = state.ingestor.store.list_alerts(false).await?;
    let alerts = wire::gettable_alerts(&rows, OffsetDateTime::now_utc());
    Ok(Sorted(alerts).into_response())
}

pub async fn healthz() -> Response {
    Sorted(Health {
        status: "ok".into(),
    })
    .into_response()
}

/// Ready when the store takes writes, start-up recovery is done and the
/// gateway is not stopping.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.stages.is_stopping() {
        // A signal, or a stage that stopped (named; its panic message stays
        // in the log, as this answer needs no token): take no more work.
        let why = match state.stages.failed_stage() {
            Some(stage) => format!("stage `{stage}` stopped; see the log"),
            None => "shutting down".to_owned(),
        };
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not ready", why).into_response()
    } else if !*state.recovery.borrow() {
        // Events left undecided by the last run are decided first, so that
        // decisions keep arrival order; alarms sent now would wait for it.
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
            "starting: deciding the events the last run left undecided",
        )
        .into_response()
    } else if state.ingestor.store.is_writable() {
        Sorted(Health {
            status: "ready".into(),
        })
        .into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready",
            "store is not writable",
        )
        .into_response()
    }
}
