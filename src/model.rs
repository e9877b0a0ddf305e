//! The normalized Event model shared by every source and sink.
//!
//! Owns: the `Event` struct and the parse-don't-validate newtypes it is made of
//! (`EventId`, `EventType`, `Moref`, `AlarmStatus`, `Fingerprint`), the
//! Dispatch-compatible naming of vCenter event classes, and the CloudEvents 1.0
//! rendering. Must not do I/O: everything here is pure and cheap to test.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// Stable, time-ordered event id (UUIDv7), assigned once at acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an event entered the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    AlarmHook,
    Snmp,
    VcenterEvents,
    Api,
    /// Actions of the alarm-action guard (`guard.alarm.actions.*`).
    Guard,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::AlarmHook,
        Source::Snmp,
        Source::VcenterEvents,
        Source::Api,
        Source::Guard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::AlarmHook => "alarm-hook",
            Source::Snmp => "snmp",
            Source::VcenterEvents => "vcenter-events",
            Source::Api => "api",
            Source::Guard => "guard",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Dispatch-compatible event type name: lowercase words joined by `.`,
/// e.g. `vm.deployed`, `alarm.status.changed`, `snmp.trap`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

/// Type given to alarm notifications whose triggering event class is not known (yet).
pub const ALARM_STATUS_CHANGED: &str = "alarm.status.changed";

impl EventType {
    /// Accepts `[a-z0-9_-]+` words separated by single dots.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid_word = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        if text.len() <= 200 && text.split('.').all(valid_word) {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid event type {text:?}: expected lowercase words joined by '.', e.g. vm.created"
            ))
        }
    }

    pub fn alarm_status_changed() -> Self {
        Self(ALARM_STATUS_CHANGED.to_owned())
    }

    /// Dispatch's naming of a vCenter event class: remove every `Event`, split
    /// CamelCase, lowercase, join with `.` (`VmDeployedEvent` → `vm.deployed`).
    /// Acronym runs stay together (`HostDasOkEvent` → `host.das.ok`,
    /// `VmFaultToleranceVmTerminatedEvent` → `vm.fault.tolerance.vm.terminated`).
    pub fn from_vcenter_class(class: &str) -> Self {
        let stripped = class.replace("Event", "");
        let chars: Vec<char> = stripped
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let mut words: Vec<String> = Vec::new();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = c.is_ascii_uppercase()
                && prev.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
                });
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            current.push(c.to_ascii_lowercase());
        }
        if !current.is_empty() {
            words.push(current);
        }
        if words.is_empty() {
            return Self("vcenter.event".to_owned());
        }
        Self(words.join("."))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EventType> for String {
    fn from(value: EventType) -> Self {
        value.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A vSphere managed object reference id (MOID) such as `vm-42` or `host-7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Moref(String);

impl Moref {
    /// A MOID is a short token without whitespace or control characters.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let ok = !text.is_empty()
            && text.len() <= 128
            && text.chars().all(|c| !c.is_whitespace() && !c.is_control());
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The managed entity type implied by the MOID prefix, as vCenter assigns them.
    pub fn entity_kind(&self) -> Option<EntityKind> {
        const PREFIXES: &[(&str, EntityKind)] = &[
            ("vm-", EntityKind::VirtualMachine),
            ("host-", EntityKind::HostSystem),
            ("datastore-", EntityKind::Datastore),
            ("domain-c", EntityKind::ClusterComputeResource),
            ("domain-s", EntityKind::ComputeResource),
            ("dvportgroup-", EntityKind::DistributedVirtualPortgroup),
            ("dvs-", EntityKind::DistributedVirtualSwitch),
            ("network-", EntityKind::Network),
            ("datacenter-", EntityKind::Datacenter),
            ("resgroup-v", EntityKind::VirtualApp),
            ("resgroup-", EntityKind::ResourcePool),
            ("group-p", EntityKind::StoragePod),
            ("group-", EntityKind::Folder),
        ];
        PREFIXES
            .iter()
            .find(|(prefix, _)| self.0.starts_with(prefix))
            .map(|(_, kind)| *kind)
    }
}

impl TryFrom<String> for Moref {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| format!("invalid managed object id {value:?}"))
    }
}

impl From<Moref> for String {
    fn from(value: Moref) -> Self {
        value.0
    }
}

impl fmt::Display for Moref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// vSphere managed entity types we name events after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    VirtualMachine,
    HostSystem,
    Datastore,
    ClusterComputeResource,
    ComputeResource,
    DistributedVirtualPortgroup,
    DistributedVirtualSwitch,
    Network,
    Datacenter,
    ResourcePool,
    VirtualApp,
    StoragePod,
    Folder,
    Other,
}

impl EntityKind {
    /// The kind's name: as serialized (the event's `entity.type`) and as
    /// the `entity_type` label and matcher of alerts and silences.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::VirtualMachine => "VirtualMachine",
            EntityKind::HostSystem => "HostSystem",
            EntityKind::Datastore => "Datastore",
            EntityKind::ClusterComputeResource => "ClusterComputeResource",
            EntityKind::ComputeResource => "ComputeResource",
            EntityKind::DistributedVirtualPortgroup => "DistributedVirtualPortgroup",
            EntityKind::DistributedVirtualSwitch => "DistributedVirtualSwitch",
            EntityKind::Network => "Network",
            EntityKind::Datacenter => "Datacenter",
            EntityKind::ResourcePool => "ResourcePool",
            EntityKind::VirtualApp => "VirtualApp",
            EntityKind::StoragePod => "StoragePod",
            EntityKind::Folder => "Folder",
            EntityKind::Other => "Other",
        }
    }

    /// vSphere managed-object type (the MOID alone is not a reference): the
    /// [`name`](Self::name), except where vSphere's type differs. The
    /// switches vCenter creates are VMware's subclass of the base type, and
    /// an entity of no known kind is only a `ManagedEntity`.
    pub fn vsphere_type(self) -> &'static str {
        match self {
            EntityKind::DistributedVirtualSwitch => "VmwareDistributedVirtualSwitch",
            EntityKind::Other => "ManagedEntity",
            kind => kind.name(),
        }
    }
}

/// The object an event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EntityKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moref: Option<Moref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Entity {
    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.moref.is_none() && self.name.is_none()
    }
}

/// vCenter's alarm colours. Anything else (e.g. a localized `红色`) is `Unknown`
/// and the raw text is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmStatus {
    Gray,
    Green,
    Yellow,
    Red,
    Unknown,
}

impl AlarmStatus {
    /// Recognizes the English forms in any case (`Red`, `red`, `RED`, `grey`).
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "gray" | "grey" => Self::Gray,
            "green" => Self::Green,
            "yellow" => Self::Yellow,
            "red" => Self::Red,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gray => "gray",
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
            Self::Unknown => "unknown",
        }
    }
}

/// A status as received: normalized colour plus the verbatim text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusText {
    pub status: AlarmStatus,
    pub raw: String,
}

impl StatusText {
    pub fn parse(raw: &str) -> Self {
        Self {
            status: AlarmStatus::parse(raw),
            raw: raw.to_owned(),
        }
    }
}

/// The alarm part of an alarm notification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moref: Option<Moref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_status: Option<StatusText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_status: Option<StatusText>,
}

/// Identity hash used by dedup (see `Event::compute_fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event's original payload (the hook's body, the trap's varbinds, the
/// vCenter event, the CloudEvent), kept as JSON *text*.
///
/// Nothing on the ingest path reads inside it, so it is never built as a
/// `serde_json::Value` tree: a trap's payload is one string instead of ~45
/// allocations (a key, a string and a map per node), the stored row embeds the
/// text as it is instead of encoding a tree, and dropping it is one free. The
/// few readers (VEBA output, the SNMP forward, tests) parse it when they need
/// it. On the wire it is the same JSON value as before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawPayload(Box<serde_json::value::RawValue>);

impl RawPayload {
    /// `value` encoded once; `null` if it cannot be encoded (a map with
    /// non-string keys, which none of our payload types has).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Self {
        serde_json::value::to_raw_value(value).map_or_else(|_| Self::default(), Self)
    }

    /// The JSON text of `body`, checked to be one JSON value (surrounding
    /// whitespace dropped, the rest kept byte for byte).
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body).map(Self)
    }

    /// The payload as JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The payload parsed into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json())
    }

    /// The payload parsed into a tree (`null` if the text does not parse,
    /// which a `RawPayload` built here cannot be).
    pub fn to_value(&self) -> Value {
        self.decode().unwrap_or(Value::Null)
    }
}

impl Default for RawPayload {
    fn default() -> Self {
        Self(serde_json::value::RawValue::NULL.to_owned())
    }
}

/// Equal when the texts are: two payloads that differ only in spacing or key
/// order are different payloads (what was received is what is kept).
impl PartialEq for RawPayload {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// Outcome of looking the event up in vCenter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// `pending`, `enriched`, `not_found`, `failed` or `skipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One normalized event, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub source: Source,
    /// Configured vCenter name the event belongs to.
    pub vcenter: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened in vCenter, when known.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Entity::is_empty")]
    pub entity: Entity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<Alarm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// vCenter event key of the triggering event, when the source names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_key: Option<i64>,
    /// Sender-assigned id that makes redelivery idempotent (hook `delivery_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Type-specific fields (`vm_name`, `vm_id`, `src_template`, trap OID, …).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The original payload or varbinds, for audit.
    #[serde(default)]
    pub raw: RawPayload,
    pub fingerprint: Fingerprint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Enrichment>,
}

impl Event {
    /// A new event with a fresh id, `received_at = now`, and nothing else known.
    pub fn new(source: Source, vcenter: impl Into<String>, event_type: EventType) -> Self {
        let mut event = Self::unfingerprinted(source, vcenter, event_type);
        event.fingerprint = event.compute_fingerprint();
        event
    }

    /// [`Event::new`] with an empty fingerprint, for the normalizers that
    /// fill in every field and then set `fingerprint = compute_fingerprint()`
    /// themselves: computing it here too cost two SHA-256 and a handful of
    /// allocations per event for a value thrown away.
    pub fn unfingerprinted(
        source: Source,
        vcenter: impl Into<String>,
        event_type: EventType,
    ) -> Self {
        Self {
            id: EventId::new(),
            source,
            vcenter: vcenter.into(),
            event_type,
            time: None,
            received_at: OffsetDateTime::now_utc(),
            entity: Entity::default(),
            alarm: None,
            message: None,
            user: None,
            category: None,
            event_key: None,
            delivery_id: None,
            metadata: Map::new(),
            raw: RawPayload::default(),
            fingerprint: Fingerprint(String::new()),
            enrichment: None,
        }
    }

    /// Fingerprint shown to users: identity plus new status (see `dedup_identity`).
    pub fn compute_fingerprint(&self) -> Fingerprint {
        let (identity, status) = self.dedup_identity();
        Fingerprint(hash_fields(&[&identity.0, &status]))
    }

    /// Identity for dedup, and the status that goes with it. For alarm
    /// notifications only the fields that both the hook payload and a
    /// vpxdAlarmInfo trap carry for the same transition are used, so the two
    /// merge: vcenter, entity *name* (case-insensitive), alarm *name*; the status
    /// is the normalized colour (raw text when unrecognized). Morefs are left out
    /// because traps do not carry them, and the type because enrichment may
    /// refine it. Other events: vcenter, type, entity (moref, else name), and
    /// the vCenter event key — or, without one, the sender's delivery id (two
    /// distinct CloudEvents are two events) — and message, with an empty status.
    pub fn dedup_identity(&self) -> (Fingerprint, String) {
        match &self.alarm {
            Some(alarm) => {
                let entity = self.entity.name.as_deref().unwrap_or("").to_lowercase();
                let identity = hash_fields(&[
                    &self.vcenter,
                    "alarm",
                    &entity,
                    alarm.name.as_deref().unwrap_or(""),
                ]);
                let status = match alarm.new_status.as_ref() {
                    Some(s) if s.status != AlarmStatus::Unknown => s.status.as_str().to_owned(),
                    Some(s) => s.raw.clone(),
                    None => String::new(),
                };
                (Fingerprint(identity), status)
            }
            None => {
                let entity = self.entity.moref.as_ref().map(Moref::as_str);
                let key = match (self.event_key, &self.delivery_id) {
                    (Some(k), _) => k.to_string(),
                    (None, Some(delivery)) => format!("delivery:{delivery}"),
                    (None, None) => String::new(),
                };
                let identity = hash_fields(&[
                    &self.vcenter,
                    self.event_type.as_str(),
                    entity.or(self.entity.name.as_deref()).unwrap_or(""),
                    &key,
                    self.message.as_deref().unwrap_or(""),
                ]);
                (Fingerprint(identity), String::new())
            }
        }
    }

    /// The subject a person would name: entity name, else alarm name, else moref.
    pub fn subject(&self) -> Option<String> {
        self.entity
            .name
            .clone()
            .or_else(|| self.alarm.as_ref().and_then(|a| a.name.clone()))
            .or_else(|| self.entity.moref.as_ref().map(|m| m.to_string()))
    }

    /// The Dispatch-style payload (`{category, message, metadata, time, …}`)
    /// extended with entity, alarm and user.
    pub fn dispatch_payload(&self) -> Value {
        let time = self.time.unwrap_or(self.received_at);
        serde_json::json!({
            "category": self.category.clone().unwrap_or_else(|| "info".to_owned()),
            "message": self.message,
            "metadata": self.metadata,
            "time": format_rfc3339(time),
            "entity": self.entity,
            "alarm": self.alarm,
            "user": self.user,
            "vcenter": self.vcenter,
            "event_key": self.event_key,
        })
    }

    /// CloudEvents 1.0 structured JSON rendering.
    pub fn to_cloudevent(&self) -> Value {
        let time = self.time.unwrap_or(self.received_at);
        let mut ce = serde_json::json!({
            "specversion": "1.0",
            "id": self.id.to_string(),
            "source": format!("vcgate://{}/{}", uri_segment(&self.vcenter), self.source),
            "type": self.event_type.as_str(),
            "time": format_rfc3339(time),
            "datacontenttype": "application/json",
            "data": self.dispatch_payload(),
        });
        if let Some(subject) = self.subject() {
            ce["subject"] = Value::String(subject);
        }
        ce
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    // A table, not a `format!` per byte: fingerprints and dedup identities
    // are hex, several per event.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Length-prefixed SHA-256 over `fields`, first 16 bytes as hex.
fn hash_fields(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for value in fields {
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    hex(&hasher.finalize()[..16])
}

/// RFC 3339 text of a timestamp (infallible for in-range years).
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Percent-encodes what is not safe in a URI path segment.
fn uri_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn raw_payload_is_stored_as_its_text_and_reads_back_equal() {
        let mut event = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
        event.raw =
            RawPayload::from_json(br#" {"env": {"A": "x"}, "n": [1, 2.5, null]} "#).unwrap();
        // Outer whitespace dropped, inner text kept byte for byte.
        assert_eq!(
            event.raw.json(),
            r#"{"env": {"A": "x"}, "n": [1, 2.5, null]}"#
        );

        let text = serde_json::to_string(&event).unwrap();
        assert!(
            text.contains(r#""raw":{"env": {"A": "x"}, "n": [1, 2.5, null]}"#),
            "{text}"
        );
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
        // Read through a tree too (the wire types that flatten an event do).
        let tree: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(tree["raw"]["env"]["A"], "x");
        let back: Event = serde_json::from_value(tree).unwrap();
        assert_eq!(back.raw.to_value(), event.raw.to_value());
    }

    #[test]
    fn raw_payload_rejects_what_is_not_one_json_value_and_defaults_to_null() {
        assert!(RawPayload::from_json(b"{\"a\": 1} trailing").is_err());
        assert!(RawPayload::from_json(b"").is_err());
        assert_eq!(RawPayload::default().json(), "null");
        assert_eq!(RawPayload::default().to_value(), Value::Null);
        let encoded = RawPayload::encode(&serde_json::json!({"k": ["v"]}));
        assert_eq!(encoded.json(), r#"{"k":["v"]}"#);
        assert_eq!(encoded.decode::<Map<String, Value>>().unwrap()["k"][0], "v");
    }

    #[test]
    fn dispatch_names_for_vcenter_classes() {
        let cases = [
            ("VmDeployedEvent", "vm.deployed"),
            ("VmCreatedEvent", "vm.created"),
            ("VmBeingCreatedEvent", "vm.being.created"),
            ("EnteredMaintenanceModeEvent", "entered.maintenance.mode"),
            ("ExitMaintenanceModeEvent", "exit.maintenance.mode"),
            ("AlarmStatusChangedEvent", "alarm.status.changed"),
            ("HostDasOkEvent", "host.das.ok"),
            ("VmDasBeingResetEvent", "vm.das.being.reset"),
            ("DVPortgroupCreatedEvent", "dv.portgroup.created"),
        ];
        for (class, expected) in cases {
            assert_eq!(
                EventType::from_vcenter_class(class).as_str(),
                expected,
                "{class}"
            );
        }
    }

    #[test]
    fn event_type_rejects_garbage() {
        assert!(EventType::parse("vm.created").is_ok());
        assert!(EventType::parse("Vm.Created").is_err());
        assert!(EventType::parse("vm..created").is_err());
        assert!(EventType::parse("").is_err());
        assert!(EventType::parse("vm created").is_err());
    }

    #[test]
    fn an_entity_kind_is_named_as_it_is_serialized() {
        use EntityKind::*;
        for kind in [
            VirtualMachine,
            HostSystem,
            Datastore,
            ClusterComputeResource,
            ComputeResource,
            DistributedVirtualPortgroup,
            DistributedVirtualSwitch,
            Network,
            Datacenter,
            ResourcePool,
            VirtualApp,
            StoragePod,
            Folder,
            Other,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
            if !matches!(kind, DistributedVirtualSwitch | Other) {
                assert_eq!(kind.vsphere_type(), kind.name());
            }
        }
        assert_eq!(
            DistributedVirtualSwitch.vsphere_type(),
            "VmwareDistributedVirtualSwitch"
        );
        assert_eq!(Other.vsphere_type(), "ManagedEntity");
    }

    #[test]
    fn entity_kind_from_moref_prefix() {
        let kind = |m: &str| Moref::parse(m).unwrap().entity_kind();
        assert_eq!(kind("vm-319"), Some(EntityKind::VirtualMachine));
        assert_eq!(kind("host-246862"), Some(EntityKind::HostSystem));
        assert_eq!(kind("datastore-444"), Some(EntityKind::Datastore));
        assert_eq!(kind("domain-c7"), Some(EntityKind::ClusterComputeResource));
        assert_eq!(
            kind("dvportgroup-12"),
            Some(EntityKind::DistributedVirtualPortgroup)
        );
        assert_eq!(kind("network-3"), Some(EntityKind::Network));
        assert_eq!(kind("datacenter-2"), Some(EntityKind::Datacenter));
        assert_eq!(kind("resgroup-8"), Some(EntityKind::ResourcePool));
        assert_eq!(kind("weird-1"), None);
        assert!(Moref::parse("has space").is_none());
    }

    #[test]
    fn status_parsing_keeps_raw_text() {
        assert_eq!(StatusText::parse("Red").status, AlarmStatus::Red);
        assert_eq!(StatusText::parse("GREY").status, AlarmStatus::Gray);
        let localized = StatusText::parse("红色");
        assert_eq!(localized.status, AlarmStatus::Unknown);
        assert_eq!(localized.raw, "红色");
    }

    fn alarm_event(entity: &str, alarm: &str, new: &str) -> Event {
        let mut e = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some(entity.into());
        e.alarm = Some(Alarm {
            name: Some(alarm.into()),
            new_status: Some(StatusText::parse(new)),
            ..Alarm::default()
        });
        e
    }

    #[test]
    fn fingerprint_ignores_source_and_moref_but_not_status() {
        let hook = alarm_event("testvm01", "alarm.VmMemoryUsageAlarm", "Red");
        let mut trap = alarm_event("TESTVM01", "alarm.VmMemoryUsageAlarm", "red");
        trap.source = Source::Snmp;
        trap.entity.moref = Moref::parse("vm-42");
        assert_eq!(hook.compute_fingerprint(), trap.compute_fingerprint());
        let green = alarm_event("testvm01", "alarm.VmMemoryUsageAlarm", "Green");
        assert_ne!(hook.compute_fingerprint(), green.compute_fingerprint());
    }

    #[test]
    fn distinct_deliveries_of_plain_events_are_distinct() {
        let mut a = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
        let mut b = a.clone();
        a.delivery_id = Some("api|1".into());
        b.delivery_id = Some("api|2".into());
        assert_ne!(a.dedup_identity(), b.dedup_identity());
        // The same vCenter event (same key) is one event whoever delivers it.
        a.event_key = Some(7);
        b.event_key = Some(7);
        assert_eq!(a.dedup_identity(), b.dedup_identity());
    }

    #[test]
    fn cloudevent_has_required_attributes() {
        let e = alarm_event("testvm01", "VM created", "Red");
        let ce = e.to_cloudevent();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], e.id.to_string());
        assert_eq!(ce["source"], "vcgate://vc1/alarm-hook");
        assert_eq!(ce["type"], "alarm.status.changed");
        assert_eq!(ce["subject"], "testvm01");
        assert_eq!(ce["datacontenttype"], "application/json");
        assert_eq!(ce["data"]["alarm"]["new_status"]["status"], "red");
        assert!(ce["data"]["metadata"].is_object());
    }

    proptest! {
        #[test]
        fn vcenter_class_names_always_give_valid_types(class in "[A-Za-z0-9]{0,40}") {
            let t = EventType::from_vcenter_class(&class);
            prop_assert!(EventType::parse(t.as_str()).is_ok(), "{}", t);
        }

        #[test]
        fn event_json_round_trips(name in "\\PC{0,30}", status in "\\PC{0,10}") {
            let e = alarm_event(&name, &name, &status);
            let json = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, e);
        }
    }
}
