//! `webhook` functions: POST the CloudEvent to vRO, OpenFaaS, Knative,
//! StackStorm or anything else, in structured or binary content mode
//! (`encoding`; binary is what VEBA's broker sent to Knative services and
//! OpenFaaS functions), signed so the receiver can trust it:
//! `X-Vcgate-Timestamp: <unix seconds>` and
//! `X-Vcgate-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
//! In binary mode the body is the event's `data`, so the signature covers
//! the data, not the `ce-*` headers: receivers that must trust the
//! attributes too use structured mode.
//! 2xx is success; the response body becomes the run's output and log. The
//! body is read chunk by chunk and no more than `MAX_BODY` bytes of it are
//! ever held (the rest is not read; truncation is marked).

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{Attempt, AttemptError};
use crate::cloudevents::{self, Encoding};
use crate::store::RunLogs;

/// Bytes of response body kept.
const MAX_BODY: usize = 64 * 1024;

pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// One webhook call.
pub struct Request<'a> {
    pub url: &'a str,
    /// HMAC key, when the function has one.
    pub key: Option<&'a [u8]>,
    pub run_id: &'a str,
    /// The event, structured JSON, in the function's event format.
    pub cloudevent: &'a Value,
    pub encoding: Encoding,
}

pub async fn run(client: &reqwest::Client, call: Request<'_>) -> Attempt {
    let response = match request(client, &call).send().await {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                format!("request failed: {e}")
            };
            return Attempt::failed(AttemptError::Retryable(reason), RunLogs::default(), None);
        }
    };
    let status = response.status();
    let (bytes, truncated) = read_capped(response).await;
    answer(status, &bytes, truncated)
}

/// The POST: the event in its encoding, the run id, a timestamp and, with a
/// key, the signature over both.
fn request(client: &reqwest::Client, call: &Request<'_>) -> reqwest::RequestBuilder {
    let outgoing = cloudevents::send(call.cloudevent, call.encoding);
    let body = outgoing.body;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut request = client
        .post(call.url)
        .header("content-type", outgoing.content_type)
        .header("x-vcgate-run-id", call.run_id)
        .header("x-vcgate-timestamp", timestamp.to_string());
    for (name, value) in outgoing.headers {
        request = request.header(name, value);
    }
    if let Some(key) = call.key {
        request = request.header("x-vcgate-signature", signature(key, timestamp, &body));
    }
    request.body(body)
}

/// The attempt an answer makes (pure): 2xx succeeds, a client error other
/// than 408/429 is permanent, the rest is worth retrying. The body becomes
/// the logs, and the output when it is JSON.
fn answer(status: reqwest::StatusCode, bytes: &[u8], truncated: bool) -> Attempt {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let output = serde_json::from_str::<Value>(&text).ok();
    let mut stdout: Vec<String> = text.lines().map(str::to_owned).collect();
    if truncated {
        stdout.push(format!(
            "[vcgate: response body truncated to {MAX_BODY} bytes]"
        ));
    }
    let logs = RunLogs {
        stdout,
        stderr: Vec::new(),
        truncated,
    };
    if status.is_success() {
        Attempt::succeeded(logs, output)
    } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
        Attempt::failed(
            AttemptError::Permanent(format!("HTTP {status}")),
            logs,
            output,
        )
    } else {
        Attempt::failed(
            AttemptError::Retryable(format!("HTTP {status}")),
            logs,
            output,
        )
    }
}

/// At most `MAX_BODY` bytes of the body, and whether there was more; reading
/// stops at the cap (dropping the response closes its connection).
async fn read_capped(mut response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_BODY - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return (body, true);
        }
        body.extend_from_slice(&chunk);
    }
    (body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_succeed_retry_or_give_up_by_status() {
        use reqwest::StatusCode;
        let ok = answer(StatusCode::OK, b"{\"done\": true}\n", false);
        assert!(ok.result.is_ok());
        assert_eq!(ok.output, Some(serde_json::json!({"done": true})));
        assert_eq!(ok.logs.stdout, ["{\"done\": true}"]);
        let gone = answer(StatusCode::NOT_FOUND, b"no", false);
        assert!(
            matches!(&gone.result, Err(AttemptError::Permanent(r)) if r == "HTTP 404 Not Found"),
            "{:?}",
            gone.result
        );
        for status in [StatusCode::TOO_MANY_REQUESTS, StatusCode::BAD_GATEWAY] {
            let again = answer(status, b"", false);
            assert!(
                matches!(again.result, Err(AttemptError::Retryable(_))),
                "{status}"
            );
        }
        let cut = answer(StatusCode::OK, b"partial", true);
        assert!(cut.logs.truncated);
        assert!(cut.logs.stdout[1].contains("truncated"), "{:?}", cut.logs);
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256("key", "1.{}") computed independently (python3 hmac).
        assert_eq!(
            signature(b"key", 1, b"{}"),
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
