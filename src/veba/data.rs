//! A vCenter event element (SOAP XML tree) → the JSON VEBA puts in `data`.
//!
//! VEBA's vSphere source decodes each event into a govmomi struct and hands
//! it to encoding/json, so `data` is that struct: every field under its Go
//! name (`Key`, `CreatedTime`, `Vm: {Name, Vm: {Type, Value}}`), fields the
//! event did not carry with Go's zero value (`""`, `0`, `false`, `null` for
//! pointers, slices and interfaces, an all-zero object for struct values).
//! This module does the same walk over [`Element`]s with the govmomi field
//! table ([`Schema`]), so the result equals govmomi's byte for byte in value
//! (golden files in `tests/fixtures/veba/`, made by govmomi itself).
//!
//! Where the table stops: a value of an interface field, and an element the
//! table does not know (a class or field newer than govmomi 0.24), are
//! converted generically — typed by `xsi:type` when it is an XML Schema type,
//! else an object of the children under their names with the first letter
//! raised, text as a string, `<x type="T">v</x>` as a reference. govmomi 0.24
//! would drop unknown fields; keeping them serves functions written against a
//! newer VEBA. Pure; recursion follows the tree, whose depth the XML parser
//! bounds ([`crate::vsphere::xml::MAX_DEPTH`]).

use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::schema::{Kind, Schema, TypeDef};
use crate::vsphere::xml::Element;

/// The base class every event has: used for classes the table does not know.
const EVENT: &str = "Event";

/// The event element (a `returnval` of QueryEvents/ReadNextEvents) as VEBA
/// serialises it.
pub fn event_data(el: &Element) -> Value {
    let schema = Schema::get();
    let class = el.xsi_type.as_deref().unwrap_or(EVENT);
    let def = schema
        .type_def(class)
        .or_else(|| schema.type_def(EVENT))
        .expect("the table has Event");
    struct_value(schema, def, el)
}

/// The zero value of a type (what encoding/json writes for an empty struct).
pub fn zero_struct(type_name: &str) -> Value {
    let schema = Schema::get();
    match schema.type_def(type_name) {
        Some(def) => zero_of(schema, def),
        None => Value::Object(Map::new()),
    }
}

fn zero_of(schema: &Schema, def: &TypeDef) -> Value {
    Value::Object(
        def.fields
            .iter()
            .map(|f| (f.go.to_owned(), zero(schema, &f.kind)))
            .collect(),
    )
}

fn zero(schema: &Schema, kind: &Kind) -> Value {
    match kind {
        Kind::Str | Kind::Bytes => Value::String(String::new()),
        Kind::Int | Kind::Float => Value::from(0),
        Kind::Bool => Value::Bool(false),
        Kind::Time => Value::String("0001-01-01T00:00:00Z".to_owned()),
        Kind::Mor => mor("", ""),
        Kind::Struct(name) => zero_struct_in(schema, name),
        Kind::Any | Kind::Ptr(_) | Kind::Slice(_) => Value::Null,
    }
}

fn zero_struct_in(schema: &Schema, name: &str) -> Value {
    schema
        .type_def(name)
        .map_or_else(|| Value::Object(Map::new()), |def| zero_of(schema, def))
}

fn mor(kind: &str, value: &str) -> Value {
    let mut m = Map::new();
    m.insert("Type".into(), Value::String(kind.to_owned()));
    m.insert("Value".into(), Value::String(value.to_owned()));
    Value::Object(m)
}

/// A struct: every field of the table (zero when absent), then the
/// children the table does not know.
fn struct_value(schema: &Schema, def: &TypeDef, el: &Element) -> Value {
    let mut out = Map::new();
    for field in &def.fields {
        let mut children = el.children_named(&field.xml).peekable();
        let value = match (&field.kind, children.peek()) {
            (Kind::Slice(inner), Some(_)) => {
                Value::Array(children.map(|c| value_of(schema, inner, c)).collect())
            }
            (Kind::Ptr(inner), Some(child)) => value_of(schema, inner, child),
            (kind, Some(child)) => value_of(schema, kind, child),
            (kind, None) => zero(schema, kind),
        };
        out.insert(field.go.to_owned(), value);
    }
    let known = |name: &str| def.fields.iter().any(|f| f.xml == name);
    append_unknown(&mut out, el, known);
    Value::Object(out)
}

/// One element read as `kind`.
fn value_of(schema: &Schema, kind: &Kind, el: &Element) -> Value {
    let text = el.text.as_str();
    match kind {
        Kind::Str => Value::String(text.to_owned()),
        Kind::Bytes => Value::String(text.trim().to_owned()),
        Kind::Int => int(text),
        Kind::Float => float(text),
        Kind::Bool => bool_of(text),
        Kind::Time => time_of(text),
        Kind::Mor => mor(el.attr("type").unwrap_or_default(), text.trim()),
        Kind::Struct(name) => match schema.type_def(name) {
            Some(def) => struct_value(schema, def, el),
            None => generic(schema, el),
        },
        Kind::Ptr(inner) | Kind::Slice(inner) => value_of(schema, inner, el),
        Kind::Any => generic(schema, el),
    }
}

/// An element without a table entry to follow: by `xsi:type` when it names
/// a table type or an XML Schema type, else by shape.
fn generic(schema: &Schema, el: &Element) -> Value {
    if let Some(xsi) = el.xsi_type.as_deref() {
        if let Some(def) = schema.type_def(xsi) {
            return struct_value(schema, def, el);
        }
        let text = el.text.as_str();
        match xsi {
            "string" | "anyURI" => return Value::String(text.to_owned()),
            "int" | "long" | "short" | "byte" | "unsignedInt" | "unsignedLong"
            | "unsignedShort" | "unsignedByte" | "integer" => return int(text),
            "float" | "double" | "decimal" => return float(text),
            "boolean" => return bool_of(text),
            "dateTime" => return time_of(text),
            "base64Binary" => return Value::String(text.trim().to_owned()),
            _ => {}
        }
    }
    if el.children.is_empty() {
        return match el.attr("type") {
            Some(kind) => mor(kind, el.text.trim()),
            None => Value::String(el.text.clone()),
        };
    }
    let mut out = Map::new();
    append_unknown(&mut out, el, |_| false);
    Value::Object(out)
}

/// Adds the children of `el` that `known` does not claim, each name once
/// (an array when it repeats), keyed by the name with its first letter
/// raised, as govmomi names fields.
fn append_unknown(out: &mut Map<String, Value>, el: &Element, known: impl Fn(&str) -> bool) {
    let schema = Schema::get();
    for (i, child) in el.children.iter().enumerate() {
        let name = child.name.as_str();
        if known(name) || el.children[..i].iter().any(|c| c.name == name) {
            continue;
        }
        let same: Vec<&Element> = el.children_named(name).collect();
        let value = match same.as_slice() {
            [one] => generic(schema, one),
            many => Value::Array(many.iter().map(|c| generic(schema, c)).collect()),
        };
        out.insert(upper_first(name), value);
    }
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// An integer; empty text is Go's zero; anything else unreadable stays text.
fn int(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        return Value::from(0);
    }
    t.parse::<i64>()
        .map(Value::from)
        .or_else(|_| t.parse::<u64>().map(Value::from))
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A float, written as encoding/json does (`2`, not `2.0`).
fn float(text: &str) -> Value {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
        Ok(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Err(_) if t.is_empty() => Value::from(0),
        Err(_) => Value::String(text.to_owned()),
    }
}

fn bool_of(text: &str) -> Value {
    Value::Bool(matches!(text.trim(), "true" | "1"))
}

/// `time.Time` as encoding/json writes it: RFC 3339, nanoseconds with
/// trailing zeros trimmed, `Z` for UTC. A zone-less time is UTC (as the
/// vSphere client reads it); unreadable text stays as it was.
fn time_of(text: &str) -> Value {
    let t = text.trim();
    let parsed = OffsetDateTime::parse(t, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{t}Z"), &Rfc3339));
    match parsed {
        Ok(time) => Value::String(go_time(time)),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// Go's RFC3339Nano layout: `2006-01-02T15:04:05.999999999Z07:00`.
pub fn go_time(t: OffsetDateTime) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        out.push_str(&format!("{sign}{:02}:{:02}", h.abs(), m.abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml;

    /// Each golden pair: the event as vCenter (or the simulator) sends it,
    /// and govmomi's JSON of it (`vcsim -veba-json`, an array of one).
    #[test]
    fn golden_files_match_govmomi() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/veba");
        let mut checked = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let doc = xml::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let ours: Vec<Value> = doc.children_named("returnval").map(event_data).collect();
            let golden: Value = serde_json::from_str(
                &std::fs::read_to_string(path.with_extension("json")).unwrap(),
            )
            .unwrap();
            assert_eq!(
                Value::Array(ours),
                golden,
                "{}",
                path.file_name().unwrap().to_string_lossy()
            );
            checked.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
        checked.sort();
        for class in [
            "VmCreatedEvent",
            "VmClonedEvent",
            "VmDeployedEvent",
            "VmPoweredOnEvent",
            "VmPoweredOffEvent",
            "DrsVmPoweredOnEvent",
            "VmReconfiguredEvent",
            "AlarmStatusChangedEvent",
            "EnteredMaintenanceModeEvent",
            "ExitMaintenanceModeEvent",
            "EventEx-com.vmware.vc.HA.ClusterFailoverActionCompletedEvent",
            "EventEx-com.vmware.vc.HA.DasHostFailedEvent",
        ] {
            assert!(checked.iter().any(|c| c == class), "no golden for {class}");
        }
    }

    #[test]
    fn unknown_classes_and_fields_keep_their_data() {
        let doc = xml::parse(concat!(
            r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmFrobnicatedEvent">"#,
            r#"<key>7</key><createdTime>2026-01-01T00:00:00.500Z</createdTime>"#,
            r#"<vm><name>web01</name><vm type="VirtualMachine">vm-1</vm></vm>"#,
            r#"<frob><level>3</level><owner type="HostSystem">host-2</owner></frob>"#,
            r#"<tag>a</tag><tag>b</tag></returnval>"#
        ))
        .unwrap();
        let data = event_data(&doc);
        assert_eq!(data["Key"], 7);
        assert_eq!(data["ChainId"], 0);
        assert_eq!(data["CreatedTime"], "2026-01-01T00:00:00.5Z");
        assert_eq!(data["Vm"]["Name"], "web01");
        assert_eq!(data["Vm"]["Vm"]["Value"], "vm-1");
        assert_eq!(data["Host"], Value::Null);
        assert_eq!(data["Frob"]["Level"], "3", "untyped text stays text");
        assert_eq!(data["Frob"]["Owner"]["Type"], "HostSystem");
        assert_eq!(data["Tag"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn go_time_matches_rfc3339nano() {
        let t = |s: &str| go_time(OffsetDateTime::parse(s, &Rfc3339).unwrap());
        assert_eq!(
            t("2026-11-25T11:48:12.744662356Z"),
            "2026-11-25T11:48:12.744662356Z"
        );
        assert_eq!(t("2026-11-25T11:48:12.100Z"), "2026-11-25T11:48:12.1Z");
        assert_eq!(t("2026-11-25T11:48:12Z"), "2026-11-25T11:48:12Z");
        assert_eq!(t("2026-11-25T11:48:12+00:00"), "2026-11-25T11:48:12Z");
        assert_eq!(
            t("2026-11-25T11:48:12.5-05:30"),
            "2026-11-25T11:48:12.5-05:30"
        );
        assert_eq!(time_of("not a time"), "not a time");
        assert_eq!(float("2"), Value::from(2));
        assert_eq!(float("2.5"), serde_json::json!(2.5));
        assert_eq!(int(""), Value::from(0));
    }
}
