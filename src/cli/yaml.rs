//! `-o yaml`: a JSON document written as block-style YAML.
//!
//! Only writing, and only JSON values (the API's documents), so this stays
//! small instead of a YAML library: the maintained serde YAML crates wrap a
//! C-derived parser and emitter in unsafe code, and vcgate never reads YAML.
//!
//! Correctness rests on one rule: a string is written plain only when no
//! YAML 1.1 or 1.2 reader can take it for anything else — it starts with an
//! ASCII letter or `_`, holds only letters, digits, `_ . / @ -` and inner
//! spaces, and is not a YAML 1.1 boolean or null word (`yes`, `off`, `null`,
//! …). Everything else is double-quoted with escapes, where JSON's escapes
//! are valid YAML, and characters that would break a line or drive a
//! terminal or that YAML does not allow raw (controls, U+2028/2029, bidi
//! overrides, BOM, U+FFFE/FFFF) are `\uXXXX`. A key too long for YAML's
//! implicit keys (1024 characters) is written as an explicit `? key`.
//! Floats always carry a `.` and a signed exponent, as YAML 1.1 requires.
//! `tests/it/cli.rs` reads the output back with PyYAML.

use std::fmt::Write;

use serde_json::{Map, Number, Value};

/// `value` as a YAML document (no `---`), ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// Longest key written as an implicit (`key: value`) key; YAML allows 1024
/// characters.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Map entries at `indent`; with `continued` the first one goes on the
/// current line (after `- `).
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, continued: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if !(continued && i == 0) {
            out.push_str(&" ".repeat(indent));
        }
        let key = string(key);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        } else {
            out.push_str(&key);
        }
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(out, m, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent + 2, false);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Sequence items at `indent` (`continued` as in [`write_map`]).
fn write_seq(out: &mut String, items: &[Value], indent: usize, continued: bool) {
    for (i, item) in items.iter().enumerate() {
        if !(continued && i == 0) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(out, m, indent + 2, true),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, indent + 2, true),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// A scalar, or an empty collection in flow style.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Integers as they are; floats with a `.` in the mantissa and a sign on
/// the exponent (`1.0e+30`), which YAML 1.1 readers need to see a float.
fn number(n: &Number) -> String {
    let text = n.to_string();
    if n.is_i64() || n.is_u64() {
        return text;
    }
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (text.as_str(), None),
    };
    let mut out = mantissa.to_owned();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(e) = exponent {
        out.push('e');
        if !e.starts_with(['-', '+']) {
            out.push('+');
        }
        out.push_str(e);
    }
    out
}

/// YAML 1.1 words for booleans and null (any case); plain, they would not
/// read back as strings.
const RESERVED: [&str; 12] = [
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nil", "none", "~",
];

fn is_plain(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '-' | ' '))
        && !RESERVED.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Characters written as escapes inside double quotes.
fn must_escape(c: char) -> bool {
    crate::logging::is_unsafe_char(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn string(s: &str) -> String {
    if is_plain(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if must_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_block_style() {
        let value = json!({
            "events": [
                {"id": "01a2", "type": "vm.created", "entity": {"name": "web01"}, "tags": []},
                {"id": "x", "metadata": {}}
            ],
            "next_before": null,
            "nested": [[1, 2], ["a"]],
            "ok": true,
            "ratio": 0.5,
        });
        assert_eq!(
            to_yaml(&value),
            "events:\n  - entity:\n      name: web01\n    id: \"01a2\"\n    tags: []\n    type: vm.created\n  \
             - id: x\n    metadata: {}\nnested:\n  - - 1\n    - 2\n  - - a\nnext_before: null\nok: true\nratio: 0.5\n"
        );
        assert_eq!(to_yaml(&json!([])), "[]\n");
        assert_eq!(to_yaml(&json!("yes")), "\"yes\"\n");
        assert_eq!(to_yaml(&json!(["a", {"b": 1}])), "- a\n- b: 1\n");
    }

    #[test]
    fn strings_that_could_read_as_something_else_are_quoted() {
        for s in [
            "",
            "yes",
            "No",
            "ON",
            "null",
            "~",
            "true",
            "1",
            "0x1F",
            "1e3",
            "2026-11-25",
            ".inf",
            "-",
            "- a",
            "a: b",
            "a #b",
            "#c",
            "*ref",
            "&anchor",
            "!tag",
            "%x",
            "@x",
            "`x",
            "a ",
            " a",
            "a  b",
            "'q'",
            "\"q\"",
            "{}",
            "[x]",
            "a,b",
            "?",
            "|",
            ">",
            "=",
            "<<",
        ] {
            assert!(string(s).starts_with('"'), "{s:?} must be quoted");
        }
        for s in [
            "web01",
            "vm.created",
            "alarm-hook",
            "Created web01 on esx01",
            "a/b@c",
            "_x",
        ] {
            assert_eq!(string(s), s, "{s:?} stays plain");
        }
    }

    #[test]
    fn escapes_keep_every_line_and_the_terminal_intact() {
        let s = "a\"b\\c\nd\te\u{1b}[2J\u{9b}\u{202e}\u{2028}\u{feff}é";
        assert_eq!(
            string(s),
            "\"a\\\"b\\\\c\\nd\\te\\u001b[2J\\u009b\\u202e\\u2028\\ufeffé\""
        );
    }

    #[test]
    fn long_keys_are_explicit() {
        let key = "k".repeat(1200);
        let value = json!({ key.clone(): {"a": 1}, "b": [{ key.clone(): 2 }] });
        assert_eq!(
            to_yaml(&value),
            format!("b:\n  - ? {key}\n    : 2\n? {key}\n:\n  a: 1\n")
        );
    }

    #[test]
    fn floats_read_as_floats_in_yaml_1_1() {
        let n = |v: f64| number(&Number::from_f64(v).unwrap());
        assert_eq!(n(60.0), "60.0");
        assert_eq!(n(0.25), "0.25");
        assert_eq!(n(1e30), "1.0e+30");
        assert_eq!(n(1.5e-7), "1.5e-7");
        assert_eq!(number(&Number::from(-3)), "-3");
        assert_eq!(number(&Number::from(u64::MAX)), u64::MAX.to_string());
    }
}
