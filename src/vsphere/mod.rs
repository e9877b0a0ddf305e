//! vSphere SOAP client: session, property collector, events, custom fields,
//! alarm manager, host maintenance tasks.
//!
//! Owns: everything vcgate says to vCenter's `/sdk` endpoint, and the typed
//! values it gets back ([`VcEvent`], [`HostState`], ...). Built on reqwest
//! (rustls) and quick-xml, no generated bindings: vcgate uses a dozen methods,
//! and a hand-written envelope per method is smaller and easier to audit than
//! the WSDL. Must not: decide anything (enrichment, guard policy and routing
//! live elsewhere), nor ever log or return the password or the session cookie.
//!
//! Layout: [`xml`] parses answers into a namespace-aware tree; [`soap`] writes
//! envelopes and turns answers/faults into results; [`error`] maps faults;
//! [`client`] holds the session (login, cookie, re-login once on
//! `NotAuthenticated`); [`props`] is the PropertyCollector; [`events`] is the
//! EventManager; [`inventory`] has hosts, VMs, custom fields, alarm actions
//! and tasks.

pub mod client;
pub mod error;
pub mod events;
pub mod inventory;
pub mod props;
pub mod soap;
pub mod xml;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use client::{About, Client, ServiceContent};
pub use error::VsphereError;
pub use events::{EventFilterSpec, EventRecursion, NamedRef, VcEvent};
pub use inventory::{CustomFieldDef, HostState};
pub use props::{ObjectContent, PropValue};
pub use xml::Element;

/// A ManagedObjectReference: the object's type and its MOID (`host-21`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagedObjectRef {
    /// Managed object type, e.g. `HostSystem`, `VirtualMachine`.
    pub kind: String,
    /// MOID, unique per vCenter for that type, e.g. `vm-42`.
    pub value: String,
}

impl ManagedObjectRef {
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        ManagedObjectRef {
            kind: kind.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for ManagedObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// How to reach and authenticate to one vCenter.
#[derive(Clone)]
pub struct ClientConfig {
    /// Configured vCenter name (`vc1`), used in logs and errors.
    pub name: String,
    /// SDK endpoint, `https://vc.example.com/sdk` (plain `http://` is allowed
    /// for the simulator).
    pub url: String,
    pub username: String,
    /// Never printed: `Debug` is implemented by hand to redact it.
    pub password: String,
    /// Skip TLS certificate verification. Explicit opt-in only.
    pub insecure: bool,
    /// Extra PEM root(s) to trust, e.g. the VCSA's own CA.
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout (connect + answer).
    pub timeout: Duration,
    /// Largest answer read (bytes); a bigger one fails its call with
    /// [`VsphereError::ResponseTooLarge`] without being read whole.
    pub max_response: u64,
}

/// Default for [`ClientConfig::max_response`].
pub const DEFAULT_MAX_RESPONSE: u64 = 16 << 20;

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .field("max_response", &self.max_response)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_password() {
        let cfg = ClientConfig {
            name: "vc1".into(),
            url: "https://vc/sdk".into(),
            username: "svc".into(),
            password: "s3cr3t-Pa55".into(),
            insecure: false,
            ca_file: None,
            timeout: Duration::from_secs(5),
            max_response: DEFAULT_MAX_RESPONSE,
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cr3t-Pa55"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("svc"));
    }
}
