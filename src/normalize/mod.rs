//! Pure mappers from what a source received to the `Event` model.
//!
//! Owns: the alarm-hook payload (`alarm_hook`), CloudEvent input from the API
//! (`cloudevent`), SNMP notifications (`trap`) and vCenter events from the
//! event stream (`vcenter_event`). Must not do I/O; every
//! function here is deterministic given its input and `received_at`.

pub mod alarm_hook;
pub mod cloudevent;
pub mod trap;
pub mod vcenter_event;

/// Why an input could not become an event; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NormalizeError {
    pub message: String,
}

impl NormalizeError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
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
            c if crate::logging::is_unsafe_char(c) => out.push(' '),
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
