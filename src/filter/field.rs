//! The event fields a matcher can select ([`Field`]) and the one function
//! that reads a field's values from an event ([`Field::values`]). Globs of
//! routes and subscriptions and the matchers of silences both read fields
//! through it; they differ only in how they match a value.

use std::borrow::Cow;

use crate::model::{AlarmStatus, Event, StatusText};

/// An event field a matcher can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `alarm-hook`, `snmp`, `api`, `vcenter-events`, …
    Source,
    /// Any name of the event's type: its Dispatch name (`vm.powered.on`), its
    /// VEBA type (`com.vmware.vsphere.VmPoweredOnEvent.v0`) or its vSphere
    /// class (`VmPoweredOnEvent`: VEBA's `subject`, the `topic` the older
    /// VEBA router's OpenFaaS functions filtered on). See
    /// [`crate::veba::class_of`]. What the `type` of a route or a
    /// subscription selects.
    Type,
    /// The Dispatch name of the event's type only (`alarm.status.changed`,
    /// `vm.powered.off`). What a silence's `type` selects: a negated matcher
    /// (`type!=…`) needs the one value, not any of three names.
    EventType,
    /// The alarm's name.
    Alarm,
    /// The alarm's name, else the event type (the `alertname` label vcgate
    /// forwards to Alertmanager).
    Alertname,
    /// The entity's name.
    Entity,
    /// The entity's type (`VirtualMachine`, `HostSystem`, …: the
    /// `entity_type` label, [`crate::model::EntityKind::name`]).
    EntityType,
    /// The vCenter's configured name.
    Vcenter,
    /// The alarm's new status ([`status_names`]).
    Status,
    /// The severity of the alarm's new status (`critical`, `warning`,
    /// `info`; [`severity`]).
    Severity,
}

/// The values one field of an event holds: none when the event lacks the
/// field, else a few names it goes by.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    /// A status's colour name (lowercase; see [`status_names`]). Globs of
    /// routes and subscriptions match it in any case.
    pub colour: Option<&'a str>,
    /// The field's other values, matched as written.
    pub texts: [Option<Cow<'a, str>>; 3],
}

impl<'a> Values<'a> {
    fn one(text: impl Into<Cow<'a, str>>) -> Self {
        Self {
            colour: None,
            texts: [Some(text.into()), None, None],
        }
    }

    fn of(text: Option<&'a str>) -> Self {
        text.map(Self::one).unwrap_or_default()
    }

    /// Every value, the colour first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.colour
            .into_iter()
            .chain(self.texts.iter().flatten().map(|t| t.as_ref()))
    }

    /// Whether the event lacks the field.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl Field {
    /// The values this field of `event` holds (none when the event lacks it).
    pub fn values(self, event: &Event) -> Values<'_> {
        let alarm = event.alarm.as_ref();
        let status = alarm.and_then(|a| a.new_status.as_ref());
        match self {
            Field::Source => Values::one(event.source.as_str()),
            Field::Type => type_names(event),
            Field::EventType => Values::one(event.event_type.as_str()),
            Field::Alarm => Values::of(alarm.and_then(|a| a.name.as_deref())),
            Field::Alertname => Values::one(
                alarm
                    .and_then(|a| a.name.as_deref())
                    .unwrap_or(event.event_type.as_str()),
            ),
            Field::Entity => Values::of(event.entity.name.as_deref()),
            Field::EntityType => Values::of(event.entity.kind.map(|k| k.name())),
            Field::Vcenter => Values::one(event.vcenter.as_str()),
            Field::Status => status.map(status_values).unwrap_or_default(),
            Field::Severity => Values::one(severity(status.map(|s| s.status))),
        }
    }
}

/// The Dispatch name, the vSphere class and the VEBA type of an event.
fn type_names(event: &Event) -> Values<'_> {
    let class = crate::veba::class_of(event);
    let type_name = class.type_name();
    Values {
        colour: None,
        texts: [
            Some(event.event_type.as_str().into()),
            Some(class.name.into()),
            Some(type_name.into()),
        ],
    }
}

fn status_values(status: &StatusText) -> Values<'_> {
    let [colour, raw] = status_names(status);
    Values {
        colour,
        texts: [raw.map(Cow::Borrowed), None, None],
    }
}

/// The names a status goes by: its colour (lowercase; none for `Unknown`)
/// and its raw text. See the module doc of [`crate::filter`] for why
/// `Unknown` has no name.
pub fn status_names(status: &StatusText) -> [Option<&str>; 2] {
    let colour = (status.status != AlarmStatus::Unknown).then(|| status.status.as_str());
    [colour, Some(status.raw.as_str())]
}

/// Severity for an alarm status: what the `severity` annotation of an alert
/// and the `severity` matcher of a silence use.
pub fn severity(status: Option<AlarmStatus>) -> &'static str {
    match status {
        Some(AlarmStatus::Red) => "critical",
        Some(AlarmStatus::Yellow) => "warning",
        _ => "info",
    }
}
