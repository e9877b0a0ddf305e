//! Silences API: Alertmanager's v2 (`/api/v2/silences`, `/api/v2/silence/{id}`,
//! `/api/v2/status`) so amtool and Grafana's Alertmanager data source can
//! manage vcgate's silences, and the v1 alias (`/api/v1/silences`, values
//! are globs) kept in its original shape.
//!
//! Writes need an admin token, reads a read token (an admin token reads too,
//! so amtool and Grafana can use one token for everything); the route groups'
//! auth layers check them. Silences never touch automation.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::error::ApiError;
use super::wire::{
    AlertmanagerStatus, GettableSilence, NewSilenceV1, PostableSilence, SilenceCreated, SilenceList,
};
use super::{AppState, Sorted};
use crate::logging::Escaped;
use crate::silence::matcher::Expression;
use crate::silence::{Matcher, Silence, sort_for_listing};

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

/// Reads the body (bounded by `[http] max_body` and `body_timeout`) and
/// parses it; errors name what is wrong, never echo the client's text.
async fn parse_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, ApiError> {
    let body = state.read_body(None, headers, body).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(crate::normalize::json_error("invalid silence", &e)))
}

/// Validates and stores `wanted` (create, or update by id); answers `{"silenceID"}`.
async fn save(state: &AppState, wanted: Silence) -> Result<Response, ApiError> {
    wanted
        .validate()
        .map_err(|e| ApiError::bad_request(crate::normalize::redact_quoted(&e)))?;
    let now = OffsetDateTime::now_utc();
    if wanted.ends_at <= now {
        return Err(ApiError::bad_request("endsAt must be in the future"));
    }
    let Some(saved) = state.ingestor.store.upsert_silence(wanted, now).await? else {
        return Err(ApiError::not_found("no silence with this id"));
    };
    refresh(state).await?;
    let matchers: Vec<String> = saved.matchers.iter().map(Matcher::expression).collect();
    tracing::info!(
        silence = %saved.id,
        created_by = %Escaped(&saved.created_by),
        comment = %Escaped(&saved.comment),
        matchers = %Escaped(&matchers.join(",")),
        "silence saved"
    );
    Ok((
        StatusCode::OK,
        Sorted(SilenceCreated {
            silence_id: saved.id,
        }),
    )
        .into_response())
}

pub async fn create_v1(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let new: NewSilenceV1 = parse_body(&state, &headers, body).await?;
    let silence = Silence {
        id: String::new(),
        // v1 values are globs unless the matcher says regex.
        matchers: new
            .matchers
            .into_iter()
            .map(|m| Matcher {
                glob: !m.is_regex,
                ..Matcher::new(&m.name, &m.value, m.is_regex, m.is_equal)
            })
            .collect(),
        starts_at: new.starts_at.unwrap_or_else(OffsetDateTime::now_utc),
        ends_at: new.ends_at,
        created_by: new.created_by,
        comment: new.comment,
        updated_at: None,
    };
    save(&state, silence).await
}

pub async fn create_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let new: PostableSilence = parse_body(&state, &headers, body).await?;
    let silence = Silence {
        id: new.id.unwrap_or_default(),
        matchers: new
            .matchers
            .into_iter()
            .map(|m| Matcher::new(&m.name, &m.value, m.is_regex, m.is_equal))
            .collect(),
        starts_at: new.starts_at.unwrap_or_else(OffsetDateTime::now_utc),
        ends_at: new.ends_at,
        created_by: new.created_by,
        comment: new.comment,
        updated_at: None,
    };
    save(&state, silence).await
}

async fn all_silences(state: &AppState) -> Result<Vec<Silence>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut silences = state
        .ingestor
        .store
        .list_silences(now - time::Duration::days(3650))
        .await?;
    sort_for_listing(&mut silences, now);
    Ok(silences)
}

pub async fn list_v1(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let silences = all_silences(&state)
        .await?
        .iter()
        .map(|s| GettableSilence::v1(s, now))
        .collect();
    Ok(Sorted(SilenceList { silences }).into_response())
}

/// `GET /api/v2/silences[?filter=…]`: a bare array, Alertmanager's order.
pub async fn list_v2(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filter = filters(query.as_deref().unwrap_or(""))?;
    let now = OffsetDateTime::now_utc();
    let list: Vec<GettableSilence> = all_silences(&state)
        .await?
        .iter()
        .filter(|s| crate::silence::matcher::filter_matches(&filter, &s.matchers))
        .map(|s| GettableSilence::v2(s, now))
        .collect();
    Ok(Sorted(list).into_response())
}

/// Every `filter=` of a query string, parsed (repeated, as Alertmanager takes it).
fn filters(query: &str) -> Result<Vec<Expression>, ApiError> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "filter")
        .map(|(_, v)| {
            let text = percent_decode(v);
            Expression::parse(&text).map_err(|e| ApiError::bad_request(format!("filter: {e}")))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn get_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.ingestor.store.get_silence(id).await? {
        Some(s) => Ok(Sorted(GettableSilence::v2(&s, OffsetDateTime::now_utc())).into_response()),
        None => Err(ApiError::not_found("no silence with this id")),
    }
}

async fn expire(state: &AppState, id: &str) -> Result<Silence, ApiError> {
    let now = OffsetDateTime::now_utc();
    match state
        .ingestor
        .store
        .expire_silence(id.to_owned(), now)
        .await?
    {
        None => Err(ApiError::not_found("no silence with this id")),
        Some(silence) => {
            refresh(state).await?;
            tracing::info!(silence = %Escaped(id), "silence expired");
            Ok(silence)
        }
    }
}

/// `DELETE /api/v1/silences/{id}`: expires it now; answers the silence.
pub async fn expire_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let silence = expire(&state, &id).await?;
    Ok(Sorted(GettableSilence::v1(&silence, OffsetDateTime::now_utc())).into_response())
}

/// `DELETE /api/v2/silence/{id}`: expires it now; 200 with an empty body
/// (also for one already expired).
pub async fn expire_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    expire(&state, &id).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /api/v2/status`: what amtool and Grafana read from an Alertmanager.
/// vcgate is no cluster (`disabled`) and has no Alertmanager config.
pub async fn status_v2(State(state): State<AppState>) -> Result<Response, ApiError> {
    let started_at = state.ingestor.stats.started_at;
    Ok(Sorted(AlertmanagerStatus::of_vcgate(started_at)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_decoded() {
        let f = filters("filter=entity%3D%22esx%2001%22&filter=alertname%3D~Host.%2A&x=1").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value, "esx 01");
        assert_eq!(f[1].value, "Host.*");
        assert!(filters("filter=nonsense").is_err());
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
