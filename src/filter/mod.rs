//! Event filters: which events a route, a subscription or a silence selects.
//! Pure; depends only on `model` and `veba`.
//!
//! Shared by every matcher of events: one [`Field`] enum naming every event
//! field a matcher can select, one function reading a field's values from an
//! event ([`Field::values`]), one status rule ([`status_names`]) and one glob
//! dialect (`*`, `?`, see [`glob_match`]; event listing uses it too, and
//! silences compile v1 glob values to regexes that agree with it). On top:
//!
//! - [`EventFilter`]: a glob per field; every given field must match; a field
//!   the event lacks never matches. Routes (`[[route]]`) and subscriptions
//!   (`[[subscription]]`) both match through it, so they cannot drift apart.
//! - Silence matchers (`crate::silence::matcher`) keep Alertmanager's
//!   semantics (equality, regex, negation; a field the event lacks is the
//!   empty string) over the same fields and values.
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

mod field;
mod glob;

pub use field::{Field, Values, severity, status_names};
pub use glob::{MAX_GLOB_CHARS, check_glob, glob_match};

use crate::model::{Event, StatusText};

/// Whether a `type` glob (of a route or a subscription) matches any name
/// the event goes by ([`Field::Type`]).
pub fn type_matches(pattern: &str, event: &Event) -> bool {
    Field::Type.matches(pattern, event)
}

impl Field {
    /// Whether the glob `pattern` matches any value of this field of
    /// `event`: a colour in any case, anything else as written. A field the
    /// event lacks matches no pattern.
    pub fn matches(self, pattern: &str, event: &Event) -> bool {
        // The Dispatch name first: most `type` globs are decided by it, and
        // the vSphere class and VEBA type cost allocations per event.
        if self == Field::Type && glob_match(pattern, event.event_type.as_str()) {
            return true;
        }
        glob_values(pattern, &self.values(event))
    }
}

fn glob_values(pattern: &str, values: &Values<'_>) -> bool {
    values
        .colour
        .is_some_and(|c| glob_match(&pattern.to_ascii_lowercase(), c))
        || values
            .texts
            .iter()
            .flatten()
            .any(|t| glob_match(pattern, t))
}

/// A status glob against [`status_names`]: the colour case-insensitively
/// (`Red`, `RED` and `red` all name the colour), the raw text as written.
pub fn status_matches(pattern: &str, status: &StatusText) -> bool {
    let [colour, raw] = status_names(status);
    let values = Values {
        colour,
        texts: [raw.map(Into::into), None, None],
    };
    glob_values(pattern, &values)
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
