//! Automation read/write endpoints: runs, functions, subscriptions, and the
//! manual retry of a dead run.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use crate::config::FunctionKind;
use crate::model::EventId;
use crate::store::{ClaimedRun, RunQuery, RunStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    function: Option<String>,
    status: Option<String>,
    event: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
}

/// A run as the API shows it: the record plus its event as a CloudEvent.
fn run_json(claimed: &ClaimedRun) -> Value {
    let mut value = serde_json::to_value(&claimed.run).unwrap_or(Value::Null);
    value["event"] = claimed.event.to_cloudevent();
    value
}

pub async fn list_runs(
    State(state): State<AppState>,
    params: Result<Query<RunParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|_| {
        ApiError::bad_request(
            "invalid query string (parameters: function, status, event, limit, before)",
        )
    })?;
    let status = params
        .status
        .as_deref()
        .map(|s| {
            RunStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "parameter `status` must be queued, running, succeeded, failed or dead",
                )
            })
        })
        .transpose()?;
    let event = params
        .event
        .as_deref()
        .map(|e| {
            EventId::parse(e)
                .ok_or_else(|| ApiError::bad_request("parameter `event` must be an event id"))
        })
        .transpose()?;
    let runs = state
        .ingestor
        .store
        .list_runs(RunQuery {
            function: params.function,
            status,
            event,
            before_seq: params.before,
            limit: params.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    Ok(Json(json!({"runs": runs})).into_response())
}

pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.ingestor.store.get_run(id.clone()).await? {
        Some(run) => Ok(Json(run_json(&run)).into_response()),
        None => Err(ApiError::not_found("no run with this id")),
    }
}

/// `POST /api/v1/runs/{id}/retry` — admin scope (it causes work).
pub async fn retry_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.ingestor.store.retry_run(id.clone()).await? {
        None => Err(ApiError::not_found("no run with this id")),
        Some(Err(why)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", why)),
        Some(Ok(())) => {
            if let Some(run) = state.ingestor.store.get_run(id.clone()).await? {
                state.run_wakes.get(&run.run.function).notify_one();
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "status": "queued"})),
            )
                .into_response())
        }
    }
}

pub async fn functions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let settings = state.live.load();
    let registry = &settings.registry;
    let list: Vec<Value> = registry
        .functions
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "kind": f.kind,
                "command": (f.kind == FunctionKind::Command).then(|| f.command.clone()),
                "url": f.url,
                "builtin": f.builtin,
                // Names only: values may be sensitive.
                "env": f.env.keys().collect::<Vec<_>>(),
                "secrets": f.secrets,
                "timeout": humantime::format_duration(f.timeout).to_string(),
                "max_attempts": f.max_attempts,
                "concurrency": f.concurrency,
                "signed": f.signing_key_file.is_some() || f.signing_key_env.is_some(),
                "event_format": f.event_format,
                "encoding": (f.kind == FunctionKind::Webhook).then_some(f.encoding),
                "subscriptions": registry.subscriptions.iter().filter(|s| s.function == f.name).map(|s| &s.name).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"functions": list})).into_response())
}

pub async fn subscriptions(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({"subscriptions": state.live.load().registry.subscriptions})).into_response())
}

/// `POST /api/v1/reload` (admin scope): re-read routes, functions,
/// subscriptions and secrets; 422 with the reason when the new config is
/// invalid (the old settings stay).
pub async fn reload(State(state): State<AppState>) -> Result<Response, ApiError> {
    let live = state.live.clone();
    match tokio::task::spawn_blocking(move || live.reload()).await {
        Ok(Ok(summary)) => Ok(Json(summary).into_response()),
        Ok(Err(reason)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid config",
            reason,
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload failed",
            e.to_string(),
        )),
    }
}
