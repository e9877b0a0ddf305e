//! Printing: tables and `key value` views for people, JSON and YAML for
//! scripts, each safe to send to a terminal.
//!
//! Event fields come from senders and must not drive the terminal. In
//! tables and views every value has its control characters replaced
//! ([`printable`]: line breaks and tabs by a space, escapes and other
//! controls by U+FFFD), and [`print`] replaces any left in the text but its
//! own line breaks. JSON and YAML escape them instead (`\u001b`, `\u202e`),
//! so the document still reads back to the same values.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use super::args::OutputFormat;
use crate::logging::is_unsafe_char;

/// `text` with every control character (C0, DEL, C1) and bidirectional
/// override replaced: line breaks and tabs by a space, the rest by U+FFFD.
/// One value can then neither start a new line nor send an escape sequence.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if is_unsafe_char(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Writes rendered text to stdout, keeping only its own line breaks: a last
/// guard for anything that reached the text without going through
/// [`printable`]. A closed stdout (`| head`) is an `io::Error` of kind
/// `BrokenPipe`, which the commands treat as the end.
pub fn print(rendered: &str) -> std::io::Result<()> {
    let safe: String = rendered
        .chars()
        .map(|c| {
            if c != '\n' && is_unsafe_char(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    out.write_all(safe.as_bytes())?;
    out.flush()
}

/// A document (`-o json|yaml`): pretty JSON, or YAML. `one_line` is for
/// `--follow`, where each row is one JSON line or one YAML document.
pub fn document<T: Serialize>(
    format: OutputFormat,
    value: &T,
    one_line: bool,
) -> anyhow::Result<String> {
    let value = serde_json::to_value(value)?;
    Ok(match format {
        OutputFormat::Yaml if one_line => format!("---\n{}", super::yaml::to_yaml(&value)),
        OutputFormat::Yaml => super::yaml::to_yaml(&value),
        _ => {
            let mut text = json(&value, !one_line);
            text.push('\n');
            text
        }
    })
}

/// JSON text with unsafe characters escaped as `\uXXXX` (serde_json escapes
/// only C0 controls by itself).
pub fn json(value: &Value, pretty: bool) -> String {
    let mut out = Vec::new();
    let result = if pretty {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            SafeFormatter(serde_json::ser::PrettyFormatter::new()),
        );
        value.serialize(&mut ser)
    } else {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            SafeFormatter(serde_json::ser::CompactFormatter),
        );
        value.serialize(&mut ser)
    };
    // Writing a Value into a Vec cannot fail.
    debug_assert!(result.is_ok());
    String::from_utf8(out).unwrap_or_default()
}

/// Wraps a formatter; string content goes out with unsafe characters as
/// `\uXXXX` escapes.
struct SafeFormatter<F>(F);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.0.$name(w $(, $arg)*)
        }
    )*};
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeFormatter<F> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        end_object_key(),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe_char(*c)) {
            w.write_all(&rest.as_bytes()[..at])?;
            // Every unsafe character is in the Basic Multilingual Plane.
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

/// Longest cell, in characters; longer ones are cut with `…`.
const MAX_CELL: usize = 40;

/// Aligned columns, cells cut at 40 characters. Widths only grow, so a
/// table printed in parts (`--follow`) stays aligned as far as the cells
/// allow.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<&'static str>,
    widths: Vec<usize>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            widths: headers.iter().map(|h| h.chars().count()).collect(),
        }
    }

    /// The header line and `rows`.
    pub fn render(&mut self, rows: &[Vec<String>]) -> String {
        let rows = self.fit(rows);
        let mut out = self.line(self.headers.iter().map(|h| h.to_string()).collect());
        for row in rows {
            out.push_str(&self.line(row));
        }
        out
    }

    /// `rows` without the header (later parts of a followed table).
    pub fn render_rows(&mut self, rows: &[Vec<String>]) -> String {
        self.fit(rows)
            .into_iter()
            .map(|row| self.line(row))
            .collect()
    }

    fn fit(&mut self, rows: &[Vec<String>]) -> Vec<Vec<String>> {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| cut(c)).collect())
            .collect();
        for row in &rows {
            for (width, cell) in self.widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        rows
    }

    fn line(&self, cells: Vec<String>) -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&self.widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    }
}

fn cut(cell: &str) -> String {
    let one_line = printable(cell);
    if one_line.chars().count() > MAX_CELL {
        format!(
            "{}…",
            one_line.chars().take(MAX_CELL - 1).collect::<String>()
        )
    } else {
        one_line
    }
}

/// A `key value` view (one event, one run): keys padded to `width`, each
/// value [`printable`] on one line.
pub struct Fields {
    width: usize,
    out: String,
}

impl Fields {
    pub fn new(width: usize) -> Self {
        Self {
            width,
            out: String::new(),
        }
    }

    pub fn add(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        let value = printable(value.as_ref());
        self.out
            .push_str(&format!("{key:<width$} {value}\n", width = self.width));
        self
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// A cell for an optional value: the value, or `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A timestamp as RFC 3339.
pub fn time(t: time::OffsetDateTime) -> String {
    crate::model::format_rfc3339(t)
}

/// An optional timestamp, or `-`.
pub fn opt_time(t: Option<time::OffsetDateTime>) -> String {
    or_dash(t.map(time))
}

/// A unit enum's wire name (`monitoring`, `succeeded`, `VirtualMachine`).
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "-".to_owned(),
    }
}

/// `k=v,k=v` of a map, or `-` when empty.
pub fn pairs<K: std::fmt::Display, V: std::fmt::Display>(
    items: impl IntoIterator<Item = (K, V)>,
    separator: &str,
) -> String {
    let parts: Vec<String> = items.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(separator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "web01\u{1b}]0;pwned\u{7}\u{1b}[2J\nstatus       succeeded\u{9b}31m\u{202e}";

    fn safe(text: &str) -> bool {
        !text.chars().any(|c| c != '\n' && is_unsafe_char(c))
    }

    #[test]
    fn tables_align_and_cut() {
        let t = Table::new(&["A", "LONGER"]).render(&[
            vec!["x".into(), "y".into()],
            vec!["a\nb".into(), "z".repeat(50)],
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "A    LONGER");
        assert_eq!(lines[1], "x    y");
        assert!(lines[2].starts_with("a b  zzz"));
        assert!(lines[2].ends_with('…'));
        let t = Table::new(&["ENTITY"]).render(&[vec![HOSTILE.to_owned()]]);
        assert!(safe(&t), "{t:?}");
        assert_eq!(t.lines().count(), 2);
    }

    #[test]
    fn a_followed_table_keeps_its_columns() {
        let mut t = Table::new(&["ID", "TYPE"]);
        let first = t.render(&[vec!["1".into(), "vm.created".into()]]);
        assert_eq!(first, "ID  TYPE\n1   vm.created\n");
        let later = t.render_rows(&[vec!["22".into(), "x".into()]]);
        assert_eq!(later, "22  x\n");
    }

    #[test]
    fn fields_stay_on_their_line() {
        let view = Fields::new(8)
            .add("id", "e1")
            .add("message", HOSTILE)
            .finish();
        assert!(safe(&view), "{view:?}");
        assert_eq!(view.lines().count(), 2, "{view}");
        assert!(view.starts_with("id       e1\nmessage  web01\u{FFFD}]0;pwned"));
        assert_eq!(printable("a\u{1b}b\tc"), "a\u{FFFD}b c");
    }

    #[test]
    fn json_escapes_what_would_drive_a_terminal_and_reads_back() {
        let value = serde_json::json!({"message": HOSTILE, "ok": "é ✓"});
        for pretty in [true, false] {
            let text = json(&value, pretty);
            assert!(safe(&text), "{text:?}");
            assert!(
                text.contains("\\u009b") && text.contains("\\u202e"),
                "{text}"
            );
            assert!(text.contains("é ✓"), "printable text stays as it is");
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        }
        assert_eq!(json(&value, false).lines().count(), 1);
        let doc = document(OutputFormat::Json, &value, true).unwrap();
        assert_eq!(doc.lines().count(), 1);
        let doc = document(OutputFormat::Yaml, &value, true).unwrap();
        assert!(doc.starts_with("---\n") && safe(&doc), "{doc}");
    }

    proptest::proptest! {
        #[test]
        fn printable_text_has_no_control_characters(s in "\\PC*|[\\x00-\\x{9f}a-z]{0,30}") {
            proptest::prop_assert!(!printable(&s).chars().any(is_unsafe_char));
        }

        #[test]
        fn json_reads_back_and_is_safe(s in "\\PC*|[\\x00-\\x{9f}\\x{2028}-\\x{206f}a-z]{0,30}") {
            let value = serde_json::json!({ "k": s });
            let text = json(&value, true);
            proptest::prop_assert!(safe(&text));
            proptest::prop_assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        }
    }

    #[test]
    fn cells() {
        assert_eq!(or_dash(None::<u8>), "-");
        assert_eq!(or_dash(Some(3)), "3");
        assert_eq!(name_of(&crate::store::RunStatus::Dead), "dead");
        assert_eq!(pairs([("a", 1), ("b", 2)], ","), "a=1,b=2");
        assert_eq!(pairs(Vec::<(String, u8)>::new(), ","), "-");
    }
}
