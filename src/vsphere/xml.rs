//! A small, namespace-aware XML tree for SOAP answers.
//!
//! Owns: turning response bytes into [`Element`]s and reading typed leaves.
//! vSphere answers are polymorphic (`xsi:type` decides what an element is),
//! which serde-style decoding handles badly, so the client walks a tree
//! instead. The `type` attribute of the XML Schema instance namespace is
//! resolved by namespace, never by a literal `xsi:` prefix: govmomi's simulator
//! writes `XMLSchema-instance:type`, and other servers may use any prefix.
//!
//! Bounds: nesting deeper than [`MAX_DEPTH`] and a tree larger than the
//! caller's byte budget are typed errors ([`XmlError`]), never a stack
//! overflow or an allocation the size of whatever a server sends.
//!
//! Must not: know anything about vSphere methods or types.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::ManagedObjectRef;

/// Deepest element nesting accepted. The vSphere API nests a few dozen
/// levels at most; a hostile 10,000-deep answer stops here.
pub const MAX_DEPTH: usize = 256;

/// Why a document was not turned into a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("elements nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("the parsed answer would exceed {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Malformed(String),
}

impl From<String> for XmlError {
    fn from(e: String) -> Self {
        XmlError::Malformed(e)
    }
}

impl From<&str> for XmlError {
    fn from(e: &str) -> Self {
        XmlError::Malformed(e.to_owned())
    }
}

/// Namespace of the `type` attribute that names an element's concrete type.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// One XML element: local name, attributes, resolved `xsi:type`, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI of the element, if bound (`urn:vim25`, SOAP envelope, ...).
    pub ns: Option<String>,
    /// Local name, without prefix.
    pub name: String,
    /// Local part of the `xsi:type` attribute (`InvalidLogin`, `string` for
    /// `xsd:string`), resolved by namespace.
    pub xsi_type: Option<String>,
    /// Other attributes by local name (namespace declarations excluded).
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Character data directly inside this element, unescaped, not trimmed
    /// (a custom attribute value may legitimately start with a space).
    pub text: String,
}

impl Element {
    /// First child with the given local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with the given local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with the given name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Attribute value by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This element read as a ManagedObjectReference (`<x type="T">moid</x>`).
    pub fn as_moref(&self) -> Option<ManagedObjectRef> {
        let kind = self.attr("type")?;
        let value = self.text.trim();
        (!value.is_empty()).then(|| ManagedObjectRef::new(kind, value))
    }

    /// The text parsed as a boolean (`true`/`false`/`1`/`0`).
    pub fn as_bool(&self) -> Option<bool> {
        match self.text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// The text parsed as an integer.
    pub fn as_i64(&self) -> Option<i64> {
        self.text.trim().parse().ok()
    }
}

/// Parses a whole document and returns its root element, with the default
/// bounds: [`MAX_DEPTH`] and a tree of at most 8 bytes per byte of `doc`
/// plus 1 MiB.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    parse_bounded(doc, doc.len().saturating_mul(8).saturating_add(1 << 20))
}

/// Parses a whole document into a tree of at most `max_tree` bytes (the
/// elements, their names, attributes and text) and [`MAX_DEPTH`] levels.
pub fn parse_bounded(doc: &str, max_tree: usize) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(doc);
    // Stack of open elements; the finished root is returned at the end.
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut used = 0usize;
    let mut spend = |n: usize| {
        used = used.saturating_add(n);
        if used > max_tree {
            Err(XmlError::TooLarge(max_tree))
        } else {
            Ok(())
        }
    };
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = bound_ns(&ns);
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep(MAX_DEPTH));
                }
                let el = open_element(&reader, ns, &start)?;
                spend(footprint(&el))?;
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = open_element(&reader, ns, &start)?;
                spend(footprint(&el))?;
                close_element(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                close_element(&mut stack, &mut root, el)?;
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    let text = text.xml10_content();
                    spend(text.len())?;
                    top.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    spend(data.len())?;
                    top.text.push_str(&data);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| e.to_string())?
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r).map(String::from)
                };
                let resolved = resolved.ok_or_else(|| format!("unknown entity &{};", &*r))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("document ended inside an element".into());
    }
    root.ok_or_else(|| "empty document".into())
}

/// What an element costs in memory, roughly: the struct and its strings.
fn footprint(el: &Element) -> usize {
    std::mem::size_of::<Element>()
        + el.name.len()
        + el.ns.as_ref().map_or(0, String::len)
        + el.xsi_type.as_ref().map_or(0, String::len)
        + el.attrs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>()
}

fn bound_ns(ns: &ResolveResult<'_>) -> Option<String> {
    match ns {
        ResolveResult::Bound(n) => Some(n.0.to_owned()),
        _ => None,
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    ns: Option<String>,
    start: &BytesStart<'_>,
) -> Result<Element, XmlError> {
    let mut el = Element {
        ns,
        name: start.local_name().as_ref().to_owned(),
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (attr_ns, local) = reader.resolver().resolve_attribute(attr.key);
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        let local = local.as_ref().to_owned();
        let is_xsi = matches!(attr_ns, ResolveResult::Bound(n) if n.0 == XSI_NS);
        if is_xsi && local == "type" {
            // The value is a QName (`xsd:string`, `InvalidLogin`): keep the
            // local part, vSphere type names are unique without their prefix.
            let local_type = value.rsplit(':').next().unwrap_or_default().to_owned();
            el.xsi_type = Some(local_type);
        } else {
            el.attrs.push((local, value));
        }
    }
    Ok(el)
}

fn close_element(
    stack: &mut [Element],
    root: &mut Option<Element>,
    mut el: Element,
) -> Result<(), XmlError> {
    // Whitespace between child elements is layout, not data.
    if !el.children.is_empty() && el.text.trim().is_empty() {
        el.text.clear();
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => return Err("more than one root element".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_xsi_type_by_namespace_not_prefix() {
        let doc = r#"<r xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance"
                        xmlns:i="http://www.w3.org/2001/XMLSchema-instance"
                        xmlns:other="urn:not-xsi">
            <a XMLSchema-instance:type="xsd:boolean">true</a>
            <b i:type="HostSystem"/>
            <c other:type="Nope">x</c>
        </r>"#;
        let root = parse(doc).unwrap();
        assert_eq!(
            root.child("a").unwrap().xsi_type.as_deref(),
            Some("boolean")
        );
        assert_eq!(
            root.child("b").unwrap().xsi_type.as_deref(),
            Some("HostSystem")
        );
        let c = root.child("c").unwrap();
        assert_eq!(c.xsi_type, None);
        assert_eq!(c.attr("type"), Some("Nope"));
    }

    #[test]
    fn unescapes_entities_and_char_refs() {
        let root = parse(r#"<v a="x&amp;y">a&lt;b &amp; &#34;c&#34;&#xA;</v>"#).unwrap();
        assert_eq!(root.text, "a<b & \"c\"\n");
        assert_eq!(root.attr("a"), Some("x&y"));
    }

    #[test]
    fn keeps_leaf_whitespace_and_drops_layout_whitespace() {
        let root = parse("<r>\n  <v>  padded </v>\n</r>").unwrap();
        assert_eq!(root.text, "");
        assert_eq!(root.child_text("v"), Some("  padded "));
    }

    #[test]
    fn rejects_broken_documents() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a>&bogus;</a>").is_err());
    }

    #[test]
    fn deep_nesting_is_a_typed_error_not_a_crash() {
        let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
        assert_eq!(parse(&deep).unwrap_err(), XmlError::TooDeep(MAX_DEPTH));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let empties = "<a>".repeat(MAX_DEPTH - 1) + "<b/>" + &"</a>".repeat(MAX_DEPTH - 1);
        assert!(parse(&empties).is_ok());
    }

    #[test]
    fn the_tree_stays_within_its_budget() {
        let wide = format!("<r>{}</r>", "<a/>".repeat(100_000));
        assert!(matches!(
            parse_bounded(&wide, 1 << 20),
            Err(XmlError::TooLarge(_))
        ));
        let text = format!("<r>{}</r>", "x".repeat(100_000));
        assert!(matches!(
            parse_bounded(&text, 50_000),
            Err(XmlError::TooLarge(_))
        ));
        assert!(parse_bounded(&text, 200_000).is_ok());
    }

    #[test]
    fn reads_morefs() {
        let root = parse(r#"<obj type="HostSystem">host-21</obj>"#).unwrap();
        assert_eq!(
            root.as_moref(),
            Some(ManagedObjectRef::new("HostSystem", "host-21"))
        );
    }
}
