//! CloudEvent input (`POST /api/v1/events`, like `dispatch emit`) → `Event`.
//!
//! Accepts a CloudEvents 1.0 structured JSON object. `type` is required;
//! `id` (with `source`) makes redelivery idempotent; `data` may carry the
//! Dispatch-style payload fields (`message`, `metadata`, `user`, `category`,
//! `entity`, `alarm`, `vcenter`).

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::NormalizeError;
use crate::model::{Alarm, Entity, Event, EventType, Source};

pub fn normalize(
    body: &[u8],
    default_vcenter: &str,
    received_at: OffsetDateTime,
) -> Result<Event, NormalizeError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| NormalizeError::new(super::json_error("body is not valid JSON", &e)))?;
    let object = raw
        .as_object()
        .ok_or_else(|| NormalizeError::new("body must be a CloudEvent JSON object"))?;
    if let Some(v) = object.get("specversion")
        && v != "1.0"
    {
        return Err(NormalizeError::new("field `specversion` must be \"1.0\""));
    }
    let type_text = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| NormalizeError::new("missing field `type`"))?;
    let event_type = EventType::parse(type_text).map_err(|_| {
        NormalizeError::new(
            "field `type` must be lowercase words joined by '.', e.g. vm.created (at most 200 characters)",
        )
    })?;
    let data = match object.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(NormalizeError::new("field `data` must be a JSON object")),
    };
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key).and_then(Value::as_str).map(str::to_owned)
    };

    let vcenter = text(&data, "vcenter")
        .or_else(|| text(object, "vcenter"))
        .unwrap_or_else(|| default_vcenter.to_owned());
    let mut event = Event::new(Source::Api, vcenter, event_type);
    event.received_at = received_at;
    event.delivery_id = match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 200 => {
            // CloudEvents identity is (source, id).
            Some(format!(
                "{}|{id}",
                text(object, "source").unwrap_or_default()
            ))
        }
        None => None,
        Some(_) => {
            return Err(NormalizeError::new(
                "field `id` must be a non-empty string of at most 200 characters",
            ));
        }
    };
    event.time = match text(object, "time") {
        Some(t) => Some(
            OffsetDateTime::parse(&t, &Rfc3339)
                .map_err(|_| NormalizeError::new("field `time` must be RFC 3339"))?,
        ),
        None => None,
    };
    event.message = text(&data, "message");
    event.user = text(&data, "user");
    event.category = text(&data, "category");
    event.event_key = data.get("event_key").and_then(Value::as_i64);
    if let Some(Value::Object(metadata)) = data.get("metadata") {
        event.metadata = metadata.clone();
    }
    if let Some(entity) = data.get("entity") {
        event.entity = serde_json::from_value::<Entity>(entity.clone())
            .map_err(|e| NormalizeError::new(super::json_error("field `data.entity`", &e)))?;
    }
    if event.entity.name.is_none() {
        event.entity.name = text(object, "subject");
    }
    if let Some(alarm) = data.get("alarm").filter(|a| !a.is_null()) {
        event.alarm = Some(
            serde_json::from_value::<Alarm>(alarm.clone())
                .map_err(|e| NormalizeError::new(super::json_error("field `data.alarm`", &e)))?,
        );
    }
    event.raw = raw;
    event.fingerprint = event.compute_fingerprint();
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_style_cloudevent() {
        let body = br#"{"specversion":"1.0","id":"abc","source":"test","type":"vm.created",
            "data":{"message":"hello","metadata":{"vm_name":"web01"},"entity":{"type":"VirtualMachine","moref":"vm-1","name":"web01"}}}"#;
        let e = normalize(body, "vc1", OffsetDateTime::now_utc()).unwrap();
        assert_eq!(e.event_type.as_str(), "vm.created");
        assert_eq!(e.source, Source::Api);
        assert_eq!(e.delivery_id.as_deref(), Some("test|abc"));
        assert_eq!(e.metadata["vm_name"], "web01");
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-1");
    }

    #[test]
    fn bad_type_is_named() {
        let err =
            normalize(br#"{"type":"Not Valid"}"#, "vc1", OffsetDateTime::now_utc()).unwrap_err();
        assert!(err.message.contains("field `type`"), "{err}");
        assert!(!err.message.contains("Not Valid"), "{err}");
        let err = normalize(br#"{"data":{}}"#, "vc1", OffsetDateTime::now_utc()).unwrap_err();
        assert!(err.message.contains("type"), "{err}");
    }
}
