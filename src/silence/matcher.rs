//! Silence matchers: Alertmanager's model (`name`, `value`, `isRegex`,
//! `isEqual`) evaluated against an event, with the limits that keep a silence
//! from costing the pipeline more than a bounded, linear amount of work.
//!
//! Owns: the matcher names (the labels vcgate forwards plus the event fields
//! a silence may also name, with the old v1 names as aliases), each parsed
//! once into a [`crate::filter::Field`]; the matching rules; compiling a
//! matcher once (regexes through the `regex` crate: linear-time, anchored
//! like Alertmanager's `^(?:…)$`, with a compiled-size limit); the limits;
//! and the matcher-expression syntax amtool uses (`name=value`,
//! `name!=value`, `name=~re`, `name!~re`).
//! Shares with routes and subscriptions (`crate::filter`): the field enum,
//! reading a field's values from an event (`Field::values`) and the status
//! rule; only how a value is matched differs.
//! Must not: know about storage or HTTP.
//!
//! Semantics follow Alertmanager: a field the event lacks is the empty
//! string, so `entity!="x"` matches an event without an entity; every matcher
//! of a silence must match; and a silence needs at least one matcher that does
//! not match the empty string (else it would hold everything).
//! Silences created through the v1 API (and every silence stored before v2)
//! have glob values (`*`, `?`); they are compiled to the same anchored regexes,
//! so their cost is linear too (a property test checks they agree with
//! `crate::filter::glob_match`).

use regex::{Regex, RegexBuilder};

use crate::filter::Field;
pub use crate::filter::severity;
use crate::model::Event;

/// Most matchers one silence may have.
pub const MAX_MATCHERS: usize = 32;
/// Longest matcher name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest matcher value (literal, glob or regex), in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Largest compiled regex program, in bytes (`regex` crate `size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// Matcher names and the event fields they select; `alarm` is the v1 name
/// of `alertname`, and a silence's `type` is the Dispatch name only.
pub const MATCHER_NAMES: &[(&str, Field)] = &[
    ("alertname", Field::Alertname),
    ("vcenter", Field::Vcenter),
    ("entity", Field::Entity),
    ("entity_type", Field::EntityType),
    ("severity", Field::Severity),
    ("status", Field::Status),
    ("type", Field::EventType),
    ("source", Field::Source),
    ("alarm", Field::Alertname),
];

/// The field a matcher name selects (parsed once, when a matcher compiles).
pub fn parse_name(name: &str) -> Option<Field> {
    MATCHER_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

/// One matcher as stored (the data lives with the store).
pub use crate::store::silences::Matcher;

impl Matcher {
    /// An Alertmanager (v2) matcher.
    pub fn new(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            is_regex,
            is_equal,
            glob: false,
        }
    }

    /// The value as a regex (the v2 rendering of a glob), or `None` when
    /// the matcher is an exact match.
    pub fn regex_source(&self) -> Option<String> {
        if self.is_regex {
            Some(self.value.clone())
        } else if self.glob && self.value.contains(['*', '?']) {
            Some(glob_to_regex(&self.value))
        } else {
            None
        }
    }

    /// `name="value"`, `name!~"re"`, … (the CLI and logs).
    pub fn expression(&self) -> String {
        let op = match (self.regex_source().is_some(), self.is_equal) {
            (false, true) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (true, false) => "!~",
        };
        let value = self.regex_source().unwrap_or_else(|| self.value.clone());
        format!("{}{op}{value:?}", self.name)
    }
}

/// `*` → `.*`, `?` → `.`, everything else literal.
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 8);
    let mut literal = String::new();
    let flush = |literal: &mut String, out: &mut String| {
        out.push_str(&regex::escape(literal));
        literal.clear();
    };
    for c in glob.chars() {
        match c {
            '*' => {
                flush(&mut literal, &mut out);
                out.push_str(".*");
            }
            '?' => {
                flush(&mut literal, &mut out);
                out.push('.');
            }
            c => literal.push(c),
        }
    }
    flush(&mut literal, &mut out);
    out
}

/// A matcher compiled once for evaluation.
#[derive(Debug, Clone)]
pub struct Compiled {
    field: Field,
    is_equal: bool,
    pattern: Pattern,
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Compiled {
    /// Whether the field's value (or, for `status`, either candidate) matches,
    /// then negated for `!=` / `!~`.
    pub fn matches(&self, event: &Event) -> bool {
        let values = self.field.values(event);
        let positive = if values.is_empty() {
            // Alertmanager: a field the event lacks is the empty string.
            self.pattern.hit("")
        } else {
            values.iter().any(|v| self.pattern.hit(v))
        };
        positive == self.is_equal
    }

    fn matches_empty(&self) -> bool {
        self.pattern.hit("") == self.is_equal
    }
}

impl Pattern {
    fn hit(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(want) => want == value,
            Pattern::Regex(re) => re.is_match(value),
        }
    }
}

/// Compiles `m`, checking its name, length and regex size. The error names
/// the matcher and the limit it broke.
pub fn compile(index: usize, m: &Matcher) -> Result<Compiled, String> {
    // Only a name vcgate knows is repeated in the error: details never echo
    // the client's text.
    let known = parse_name(&m.name).map(|_| format!(" ({})", m.name));
    let at = |what: String| {
        format!(
            "matchers[{index}]{}: {what}",
            known.as_deref().unwrap_or("")
        )
    };
    if m.name.len() > MAX_NAME_LEN {
        return Err(at(format!(
            "name is longer than {MAX_NAME_LEN} bytes (limit max_name_length)"
        )));
    }
    if m.value.len() > MAX_VALUE_LEN {
        return Err(at(format!(
            "value is longer than {MAX_VALUE_LEN} bytes (limit max_value_length)"
        )));
    }
    let field = parse_name(&m.name).ok_or_else(|| {
        let names: Vec<&str> = MATCHER_NAMES.iter().map(|(n, _)| *n).collect();
        at(format!("name is not one of {}", names.join(", ")))
    })?;
    Ok(Compiled {
        field,
        is_equal: m.is_equal,
        pattern: pattern(m, field, at)?,
    })
}

/// The matcher's value compiled: exact, or an anchored, size-limited regex.
/// `at` puts the matcher's place in front of an error.
fn pattern(m: &Matcher, field: Field, at: impl Fn(String) -> String) -> Result<Pattern, String> {
    let status_exact = field == Field::Status;
    let Some(source) = m.regex_source() else {
        return Ok(if status_exact && m.glob {
            Pattern::Exact(m.value.to_ascii_lowercase())
        } else {
            Pattern::Exact(m.value.clone())
        });
    };
    // v1 status globs matched the colour case-insensitively.
    let flags = if m.glob && status_exact {
        "(?si)"
    } else {
        "(?s)"
    };
    let anchored = format!("{flags}^(?:{source})$");
    let re = RegexBuilder::new(&anchored)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => at(format!(
                "regex is larger than {REGEX_SIZE_LIMIT} bytes once compiled (limit regex_size_limit)"
            )),
            other => at(format!("invalid regex: {}", first_line(&other.to_string()))),
        })?;
    Ok(Pattern::Regex(re))
}

/// Compiles every matcher of a silence and checks the silence-wide rules.
pub fn compile_all(matchers: &[Matcher]) -> Result<Vec<Compiled>, String> {
    if matchers.is_empty() {
        return Err("a silence needs at least one matcher".into());
    }
    if matchers.len() > MAX_MATCHERS {
        return Err(format!(
            "a silence may have at most {MAX_MATCHERS} matchers (limit max_matchers)"
        ));
    }
    let compiled = matchers
        .iter()
        .enumerate()
        .map(|(i, m)| compile(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    if compiled.iter().all(Compiled::matches_empty) {
        return Err(
            "at least one matcher must not match the empty string (this silence would hold everything)"
                .into(),
        );
    }
    Ok(compiled)
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

fn first_line(text: &str) -> String {
    truncate(text.lines().last().unwrap_or(text).trim(), 200).to_owned()
}

/// Operator of a matcher expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A parsed `name<op>value` expression (amtool's and Alertmanager's
/// `filter` syntax; the value may be double-quoted with `\"` and `\\` escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    pub name: String,
    pub op: Op,
    pub value: String,
}

impl Expression {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("matcher {text:?} has no operator (=, !=, =~, !~)"))?;
        let (name, rest) = text.split_at(name_end);
        let rest = rest.trim_start();
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Equal, v)
        } else {
            return Err(format!("matcher {text:?} has no operator (=, !=, =~, !~)"));
        };
        if name.is_empty() {
            return Err(format!("matcher {text:?} has no name"));
        }
        Ok(Self {
            name: name.to_owned(),
            op,
            value: unquote(value.trim())?,
        })
    }

    pub fn matcher(&self) -> Matcher {
        Matcher::new(
            &self.name,
            &self.value,
            matches!(self.op, Op::Regex | Op::NotRegex),
            matches!(self.op, Op::Equal | Op::Regex),
        )
    }
}

fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.to_owned());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| format!("unterminated quoted value {value:?}"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => return Err(format!("dangling escape in {value:?}")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Alertmanager's `filter` rule for listing silences: each filter matcher is
/// checked against the silence's matcher of the same name (its value as
/// shown by v2); a positive filter needs that matcher, a negative one is
/// satisfied when it is absent and the filter value is empty.
pub fn filter_matches(filter: &[Expression], silence: &[Matcher]) -> bool {
    filter.iter().all(|f| {
        let shown = silence
            .iter()
            .find(|m| m.name == f.name)
            .map(|m| m.regex_source().unwrap_or_else(|| m.value.clone()));
        let hit = |v: &str| match f.op {
            Op::Equal => v == f.value,
            Op::NotEqual => v != f.value,
            Op::Regex | Op::NotRegex => {
                let re = RegexBuilder::new(&format!("^(?:{})$", f.value))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build();
                let m = re.is_ok_and(|re| re.is_match(v));
                m == (f.op == Op::Regex)
            }
        };
        match f.op {
            Op::NotEqual | Op::NotRegex => {
                (f.value.is_empty() && shown.is_some()) || hit(shown.as_deref().unwrap_or(""))
            }
            Op::Equal | Op::Regex => {
                (f.value.is_empty() && shown.is_none()) || shown.as_deref().is_some_and(hit)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EntityKind, EventType, Source, StatusText};
    use proptest::prelude::*;

    fn event(entity: &str, alarm: &str, status: &str) -> Event {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some(entity.into());
        e.entity.kind = Some(EntityKind::HostSystem);
        e.alarm = Some(Alarm {
            name: Some(alarm.into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn hit(m: Matcher, e: &Event) -> bool {
        compile(0, &m).unwrap().matches(e)
    }

    #[test]
    fn equality_regex_and_negation() {
        let e = event("esx01", "alarm.HostConnectionStateAlarm", "Red");
        assert!(hit(Matcher::new("entity", "esx01", false, true), &e));
        assert!(!hit(Matcher::new("entity", "esx0", false, true), &e));
        assert!(hit(Matcher::new("entity", "esx0", false, false), &e));
        assert!(hit(Matcher::new("entity", "esx0[0-9]", true, true), &e));
        assert!(
            !hit(Matcher::new("entity", "esx", true, true), &e),
            "anchored"
        );
        assert!(!hit(Matcher::new("entity", "esx.*", true, false), &e));
        assert!(hit(Matcher::new("severity", "critical", false, true), &e));
        assert!(hit(Matcher::new("status", "red", false, true), &e));
        assert!(hit(Matcher::new("status", "Red", false, true), &e), "raw");
        assert!(hit(Matcher::new("alarm", "alarm.Host.*", true, true), &e));
        assert!(hit(
            Matcher::new("entity_type", "HostSystem", false, true),
            &e
        ));
        // A missing field is "": `!=` matches it, `=` does not.
        let mut bare = e.clone();
        bare.entity.name = None;
        assert!(hit(Matcher::new("entity", "esx01", false, false), &bare));
        assert!(!hit(Matcher::new("entity", "esx01", false, true), &bare));
        assert!(hit(Matcher::new("entity", "", false, true), &bare));
    }

    #[test]
    fn v1_globs_keep_their_meaning() {
        let glob = |name: &str, value: &str| Matcher {
            glob: true,
            ..Matcher::new(name, value, false, true)
        };
        let e = event("ds1", "alarm.DatastoreDiskUsageAlarm", "Red");
        assert!(hit(glob("alarm", "alarm.Datastore*"), &e));
        assert!(hit(glob("entity", "ds?"), &e));
        assert!(!hit(glob("entity", "ds"), &e));
        assert!(hit(glob("status", "RED"), &e));
        assert!(hit(glob("entity", "d.1"), &event("d.1", "a", "Red")));
        assert!(!hit(glob("entity", "d.1"), &e), "dots are literal");
        assert_eq!(
            glob("alarm", "a*b?").regex_source().as_deref(),
            Some("a.*b."),
            "v2 shows globs as regexes"
        );
        // Stored v1 bodies (no `glob` field) are globs.
        let old: Matcher =
            serde_json::from_str(r#"{"name":"alarm","value":"a*","isRegex":false}"#).unwrap();
        assert!(old.glob && old.is_equal);
    }

    #[test]
    fn limits_are_named_in_the_error() {
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        let err = compile(2, &Matcher::new("entity", &long, false, true)).unwrap_err();
        assert!(
            err.contains("max_value_length") && err.contains("matchers[2]"),
            "{err}"
        );
        let err = compile(0, &Matcher::new("entity", "a{1000}{1000}", true, true)).unwrap_err();
        assert!(err.contains("regex_size_limit"), "{err}");
        let err = compile(0, &Matcher::new("entity", "(", true, true)).unwrap_err();
        assert!(err.contains("invalid regex"), "{err}");
        let err = compile(0, &Matcher::new("colour", "x", false, true)).unwrap_err();
        assert!(err.contains("alertname"), "{err}");
        let many = vec![Matcher::new("entity", "x", false, true); MAX_MATCHERS + 1];
        assert!(compile_all(&many).unwrap_err().contains("max_matchers"));
        assert!(compile_all(&[]).is_err());
        let everything = [Matcher::new("entity", "x", false, false)];
        assert!(
            compile_all(&everything)
                .unwrap_err()
                .contains("empty string")
        );
        assert!(compile_all(&[Matcher::new("entity", ".+", true, true)]).is_ok());
    }

    #[test]
    fn expressions_parse_like_amtool() {
        let p = |t: &str| Expression::parse(t).unwrap();
        assert_eq!(p("entity=esx01").op, Op::Equal);
        assert_eq!(p(r#"entity!="esx 01""#).value, "esx 01");
        assert_eq!(p("alertname=~\"alarm\\\\.Host.*\"").value, "alarm\\.Host.*");
        assert_eq!(p("severity!~warn.*").op, Op::NotRegex);
        assert_eq!(p("{vcenter=\"vc1\"}").name, "vcenter");
        assert!(Expression::parse("entity").is_err());
        assert!(Expression::parse("=x").is_err());
        let m = p("entity!~esx.*").matcher();
        assert!(m.is_regex && !m.is_equal && !m.glob);
    }

    #[test]
    fn filters_follow_alertmanager() {
        let silence = [
            Matcher::new("alertname", "Host.*", true, true),
            Matcher::new("entity", "esx01", false, true),
        ];
        let f = |t: &str| vec![Expression::parse(t).unwrap()];
        assert!(filter_matches(&f("entity=esx01"), &silence));
        assert!(!filter_matches(&f("entity=esx02"), &silence));
        assert!(filter_matches(&f("alertname=~Host.*"), &silence));
        assert!(!filter_matches(&f("vcenter=vc1"), &silence));
        assert!(filter_matches(&f("vcenter!=vc1"), &silence));
        assert!(filter_matches(&[], &silence));
    }

    proptest! {
        /// A glob compiled to a regex agrees with the reference glob matcher.
        #[test]
        fn glob_regex_agrees_with_glob_match(glob in "[ab*?.]{0,8}", text in "[ab.]{0,10}") {
            let m = Matcher { glob: true, ..Matcher::new("entity", &glob, false, true) };
            let e = event(&text, "x", "Red");
            prop_assert_eq!(
                compile(0, &m).unwrap().matches(&e),
                crate::filter::glob_match(&glob, &text)
            );
        }

        /// Negation is exactly the complement, for exact and regex matchers.
        #[test]
        fn negation_is_the_complement(value in "[a-c.*]{0,5}", text in "[a-c]{0,5}", regex in any::<bool>()) {
            let e = event(&text, "x", "Red");
            let pos = Matcher::new("entity", &value, regex, true);
            let neg = Matcher::new("entity", &value, regex, false);
            if let (Ok(p), Ok(n)) = (compile(0, &pos), compile(0, &neg)) {
                prop_assert_ne!(p.matches(&e), n.matches(&e));
            }
        }
    }
}
