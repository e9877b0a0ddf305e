//! SOAP 1.1 framing: writing request bodies, reading answers and faults.
//!
//! Owns: [`Body`] (the only way values enter an envelope — every value is
//! XML-escaped here), [`envelope`], and [`parse_response`]. Must not: do I/O
//! or hold session state.

use std::fmt::Write as _;

use super::ManagedObjectRef;
use super::error::{VsphereError, fault_to_error};
use super::xml::{self, Element};

/// Namespace of the SOAP 1.1 envelope.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of vSphere's types and methods.
pub const VIM25_NS: &str = "urn:vim25";

/// Escapes text for element content and attribute values. Characters XML 1.0
/// cannot carry at all (most C0 controls) become U+FFFD, so a hostile value
/// cannot make the envelope ill-formed.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Builder for one method call's body element (`<Method xmlns="urn:vim25">`).
///
/// Tag names are `&'static str` on purpose: they come from code, never from
/// data; every value goes through [`escape`].
#[derive(Debug)]
pub struct Body {
    method: &'static str,
    buf: String,
}

impl Body {
    /// Starts `<method xmlns="urn:vim25"><_this type="T">moid</_this>`.
    pub fn new(method: &'static str, this: &ManagedObjectRef) -> Self {
        let mut body = Body {
            method,
            buf: format!(r#"<{method} xmlns="{VIM25_NS}">"#),
        };
        body.moref("_this", this);
        body
    }

    /// The method name, for logs.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// `<tag>value</tag>`, value escaped.
    pub fn text(&mut self, tag: &'static str, value: impl std::fmt::Display) -> &mut Self {
        let value = value.to_string();
        let _ = write!(self.buf, "<{tag}>{}</{tag}>", escape(&value));
        self
    }

    /// `<tag type="T">moid</tag>`.
    pub fn moref(&mut self, tag: &'static str, moref: &ManagedObjectRef) -> &mut Self {
        let _ = write!(
            self.buf,
            r#"<{tag} type="{}">{}</{tag}>"#,
            escape(&moref.kind),
            escape(&moref.value)
        );
        self
    }

    /// Opens `<tag>`; pair with [`Body::close`].
    pub fn open(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.buf, "<{tag}>");
        self
    }

    /// Opens `<tag xsi:type="T">` for polymorphic values (SelectionSpec...).
    pub fn open_typed(&mut self, tag: &'static str, xsi_type: &'static str) -> &mut Self {
        let _ = write!(self.buf, r#"<{tag} xsi:type="{xsi_type}">"#);
        self
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.buf, "</{tag}>");
        self
    }

    /// The finished body element.
    pub fn finish(mut self) -> String {
        let _ = write!(self.buf, "</{}>", self.method);
        self.buf
    }
}

/// Wraps a body element in a SOAP envelope declaring `xsd` and `xsi`.
pub fn envelope(body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="{env}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
            r#"xmlns:xsi="{xsi}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        ),
        env = SOAP_ENV_NS,
        xsi = xml::XSI_NS,
        body = body
    )
}

/// Turns an HTTP answer into the method's response element
/// (`<XxxResponse>`), or an error: a SOAP Fault (vCenter sends HTTP 500)
/// becomes a typed fault error; a non-SOAP answer becomes [`VsphereError::Http`].
pub fn parse_response(status: u16, body: &str) -> Result<Element, VsphereError> {
    parse_bounded_response(status, body, body.len().saturating_mul(8) + (1 << 20))
}

/// [`parse_response`] with the parsed tree limited to `max_tree` bytes
/// (nesting is always limited to [`xml::MAX_DEPTH`]).
pub fn parse_bounded_response(
    status: u16,
    body: &str,
    max_tree: usize,
) -> Result<Element, VsphereError> {
    let root = match xml::parse_bounded(body, max_tree) {
        Ok(root) => root,
        Err(xml::XmlError::TooDeep(limit)) => return Err(VsphereError::TooDeep { limit }),
        Err(xml::XmlError::TooLarge(limit)) => {
            return Err(VsphereError::ResponseTooLarge {
                limit: limit as u64,
            });
        }
        Err(_) if !(200..300).contains(&status) => return Err(http_error(status, body)),
        Err(xml::XmlError::Malformed(e)) => return Err(VsphereError::Xml(e)),
    };
    let Some(first) = soap_body(&root).and_then(|b| b.children.first()) else {
        if (200..300).contains(&status) {
            return Err(VsphereError::Protocol("answer has no SOAP Body".into()));
        }
        return Err(http_error(status, body));
    };
    if first.name == "Fault" && first.ns.as_deref() == Some(SOAP_ENV_NS) {
        let code = first.child_text("faultcode").unwrap_or_default().trim();
        let message = first.child_text("faultstring").unwrap_or_default().trim();
        let detail = first.child("detail").and_then(|d| d.children.first());
        return Err(fault_to_error(detail, code, message));
    }
    if !(200..300).contains(&status) {
        return Err(http_error(status, body));
    }
    Ok(first.clone())
}

fn soap_body(root: &Element) -> Option<&Element> {
    if root.name != "Envelope" || root.ns.as_deref() != Some(SOAP_ENV_NS) {
        return None;
    }
    root.children
        .iter()
        .find(|c| c.name == "Body" && c.ns.as_deref() == Some(SOAP_ENV_NS))
}

fn http_error(status: u16, body: &str) -> VsphereError {
    // A short, single-line excerpt: enough to recognise a proxy page.
    let snippet: String = body
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    VsphereError::Http {
        status,
        snippet: snippet.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV_OPEN: &str = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" "#,
        r#"xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
        r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
        r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#
    );
    const ENV_CLOSE: &str = "</soapenv:Body></soapenv:Envelope>";

    fn wrap(inner: &str) -> String {
        format!("{ENV_OPEN}{inner}{ENV_CLOSE}")
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(escape("x\u{0}y\u{1b}z\n"), "x\u{FFFD}y\u{FFFD}z\n");
    }

    #[test]
    fn builds_login_body_with_escaped_values() {
        let mut b = Body::new(
            "Login",
            &ManagedObjectRef::new("SessionManager", "SessionManager"),
        );
        b.text("userName", "admin@vsphere.local")
            .text("password", "p<&>\"'w");
        assert_eq!(
            b.finish(),
            concat!(
                r#"<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this>"#,
                r#"<userName>admin@vsphere.local</userName>"#,
                r#"<password>p&lt;&amp;&gt;&quot;&apos;w</password></Login>"#
            )
        );
    }

    #[test]
    fn envelope_round_trips_through_the_parser() {
        let mut b = Body::new(
            "SetField",
            &ManagedObjectRef::new("CustomFieldsManager", "CFM"),
        );
        b.moref("entity", &ManagedObjectRef::new("VirtualMachine", "vm-1"))
            .text("key", 3)
            .text("value", "</value><evil/>");
        let env = envelope(&b.finish());
        let root = xml::parse(&env).unwrap();
        let call = soap_body(&root).unwrap().children.first().unwrap();
        assert_eq!(call.name, "SetField");
        assert_eq!(call.ns.as_deref(), Some(VIM25_NS));
        assert_eq!(call.child_text("value"), Some("</value><evil/>"));
        assert_eq!(call.children.len(), 4);
    }

    // Captured from the simulator: RetrieveServiceContent (shortened).
    #[test]
    fn parses_a_successful_answer() {
        let doc = wrap(concat!(
            r#"<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>"#,
            r#"<rootFolder type="Folder">group-d1</rootFolder>"#,
            r#"<about><apiVersion>6.5</apiVersion></about></returnval></RetrieveServiceContentResponse>"#
        ));
        let res = parse_response(200, &doc).unwrap();
        assert_eq!(res.name, "RetrieveServiceContentResponse");
        let rv = res.child("returnval").unwrap();
        assert_eq!(
            rv.child("rootFolder").unwrap().as_moref(),
            Some(ManagedObjectRef::new("Folder", "group-d1"))
        );
    }

    // Captured from the simulator: Login with a wrong password.
    #[test]
    fn maps_invalid_login_fault() {
        let doc = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring>"#,
            r#"<detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail>"#,
            r#"</soapenv:Fault>"#
        ));
        assert!(matches!(
            parse_response(500, &doc),
            Err(VsphereError::InvalidLogin)
        ));
    }

    // The simulator writes nested types with the `XMLSchema-instance` prefix;
    // the fault type must be found by namespace. The detail below is the
    // simulator's NotAuthenticated fault re-prefixed that way.
    #[test]
    fn maps_fault_typed_with_xmlschema_instance_prefix() {
        let doc = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail>"#,
            r#"<NotAuthenticatedFault xmlns="urn:vim25" "#,
            r#"xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" "#,
            r#"XMLSchema-instance:type="NotAuthenticated"><object type="EventManager">EventManager</object>"#,
            r#"<privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail></soapenv:Fault>"#
        ));
        assert!(matches!(
            parse_response(500, &doc),
            Err(VsphereError::NotAuthenticated)
        ));
    }

    // Captured from the simulator: AddCustomFieldDef twice.
    #[test]
    fn maps_duplicate_name_and_not_found_faults() {
        let dup = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail>"#,
            r#"<DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>Created By</name>"#,
            r#"<object type="CustomFieldsManager">CustomFieldsManager</object></DuplicateNameFault>"#,
            r#"</detail></soapenv:Fault>"#
        ));
        match parse_response(500, &dup) {
            Err(VsphereError::DuplicateName { name }) => assert_eq!(name, "Created By"),
            other => panic!("{other:?}"),
        }
        let gone = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail>"#,
            r#"<ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound">"#,
            r#"<obj type="HostSystem">host-999</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>"#
        ));
        match parse_response(500, &gone) {
            Err(VsphereError::ManagedObjectNotFound { moref }) => {
                assert_eq!(moref, ManagedObjectRef::new("HostSystem", "host-999"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn maps_no_permission_and_unknown_faults() {
        let denied = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Permission to perform this operation was denied.</faultstring>"#,
            r#"<detail><NoPermissionFault xmlns="urn:vim25" xsi:type="NoPermission">"#,
            r#"<object type="HostSystem">host-1</object><privilegeId>Alarm.DisableActions</privilegeId>"#,
            r#"</NoPermissionFault></detail></soapenv:Fault>"#
        ));
        match parse_response(500, &denied) {
            Err(e @ VsphereError::NoPermission { .. }) => {
                assert!(e.to_string().contains("Alarm.DisableActions"));
            }
            other => panic!("{other:?}"),
        }
        let other = wrap(concat!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>vm-1 does not implement: Foo</faultstring>"#,
            r#"<detail><MethodNotFoundFault xmlns="urn:vim25" xsi:type="MethodNotFound"/></detail></soapenv:Fault>"#
        ));
        match parse_response(500, &other) {
            Err(VsphereError::Fault {
                fault_type,
                message,
                code,
            }) => {
                assert_eq!(fault_type, "MethodNotFound");
                assert_eq!(message, "vm-1 does not implement: Foo");
                assert_eq!(code, "ServerFaultCode");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_soap_answers_are_http_errors() {
        match parse_response(503, "<html><body>Service Unavailable</body></html>") {
            Err(e @ VsphereError::Http { status: 503, .. }) => assert!(e.is_unavailable()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_response(404, "not found"),
            Err(VsphereError::Http { status: 404, .. })
        ));
        assert!(matches!(
            parse_response(200, "<<<"),
            Err(VsphereError::Xml(_))
        ));
        assert!(matches!(
            parse_response(200, "<a/>"),
            Err(VsphereError::Protocol(_))
        ));
    }
}
