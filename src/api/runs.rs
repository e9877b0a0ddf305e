//! Automation read/write endpoints: runs, functions, subscriptions, and the
//! manual retry of a dead run.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::wire::{
    FunctionList, FunctionView, RunList, RunQueued, RunView, SubscriptionList, SubscriptionView,
};
use super::{AppState, Sorted};
use crate::config::{FunctionConfig, FunctionSpec};
use crate::model::EventId;
use crate::route::subscriptions::Registry;
use crate::store::{RetryOutcome, RunQuery, RunStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    function: Option<String>,
    status: Option<String>,
    event: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
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
    Ok(Sorted(RunList { runs }).into_response())
}

pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.ingestor.store.get_run(id.clone()).await? {
        Some(claimed) => Ok(Sorted(RunView {
            event: claimed.event.to_cloudevent(),
            run: claimed.run,
        })
        .into_response()),
        None => Err(ApiError::not_found("no run with this id")),
    }
}

/// `POST /api/v1/runs/{id}/retry` — admin scope (it causes work).
pub async fn retry_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.ingestor.store.retry_run(id.clone()).await? {
        RetryOutcome::NotFound => Err(ApiError::not_found("no run with this id")),
        RetryOutcome::NotRetryable(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "run is {}; only dead or failed runs can be retried",
                status.as_str()
            ),
        )),
        RetryOutcome::Queued => {
            if let Some(run) = state.ingestor.store.get_run(id.clone()).await? {
                state.run_wakes.get(&run.run.function).notify_one();
            }
            Ok((
                StatusCode::ACCEPTED,
                Sorted(RunQueued {
                    id,
                    status: RunStatus::Queued,
                }),
            )
                .into_response())
        }
    }
}

pub async fn functions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let settings = state.live.load();
    let registry = &settings.registry;
    let functions = registry
        .functions
        .iter()
        .map(|f| function_view(f, registry))
        .collect();
    Ok(Sorted(FunctionList { functions }).into_response())
}

/// A function as the API shows it: names of env variables and secrets,
/// never their values.
fn function_view(f: &FunctionConfig, registry: &Registry) -> FunctionView {
    let (mut command, mut url, mut builtin, mut env) = (None, None, None, Vec::new());
    let (mut signed, mut encoding) = (false, None);
    match &f.spec {
        FunctionSpec::Command(spec) => {
            command = Some(spec.argv.clone());
            env = spec.env.keys().cloned().collect();
        }
        FunctionSpec::Webhook(spec) => {
            url = Some(spec.url.clone());
            signed = spec.signed();
            encoding = Some(spec.encoding);
        }
        FunctionSpec::Builtin(spec) => builtin = Some(spec.builtin().as_str().to_owned()),
    }
    FunctionView {
        name: f.name.clone(),
        kind: f.kind(),
        command,
        url,
        builtin,
        env,
        secrets: f.secrets.clone(),
        timeout: humantime::format_duration(f.timeout).to_string(),
        max_attempts: f.max_attempts,
        concurrency: f.concurrency,
        signed,
        event_format: f.event_format,
        encoding,
        subscriptions: registry
            .subscriptions
            .iter()
            .filter(|s| s.function == f.name)
            .map(|s| s.name.clone())
            .collect(),
    }
}

pub async fn subscriptions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let settings = state.live.load();
    let subscriptions = settings
        .registry
        .subscriptions
        .iter()
        .map(SubscriptionView::from)
        .collect();
    Ok(Sorted(SubscriptionList { subscriptions }).into_response())
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
