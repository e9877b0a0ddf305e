//! Silences API in Alertmanager's shape: `POST /api/v1/silences`,
//! `GET /api/v1/silences`, `DELETE /api/v1/silences/{id}` (expire now).
//! Writes need an admin token, reads a read token (the route groups' auth
//! layers check them); silences never touch automation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::error::ApiError;
use crate::logging::Escaped;
use crate::silence::{Matcher, Silence};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSilence {
    matchers: Vec<Matcher>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    ends_at: OffsetDateTime,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn refresh(state: &AppState) -> Result<(), ApiError> {
    // The retention window is the store's business; the silencer only needs
    // silences that have not ended.
    let current = state
        .ingestor
        .store
        .list_silences(OffsetDateTime::now_utc() - time::Duration::days(3650))
        .await?;
    state.silencer.set_silences(current);
    Ok(())
}

fn silence_json(s: &Silence, now: OffsetDateTime) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["status"] = json!({"state": s.state(now)});
    v
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let body = state.read_body(None, &headers, body).await?;
    let new: NewSilence = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(crate::normalize::json_error("invalid silence", &e)))?;
    let silence = Silence {
        id: uuid::Uuid::now_v7().to_string(),
        matchers: new.matchers,
        starts_at: new.starts_at.unwrap_or_else(OffsetDateTime::now_utc),
        ends_at: new.ends_at,
        created_by: new.created_by,
        comment: new.comment,
    };
    silence
        .validate()
        .map_err(|e| ApiError::bad_request(crate::normalize::redact_quoted(&e)))?;
    state.ingestor.store.insert_silence(silence.clone()).await?;
    refresh(&state).await?;
    tracing::info!(
        silence = %silence.id,
        created_by = %Escaped(&silence.created_by),
        comment = %Escaped(&silence.comment),
        "silence created"
    );
    Ok((StatusCode::OK, Json(json!({"silenceID": silence.id}))).into_response())
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let silences = state
        .ingestor
        .store
        .list_silences(now - time::Duration::days(3650))
        .await?;
    let list: Vec<Value> = silences.iter().map(|s| silence_json(s, now)).collect();
    Ok(Json(json!({"silences": list})).into_response())
}

pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    match state.ingestor.store.expire_silence(id.clone(), now).await? {
        None => Err(ApiError::not_found("no silence with this id")),
        Some(silence) => {
            refresh(&state).await?;
            tracing::info!(silence = %Escaped(&id), "silence expired");
            Ok(Json(silence_json(&silence, now)).into_response())
        }
    }
}
