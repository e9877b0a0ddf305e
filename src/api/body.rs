//! Reading request bodies: bounded in size and time, with the failure told
//! apart (too large, the client hung up, the client was too slow).
//!
//! Every handler that takes a body reads it through [`read_body`], after the
//! route's auth layer has accepted the token, so an unauthenticated client
//! never gets a byte of its body read. Must not: log bodies.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;

use super::error::ApiError;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (declared in `Content-Length`, or while reading).
    TooLarge,
    /// The client closed the connection (or broke the framing) mid-body.
    ClientAbort,
    /// The body did not arrive within the body timeout.
    TimedOut,
}

impl BodyError {
    /// The rejection counter's reason.
    pub fn reason(self) -> &'static str {
        match self {
            BodyError::TooLarge => "too_large",
            BodyError::ClientAbort => "client_abort",
            BodyError::TimedOut => "body_timeout",
        }
    }

    pub fn into_api_error(self, limit: u64, timeout: Duration) -> ApiError {
        match self {
            BodyError::TooLarge => ApiError::too_large(limit),
            BodyError::ClientAbort => ApiError::bad_request("the request body ended early"),
            BodyError::TimedOut => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request timeout",
                format!(
                    "the request body did not arrive within {} ([http] body_timeout)",
                    humantime::format_duration(timeout)
                ),
            ),
        }
    }
}

/// Reads at most `limit` bytes of `body` within `timeout`; refuses a
/// declared `Content-Length` over the limit before reading anything.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(_))) => return Err(BodyError::ClientAbort),
            Ok(Some(Ok(chunk))) => {
                if buf.len() as u64 + chunk.len() as u64 > limit {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<Result<&'static [u8], std::io::Error>>) -> Body {
        Body::from_stream(futures::stream::iter(
            parts.into_iter().map(|p| p.map(Bytes::from_static)),
        ))
    }

    #[tokio::test]
    async fn tells_too_large_from_a_client_abort() {
        let h = HeaderMap::new();
        let t = Duration::from_secs(5);
        let ok = read_body(&h, chunks(vec![Ok(b"ab"), Ok(b"cd")]), 4, t).await;
        assert_eq!(ok.unwrap(), Bytes::from_static(b"abcd"));
        let big = read_body(&h, chunks(vec![Ok(b"ab"), Ok(b"cde")]), 4, t).await;
        assert_eq!(big.unwrap_err(), BodyError::TooLarge);
        let cut = read_body(
            &h,
            chunks(vec![Ok(b"ab"), Err(std::io::Error::other("reset"))]),
            4,
            t,
        )
        .await;
        assert_eq!(cut.unwrap_err(), BodyError::ClientAbort);
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        let early = read_body(&declared, Body::empty(), 4, t).await;
        assert_eq!(early.unwrap_err(), BodyError::TooLarge);
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let stalled =
            Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let r = read_body(&HeaderMap::new(), stalled, 4, Duration::from_millis(20)).await;
        assert_eq!(r.unwrap_err(), BodyError::TimedOut);
    }
}
