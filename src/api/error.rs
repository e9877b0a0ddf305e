//! Error policy of the HTTP API, in one place.
//!
//! Every error answer is JSON `{"error": "<short>", "detail": "<human text>"}`
//! with the status that fits: 400 bad JSON or a missing/invalid field (the
//! detail names the field), 401 missing, unknown or wrong-scope token, 403
//! admin routes disabled or a bound token naming another vCenter, 404 unknown
//! id, 408 body not sent within `[http] body_timeout`, 413 body over `[http]
//! max_body`, 415 wrong content type, 429 rate limited (with `Retry-After` in
//! seconds), 503 store unavailable (nothing was acknowledged).
//! Details never echo tokens or request content: serde's messages go through
//! `normalize::json_error` / `redact_quoted`, ids from the path are not
//! repeated, query-string errors name the accepted parameters.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Sorted;
use super::wire::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad request", detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found", detail)
    }

    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload too large",
            format!("request body exceeds the {limit}-byte limit ([http] max_body)"),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!("Content-Type must be {expected}"),
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limited",
                "too many requests from this address; retry later",
            )
        }
    }

    pub fn store_unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store unavailable", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error.to_owned(),
            detail: self.detail,
        };
        let mut response = (self.status, Sorted(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::store_unavailable(e.to_string())
    }
}
