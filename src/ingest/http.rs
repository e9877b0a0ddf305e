//! HTTP ingest: `POST /api/v1/alarms` (the VCSA hook) and `POST /api/v1/events`
//! (CloudEvent emit).
//!
//! Order of checks: rate limit (429) → token (401) → content type (415) →
//! size (413) → parse (400) → commit (503 on failure). The answer (202, or 200
//! for a known delivery id) is sent only after the commit is durable.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::OffsetDateTime;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::model::{Event, Source};
use crate::normalize::{NormalizeError, alarm_hook, cloudevent};
use crate::store::AcceptOutcome;

#[tracing::instrument(skip_all, fields(peer = %peer))]
pub async fn post_alarm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(
        &state,
        Source::AlarmHook,
        peer,
        &headers,
        body,
        &["application/json"],
        alarm_hook::normalize,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

#[tracing::instrument(skip_all, fields(peer = %peer))]
pub async fn post_event(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(
        &state,
        Source::Api,
        peer,
        &headers,
        body,
        &["application/json", "application/cloudevents+json"],
        cloudevent::normalize,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

type Normalizer = fn(&[u8], &str, OffsetDateTime) -> Result<Event, NormalizeError>;

async fn ingest(
    state: &AppState,
    source: Source,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
    content_types: &[&str],
    normalize: Normalizer,
) -> Result<Response, ApiError> {
    let received_at = OffsetDateTime::now_utc();
    state.admit_ingest(source, peer, headers)?;
    let stats = &state.ingestor.stats;

    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media_type
        .as_deref()
        .is_some_and(|m| content_types.contains(&m))
    {
        stats.rejected(source, "unsupported_media_type");
        return Err(ApiError::unsupported_media_type(
            &content_types.join(" or "),
        ));
    }

    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > state.max_body) {
        stats.rejected(source, "too_large");
        return Err(ApiError::too_large(state.max_body));
    }
    let bytes = axum::body::to_bytes(body, state.max_body as usize)
        .await
        .map_err(|_| {
            stats.rejected(source, "too_large");
            ApiError::too_large(state.max_body)
        })?;

    let event = normalize(&bytes, &state.default_vcenter, received_at).map_err(|e| {
        stats.rejected(source, "bad_request");
        ApiError::bad_request(e.message)
    })?;

    let outcome = state.ingestor.accept(event).await.map_err(|e| {
        stats.rejected(source, "store_unavailable");
        tracing::warn!(error = %e, "event not accepted: store unavailable");
        ApiError::from(e)
    })?;
    Ok(match outcome {
        AcceptOutcome::Accepted(id) => {
            tracing::debug!(%id, "event accepted");
            (StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response()
        }
        AcceptOutcome::AlreadyAccepted(id) => {
            (StatusCode::OK, Json(json!({"id": id, "duplicate": true}))).into_response()
        }
    })
}
