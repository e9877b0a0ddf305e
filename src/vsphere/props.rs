//! PropertyCollector: reading properties of managed objects.
//!
//! Owns: [`PropValue`], [`ObjectContent`], RetrievePropertiesEx with
//! ContinueRetrievePropertiesEx paging, and listing all objects of a type via
//! a ContainerView (always destroyed afterwards: views are per-session
//! server state). Must not: interpret properties (see `inventory`).

use std::collections::BTreeMap;

use super::ManagedObjectRef;
use super::client::Client;
use super::error::VsphereError;
use super::soap::Body;
use super::xml::Element;

/// One property value, typed when the wire type is simple.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    /// `xsd:string` and the other textual xsd types (dateTime, anyURI...).
    String(String),
    Bool(bool),
    /// `xsd:int`, `xsd:long`, `xsd:short`, `xsd:byte`.
    Int(i64),
    ManagedObjectRef(ManagedObjectRef),
    /// `ArrayOfManagedObjectReference`.
    Morefs(Vec<ManagedObjectRef>),
    /// Anything structured (`ArrayOfCustomFieldValue`, `TaskInfo`, enums...),
    /// as the `val` element; its `xsi_type` says what it is.
    Other(Element),
}

impl PropValue {
    /// Textual value: strings, and leaf values such as enums (`success`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropValue::String(s) => Some(s),
            PropValue::Other(e) if e.children.is_empty() => Some(&e.text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PropValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PropValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_moref(&self) -> Option<&ManagedObjectRef> {
        match self {
            PropValue::ManagedObjectRef(m) => Some(m),
            _ => None,
        }
    }

    /// The raw element for structured values.
    pub fn as_element(&self) -> Option<&Element> {
        match self {
            PropValue::Other(e) => Some(e),
            _ => None,
        }
    }

    /// Reads a `val` element by its `xsi:type`.
    pub(crate) fn from_val(val: &Element) -> PropValue {
        let t = val.xsi_type.as_deref().unwrap_or_default();
        match t {
            "string" | "dateTime" | "anyURI" | "base64Binary" | "float" | "double" => {
                PropValue::String(val.text.clone())
            }
            "boolean" => val
                .as_bool()
                .map(PropValue::Bool)
                .unwrap_or_else(|| PropValue::Other(val.clone())),
            "int" | "long" | "short" | "byte" => val
                .as_i64()
                .map(PropValue::Int)
                .unwrap_or_else(|| PropValue::Other(val.clone())),
            "ManagedObjectReference" => val
                .as_moref()
                .map(PropValue::ManagedObjectRef)
                .unwrap_or_else(|| PropValue::Other(val.clone())),
            "ArrayOfManagedObjectReference" => {
                PropValue::Morefs(val.children.iter().filter_map(Element::as_moref).collect())
            }
            _ => PropValue::Other(val.clone()),
        }
    }
}

/// One object and the requested properties it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectContent {
    pub moref: ManagedObjectRef,
    /// By property path (`runtime.inMaintenanceMode`). A property the server
    /// left unset is absent here.
    pub props: BTreeMap<String, PropValue>,
    /// Paths the server could not read (missingSet), e.g. for lack of privilege.
    pub missing: Vec<String>,
}

impl ObjectContent {
    pub fn get(&self, path: &str) -> Option<&PropValue> {
        self.props.get(path)
    }

    fn parse(objects: &Element) -> Option<ObjectContent> {
        let moref = objects.child("obj")?.as_moref()?;
        let props = objects
            .children_named("propSet")
            .filter_map(|p| {
                let name = p.child_text("name")?.trim().to_owned();
                Some((name, PropValue::from_val(p.child("val")?)))
            })
            .collect();
        let missing = objects
            .children_named("missingSet")
            .filter_map(|m| m.child_text("path").map(|p| p.trim().to_owned()))
            .collect();
        Some(ObjectContent {
            moref,
            props,
            missing,
        })
    }
}

/// Where the property filter starts.
enum Start<'a> {
    /// These objects themselves.
    Objects(&'a [ManagedObjectRef]),
    /// Every object a ContainerView lists.
    View(&'a ManagedObjectRef),
}

impl Client {
    /// Properties `paths` of the given objects, all of type `kind`.
    pub async fn retrieve_properties(
        &self,
        kind: &str,
        objects: &[ManagedObjectRef],
        paths: &[&str],
    ) -> Result<Vec<ObjectContent>, VsphereError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        self.retrieve(kind, Start::Objects(objects), paths).await
    }

    /// Properties `paths` of one object; `ManagedObjectNotFound` if it is gone.
    pub async fn retrieve_one(
        &self,
        moref: &ManagedObjectRef,
        paths: &[&str],
    ) -> Result<ObjectContent, VsphereError> {
        let mut all = self
            .retrieve_properties(&moref.kind, std::slice::from_ref(moref), paths)
            .await?;
        match all.pop() {
            Some(oc) => Ok(oc),
            // The simulator and vCenter fault; an empty answer means the same.
            None => Err(VsphereError::ManagedObjectNotFound {
                moref: moref.clone(),
            }),
        }
    }

    /// Every object of type `kind` under the root folder (recursively), with
    /// properties `paths`, through a temporary ContainerView.
    pub async fn list_objects(
        &self,
        kind: &str,
        paths: &[&str],
    ) -> Result<Vec<ObjectContent>, VsphereError> {
        // Views belong to the session that created them: if the session is
        // replaced (re-login after expiry) between creating and reading the
        // view, the read fails with ManagedObjectNotFound for the view.
        // One retry with a fresh view covers that.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let view = self.create_view(kind).await?;
            let result = self.retrieve(kind, Start::View(&view), paths).await;
            match result {
                Err(VsphereError::ManagedObjectNotFound { moref })
                    if moref == view && attempts < 2 =>
                {
                    tracing::debug!(vcenter = %self.name(), "container view lost with its session; retrying");
                }
                result => {
                    if let Err(e) = self.invoke(Body::new("DestroyView", &view)).await {
                        // Not fatal: the view dies with the session anyway.
                        tracing::debug!(vcenter = %self.name(), error = %e, "DestroyView failed");
                    }
                    return result;
                }
            }
        }
    }

    async fn create_view(&self, kind: &str) -> Result<ManagedObjectRef, VsphereError> {
        let sc = self.service_content().await?;
        let mut body = Body::new("CreateContainerView", &sc.view_manager);
        body.moref("container", &sc.root_folder)
            .text("type", kind)
            .text("recursive", true);
        let res = self.invoke(body).await?;
        Self::returnval(&res, "CreateContainerView")?
            .as_moref()
            .ok_or_else(|| VsphereError::Protocol("CreateContainerView: no view".into()))
    }

    async fn retrieve(
        &self,
        kind: &str,
        start: Start<'_>,
        paths: &[&str],
    ) -> Result<Vec<ObjectContent>, VsphereError> {
        let sc = self.service_content().await?;
        let pc = &sc.property_collector;
        let mut body = Body::new("RetrievePropertiesEx", pc);
        // PropertyFilterSpec, in XSD order: propSet, objectSet.
        body.open("specSet").open("propSet").text("type", kind);
        for path in paths {
            body.text("pathSet", path);
        }
        body.close("propSet");
        match start {
            Start::Objects(objects) => {
                for obj in objects {
                    body.open("objectSet").moref("obj", obj).close("objectSet");
                }
            }
            Start::View(view) => {
                // TraversalSpec in XSD order: name, type, path, skip.
                body.open("objectSet")
                    .moref("obj", view)
                    .text("skip", true)
                    .open_typed("selectSet", "TraversalSpec")
                    .text("name", "view")
                    .text("type", "ContainerView")
                    .text("path", "view")
                    .text("skip", false)
                    .close("selectSet")
                    .close("objectSet");
            }
        }
        body.close("specSet").open("options").close("options");

        let mut out = Vec::new();
        let res = self.invoke(body).await?;
        // No returnval means no matching objects.
        let mut token = collect_page(res.child("returnval"), &mut out);
        while let Some(t) = token {
            let mut body = Body::new("ContinueRetrievePropertiesEx", pc);
            body.text("token", &t);
            let res = self.invoke(body).await?;
            token = collect_page(res.child("returnval"), &mut out);
        }
        Ok(out)
    }
}

/// Adds one RetrieveResult's objects to `out`; returns the paging token.
fn collect_page(returnval: Option<&Element>, out: &mut Vec<ObjectContent>) -> Option<String> {
    let rv = returnval?;
    out.extend(
        rv.children_named("objects")
            .filter_map(ObjectContent::parse),
    );
    rv.child_text("token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml;

    // Captured from the simulator: RetrievePropertiesEx on HostSystem, one object.
    const HOSTS: &str = concat!(
        r#"<returnval><token>page-2</token><objects><obj type="HostSystem">host-21</obj>"#,
        r#"<propSet><name>name</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">DC0_H0</val></propSet>"#,
        r#"<propSet><name>runtime.inMaintenanceMode</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:boolean">false</val></propSet>"#,
        r#"<propSet><name>alarmActionsEnabled</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:boolean">true</val></propSet>"#,
        r#"<propSet><name>customValue</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfCustomFieldValue">"#,
        r#"<CustomFieldValue XMLSchema-instance:type="CustomFieldStringValue"><key>0</key><value>a&lt;b &amp; &#34;c&#34;</value></CustomFieldValue></val></propSet>"#,
        r#"<missingSet><path>summary</path><fault><fault xsi:type="NoPermission" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></fault></missingSet>"#,
        r#"</objects><objects><obj type="HostSystem">host-34</obj></objects></returnval>"#
    );

    #[test]
    fn parses_objects_props_missing_and_token() {
        let rv = xml::parse(HOSTS).unwrap();
        let mut out = Vec::new();
        let token = collect_page(Some(&rv), &mut out);
        assert_eq!(token.as_deref(), Some("page-2"));
        assert_eq!(out.len(), 2);
        let h = &out[0];
        assert_eq!(h.moref, ManagedObjectRef::new("HostSystem", "host-21"));
        assert_eq!(h.get("name").and_then(PropValue::as_str), Some("DC0_H0"));
        assert_eq!(
            h.get("runtime.inMaintenanceMode")
                .and_then(PropValue::as_bool),
            Some(false)
        );
        assert_eq!(
            h.get("alarmActionsEnabled").and_then(PropValue::as_bool),
            Some(true)
        );
        let cv = h
            .get("customValue")
            .and_then(PropValue::as_element)
            .unwrap();
        assert_eq!(cv.xsi_type.as_deref(), Some("ArrayOfCustomFieldValue"));
        let v = &cv.children[0];
        assert_eq!(v.xsi_type.as_deref(), Some("CustomFieldStringValue"));
        assert_eq!(v.child_text("value"), Some("a<b & \"c\""));
        assert_eq!(h.missing, vec!["summary".to_owned()]);
        assert!(out[1].props.is_empty());
    }

    #[test]
    fn typed_values() {
        let v = |s: &str| PropValue::from_val(&xml::parse(s).unwrap());
        let ns = r#"xmlns:x="http://www.w3.org/2001/XMLSchema-instance""#;
        assert_eq!(
            v(&format!(r#"<val {ns} x:type="xsd:int">42</val>"#)),
            PropValue::Int(42)
        );
        assert_eq!(
            v(&format!(
                r#"<val {ns} x:type="ManagedObjectReference" type="Folder">group-d1</val>"#
            )),
            PropValue::ManagedObjectRef(ManagedObjectRef::new("Folder", "group-d1"))
        );
        assert_eq!(
            v(&format!(
                r#"<val {ns} x:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="VirtualMachine">vm-1</ManagedObjectReference></val>"#
            )),
            PropValue::Morefs(vec![ManagedObjectRef::new("VirtualMachine", "vm-1")])
        );
        let state = v(&format!(
            r#"<val {ns} x:type="TaskInfoState">success</val>"#
        ));
        assert_eq!(state.as_str(), Some("success"));
        assert_eq!(
            v(&format!(r#"<val {ns} x:type="xsd:boolean">maybe</val>"#)).as_bool(),
            None
        );
    }
}
