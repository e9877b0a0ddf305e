//! HTTP ingest: `POST /api/v1/alarms` (the VCSA hook) and `POST /api/v1/events`
//! (CloudEvents: structured, binary or batched, see [`crate::cloudevents`]).
//!
//! Order of checks: token and scope, then the per-address rate limit (the
//! route's auth layer, `api::auth`: 401/429, before any byte of the body is
//! read) → content type (415) → size and time while reading (413, 408;
//! a client hanging up mid-body is `client_abort`) → parse (400) → the
//! token's vCenter binding (403) → for a hook alarm that may be a retry (its
//! `sent_at` is old), a look-up of its delivery (200 with the stored event
//! if found; see `Ingestor::stored_redelivery`) → commit (503 on failure).
//! The answer (202, or 200 for a known delivery id) is sent only after the
//! commit is durable.
//! A batch is checked whole before anything is stored (one bad event
//! refuses the batch, naming it); its events are then committed together,
//! in one commit: after a 503 none of them is stored. Sending a batch again
//! is safe either way, each event is idempotent on its `source` and `id`.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::auth::Grant;
use super::error::ApiError;
use super::wire::{Accepted, AcceptedBatch};
use super::{AppState, Sorted};
use crate::cloudevents;
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
    ingest_cloudevents(&state, &grant, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn ingest_cloudevents(
    state: &AppState,
    grant: &Grant,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_at = OffsetDateTime::now_utc();
    let source = Source::Api;
    let stats = &state.ingestor.stats;
    let media_type = cloudevents::media_type(headers);
    // The mode must be known before the body is read (415 costs no body).
    let known = headers.contains_key("ce-specversion")
        || media_type.as_deref().is_some_and(|m| {
            [
                cloudevents::STRUCTURED,
                cloudevents::BATCH,
                "application/json",
            ]
            .contains(&m)
        });
    if !known {
        stats.rejected(source, "unsupported_media_type");
        return Err(ApiError::unsupported_media_type(&format!(
            "{}, {} or application/json, or ce-* headers (binary mode)",
            cloudevents::STRUCTURED,
            cloudevents::BATCH
        )));
    }
    let bytes = state.read_body(Some(source), headers, body).await?;
    let received = cloudevents::receive(headers, &bytes).map_err(|e| {
        if e.status == 415 {
            stats.rejected(source, "unsupported_media_type");
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported media type",
                e.message,
            )
        } else {
            stats.rejected(source, "bad_request");
            ApiError::bad_request(e.message)
        }
    })?;
    let mut events = Vec::with_capacity(received.events.len());
    for (i, object) in received.events.into_iter().enumerate() {
        let event = cloudevent::normalize_object(object, &state.default_vcenter, received_at)
            .map_err(|e| {
                stats.rejected(source, "bad_request");
                ApiError::bad_request(if received.batch {
                    format!("event {i}: {}", e.message)
                } else {
                    e.message
                })
            })?;
        check_vcenter(grant, &event, source, stats)?;
        events.push(event);
    }
    let mut outcomes = commit(state, source, events).await?;
    if !received.batch {
        return Ok(answer(outcomes.remove(0)));
    }
    let fresh = outcomes.iter().filter(|o| o.is_new()).count();
    let events: Vec<Accepted> = outcomes
        .into_iter()
        .map(|o| Accepted {
            duplicate: !o.is_new(),
            id: o.id(),
        })
        .collect();
    let status = if fresh > 0 || events.is_empty() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Sorted(AcceptedBatch { events })).into_response())
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

    let media_type = cloudevents::media_type(headers);
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
    check_vcenter(grant, &event, source, stats)?;
    if source == Source::AlarmHook
        && let Some(stored) = state.ingestor.stored_redelivery(&event).await
    {
        return Ok(answer(AcceptOutcome::AlreadyAccepted(stored)));
    }
    let mut outcomes = commit(state, source, vec![event]).await?;
    Ok(answer(outcomes.remove(0)))
}

/// 403 unless the token may speak for the event's vCenter.
fn check_vcenter(
    grant: &Grant,
    event: &Event,
    source: Source,
    stats: &crate::telemetry::Stats,
) -> Result<(), ApiError> {
    if grant.may_speak_for(&event.vcenter) {
        return Ok(());
    }
    stats.rejected(source, "vcenter_not_allowed");
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this token may not speak for the vCenter the event names \
         ([[http.ingest_token]] vcenters)",
    ))
}

/// Stores events in one commit; returns once they are durable.
async fn commit(
    state: &AppState,
    source: Source,
    events: Vec<Event>,
) -> Result<Vec<AcceptOutcome>, ApiError> {
    state.ingestor.accept_many(events).await.map_err(|e| {
        state.ingestor.stats.rejected(source, "store_unavailable");
        if let Some(suppressed) = STORE_WARN.allow() {
            tracing::warn!(error = %e, suppressed, "event not accepted: store unavailable");
        }
        ApiError::from(e)
    })
}

/// 202 with the new id, or 200 for a delivery already stored.
fn answer(outcome: AcceptOutcome) -> Response {
    match outcome {
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
    }
}
