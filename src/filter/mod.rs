//! Event filters: which events a route or a subscription selects, and the
//! status rule silences share. Pure; depends only on `model` and `veba`.
//!
//! One [`EventFilter`] (a glob per [`Field`]; every given field must match;
//! a field the event lacks never matches) in one glob dialect (`*`, `?`,
//! see [`glob_match`]). Routes (`[[route]]`) and subscriptions
//! (`[[subscription]]`) both match through it, so they cannot drift apart.
//!
//! The status rule ([`status_names`]): a status pattern is tried against the
//! normalized colour lowercased (`red`, `yellow`, `green`, `gray`) and against
//! the raw text as received (e.g. a localized `红色`), case-sensitively. A
//! status vCenter did not name in one of its colours is `Unknown`: it has no
//! colour name, only its raw text — the same value vcgate shows for it in
//! alerts and fingerprints — so the word `unknown` never matches it.
//! (Subscriptions already worked this way; routes and silences matched
//! `unknown` too, which no user sees anywhere.)
//!
//! Must not know about config, the store or any stage: the stages hand in
//! their patterns.

mod glob;

pub use glob::{MAX_GLOB_CHARS, check_glob, glob_match};

use crate::model::{AlarmStatus, Event, StatusText};

/// Whether a `type` glob (of a route or a subscription) matches any name
/// the event goes by: its Dispatch name (`vm.powered.on`), its VEBA type
/// (`com.vmware.vsphere.VmPoweredOnEvent.v0`) or its vSphere class
/// (`VmPoweredOnEvent`: VEBA's `subject`, the `topic` the older VEBA router's
/// OpenFaaS functions filtered on). See [`crate::veba::class_of`].
pub fn type_matches(pattern: &str, event: &Event) -> bool {
    if glob_match(pattern, event.event_type.as_str()) {
        return true;
    }
    let class = crate::veba::class_of(event);
    glob_match(pattern, &class.name) || glob_match(pattern, &class.type_name())
}

/// What a filter pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `alarm-hook`, `snmp`, `api`, `vcenter-events`, …
    Source,
    /// Any name of the event's type ([`type_matches`]).
    Type,
    /// The alarm's name.
    Alarm,
    /// The entity's name.
    Entity,
    /// The vCenter's configured name.
    Vcenter,
    /// The alarm's new status ([`status_names`]).
    Status,
}

impl Field {
    /// Whether `pattern` matches this field of `event`; a field the event
    /// lacks matches no pattern.
    pub fn matches(self, pattern: &str, event: &Event) -> bool {
        let alarm = event.alarm.as_ref();
        let glob = |value: Option<&str>| value.is_some_and(|v| glob_match(pattern, v));
        match self {
            Field::Source => glob(Some(event.source.as_str())),
            Field::Type => type_matches(pattern, event),
            Field::Alarm => glob(alarm.and_then(|a| a.name.as_deref())),
            Field::Entity => glob(event.entity.name.as_deref()),
            Field::Vcenter => glob(Some(&event.vcenter)),
            Field::Status => alarm
                .and_then(|a| a.new_status.as_ref())
                .is_some_and(|s| status_matches(pattern, s)),
        }
    }
}

/// The names a status goes by: its colour (lowercase; none for `Unknown`)
/// and its raw text. See the module doc for why `Unknown` has no name.
pub fn status_names(status: &StatusText) -> [Option<&str>; 2] {
    let colour = (status.status != AlarmStatus::Unknown).then(|| status.status.as_str());
    [colour, Some(status.raw.as_str())]
}

/// A status glob against [`status_names`]: the colour case-insensitively
/// (`Red`, `RED` and `red` all name the colour), the raw text as written.
pub fn status_matches(pattern: &str, status: &StatusText) -> bool {
    let [colour, raw] = status_names(status);
    colour.is_some_and(|c| glob_match(&pattern.to_ascii_lowercase(), c))
        || raw.is_some_and(|r| glob_match(pattern, r))
}

/// A conjunction of globs over event fields; an empty filter matches every
/// event. Borrowed from the config that holds the patterns (no allocation
/// per event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFilter<'a> {
    pub source: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub alarm: Option<&'a str>,
    pub entity: Option<&'a str>,
    pub vcenter: Option<&'a str>,
    pub status: Option<&'a str>,
}

impl EventFilter<'_> {
    /// The given patterns with their fields.
    pub fn conditions(&self) -> impl Iterator<Item = (Field, &str)> {
        [
            (Field::Source, self.source),
            (Field::Type, self.event_type),
            (Field::Alarm, self.alarm),
            (Field::Entity, self.entity),
            (Field::Vcenter, self.vcenter),
            (Field::Status, self.status),
        ]
        .into_iter()
        .filter_map(|(field, pattern)| Some((field, pattern?)))
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.conditions()
            .all(|(field, pattern)| field.matches(pattern, event))
    }
}

#[cfg(test)]
mod tests;
