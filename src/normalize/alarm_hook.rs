//! Alarm-hook payload (`POST /api/v1/alarms`, sent by `scripts/vcsa-alarm-hook.sh`)
//! → `Event`.
//!
//! The body is `{"delivery_id", "vcenter", "sent_at", "env": {VMWARE_ALARM_*}}`;
//! the env values are vCenter's alarm-action environment, verbatim.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::NormalizeError;
use crate::model::{Alarm, Event, EventType, Moref, RawPayload, Source, StatusText};

/// Maximum length of a delivery id (the hook sends a UUID).
const MAX_DELIVERY_ID: usize = 200;

/// The body read as a tree: the slow path, taken only when [`HookBody`]
/// cannot read it, so that every malformed body gets its precise reason.
#[derive(Debug, Deserialize)]
struct HookPayload {
    delivery_id: Option<Value>,
    vcenter: Option<Value>,
    sent_at: Option<Value>,
    env: Option<Value>,
}

/// The body as the hook sends it, read in one pass without building a tree:
/// the env strings are borrowed from the body unless they hold escapes. Any
/// body this cannot read (missing or mistyped fields, a repeated key, not an
/// object) goes the [`HookPayload`] way, which names what is wrong.
#[derive(Debug, Deserialize)]
struct HookBody<'a> {
    delivery_id: String,
    #[serde(default)]
    vcenter: Option<String>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(borrow)]
    env: HashMap<BodyStr<'a>, BodyStr<'a>>,
}

/// A string of the body: borrowed from it when it holds no escape, owned
/// when it does. (serde's own `Cow<str>` is always owned inside a map.)
#[derive(Debug, PartialEq, Eq, Hash)]
struct BodyStr<'a>(Cow<'a, str>);

impl Borrow<str> for BodyStr<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BodyStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        deserializer.deserialize_str(Text).map(BodyStr)
    }
}

/// Parses and normalizes one hook body. `default_vcenter` names the vCenter
/// when the payload does not.
pub fn normalize(
    body: &[u8],
    default_vcenter: &str,
    received_at: OffsetDateTime,
) -> Result<Event, NormalizeError> {
    let (payload, env) = match serde_json::from_slice::<HookBody>(body) {
        Ok(fast) => (
            HookPayload {
                delivery_id: Some(Value::String(fast.delivery_id)),
                vcenter: fast.vcenter.map(Value::String),
                sent_at: fast.sent_at.map(Value::String),
                env: None,
            },
            Env(fast.env),
        ),
        Err(_) => read_tree(body)?,
    };
    build(payload, &env, body, default_vcenter, received_at)
}

/// The event from the body's fields, however they were read.
fn build(
    payload: HookPayload,
    env: &Env,
    body: &[u8],
    default_vcenter: &str,
    received_at: OffsetDateTime,
) -> Result<Event, NormalizeError> {
    let delivery_id = delivery_id(payload.delivery_id)?;
    let vcenter = vcenter(payload.vcenter, default_vcenter)?;
    let sent_at = sent_at(payload.sent_at)?;

    let mut event = Event::unfingerprinted(
        Source::AlarmHook,
        vcenter,
        EventType::alarm_status_changed(),
    );
    event.received_at = received_at;
    event.delivery_id = Some(delivery_id);
    event.time = sent_at;
    fill_from_env(&mut event, env);
    // The body parsed above as one JSON object, so this cannot fail; kept
    // as its text rather than the tree (see `RawPayload`).
    event.raw = RawPayload::from_json(body)
        .map_err(|e| NormalizeError::new(super::json_error("body is not valid JSON", &e)))?;
    event.fingerprint = event.compute_fingerprint();
    Ok(event)
}

/// The slow path: the body as a tree, checked field by field for a precise
/// reason; `env` is taken out of the payload and checked to be all strings.
fn read_tree(body: &[u8]) -> Result<(HookPayload, Env<'static>), NormalizeError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| NormalizeError::new(super::json_error("body is not valid JSON", &e)))?;
    if !raw.is_object() {
        return Err(NormalizeError::new("body must be a JSON object"));
    }
    let mut payload: HookPayload = serde_json::from_value(raw)
        .map_err(|e| NormalizeError::new(super::json_error("invalid body", &e)))?;
    let env = env_strings(payload.env.take())?;
    Ok((payload, env))
}

fn delivery_id(value: Option<Value>) -> Result<String, NormalizeError> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_DELIVERY_ID => Ok(s),
        Some(Value::String(_)) => Err(NormalizeError::new(format!(
            "field `delivery_id` must be a non-empty string of at most {MAX_DELIVERY_ID} characters"
        ))),
        Some(_) => Err(NormalizeError::new("field `delivery_id` must be a string")),
        None => Err(NormalizeError::new("missing field `delivery_id`")),
    }
}

/// The `env` object; every value must be a string.
fn env_strings(value: Option<Value>) -> Result<Env<'static>, NormalizeError> {
    let env: Map<String, Value> = match value {
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(NormalizeError::new(
                "field `env` must be an object of strings",
            ));
        }
        None => return Err(NormalizeError::new("missing field `env`")),
    };
    let mut strings = HashMap::with_capacity(env.len());
    for (key, value) in env {
        let Value::String(value) = value else {
            return Err(not_a_string(&key));
        };
        strings.insert(BodyStr(Cow::Owned(key)), BodyStr(Cow::Owned(value)));
    }
    Ok(Env(strings))
}

/// Why `env.<key>` was refused. The key is named only when it is one of
/// vCenter's variable names: a detail never echoes arbitrary input.
fn not_a_string(key: &str) -> NormalizeError {
    let known = key.strip_prefix("VMWARE_ALARM_").is_some_and(|rest| {
        rest.len() <= 64
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    });
    NormalizeError::new(if known {
        format!("field `env.{key}` must be a string")
    } else {
        "every value of field `env` must be a string".to_owned()
    })
}

fn vcenter(value: Option<Value>, default_vcenter: &str) -> Result<String, NormalizeError> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) => Ok(default_vcenter.to_owned()),
        Some(_) => Err(NormalizeError::new(
            "field `vcenter` must be a non-empty string",
        )),
    }
}

fn sent_at(value: Option<Value>) -> Result<Option<OffsetDateTime>, NormalizeError> {
    let invalid = || NormalizeError::new("field `sent_at` must be an RFC 3339 timestamp");
    match value {
        Some(Value::String(s)) => Ok(Some(
            OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| invalid())?,
        )),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(invalid()),
    }
}

/// vCenter's alarm-action variables; an empty value counts as absent.
struct Env<'a>(HashMap<BodyStr<'a>, BodyStr<'a>>);

impl Env<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .filter(|s| !s.0.is_empty())
            .map(|s| s.0.to_string())
    }
}

/// The entity, alarm, message, user, category and metadata, from `env`.
fn fill_from_env(event: &mut Event, env: &Env) {
    event.entity.moref = env
        .var("VMWARE_ALARM_TARGET_ID")
        .and_then(|m| Moref::parse(&m));
    event.entity.kind = event.entity.moref.as_ref().and_then(Moref::entity_kind);
    event.entity.name = env.var("VMWARE_ALARM_TARGET_NAME");

    event.alarm = Some(Alarm {
        name: env.var("VMWARE_ALARM_NAME"),
        moref: env.var("VMWARE_ALARM_ID").and_then(|m| Moref::parse(&m)),
        old_status: env
            .var("VMWARE_ALARM_OLDSTATUS")
            .map(|s| StatusText::parse(&s)),
        new_status: env
            .var("VMWARE_ALARM_NEWSTATUS")
            .map(|s| StatusText::parse(&s)),
    });

    let triggering = env.var("VMWARE_ALARM_TRIGGERINGSUMMARY");
    event.event_key = triggering.as_deref().and_then(parse_event_key);
    event.message = env
        .var("VMWARE_ALARM_EVENTDESCRIPTION")
        .or_else(|| triggering.clone());
    event.user = env.var("VMWARE_ALARM_EVENT_USERNAME");
    event.category = event
        .alarm
        .as_ref()
        .and_then(|a| a.new_status.as_ref())
        .map(|s| category_for(s).to_owned());
    event.metadata = metadata(event, env, triggering);
}

/// Dispatch-style metadata: the VM's name and id for VM alarms, then the
/// triggering event's context.
fn metadata(event: &Event, env: &Env, triggering: Option<String>) -> Map<String, Value> {
    let mut metadata = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            metadata.insert(key.to_owned(), Value::String(v));
        }
    };
    if event.entity.kind == Some(crate::model::EntityKind::VirtualMachine) {
        put("vm_name", event.entity.name.clone());
        put("vm_id", event.entity.moref.as_ref().map(|m| m.to_string()));
    }
    for (key, var) in [
        ("datacenter", "VMWARE_ALARM_EVENT_DATACENTER"),
        ("compute_resource", "VMWARE_ALARM_EVENT_COMPUTERESOURCE"),
        ("host", "VMWARE_ALARM_EVENT_HOST"),
        ("vm", "VMWARE_ALARM_EVENT_VM"),
        ("network", "VMWARE_ALARM_EVENT_NETWORK"),
        ("datastore", "VMWARE_ALARM_EVENT_DATASTORE"),
        ("dvs", "VMWARE_ALARM_EVENT_DVS"),
        ("alarm_value", "VMWARE_ALARM_ALARMVALUE"),
        ("declaring_summary", "VMWARE_ALARM_DECLARINGSUMMARY"),
    ] {
        put(key, env.var(var));
    }
    put("triggering_summary", triggering);
    metadata
}

/// vCenter puts the triggering event's key in parentheses at the end of a
/// line of the triggering summary: `Event: VM created (12345)`.
pub fn parse_event_key(summary: &str) -> Option<i64> {
    summary.lines().find_map(|line| {
        let line = line.trim_end();
        let inner = line.strip_suffix(')')?;
        let open = inner.rfind('(')?;
        let digits = &inner[open + 1..];
        (!digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    })
}

/// Dispatch-style category from an alarm colour.
pub(crate) fn category_for(status: &StatusText) -> &'static str {
    use crate::model::AlarmStatus::*;
    match status.status {
        Red => "error",
        Yellow => "warning",
        Green | Gray | Unknown => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlarmStatus, EntityKind};
    use proptest::prelude::*;
    use serde_json::json;

    fn body(env: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "delivery_id": "7b0c6f5e-0000-4000-8000-000000000001",
            "vcenter": "vc1",
            "sent_at": "2026-11-25T10:00:00Z",
            "env": env,
        }))
        .unwrap()
    }

    #[test]
    fn vm_alarm_becomes_an_event() {
        let e = normalize(
            &body(json!({
                "VMWARE_ALARM_NAME": "VM created",
                "VMWARE_ALARM_ID": "alarm-101",
                "VMWARE_ALARM_TARGET_NAME": "web01",
                "VMWARE_ALARM_TARGET_ID": "vm-319",
                "VMWARE_ALARM_OLDSTATUS": "Gray",
                "VMWARE_ALARM_NEWSTATUS": "Red",
                "VMWARE_ALARM_TRIGGERINGSUMMARY": "Event: VM created (12345)",
                "VMWARE_ALARM_EVENTDESCRIPTION": "Created virtual machine web01 on esx01",
                "VMWARE_ALARM_EVENT_USERNAME": "VSPHERE.LOCAL\\admin",
                "VMWARE_ALARM_EVENT_DATACENTER": "DC0",
            })),
            "default",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(e.event_type.as_str(), "alarm.status.changed");
        assert_eq!(e.vcenter, "vc1");
        assert_eq!(e.entity.kind, Some(EntityKind::VirtualMachine));
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-319");
        let alarm = e.alarm.as_ref().unwrap();
        assert_eq!(alarm.name.as_deref(), Some("VM created"));
        assert_eq!(alarm.new_status.as_ref().unwrap().status, AlarmStatus::Red);
        assert_eq!(alarm.old_status.as_ref().unwrap().status, AlarmStatus::Gray);
        assert_eq!(e.event_key, Some(12345));
        assert_eq!(e.user.as_deref(), Some("VSPHERE.LOCAL\\admin"));
        assert_eq!(e.metadata["vm_name"], "web01");
        assert_eq!(e.metadata["vm_id"], "vm-319");
        assert_eq!(e.metadata["datacenter"], "DC0");
        assert_eq!(e.category.as_deref(), Some("error"));
        assert_eq!(e.raw.to_value()["env"]["VMWARE_ALARM_TARGET_ID"], "vm-319");
    }

    #[test]
    fn missing_fields_are_named() {
        let now = OffsetDateTime::now_utc();
        let err = normalize(br#"{"env": {}}"#, "d", now).unwrap_err();
        assert!(err.message.contains("delivery_id"), "{err}");
        let err = normalize(br#"{"delivery_id": "x"}"#, "d", now).unwrap_err();
        assert!(err.message.contains("env"), "{err}");
        let err = normalize(
            br#"{"delivery_id": "x", "env": {"VMWARE_ALARM_A": 1}}"#,
            "d",
            now,
        )
        .unwrap_err();
        assert!(err.message.contains("env.VMWARE_ALARM_A"), "{err}");
        let err =
            normalize(br#"{"delivery_id": "x", "env": {"A\n<b>": 1}}"#, "d", now).unwrap_err();
        assert!(!err.message.contains("<b>"), "{err}");
        let err = normalize(b"not json", "d", now).unwrap_err();
        assert!(err.message.contains("JSON"), "{err}");
    }

    #[test]
    fn event_key_from_triggering_summary() {
        assert_eq!(parse_event_key("Event: VM created (12345)"), Some(12345));
        assert_eq!(
            parse_event_key("Metric CPU Usage = 95%\nEvent: x (7)"),
            Some(7)
        );
        assert_eq!(parse_event_key("Event: VM (abc)"), None);
        assert_eq!(parse_event_key("no key here"), None);
    }

    #[test]
    fn a_non_string_env_value_is_refused_naming_only_vcenter_variables() {
        let reason = |env: Value| {
            normalize(&body(env), "d", T)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            reason(json!({"VMWARE_ALARM_NAME": "x", "VMWARE_ALARM_ID": 7})),
            "field `env.VMWARE_ALARM_ID` must be a string"
        );
        assert_eq!(
            reason(json!({"<script>": ["x"]})),
            "every value of field `env` must be a string"
        );
        assert_eq!(
            reason(json!("x")),
            "field `env` must be an object of strings"
        );
    }

    #[test]
    fn the_one_pass_reading_borrows_plain_strings_and_unescapes_the_rest() {
        let body = br#"{"delivery_id":"d1","env":{"VMWARE_ALARM_NAME":"VM created","VMWARE_ALARM_EVENT_USERNAME":"VSPHERE.LOCAL\\admin"}}"#;
        let fast: HookBody = serde_json::from_slice(body).expect("the one pass reads it");
        assert!(matches!(
            fast.env.get("VMWARE_ALARM_NAME"),
            Some(BodyStr(Cow::Borrowed("VM created")))
        ));
        let user = &fast.env["VMWARE_ALARM_EVENT_USERNAME"].0;
        assert!(matches!(user, Cow::Owned(_)) && user == "VSPHERE.LOCAL\\admin");
    }

    /// `normalize` by the slow path only, for comparing the two readings.
    fn normalize_by_tree(body: &[u8]) -> Result<Event, NormalizeError> {
        let (payload, env) = read_tree(body)?;
        build(payload, &env, body, "d", T)
    }

    const T: OffsetDateTime = time::macros::datetime!(2026-11-25 10:00 UTC);

    /// A JSON value for a hook field: mostly the right type, sometimes not.
    fn field_value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            4 => "[a-z0-9 \\-\"\\\\é]{0,12}".prop_map(|s| Some(Value::String(s))),
            1 => Just(Some(Value::String("2026-11-25T10:00:00Z".into()))),
            1 => Just(Some(Value::Null)),
            1 => (0i64..5).prop_map(|n| Some(json!(n))),
            1 => Just(None),
        ]
    }

    proptest! {
        /// The one-pass reading and the tree agree on every body: the same
        /// event, or the same rejection reason.
        #[test]
        fn both_readings_of_a_body_agree(
            delivery in field_value(),
            vcenter in field_value(),
            sent_at in field_value(),
            env in proptest::collection::vec(
                (prop_oneof![Just("VMWARE_ALARM_NAME"), Just("VMWARE_ALARM_TARGET_NAME"), Just("VMWARE_ALARM_NEWSTATUS"), Just("X")],
                 field_value()),
                0..5),
            env_is_object in proptest::bool::weighted(0.9),
            repeat_delivery in proptest::bool::weighted(0.1),
        ) {
            let mut text = String::from("{");
            let mut put = |key: &str, value: &Option<Value>| {
                if let Some(v) = value {
                    text.push_str(&format!("{}:{},", json!(key), v));
                }
            };
            put("delivery_id", &delivery);
            if repeat_delivery {
                put("delivery_id", &Some(json!("again")));
            }
            put("vcenter", &vcenter);
            put("sent_at", &sent_at);
            let env_text = if env_is_object {
                let pairs: Vec<String> = env
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{}:{v}", json!(k))))
                    .collect();
                format!("{{{}}}", pairs.join(","))
            } else {
                "[]".to_owned()
            };
            text.push_str(&format!("\"env\":{env_text}}}"));

            let by_tree = normalize_by_tree(text.as_bytes());
            match normalize(text.as_bytes(), "d", T) {
                Ok(mut fast) => {
                    let tree = by_tree.expect("the tree reads what the one pass reads");
                    fast.id = tree.id;
                    prop_assert_eq!(fast, tree);
                }
                Err(e) => prop_assert_eq!(e.to_string(), by_tree.unwrap_err().to_string()),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = normalize(&bytes, "d", OffsetDateTime::now_utc());
        }

        #[test]
        fn any_string_values_survive_verbatim(name in "\\PC{0,64}", target in "\\PC{0,64}") {
            let e = normalize(
                &body(json!({"VMWARE_ALARM_NAME": name, "VMWARE_ALARM_TARGET_NAME": target})),
                "d",
                OffsetDateTime::now_utc(),
            ).unwrap();
            let raw = e.raw.to_value();
            prop_assert_eq!(raw["env"]["VMWARE_ALARM_NAME"].as_str().unwrap(), name.as_str());
            prop_assert_eq!(raw["env"]["VMWARE_ALARM_TARGET_NAME"].as_str().unwrap(), target.as_str());
            // Built unfingerprinted; the fingerprint is set once, from every field.
            prop_assert!(!e.fingerprint.0.is_empty());
            prop_assert_eq!(&e.fingerprint, &e.compute_fingerprint());
        }
    }
}
