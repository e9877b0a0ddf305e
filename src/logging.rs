//! Log hygiene for anything that arrives from outside: escaping input in log
//! fields, and sampling warnings that one datagram or request can cause.
//!
//! Owns: [`Escaped`] (a Display wrapper that writes control characters as
//! escapes, so a value holding a newline cannot forge a log line) and
//! [`Sampled`] (at most one line per reason per interval, with the number of
//! lines left out), and [`json_error`] (a serde error as a detail that never
//! echoes the input). Counters are never sampled: callers count every
//! occurrence in `telemetry::Stats` and only the log line is thinned out.
//! Must not: hold or print secrets.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Writes `value` with control characters (C0, DEL, C1) and the Unicode
/// bidirectional overrides escaped (`\n`, `\u{1b}`, `\u{202e}`); everything
/// else as is. Use for every log field whose text came from input:
/// `tracing::info!(created_by = %Escaped(&name), ...)`.
pub struct Escaped<'a>(pub &'a str);

/// True for characters that move the cursor, end a line, recolour or reorder
/// a terminal's or a log viewer's output.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_unsafe_char(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One sampled warning: [`Sampled::allow`] says whether a line may be written
/// now (at most one per interval) and how many were left out since the last.
/// `const`, so each call site keeps its own in a `static`.
pub struct Sampled {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Sampled {
    pub const fn every(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines suppressed since the last one)` when a line may be
    /// written now; `None` (and one more suppressed) otherwise.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        // Contended means another thread is deciding right now: suppress.
        let Ok(mut last) = self.last.try_lock() else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if last.is_some_and(|t| now.saturating_duration_since(t) < self.interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// A serde_json error as an error detail that never echoes the input:
/// `what` plus the kind of problem and its position. Values serde quotes
/// (`invalid type: string "…"`) and names the client chose (`unknown field
/// `…``) are replaced by `…`; the field names serde expects are ours and stay.
pub fn json_error(what: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    let at = if line > 0 {
        format!(" at line {line} column {column}")
    } else {
        String::new()
    };
    match e.classify() {
        Category::Syntax | Category::Io => format!("{what}: malformed JSON{at}"),
        Category::Eof => format!("{what}: the JSON ends early{at}"),
        Category::Data => {
            let message = e.to_string();
            let message = message.strip_suffix(&at).unwrap_or(&message);
            format!("{what}: {}{at}", redact_serde_message(message))
        }
    }
}

/// Replaces input echoed in a message (serde's data errors, a validation
/// message that quotes a value) with `…`: double-quoted spans always,
/// backticked spans unless they look like one of our field names.
pub fn redact_quoted(message: &str) -> String {
    redact_serde_message(message)
}

fn redact_serde_message(message: &str) -> String {
    // The first backticked span of these messages is the client's text.
    const CLIENT_FIRST: [&str; 4] = [
        "unknown field",
        "unknown variant",
        "invalid value",
        "invalid length",
    ];
    let mut redact_next_tick = CLIENT_FIRST.iter().any(|p| message.starts_with(p));
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // Skip to the closing quote (serde escapes inner quotes).
                let mut escaped = false;
                for d in chars.by_ref() {
                    if d == '"' && !escaped {
                        break;
                    }
                    escaped = d == '\\' && !escaped;
                }
                out.push_str("\"…\"");
            }
            '`' => {
                let span: String = chars.by_ref().take_while(|d| *d != '`').collect();
                let ours = span.len() <= 64
                    && span
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if redact_next_tick || !ours {
                    out.push_str("`…`");
                } else {
                    out.push('`');
                    out.push_str(&span);
                    out.push('`');
                }
                redact_next_tick = false;
            }
            c if is_unsafe_char(c) => out.push(' '),
            c => out.push(c),
        }
        if out.len() > 300 {
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newlines_and_escape_sequences_are_escaped() {
        let forged = "alice\n2026-01-01T00:00:00Z  INFO vcgate: forged\u{1b}[2J\u{202e}";
        let out = Escaped(forged).to_string();
        assert_eq!(
            out,
            "alice\\n2026-01-01T00:00:00Z  INFO vcgate: forged\\u{1b}[2J\\u{202e}"
        );
        assert_eq!(Escaped("plain ü 红").to_string(), "plain ü 红");
    }

    #[test]
    fn one_line_per_interval_with_the_suppressed_count() {
        let s = Sampled::every(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(s.allow_at(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(s.allow_at(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(s.allow_at(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(s.allow_at(t0 + Duration::from_secs(11)), None);
    }

    proptest! {
        /// Whatever the input, the escaped text has no character that could
        /// end a line or drive a terminal.
        #[test]
        fn escaped_text_is_one_safe_line(text in "\\PC*|[\\x00-\\x{9f}\\x{202a}-\\x{202e}a-z]{0,40}") {
            let out = Escaped(&text).to_string();
            prop_assert!(!out.chars().any(is_unsafe_char), "{out:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        count: u32,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        One,
    }

    #[test]
    fn details_name_the_problem_but_never_echo_the_input() {
        let marker = "EVIL-MARKER\n<script>";
        let bodies = [
            format!(r#"{{"name": 1, "count": 2, "{marker}": 3}}"#),
            format!(r#"{{"name": "x", "count": "{marker}"}}"#),
            format!(r#"{{"name": "x", "count": 1, "kind": "{marker}"}}"#),
            format!(r#"{{"name": "x", "count": 1{marker}"#),
            format!(r#"{{"name": "{marker}""#),
            r#"{"name": "x"}"#.to_owned(),
        ];
        for body in bodies {
            let e = serde_json::from_str::<Shape>(&body).unwrap_err();
            let detail = json_error("invalid body", &e);
            assert!(!detail.contains("EVIL"), "{detail}");
            assert!(!detail.contains('\n') && !detail.contains('<'), "{detail}");
            assert!(detail.starts_with("invalid body: "), "{detail}");
        }
        let e = serde_json::from_str::<Shape>(r#"{"name": "x"}"#).unwrap_err();
        assert!(json_error("b", &e).contains("missing field `count`"));
    }
}
