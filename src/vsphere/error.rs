//! Errors of the vSphere client, and the mapping from SOAP faults to them.
//!
//! Owns: [`VsphereError`] and `fault_to_error`. Policy: callers match on the
//! few faults they act on (bad credentials, expired session, vanished object,
//! duplicate name, missing privilege); every other fault keeps its type name
//! and message. Must not: carry credentials, cookies or request bodies — only
//! fault text that vCenter itself produced.

use super::ManagedObjectRef;

/// What can go wrong talking to vCenter.
#[derive(Debug, thiserror::Error)]
pub enum VsphereError {
    /// Login was refused (wrong user name or password).
    #[error("vCenter refused the login (InvalidLogin)")]
    InvalidLogin,
    /// The session is gone; the client already re-logged in once and retried.
    #[error("vCenter session is not authenticated (NotAuthenticated)")]
    NotAuthenticated,
    /// The managed object does not exist (deleted, or a stale MOID).
    #[error("managed object {moref} not found")]
    ManagedObjectNotFound { moref: ManagedObjectRef },
    /// An object with that name exists already (e.g. a custom field).
    #[error("name {name:?} already exists (DuplicateName)")]
    DuplicateName { name: String },
    /// The user lacks a privilege.
    #[error("permission denied{}", privilege.as_deref().map(|p| format!(": missing privilege {p}")).unwrap_or_default())]
    NoPermission {
        privilege: Option<String>,
        object: Option<ManagedObjectRef>,
    },
    /// Any other SOAP fault, by its vSphere type name.
    #[error("vSphere fault {fault_type}: {message}")]
    Fault {
        /// SOAP faultcode, e.g. `ServerFaultCode`.
        code: String,
        /// faultstring or the task's localized message (may be empty).
        message: String,
        /// vSphere fault type, e.g. `InvalidArgument`, `MethodNotFound`.
        fault_type: String,
    },
    /// An HTTP answer that is not SOAP (proxy error page, 404, 503...).
    #[error("HTTP {status} from vCenter: {snippet}")]
    Http { status: u16, snippet: String },
    /// vCenter could not be reached or did not answer in time. Callers treat
    /// this as "vCenter down" (degrade, retry later), unlike a fault.
    #[error("cannot reach vCenter ({}): {source}", if *timeout { "timeout" } else { "connection" })]
    Transport {
        /// True when the request timed out (as opposed to refused/reset/DNS/TLS).
        timeout: bool,
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake failed (untrusted or invalid certificate, protocol
    /// mismatch). A configuration problem, not an outage: retrying will not
    /// help until `ca_file`/the certificate is fixed.
    #[error("TLS with vCenter failed: {detail} (check ca_file and the vCenter certificate)")]
    Tls {
        /// The innermost cause, e.g. `invalid peer certificate: UnknownIssuer`.
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not well-formed XML.
    #[error("malformed XML from vCenter: {0}")]
    Xml(String),
    /// The answer was larger than the configured limit (`[[vcenter]]
    /// max_response`), or its parsed tree than its budget; the rest was
    /// never read.
    #[error("vCenter's answer exceeds {limit} bytes ([[vcenter]] max_response)")]
    ResponseTooLarge { limit: u64 },
    /// The answer nests elements deeper than the parser accepts.
    #[error("vCenter's answer nests elements deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// Well-formed but not what the protocol promises (missing element...).
    #[error("unexpected answer from vCenter: {0}")]
    Protocol(String),
    /// The client configuration is unusable (bad URL, unreadable CA file).
    #[error("invalid vSphere client configuration: {0}")]
    Config(String),
}

impl VsphereError {
    /// True when vCenter is unreachable (connection refused, reset, timeout),
    /// i.e. the call may succeed later without any change on our side.
    pub fn is_unavailable(&self) -> bool {
        match self {
            VsphereError::Transport { .. } => true,
            VsphereError::Http { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// The vSphere fault type name, when this error came from a fault.
    pub fn fault_type(&self) -> Option<&str> {
        Some(match self {
            VsphereError::InvalidLogin => "InvalidLogin",
            VsphereError::NotAuthenticated => "NotAuthenticated",
            VsphereError::ManagedObjectNotFound { .. } => "ManagedObjectNotFound",
            VsphereError::DuplicateName { .. } => "DuplicateName",
            VsphereError::NoPermission { .. } => "NoPermission",
            VsphereError::Fault { fault_type, .. } => fault_type,
            _ => return None,
        })
    }
}

impl From<reqwest::Error> for VsphereError {
    fn from(source: reqwest::Error) -> Self {
        if let Some(detail) = tls_failure(&source) {
            return VsphereError::Tls { detail, source };
        }
        VsphereError::Transport {
            timeout: source.is_timeout(),
            source,
        }
    }
}

/// rustls surfaces handshake failures as `io::ErrorKind::InvalidData`
/// somewhere in the source chain (refused/reset/timeouts use other kinds);
/// returns the innermost message in that case. Detected this way to avoid
/// depending on rustls's error type directly.
fn tls_failure(err: &reqwest::Error) -> Option<String> {
    let mut tls = false;
    let mut innermost = err.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        // io::Error::source() skips a wrapped io::Error (it returns the
        // inner error's source), so look inside with get_ref().
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(i) = io {
            tls |= i.kind() == std::io::ErrorKind::InvalidData;
            io = i
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        innermost = e.to_string();
        cur = e.source();
    }
    tls.then_some(innermost)
}

/// Maps a fault detail element (`<InvalidLoginFault xsi:type="InvalidLogin">`,
/// or a task's `info.error.fault`) to a typed error.
pub(crate) fn fault_to_error(
    detail: Option<&super::xml::Element>,
    code: &str,
    message: &str,
) -> VsphereError {
    let fault_type = detail
        .map(|d| {
            d.xsi_type
                .clone()
                .unwrap_or_else(|| d.name.trim_end_matches("Fault").to_owned())
        })
        .unwrap_or_default();
    let text = |name: &str| {
        detail
            .and_then(|d| d.child_text(name))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let moref = |name: &str| {
        detail
            .and_then(|d| d.child(name))
            .and_then(|e| e.as_moref())
    };
    match fault_type.as_str() {
        "InvalidLogin" => VsphereError::InvalidLogin,
        "NotAuthenticated" => VsphereError::NotAuthenticated,
        "ManagedObjectNotFound" => match moref("obj") {
            Some(moref) => VsphereError::ManagedObjectNotFound { moref },
            None => generic_fault(code, message, fault_type),
        },
        "DuplicateName" => VsphereError::DuplicateName {
            name: text("name").unwrap_or_default(),
        },
        "NoPermission" => VsphereError::NoPermission {
            privilege: text("privilegeId"),
            object: moref("object"),
        },
        "" => generic_fault(code, message, "Unknown".to_owned()),
        _ => generic_fault(code, message, fault_type),
    }
}

fn generic_fault(code: &str, message: &str, fault_type: String) -> VsphereError {
    VsphereError::Fault {
        code: code.to_owned(),
        message: message.to_owned(),
        fault_type,
    }
}
