//! CloudEvent input (`POST /api/v1/events`, like `dispatch emit`) → `Event`.
//!
//! Takes one CloudEvent in the structured JSON form — whatever HTTP content
//! mode it came in, [`crate::cloudevents`] has already read and checked it.
//! `type` is a Dispatch-style name (`vm.created`) or a VEBA name
//! (`com.vmware.vsphere.VmCreatedEvent.v0`, the class's Dispatch name
//! becomes the type). `id` with `source` makes redelivery idempotent.
//! `data` carries the Dispatch-style payload fields (`message`, `metadata`,
//! `user`, `category`, `entity`, `alarm`, `vcenter`) — or, for a VEBA type,
//! the vCenter event as VEBA serialised it, read like an event from the
//! stream (entity, user, key, alarm, metadata) and kept whole in `raw`, so
//! VEBA-format functions get it back unchanged.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::NormalizeError;
use crate::model::{Alarm, Entity, Event, EventType, RawPayload, Source};

/// One structured CloudEvent in a body (the fuzz target's entry point).
pub fn normalize(
    body: &[u8],
    default_vcenter: &str,
    received_at: OffsetDateTime,
) -> Result<Event, NormalizeError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| NormalizeError::new(super::json_error("body is not valid JSON", &e)))?;
    let Value::Object(object) = raw else {
        return Err(NormalizeError::new("body must be a CloudEvent JSON object"));
    };
    crate::cloudevents::validate(&object, false).map_err(NormalizeError::new)?;
    normalize_object(object, default_vcenter, received_at)
}

/// One CloudEvent, already read from its HTTP message and validated.
pub fn normalize_object(
    object: Map<String, Value>,
    default_vcenter: &str,
    received_at: OffsetDateTime,
) -> Result<Event, NormalizeError> {
    let type_text = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| NormalizeError::new("missing required attribute `type`"))?;
    let veba = crate::veba::parse_type_name(type_text);
    let event_type = event_type(&object, type_text, veba)?;
    let data = data(&object)?;
    let time = time(&object)?;
    let delivery_id = delivery_id(&object)?;
    let vcenter = text(&data, "vcenter")
        .or_else(|| text(&object, "vcenter"))
        .unwrap_or_else(|| default_vcenter.to_owned());

    let mut event = match veba {
        Some(name) => {
            let class = veba_class(&object, name).0;
            let vc = crate::veba::vc_event(
                class,
                &Value::Object(data.clone()),
                time.unwrap_or(received_at),
            );
            let mut e = super::vcenter_event::normalize(&vcenter, &vc, received_at);
            e.source = Source::Api;
            e.event_type = event_type;
            e
        }
        None => {
            let mut e = Event::unfingerprinted(Source::Api, vcenter, event_type);
            e.received_at = received_at;
            dispatch_payload(&mut e, &data)?;
            e
        }
    };
    event.delivery_id = delivery_id;
    if time.is_some() {
        event.time = time;
    }
    if event.entity.name.is_none() {
        event.entity.name = text(&object, "subject").filter(|_| veba.is_none());
    }
    event.raw = RawPayload::encode(&object);
    event.fingerprint = event.compute_fingerprint();
    Ok(event)
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The vCenter event class (and type id) a VEBA type name stands for.
fn veba_class<'a>(object: &'a Map<String, Value>, name: &'a str) -> (&'a str, Option<&'a str>) {
    let eventclass = object.get("eventclass").and_then(Value::as_str);
    crate::veba::class_for_name(name, eventclass)
}

/// The event's type: a VEBA name's class mapped like a streamed event's, or
/// a Dispatch-style name as given.
fn event_type(
    object: &Map<String, Value>,
    type_text: &str,
    veba: Option<&str>,
) -> Result<EventType, NormalizeError> {
    match veba {
        Some(name) => {
            let (class, type_id) = veba_class(object, name);
            Ok(super::vcenter_event::type_for(class, type_id))
        }
        None => EventType::parse(type_text).map_err(|_| {
            NormalizeError::new(
                "field `type` must be lowercase words joined by '.', e.g. vm.created, or a VEBA name, \
                 e.g. com.vmware.vsphere.VmCreatedEvent.v0 (at most 200 characters)",
            )
        }),
    }
}

fn data(object: &Map<String, Value>) -> Result<Map<String, Value>, NormalizeError> {
    match object.get("data") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(NormalizeError::new("field `data` must be a JSON object")),
    }
}

fn time(object: &Map<String, Value>) -> Result<Option<OffsetDateTime>, NormalizeError> {
    text(object, "time")
        .map(|t| {
            OffsetDateTime::parse(&t, &Rfc3339)
                .map_err(|_| NormalizeError::new("field `time` must be RFC 3339"))
        })
        .transpose()
}

/// CloudEvents identity is (source, id): `source|id`.
fn delivery_id(object: &Map<String, Value>) -> Result<Option<String>, NormalizeError> {
    match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 200 => Ok(Some(format!(
            "{}|{id}",
            text(object, "source").unwrap_or_default()
        ))),
        None => Ok(None),
        Some(_) => Err(NormalizeError::new(
            "field `id` must be a non-empty string of at most 200 characters",
        )),
    }
}

/// The Dispatch-style `data` fields onto the event.
fn dispatch_payload(event: &mut Event, data: &Map<String, Value>) -> Result<(), NormalizeError> {
    let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
    event.message = text("message");
    event.user = text("user");
    event.category = text("category");
    event.event_key = data.get("event_key").and_then(Value::as_i64);
    if let Some(Value::Object(metadata)) = data.get("metadata") {
        event.metadata = metadata.clone();
    }
    if let Some(entity) = data.get("entity") {
        event.entity = serde_json::from_value::<Entity>(entity.clone())
            .map_err(|e| NormalizeError::new(super::json_error("field `data.entity`", &e)))?;
    }
    if let Some(alarm) = data.get("alarm").filter(|a| !a.is_null()) {
        event.alarm = Some(
            serde_json::from_value::<Alarm>(alarm.clone())
                .map_err(|e| NormalizeError::new(super::json_error("field `data.alarm`", &e)))?,
        );
    }
    Ok(())
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

    #[test]
    fn veba_cloudevents_keep_their_data_and_get_dispatch_types() {
        // VEBA's own test payload for its tagging function (kn-pcli-tag).
        let body = serde_json::json!({
            "specversion": "1.0", "id": "d70079f9", "source": "https://vcenter.local/sdk",
            "type": "com.vmware.vsphere.DrsVmPoweredOnEvent.v0", "time": "2021-05-17T21:39:03.974Z",
            "data": {
                "Key": 2816789, "ChainId": 2816787, "CreatedTime": "2021-05-17T21:39:03.974Z",
                "UserName": "VSPHERE.LOCAL\\Administrator",
                "Datacenter": {"Name": "Primp-Datacenter", "Datacenter": {"Type": "Datacenter", "Value": "datacenter-3"}},
                "ComputeResource": {"Name": "Supermicro-Cluster", "ComputeResource": {"Type": "ClusterComputeResource", "Value": "domain-c8"}},
                "Host": {"Name": "192.168.30.5", "Host": {"Type": "HostSystem", "Value": "host-11"}},
                "Vm": {"Name": "REPLACE-ME", "Vm": {"Type": "VirtualMachine", "Value": "vm-11099"}},
                "Ds": null, "Net": null, "Dvs": null,
                "FullFormattedMessage": "DRS powered on K8s-User-Group-Test on 192.168.30.5 in Primp-Datacenter",
                "ChangeTag": "", "Template": false
            }
        });
        let e = normalize(
            body.to_string().as_bytes(),
            "vc1",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(e.source, Source::Api);
        assert_eq!(e.event_type.as_str(), "drs.vm.powered.on");
        assert_eq!(e.entity.name.as_deref(), Some("REPLACE-ME"));
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-11099");
        assert_eq!(e.user.as_deref(), Some("VSPHERE.LOCAL\\Administrator"));
        assert_eq!(e.event_key, Some(2816789));
        assert_eq!(e.metadata["cluster"], "Supermicro-Cluster");
        assert_eq!(
            e.delivery_id.as_deref(),
            Some("https://vcenter.local/sdk|d70079f9")
        );
        // Rendered for a VEBA function: the same data back.
        let ce = crate::veba::cloudevent(&e, "https://vc1/sdk");
        assert_eq!(ce["source"], "https://vcenter.local/sdk", "its own source");
        assert_eq!(ce["type"], body["type"]);
        assert_eq!(ce["data"], body["data"]);

        let ha = serde_json::json!({
            "specversion": "1.0", "id": "1", "source": "s",
            "type": "com.vmware.vsphere.com.vmware.vc.HA.DasHostFailedEvent.v0",
            "data": {"Key": 5, "EventTypeId": "com.vmware.vc.HA.DasHostFailedEvent",
                     "Host": {"Name": "esx-02", "Host": {"Type": "HostSystem", "Value": "host-2"}}}
        });
        let e = normalize(ha.to_string().as_bytes(), "vc1", OffsetDateTime::now_utc()).unwrap();
        assert_eq!(e.event_type.as_str(), "com.vmware.vc.ha.das.host.failed");
        assert_eq!(e.entity.name.as_deref(), Some("esx-02"));
        assert_eq!(
            crate::veba::type_name(&e),
            "com.vmware.vsphere.com.vmware.vc.HA.DasHostFailedEvent.v0"
        );
    }
}
