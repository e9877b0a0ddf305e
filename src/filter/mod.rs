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
        self.matches_subject(pattern, &Subject::new(event))
    }

    /// [`matches`](Self::matches) against an event whose other type names
    /// are worked out once for all the filters it meets.
    pub fn matches_subject(self, pattern: &str, subject: &Subject<'_>) -> bool {
        let event = subject.event;
        if self != Field::Type {
            return glob_values(pattern, &self.values(event));
        }
        // The Dispatch name first: most `type` globs are decided by it, and
        // the vSphere class and VEBA type cost a lookup and allocations.
        glob_match(pattern, event.event_type.as_str())
            || subject
                .other_type_names()
                .iter()
                .any(|name| glob_match(pattern, name))
    }
}

/// An event being matched against many filters (every route, every
/// subscription): its vSphere class and VEBA type names, which a `type`
/// glob that misses the Dispatch name needs, are built at most once.
pub struct Subject<'e> {
    pub event: &'e Event,
    other_type_names: std::cell::OnceCell<[String; 2]>,
}

impl<'e> Subject<'e> {
    pub fn new(event: &'e Event) -> Self {
        Self {
            event,
            other_type_names: std::cell::OnceCell::new(),
        }
    }

    /// The vSphere class (`VmPoweredOnEvent`) and the VEBA type
    /// (`com.vmware.vsphere.VmPoweredOnEvent.v0`).
    fn other_type_names(&self) -> &[String; 2] {
        self.other_type_names.get_or_init(|| {
            let class = crate::veba::class_of(self.event);
            let type_name = class.type_name();
            [class.name, type_name]
        })
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
        self.matches_subject(&Subject::new(event))
    }

    /// [`matches`](Self::matches), for an event met by many filters.
    pub fn matches_subject(&self, subject: &Subject<'_>) -> bool {
        self.conditions()
            .all(|(field, pattern)| field.matches_subject(pattern, subject))
    }
}

#[cfg(test)]
mod tests;
