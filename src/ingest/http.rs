//! HTTP ingest: `POST /api/v1/alarms` (the VCSA hook) and `POST /api/v1/events`
//! (CloudEvent emit).
//!
//! Order of checks: token and scope, then the per-address rate limit (the
//! route's auth layer, `api::auth`: 401/429, before any byte of the body is
//! read) → content type (415) → size and time while reading (413, 408;
//! a client hanging up mid-body is `client_abort`) → parse (400) → the
//! token's vCenter binding (403) → commit (503 on failure). The answer (202,
//! or 200 for a known delivery id) is sent only after the commit is durable.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::api::auth::Grant;
use crate::api::error::ApiError;
use crate::api::wire::Accepted;
use crate::api::{AppState, Sorted};
use crate::logging::Sampled;
use crate::model::{Event, Source};
use crate::normalize::{NormalizeError, alarm_hook, cloudevent};
use crate::store::AcceptOutcome;

static STORE_WARN: Sampled = Sampled::every(std::time::Duration::from_secs(10));

pub async fn post_alarm(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(
        &state,
        Source::AlarmHook,
        &grant,
        &headers,
        body,
        &["application/json"],
        alarm_hook::normalize,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn post_event(
    State(state): State<AppState>,
    Extension(grant): Extension<Grant>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest(
        &state,
        Source::Api,
        &grant,
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
    grant: &Grant,
    headers: &HeaderMap,
    body: Body,
    content_types: &[&str],
    normalize: Normalizer,
) -> Result<Response, ApiError> {
    let received_at = OffsetDateTime::now_utc();
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

    let bytes = state.read_body(Some(source), headers, body).await?;

    let event = normalize(&bytes, &state.default_vcenter, received_at).map_err(|e| {
        stats.rejected(source, "bad_request");
        ApiError::bad_request(e.message)
    })?;
    if !grant.may_speak_for(&event.vcenter) {
        stats.rejected(source, "vcenter_not_allowed");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may not speak for the vCenter the event names \
             ([[http.ingest_token]] vcenters)",
        ));
    }

    let outcome = state.ingestor.accept(event).await.map_err(|e| {
        stats.rejected(source, "store_unavailable");
        if let Some(suppressed) = STORE_WARN.allow() {
            tracing::warn!(error = %e, suppressed, "event not accepted: store unavailable");
        }
        ApiError::from(e)
    })?;
    Ok(match outcome {
        AcceptOutcome::Accepted(id) => {
            tracing::debug!(%id, "event accepted");
            (
                StatusCode::ACCEPTED,
                Sorted(Accepted {
                    id,
                    duplicate: false,
                }),
            )
                .into_response()
        }
        AcceptOutcome::AlreadyAccepted(id) => (
            StatusCode::OK,
            Sorted(Accepted {
                id,
                duplicate: true,
            }),
        )
            .into_response(),
    })
}
