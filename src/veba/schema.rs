//! The vSphere types VEBA serialises, as a field table (`vim25.schema`).
//!
//! Owns: reading the table generated from govmomi 0.24 (the version the
//! VMware Event Broker Appliance's vSphere source pins) by
//! `tests/vcsim/bin/vcsim -veba-schema` — every Event class and every struct
//! type its fields reach, with each field's Go name, XML name and kind.
//! Interface-typed fields are cut off (`@`): their value is typed by its
//! `xsi:type` at conversion time. `tests/it/veba.rs` regenerates the table
//! and fails when it drifts from govmomi. Must not: convert anything (that is
//! [`super::data`]).

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("vim25.schema");

/// What a field holds, as encoding/json writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// `time.Time`: RFC 3339 with nanoseconds, trailing zeros trimmed.
    Time,
    /// `[]byte`: base64 text.
    Bytes,
    /// ManagedObjectReference: `{"Type", "Value"}`.
    Mor,
    /// An interface: null when absent, else typed by `xsi:type`.
    Any,
    /// A struct value (never null: absent means all fields zero).
    Struct(&'static str),
    /// A pointer: null when absent.
    Ptr(Box<Kind>),
    /// A slice: null when absent, else an array.
    Slice(Box<Kind>),
}

impl Kind {
    fn parse(text: &'static str) -> Option<Kind> {
        if let Some(rest) = text.strip_prefix('*') {
            return Some(Kind::Ptr(Box::new(Kind::parse(rest)?)));
        }
        if let Some(rest) = text.strip_prefix("[]") {
            return Some(Kind::Slice(Box::new(Kind::parse(rest)?)));
        }
        Some(match text {
            "s" => Kind::Str,
            "i" => Kind::Int,
            "f" => Kind::Float,
            "b" => Kind::Bool,
            "t" => Kind::Time,
            "B" => Kind::Bytes,
            "mor" => Kind::Mor,
            "@" => Kind::Any,
            name if name.starts_with(|c: char| c.is_ascii_uppercase()) => Kind::Struct(name),
            _ => return None,
        })
    }
}

/// One field of a struct, flattened out of its embedded base types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Go field name: the JSON key (`FullFormattedMessage`).
    pub go: &'static str,
    /// Element name on the wire (`fullFormattedMessage`).
    pub xml: String,
    pub kind: Kind,
}

/// A struct type: its fields in encoding/json order (base types' first).
#[derive(Debug, Clone, Default)]
pub struct TypeDef {
    pub fields: Vec<Field>,
}

/// The whole table, by type name.
pub struct Schema {
    types: HashMap<&'static str, TypeDef>,
}

impl Schema {
    /// The table compiled into the binary (parsed once).
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| Schema::parse(TABLE).expect("vim25.schema is generated and tested"))
    }

    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Every type name in the table.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.keys().copied()
    }

    /// Parses the generated text; `Err` names the bad line.
    pub fn parse(text: &'static str) -> Result<Schema, String> {
        // Raw entries first: `<Base` embeds are resolved once all are read.
        let mut raw: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut words = line.split(' ');
            let name = words.next().unwrap_or_default();
            raw.insert(name, words.collect());
        }
        let mut types = HashMap::new();
        for name in raw.keys() {
            let mut fields = Vec::new();
            flatten(&raw, name, &mut fields, 0)?;
            types.insert(*name, TypeDef { fields });
        }
        Ok(Schema { types })
    }
}

/// Appends the fields of `name` (its embedded bases in place) to `out`.
fn flatten(
    raw: &HashMap<&'static str, Vec<&'static str>>,
    name: &str,
    out: &mut Vec<Field>,
    depth: usize,
) -> Result<(), String> {
    // Go forbids embedding cycles; the bound only guards a corrupt table.
    if depth > 32 {
        return Err(format!("{name}: embedding deeper than 32"));
    }
    let entries = raw
        .get(name)
        .ok_or_else(|| format!("unknown type {name}"))?;
    for entry in entries {
        if let Some(base) = entry.strip_prefix('<') {
            flatten(raw, base, out, depth + 1)?;
            continue;
        }
        let (names, kind) = entry
            .split_once(':')
            .ok_or_else(|| format!("{name}: bad field {entry:?}"))?;
        let (go, xml) = match names.split_once('=') {
            Some((go, xml)) => (go, xml.to_owned()),
            None => (names, lower_first(names)),
        };
        let kind = Kind::parse(kind).ok_or_else(|| format!("{name}.{go}: bad kind {kind:?}"))?;
        out.push(Field { go, xml, kind });
    }
    Ok(())
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_flattens_event_classes() {
        let schema = Schema::get();
        let names = |t: &str| -> Vec<&str> {
            schema
                .type_def(t)
                .unwrap()
                .fields
                .iter()
                .map(|f| f.go)
                .collect()
        };
        let base = [
            "Key",
            "ChainId",
            "CreatedTime",
            "UserName",
            "Datacenter",
            "ComputeResource",
            "Host",
            "Vm",
            "Ds",
            "Net",
            "Dvs",
            "FullFormattedMessage",
            "ChangeTag",
        ];
        assert_eq!(names("Event"), base);
        assert_eq!(names("VmPoweredOnEvent")[..13], base);
        assert_eq!(names("VmPoweredOnEvent")[13..], ["Template"]);
        assert_eq!(
            names("AlarmStatusChangedEvent")[13..],
            ["Alarm", "Source", "Entity", "From", "To"]
        );
        assert_eq!(names("VmClonedEvent")[13..], ["Template", "SourceVm"]);
        let ds = &schema.type_def("Event").unwrap().fields[8];
        assert_eq!(ds.xml, "ds");
        assert_eq!(
            ds.kind,
            Kind::Ptr(Box::new(Kind::Struct("DatastoreEventArgument")))
        );
        assert!(schema.names().count() > 450);
        assert!(Schema::parse("A <Missing").is_err());
        assert!(Schema::parse("A X:zz").is_err());
    }
}
