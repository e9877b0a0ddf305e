//! The CloudEvents HTTP protocol binding (v1.0.2): events in and out of
//! HTTP messages in structured, binary and batched content mode.
//!
//! Owns: reading a request into CloudEvents (JSON objects in the structured
//! form, whatever mode they came in), checking their required attributes,
//! writing one as a request (structured or binary), and choosing the event
//! shape a consumer asked for ([`EventFormat`]: vcgate's or VEBA's). Must
//! not: know what an event means (that is `normalize`) or do I/O.
//!
//! Modes, as the spec tells them apart: a `ce-specversion` header makes the
//! request binary (attributes in `ce-*` headers, percent-encoded; the body is
//! `data`, its media type `datacontenttype`); `application/cloudevents+json`
//! is one structured event; `application/cloudevents-batch+json` is a JSON
//! array of them. `application/json` without `ce-` headers is vcgate's emit
//! shorthand (one structured event whose `id`, `source` and `specversion`
//! may be left out): kept for the clients written before the binding.

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Event;

pub const STRUCTURED: &str = "application/cloudevents+json";
pub const BATCH: &str = "application/cloudevents-batch+json";
/// The attributes every CloudEvent must have, in the spec's order.
pub const REQUIRED: [&str; 4] = ["id", "source", "specversion", "type"];
/// The spec's attribute names (errors name only these: never client text).
const KNOWN: [&str; 8] = [
    "id",
    "source",
    "specversion",
    "type",
    "subject",
    "time",
    "dataschema",
    "datacontenttype",
];
/// Most events one batch may carry (the body limit bounds it too).
pub const MAX_BATCH: usize = 1000;

/// How an outgoing event is put on HTTP (`encoding` in the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `application/cloudevents+json`: attributes and data in the body.
    #[default]
    Structured,
    /// `ce-*` headers, the body is `data` (what VEBA's broker sent).
    Binary,
}

/// Which event shape a consumer gets (`event_format` in the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    /// vcgate's: Dispatch type names, `data` = the Dispatch-style payload.
    #[default]
    Vcgate,
    /// The VMware Event Broker Appliance's: `com.vmware.vsphere.<Class>.v0`,
    /// `data` = the vCenter event (see [`crate::veba`]).
    Veba,
}

/// An event as a consumer asked for it (structured JSON). `vcenter_url` is
/// the event's vCenter SDK URL when configured (VEBA's `source`).
pub fn render(event: &Event, format: EventFormat, vcenter_url: Option<&str>) -> Value {
    match format {
        EventFormat::Vcgate => event.to_cloudevent(),
        EventFormat::Veba => {
            crate::veba::cloudevent(event, &crate::veba::source_url(vcenter_url, &event.vcenter))
        }
    }
}

/// Why a request holds no acceptable CloudEvent; `status` is 400 or 415.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BindingError {
    pub status: u16,
    pub message: String,
}

impl BindingError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }
}

/// The events of one request, in the structured JSON form.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub events: Vec<Map<String, Value>>,
    /// It came as a batch (the answer lists every event).
    pub batch: bool,
}

/// The media type of a request's `Content-Type`, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Reads the CloudEvents of a request and checks each (required attributes
/// per the spec, `specversion` 1.0). Errors name the attribute, and the
/// event's position in a batch.
pub fn receive(headers: &HeaderMap, body: &[u8]) -> Result<Received, BindingError> {
    let media = media_type(headers);
    if headers.contains_key("ce-specversion") {
        let event = binary(headers, media.as_deref(), body)?;
        validate(&event, true).map_err(BindingError::bad)?;
        return Ok(Received {
            events: vec![event],
            batch: false,
        });
    }
    match media.as_deref() {
        Some(STRUCTURED) | Some("application/json") => {
            let strict = media.as_deref() == Some(STRUCTURED);
            let event = object(parse_json(body)?, "body must be a CloudEvent JSON object")?;
            validate(&event, strict).map_err(BindingError::bad)?;
            Ok(Received {
                events: vec![event],
                batch: false,
            })
        }
        Some(BATCH) => {
            let Value::Array(items) = parse_json(body)? else {
                return Err(BindingError::bad(
                    "a batch must be a JSON array of CloudEvents",
                ));
            };
            if items.len() > MAX_BATCH {
                return Err(BindingError::bad(format!(
                    "a batch may hold at most {MAX_BATCH} events"
                )));
            }
            let mut events = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let event = object(item, "must be a CloudEvent JSON object")
                    .map_err(|e| BindingError::bad(format!("event {i}: {}", e.message)))?;
                validate(&event, true).map_err(|e| BindingError::bad(format!("event {i}: {e}")))?;
                events.push(event);
            }
            Ok(Received {
                events,
                batch: true,
            })
        }
        _ => Err(BindingError {
            status: 415,
            message: format!(
                "expected Content-Type {STRUCTURED}, {BATCH}, application/json, or ce-* headers (binary mode)"
            ),
        }),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, BindingError> {
    serde_json::from_slice(body)
        .map_err(|e| BindingError::bad(crate::logging::json_error("body is not valid JSON", &e)))
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>, BindingError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(BindingError::bad(what)),
    }
}

/// A binary-mode request as a structured event: `ce-*` headers are the
/// attributes (quoted strings unescaped, then percent-decoded), the body is
/// `data` (JSON media types only: the gateway stores data as JSON).
fn binary(
    headers: &HeaderMap,
    media: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, BindingError> {
    let mut event = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if attribute == "datacontenttype" {
            return Err(BindingError::bad(
                "header `ce-datacontenttype` must not be sent in binary mode (Content-Type is the data's media type)",
            ));
        }
        let text = value
            .to_str()
            .ok()
            .and_then(|raw| percent_decode(&unquote(raw)))
            .ok_or_else(|| {
                // The client chose the name: say it only when it is the spec's.
                let named = KNOWN.contains(&attribute);
                BindingError::bad(if named {
                    format!("header `ce-{attribute}` is not a percent-encoded UTF-8 value")
                } else {
                    "a ce-* header is not a percent-encoded UTF-8 value".to_owned()
                })
            })?;
        event.insert(attribute.to_owned(), Value::String(text));
    }
    let media = media.unwrap_or("application/json");
    event.insert("datacontenttype".into(), Value::String(media.to_owned()));
    if !body.is_empty() {
        if !is_json(media) {
            return Err(BindingError {
                status: 415,
                message: "binary mode: the data must be JSON (Content-Type application/json)"
                    .into(),
            });
        }
        event.insert("data".into(), parse_json(body)?);
    }
    Ok(event)
}

/// The spec's required attributes (`strict`), else only `type`; a present
/// `specversion` must be 1.0.
pub fn validate(event: &Map<String, Value>, strict: bool) -> Result<(), String> {
    let required: &[&str] = if strict { &REQUIRED } else { &["type"] };
    for attribute in required {
        match event.get(*attribute) {
            None | Some(Value::Null) => {
                return Err(format!("missing required attribute `{attribute}`"));
            }
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(format!(
                    "attribute `{attribute}` must be a non-empty string"
                ));
            }
        }
    }
    if let Some(v) = event.get("specversion")
        && v != "1.0"
    {
        return Err("attribute `specversion` must be \"1.0\"".into());
    }
    if event.contains_key("data_base64") {
        return Err("attribute `data_base64` is not accepted: send JSON `data`".into());
    }
    Ok(())
}

/// RFC 7230 quoted-string: `"a \"b\""` → `a "b"`; anything else as is.
fn unquote(raw: &str) -> String {
    let trimmed = raw.trim();
    let Some(inner) = trimmed.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return trimmed.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// One round of percent-decoding; `None` when the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && hex.iter().all(u8::is_ascii_hexdigit)
        {
            let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(digit(hex[0]) << 4 | digit(hex[1]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes what a header value must not carry: space, `"`, `%`,
/// and everything outside printable ASCII (as UTF-8 bytes, upper-case hex).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An event ready to POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub content_type: String,
    /// `ce-*` headers (binary mode), already percent-encoded.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Writes a structured event (`ce`) in `encoding`.
pub fn send(ce: &Value, encoding: Encoding) -> Outgoing {
    match encoding {
        Encoding::Structured => Outgoing {
            content_type: STRUCTURED.to_owned(),
            headers: Vec::new(),
            body: serde_json::to_vec(ce).unwrap_or_default(),
        },
        Encoding::Binary => {
            let empty = Map::new();
            let attributes = ce.as_object().unwrap_or(&empty);
            let headers = attributes
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "data" | "data_base64" | "datacontenttype"))
                .map(|(k, v)| {
                    // The canonical string of a non-string extension value.
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (format!("ce-{k}"), percent_encode(&text))
                })
                .collect();
            let body = match attributes.get("data") {
                None | Some(Value::Null) => Vec::new(),
                Some(data) => serde_json::to_vec(data).unwrap_or_default(),
            };
            Outgoing {
                content_type: attributes
                    .get("datacontenttype")
                    .and_then(Value::as_str)
                    .unwrap_or("application/json")
                    .to_owned(),
                headers,
                body,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn binary_mode_reads_headers_and_body() {
        let h = headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("ce-specversion", "1.0"),
            ("ce-id", "d70079f9"),
            ("ce-source", "https://vcenter.local/sdk"),
            ("ce-type", "com.vmware.vsphere.DrsVmPoweredOnEvent.v0"),
            ("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
            ("ce-quoted", "\"a \\\"b\\\" c\""),
        ]);
        let r = receive(&h, br#"{"Key": 1}"#).unwrap();
        let e = &r.events[0];
        assert!(!r.batch);
        assert_eq!(e["type"], "com.vmware.vsphere.DrsVmPoweredOnEvent.v0");
        assert_eq!(e["subject"], "Euro € 😀");
        assert_eq!(e["quoted"], "a \"b\" c");
        assert_eq!(e["datacontenttype"], "application/json");
        assert_eq!(e["data"], json!({"Key": 1}));
    }

    #[test]
    fn each_missing_required_attribute_is_named() {
        let all = [
            ("content-type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ];
        for missing in ["id", "source", "type"] {
            let h: Vec<_> = all
                .iter()
                .copied()
                .filter(|(k, _)| *k != format!("ce-{missing}"))
                .collect();
            let err = receive(&headers(&h), b"{}").unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(
                err.message,
                format!("missing required attribute `{missing}`")
            );
        }
        let structured = |v: Value| {
            receive(
                &headers(&[("content-type", STRUCTURED)]),
                v.to_string().as_bytes(),
            )
        };
        for missing in REQUIRED {
            let mut ce = json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t"});
            ce.as_object_mut().unwrap().remove(missing);
            let err = structured(ce).unwrap_err();
            assert!(err.message.contains(&format!("`{missing}`")), "{err}");
        }
        let err = structured(json!({"specversion": "0.3", "id": "1", "source": "s", "type": "t"}))
            .unwrap_err();
        assert!(err.message.contains("specversion"), "{err}");
        // vcgate's emit shorthand needs only a type.
        let legacy = receive(
            &headers(&[("content-type", "application/json")]),
            br#"{"type": "vm.created"}"#,
        )
        .unwrap();
        assert_eq!(legacy.events[0]["type"], "vm.created");
    }

    #[test]
    fn batches_name_the_bad_event() {
        let h = headers(&[(
            "content-type",
            "application/cloudevents-batch+json; charset=utf-8",
        )]);
        let ok = json!([
            {"specversion": "1.0", "id": "1", "source": "s", "type": "a"},
            {"specversion": "1.0", "id": "2", "source": "s", "type": "b"},
        ]);
        let r = receive(&h, ok.to_string().as_bytes()).unwrap();
        assert!(r.batch);
        assert_eq!(r.events.len(), 2);
        let bad = json!([
            {"specversion": "1.0", "id": "1", "source": "s", "type": "a"},
            {"specversion": "1.0", "id": "2", "type": "b"},
        ]);
        let err = receive(&h, bad.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.message, "event 1: missing required attribute `source`");
        assert!(receive(&h, b"{}").is_err());
        assert!(receive(&h, b"[]").unwrap().events.is_empty());
        let err = receive(&headers(&[("content-type", "text/plain")]), b"x").unwrap_err();
        assert_eq!(err.status, 415);
    }

    #[test]
    fn binary_out_round_trips_through_binary_in() {
        let ce = json!({
            "specversion": "1.0", "id": "42", "source": "https://vc1/sdk",
            "type": "com.vmware.vsphere.VmPoweredOnEvent.v0", "subject": "a \"b\" 100% ü",
            "datacontenttype": "application/json", "eventclass": "event",
            "data": {"Vm": {"Name": "web01"}},
        });
        let out = send(&ce, Encoding::Binary);
        assert_eq!(out.content_type, "application/json");
        let subject = out.headers.iter().find(|(k, _)| k == "ce-subject").unwrap();
        assert_eq!(subject.1, "a%20%22b%22%20100%25%20%C3%BC");
        assert!(
            !out.headers
                .iter()
                .any(|(k, _)| k == "ce-data" || k == "ce-datacontenttype")
        );
        let mut h: Vec<(&str, &str)> = out
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        h.push(("content-type", &out.content_type));
        let back = receive(&headers(&h), &out.body).unwrap();
        assert_eq!(Value::Object(back.events[0].clone()), ce);

        let structured = send(&ce, Encoding::Structured);
        assert_eq!(structured.content_type, STRUCTURED);
        assert!(structured.headers.is_empty());
        assert_eq!(
            serde_json::from_slice::<Value>(&structured.body).unwrap(),
            ce
        );
    }

    #[test]
    fn bad_binary_requests_are_refused() {
        let base = [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ];
        let mut with = base.to_vec();
        with.push(("content-type", "application/xml"));
        assert_eq!(receive(&headers(&with), b"<x/>").unwrap_err().status, 415);
        let mut dup = base.to_vec();
        dup.push(("ce-datacontenttype", "application/json"));
        assert!(receive(&headers(&dup), b"{}").is_err());
        let mut overlong = base.to_vec();
        overlong.push(("ce-subject", "%C0%A0"));
        let err = receive(&headers(&overlong), b"{}").unwrap_err();
        assert!(err.message.contains("ce-subject"), "{err}");
        let mut custom = base.to_vec();
        custom.push(("ce-evilname", "%FF"));
        let err = receive(&headers(&custom), b"{}").unwrap_err();
        assert!(!err.message.contains("evilname"), "{err}");
        // A `%` not followed by two hex digits is kept as it is.
        let mut stray = base.to_vec();
        stray.push(("ce-subject", "100%+1%zz"));
        assert_eq!(
            receive(&headers(&stray), b"{}").unwrap().events[0]["subject"],
            "100%+1%zz"
        );
        // No body is an event without data.
        assert!(!receive(&headers(&base), b"").unwrap().events[0].contains_key("data"));
    }
}
