//! The session with one vCenter: HTTP transport, login, cookie, retry.
//!
//! Owns: [`Client`] (cheap to clone; one session shared by all clones),
//! [`ServiceContent`], and [`Client::invoke`], through which every SOAP call
//! goes. Rules enforced here: the `SOAPAction` names the server's own
//! `about.apiVersion`; the `vmware_soap_session` cookie is sent back verbatim;
//! a `NotAuthenticated` fault triggers exactly one re-login and one retry;
//! concurrent callers that hit an expired session re-login only once. Must
//! not: log bodies (a Login body holds the password) or the cookie.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};

use super::error::VsphereError;
use super::soap::{self, Body};
use super::xml::Element;
use super::{ClientConfig, ManagedObjectRef};

/// Name of vCenter's session cookie.
const SESSION_COOKIE: &str = "vmware_soap_session";

/// SOAPAction for the very first call, before `about.apiVersion` is known.
/// 6.5 is accepted by every vCenter vcgate supports (6.5 to 8.x) and by the
/// simulator; all later calls use the server's own version.
const BOOTSTRAP_VERSION: &str = "6.5";

/// The managers vcgate uses, from `RetrieveServiceContent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContent {
    pub about: About,
    pub root_folder: ManagedObjectRef,
    pub property_collector: ManagedObjectRef,
    pub view_manager: ManagedObjectRef,
    pub session_manager: ManagedObjectRef,
    pub event_manager: Option<ManagedObjectRef>,
    pub custom_fields_manager: Option<ManagedObjectRef>,
    pub alarm_manager: Option<ManagedObjectRef>,
}

/// `ServiceContent.about`: what the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// e.g. `8.0.2.0`; used verbatim in `SOAPAction: urn:vim25/<version>`.
    pub api_version: String,
    /// e.g. `VMware vCenter Server 8.0.2 build-...`.
    pub full_name: String,
    /// `VirtualCenter` or `HostAgent`.
    pub api_type: String,
    pub instance_uuid: Option<String>,
}

impl ServiceContent {
    fn parse(returnval: &Element) -> Result<Self, VsphereError> {
        let req = |name: &str| {
            returnval
                .child(name)
                .and_then(Element::as_moref)
                .ok_or_else(|| VsphereError::Protocol(format!("ServiceContent without {name}")))
        };
        let opt = |name: &str| returnval.child(name).and_then(Element::as_moref);
        let about = returnval
            .child("about")
            .ok_or_else(|| VsphereError::Protocol("ServiceContent without about".into()))?;
        let text = |name: &str| about.child_text(name).map(|s| s.trim().to_owned());
        let api_version = text("apiVersion")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                VsphereError::Protocol("ServiceContent without about.apiVersion".into())
            })?;
        Ok(ServiceContent {
            about: About {
                api_version,
                full_name: text("fullName").unwrap_or_default(),
                api_type: text("apiType").unwrap_or_default(),
                instance_uuid: text("instanceUuid"),
            },
            root_folder: req("rootFolder")?,
            property_collector: req("propertyCollector")?,
            view_manager: req("viewManager")?,
            session_manager: req("sessionManager")?,
            event_manager: opt("eventManager"),
            custom_fields_manager: opt("customFieldsManager"),
            alarm_manager: opt("alarmManager"),
        })
    }
}

/// A vCenter session. Clones share it; all methods are `&self` and may be
/// called concurrently.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    http: reqwest::Client,
    /// Held only for short, non-async sections.
    session: Mutex<Session>,
    /// Serialises connect/login so concurrent expired calls log in once.
    login: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Session {
    content: Option<Arc<ServiceContent>>,
    /// `vmware_soap_session="..."`, exactly as the server set it.
    cookie: Option<String>,
    /// Bumped on every successful login; lets a caller tell whether someone
    /// else already re-logged in since its call failed.
    generation: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, never the cookie.
        f.debug_struct("Client")
            .field("name", &self.inner.cfg.name)
            .field("url", &self.inner.cfg.url)
            .field("username", &self.inner.cfg.username)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Validates the configuration and builds the HTTP client. No I/O: the
    /// first call (or [`Client::connect`]) logs in.
    pub fn new(cfg: ClientConfig) -> Result<Client, VsphereError> {
        let url = reqwest::Url::parse(&cfg.url)
            // The parse error, not the URL: an unparsable URL may hold a password.
            .map_err(|e| VsphereError::Config(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(VsphereError::Config(
                "url scheme must be http or https".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials in the URL would end up in logs and error messages.
            return Err(VsphereError::Config(
                "url must not contain credentials; use username/password".into(),
            ));
        }
        if cfg.timeout.is_zero() {
            return Err(VsphereError::Config("timeout must be > 0".into()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vcgate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| VsphereError::Config(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| VsphereError::Config(format!("ca_file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(VsphereError::Config(format!(
                    "ca_file {}: no PEM certificate found",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if cfg.insecure {
            tracing::warn!(vcenter = %cfg.name, "TLS certificate verification disabled (insecure = true)");
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| VsphereError::Config(format!("HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                cfg,
                http,
                session: Mutex::new(Session::default()),
                login: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The configured vCenter name.
    pub fn name(&self) -> &str {
        &self.inner.cfg.name
    }

    /// RetrieveServiceContent, then Login. Safe to call again: the current
    /// session, if any, is logged out (best effort) and a fresh one started,
    /// so repeated connects do not pile up sessions on the server.
    pub async fn connect(&self) -> Result<Arc<ServiceContent>, VsphereError> {
        let _guard = self.inner.login.lock().await;
        if let Err(e) = self.logout_locked().await {
            tracing::debug!(vcenter = %self.name(), error = %e, "logout before reconnect failed");
        }
        self.connect_locked().await
    }

    /// Whether a session cookie is currently held (it may still have expired
    /// on the server side).
    pub fn is_logged_in(&self) -> bool {
        self.lock_session().cookie.is_some()
    }

    /// The service content, connecting first if needed.
    pub async fn service_content(&self) -> Result<Arc<ServiceContent>, VsphereError> {
        if let Some(content) = self.lock_session().content.clone() {
            return Ok(content);
        }
        let _guard = self.inner.login.lock().await;
        if let Some(content) = self.lock_session().content.clone() {
            return Ok(content);
        }
        self.connect_locked().await
    }

    /// Ends the session. An already expired session counts as logged out.
    pub async fn logout(&self) -> Result<(), VsphereError> {
        let _guard = self.inner.login.lock().await;
        self.logout_locked().await
    }

    async fn logout_locked(&self) -> Result<(), VsphereError> {
        let (content, cookie) = {
            let mut s = self.lock_session();
            (s.content.clone(), s.cookie.take())
        };
        let (Some(content), Some(cookie)) = (content, cookie) else {
            return Ok(());
        };
        let body = Body::new("Logout", &content.session_manager).finish();
        match self
            .send("Logout", &body, Some(&cookie), &content.about.api_version)
            .await
        {
            Ok(_) | Err(VsphereError::NotAuthenticated) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends one method call in the current session and returns its
    /// `<MethodResponse>` element. Connects first if needed; on a
    /// `NotAuthenticated` fault logs in again once and retries once.
    ///
    /// This is the low-level entry point for methods this module does not
    /// wrap; build the body with [`Body`] so every value is escaped.
    pub async fn invoke(&self, body: Body) -> Result<Element, VsphereError> {
        let method = body.method();
        let body = body.finish();
        let content = self.service_content().await?;
        let version = content.about.api_version.as_str();
        let (cookie, generation) = self.session_cookie().await?;
        match self.send(method, &body, Some(&cookie), version).await {
            Err(VsphereError::NotAuthenticated) => {
                tracing::info!(vcenter = %self.name(), method, "vCenter session expired; logging in again");
                self.relogin(generation).await?;
                let (cookie, _) = self.session_cookie().await?;
                self.send(method, &body, Some(&cookie), version).await
            }
            other => other,
        }
    }

    /// The response's `returnval`, or a protocol error naming the method.
    pub(crate) fn returnval<'a>(
        res: &'a Element,
        method: &str,
    ) -> Result<&'a Element, VsphereError> {
        res.child("returnval")
            .ok_or_else(|| VsphereError::Protocol(format!("{method} answer without returnval")))
    }

    fn lock_session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic while holding this lock cannot leave Session inconsistent
        // (plain field writes), so a poisoned lock is still usable.
        self.inner
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Current cookie and generation, logging in if there is no cookie.
    async fn session_cookie(&self) -> Result<(String, u64), VsphereError> {
        {
            let s = self.lock_session();
            if let Some(cookie) = &s.cookie {
                return Ok((cookie.clone(), s.generation));
            }
        }
        let _guard = self.inner.login.lock().await;
        {
            let s = self.lock_session();
            if let Some(cookie) = &s.cookie {
                return Ok((cookie.clone(), s.generation));
            }
        }
        self.login_locked().await?;
        let s = self.lock_session();
        let cookie = s
            .cookie
            .clone()
            .ok_or_else(|| VsphereError::Protocol("no session after login".into()))?;
        Ok((cookie, s.generation))
    }

    async fn relogin(&self, failed_generation: u64) -> Result<(), VsphereError> {
        let _guard = self.inner.login.lock().await;
        if self.lock_session().generation != failed_generation {
            return Ok(()); // another caller already logged in again
        }
        self.lock_session().cookie = None;
        self.login_locked().await
    }

    async fn connect_locked(&self) -> Result<Arc<ServiceContent>, VsphereError> {
        let body = Body::new(
            "RetrieveServiceContent",
            &ManagedObjectRef::new("ServiceInstance", "ServiceInstance"),
        )
        .finish();
        let res = self
            .send("RetrieveServiceContent", &body, None, BOOTSTRAP_VERSION)
            .await?;
        let content = Arc::new(ServiceContent::parse(Self::returnval(
            &res,
            "RetrieveServiceContent",
        )?)?);
        tracing::debug!(
            vcenter = %self.name(),
            api_version = %content.about.api_version,
            server = %content.about.full_name,
            "retrieved service content"
        );
        {
            let mut s = self.lock_session();
            s.content = Some(content.clone());
            s.cookie = None; // a fresh Login must not carry an old session
        }
        self.login_locked().await?;
        Ok(content)
    }

    /// Login; caller holds `inner.login` and has cleared the cookie.
    async fn login_locked(&self) -> Result<(), VsphereError> {
        let content = self
            .lock_session()
            .content
            .clone()
            .ok_or_else(|| VsphereError::Protocol("login before service content".into()))?;
        let mut body = Body::new("Login", &content.session_manager);
        body.text("userName", &self.inner.cfg.username)
            .text("password", &self.inner.cfg.password);
        let body = body.finish();
        let (res, cookie) = self
            .send_raw("Login", &body, None, &content.about.api_version)
            .await?;
        res?;
        let cookie = cookie.ok_or_else(|| {
            VsphereError::Protocol(format!("Login answer set no {SESSION_COOKIE} cookie"))
        })?;
        let mut s = self.lock_session();
        s.cookie = Some(cookie);
        s.generation += 1;
        tracing::info!(vcenter = %self.name(), user = %self.inner.cfg.username, "logged in to vCenter");
        Ok(())
    }

    async fn send(
        &self,
        method: &str,
        body: &str,
        cookie: Option<&str>,
        version: &str,
    ) -> Result<Element, VsphereError> {
        let (res, new_cookie) = self.send_raw(method, body, cookie, version).await?;
        if let (Some(new), Some(_)) = (new_cookie, cookie) {
            // Servers may re-issue the cookie on any answer; keep the latest.
            self.lock_session().cookie = Some(new);
        }
        res
    }

    /// One HTTP round trip. The outer error is transport-level; the inner
    /// result is the SOAP outcome, returned with any session cookie set.
    async fn send_raw(
        &self,
        method: &str,
        body: &str,
        cookie: Option<&str>,
        version: &str,
    ) -> Result<(Result<Element, VsphereError>, Option<String>), VsphereError> {
        let mut req = self
            .inner
            .http
            .post(&self.inner.cfg.url)
            .header(CONTENT_TYPE, r#"text/xml; charset="utf-8""#)
            .header("SOAPAction", format!("urn:vim25/{version}"))
            .body(soap::envelope(body));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        let started = std::time::Instant::now();
        let resp = req.send().await.inspect_err(|e| {
            tracing::debug!(vcenter = %self.name(), method, error = %e, "vSphere call failed to send");
        })?;
        let status = resp.status().as_u16();
        let cookie = session_cookie_from(resp.headers());
        let limit = self.inner.cfg.max_response;
        let bytes = read_capped(resp, limit).await?;
        let text = String::from_utf8_lossy(&bytes);
        // The tree may take up to 8 bytes per byte of the largest answer.
        let max_tree = usize::try_from(limit.saturating_mul(8)).unwrap_or(usize::MAX);
        let result = soap::parse_bounded_response(status, &text, max_tree);
        match &result {
            Ok(_) => {
                tracing::trace!(vcenter = %self.name(), method, status, elapsed = ?started.elapsed(), "vSphere call")
            }
            Err(e) => {
                tracing::debug!(vcenter = %self.name(), method, status, error = %e, "vSphere call failed")
            }
        }
        Ok((result, cookie))
    }
}

/// Reads an answer chunk by chunk, giving up (and dropping the connection)
/// as soon as it would exceed `limit` bytes: a huge answer never sits whole
/// in memory.
async fn read_capped(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, VsphereError> {
    if resp.content_length().is_some_and(|len| len > limit) {
        return Err(VsphereError::ResponseTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(VsphereError::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Extracts `vmware_soap_session=...` (up to the first `;`) from Set-Cookie.
fn session_cookie_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name.trim() == SESSION_COOKIE && !value.is_empty())
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn keeps_the_session_cookie_verbatim() {
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(
                r#"vmware_soap_session="52a1b2c3-aa"; Path=/; HttpOnly; Secure;"#,
            ),
        );
        assert_eq!(
            session_cookie_from(&h).as_deref(),
            Some(r#"vmware_soap_session="52a1b2c3-aa""#)
        );
        let mut none = HeaderMap::new();
        none.append(
            SET_COOKIE,
            HeaderValue::from_static("vmware_soap_session=; Path=/"),
        );
        assert_eq!(session_cookie_from(&none), None);
    }

    // Captured from the simulator (trimmed to the fields vcgate reads).
    #[test]
    fn parses_service_content() {
        let rv = super::super::xml::parse(concat!(
            r#"<returnval><rootFolder type="Folder">group-d1</rootFolder>"#,
            r#"<propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>"#,
            r#"<viewManager type="ViewManager">ViewManager</viewManager>"#,
            r#"<about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 6.5.0 build-5973321</fullName>"#,
            r#"<apiType>VirtualCenter</apiType><apiVersion>6.5</apiVersion>"#,
            r#"<instanceUuid>dbed6e0c-bd88-4ef6-b594-21283e1c677f</instanceUuid></about>"#,
            r#"<sessionManager type="SessionManager">SessionManager</sessionManager>"#,
            r#"<eventManager type="EventManager">EventManager</eventManager>"#,
            r#"<customFieldsManager type="CustomFieldsManager">CustomFieldsManager</customFieldsManager>"#,
            r#"</returnval>"#
        ))
        .unwrap();
        let sc = ServiceContent::parse(&rv).unwrap();
        assert_eq!(sc.about.api_version, "6.5");
        assert_eq!(sc.root_folder, ManagedObjectRef::new("Folder", "group-d1"));
        assert_eq!(sc.alarm_manager, None);
        assert_eq!(
            sc.event_manager,
            Some(ManagedObjectRef::new("EventManager", "EventManager"))
        );
    }

    #[test]
    fn rejects_bad_configs_without_echoing_secrets() {
        let cfg = |url: &str| ClientConfig {
            name: "vc".into(),
            url: url.into(),
            username: "u".into(),
            password: "hunter2".into(),
            insecure: false,
            ca_file: None,
            timeout: Duration::from_secs(1),
            max_response: crate::vsphere::DEFAULT_MAX_RESPONSE,
        };
        for url in [
            "ftp://vc/sdk",
            "not a url hunter2",
            "https://u:hunter2@vc/sdk",
            "https://u:hunter2@[bad/sdk",
        ] {
            let err = Client::new(cfg(url)).unwrap_err();
            assert!(matches!(err, VsphereError::Config(_)), "{url}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let client = Client::new(cfg("http://127.0.0.1:1/sdk")).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
