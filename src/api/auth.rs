//! Who may call what: bearer tokens, their scopes, and the middleware that
//! checks them before a handler (and before any body is read).
//!
//! Scopes: `ingest` (hook alarms, CloudEvent emit), `read` (every GET of the
//! API) and `admin` (silence writes, reload, retry — anything that changes
//! behaviour; an admin token may also read). An ingest token may be bound to
//! the vCenter names it may speak for ([`Grant::may_speak_for`], checked by
//! the ingest handler once the body names its vCenter).
//!
//! Open scopes: with no token of a scope configured, `ingest` and `read` are
//! open (config validation allows that only on a loopback listener); `admin`
//! is open only in the fully open default (no token of any scope), otherwise
//! refused until `[http] admin_tokens` is set.
//!
//! Used as a route-group layer: `route_layer(from_fn_with_state(Rule::new(…), require))`.
//!
//! Order in [`require`]: token (and scope) → a refused one spends only the
//! address's failed-authentication budget (401, or 429 once spent), so a
//! flood of wrong tokens cannot lock out a valid sender behind the same
//! address → an accepted ingest request spends the normal per-address
//! budget (429).
//! Must not: log tokens; compare tokens in variable time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::config::{Secret, Tokens};
use crate::model::Source;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// What a presented token (or an open scope) allows; handlers find it in the
/// request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    pub ingest: bool,
    pub read: bool,
    pub admin: bool,
    /// For ingest: the vCenters this token may speak for; `None` = any.
    pub vcenters: Option<Arc<[String]>>,
}

impl Grant {
    fn allows(&self, scope: Scope) -> bool {
        match scope {
            Scope::Ingest => self.ingest,
            // Admin implies read.
            Scope::Read => self.read || self.admin,
            Scope::Admin => self.admin,
        }
    }

    /// Whether an event claiming `vcenter` may come with this grant.
    pub fn may_speak_for(&self, vcenter: &str) -> bool {
        self.vcenters
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == vcenter))
    }

    fn open() -> Self {
        Grant {
            ingest: true,
            read: true,
            admin: true,
            vcenters: None,
        }
    }
}

/// The outcome of checking one request against one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Granted(Grant),
    /// No token, or not one of ours.
    Unauthenticated,
    /// A known token without this scope.
    WrongScope,
    /// Admin routes with no admin token configured (and not fully open).
    AdminDisabled,
}

/// Every configured token, kept only as SHA-256 digests so comparisons are
/// constant-time over equal-length values and the plain tokens are not held
/// in memory longer than config loading.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<([u8; 32], Grant)>,
    open_ingest: bool,
    open_read: bool,
    open_admin: bool,
    admin_configured: bool,
}

impl TokenTable {
    pub fn new(tokens: &Tokens) -> Self {
        let mut table = TokenTable {
            open_ingest: tokens.ingest.is_empty() && tokens.bound_ingest.is_empty(),
            open_read: tokens.read.is_empty(),
            open_admin: tokens.is_empty(),
            admin_configured: !tokens.admin.is_empty(),
            ..TokenTable::default()
        };
        let mut add = |secret: &Secret, f: &dyn Fn(&mut Grant)| {
            let digest: [u8; 32] = Sha256::digest(secret.expose().as_bytes()).into();
            match table.entries.iter_mut().find(|(d, _)| *d == digest) {
                Some((_, grant)) => f(grant),
                None => {
                    let mut grant = Grant::default();
                    f(&mut grant);
                    table.entries.push((digest, grant));
                }
            }
        };
        for t in &tokens.ingest {
            add(t, &|g| {
                g.ingest = true;
                g.vcenters = None;
            });
        }
        for (t, names) in &tokens.bound_ingest {
            let names: Arc<[String]> = names.clone().into();
            add(t, &|g| {
                // A token also listed unbound keeps speaking for any vCenter.
                let unbound = g.ingest && g.vcenters.is_none();
                g.ingest = true;
                if !unbound {
                    let mut all: Vec<String> = g.vcenters.as_deref().unwrap_or(&[]).to_vec();
                    all.extend(names.iter().cloned());
                    g.vcenters = Some(all.into());
                }
            });
        }
        for t in &tokens.read {
            add(t, &|g| g.read = true);
        }
        for t in &tokens.admin {
            add(t, &|g| g.admin = true);
        }
        table
    }

    fn is_open(&self, scope: Scope) -> bool {
        match scope {
            Scope::Ingest => self.open_ingest,
            Scope::Read => self.open_read,
            Scope::Admin => self.open_admin,
        }
    }

    /// The pure decision for one presented token (`None`: no usable
    /// `Authorization: Bearer` header) and one scope.
    pub fn decide(&self, presented: Option<&str>, scope: Scope) -> Access {
        if self.is_open(scope) {
            return Access::Granted(Grant::open());
        }
        if scope == Scope::Admin && !self.admin_configured {
            return Access::AdminDisabled;
        }
        let Some(presented) = presented else {
            return Access::Unauthenticated;
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Look at every entry (no early exit) so timing does not reveal which matched.
        let mut found: Option<&Grant> = None;
        for (d, grant) in &self.entries {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(grant);
            }
        }
        match found {
            None => Access::Unauthenticated,
            Some(grant) if grant.allows(scope) => Access::Granted(grant.clone()),
            Some(_) => Access::WrongScope,
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The state of one [`require`] layer: the app, the scope its routes need
/// and, for ingest routes, the source counted for them.
#[derive(Clone)]
pub struct Rule {
    pub state: AppState,
    pub scope: Scope,
    pub source: Option<Source>,
}

impl Rule {
    pub fn new(state: &AppState, scope: Scope, source: Option<Source>) -> Self {
        Rule {
            state: state.clone(),
            scope,
            source,
        }
    }
}

/// Checks the token (and scope) and the budgets before the handler runs; the
/// handler finds the [`Grant`] in the request's extensions.
pub async fn require(
    State(rule): State<Rule>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let state = &rule.state;
    let stats = &state.ingestor.stats;
    if let Some(source) = rule.source {
        stats.received(source);
    }
    let access = state.tokens.decide(bearer(request.headers()), rule.scope);
    let Access::Granted(grant) = access else {
        stats.auth_failed(rule.scope.as_str());
        if let Err(wait) = state.auth_failures.check(peer.ip()) {
            if let Some(source) = rule.source {
                stats.rejected(source, "auth_rate_limited");
            }
            return ApiError::rate_limited(wait).into_response();
        }
        if let Some(source) = rule.source {
            stats.rejected(source, "unauthorized");
        }
        return refusal(&access, rule.scope).into_response();
    };
    // The per-address request budget guards ingest (what senders flood);
    // reads and admin calls need a token and are not metered.
    if rule.scope == Scope::Ingest
        && let Err(wait) = state.rate_limit.check(peer.ip())
    {
        if let Some(source) = rule.source {
            stats.rejected(source, "rate_limited");
        }
        return ApiError::rate_limited(wait).into_response();
    }
    request.extensions_mut().insert(grant);
    // A store that does not answer (a hung disk or database) would hold the
    // request, and the connection, for as long as it hangs. Past the bound
    // the caller hears 503: nothing was acknowledged, and an ingest commit
    // that lands anyway is recognized by its delivery id on the retry.
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            if let Some(source) = rule.source {
                stats.rejected(source, "request_timeout");
            }
            if let Some(suppressed) = TIMEOUT_WARN.allow() {
                tracing::warn!(
                    scope = rule.scope.as_str(),
                    timeout = ?state.request_timeout,
                    suppressed,
                    "API request not answered within [http] request_timeout; answered 503"
                );
            }
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "not answered within [http] request_timeout ({:?}): the store did not \
                     answer in time; nothing was acknowledged, retry later",
                    state.request_timeout
                ),
            )
            .into_response()
        }
    }
}

/// One warning line per interval for requests cut off by `request_timeout`.
static TIMEOUT_WARN: crate::logging::Sampled =
    crate::logging::Sampled::every(std::time::Duration::from_secs(10));

fn refusal(access: &Access, scope: Scope) -> ApiError {
    match access {
        Access::AdminDisabled => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admin endpoints are disabled: no admin token is configured \
             ([http] admin_tokens, admin_token_file or VCGATE_ADMIN_TOKEN)",
        ),
        Access::WrongScope => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "this endpoint needs a token of the {} scope ([http] {}_tokens)",
                scope.as_str(),
                scope.as_str()
            ),
        ),
        _ => ApiError::unauthorized(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            ingest: vec![Secret::new("ingest-any-123")],
            bound_ingest: vec![(Secret::new("ingest-vc1-123"), vec!["vc1".into()])],
            read: vec![Secret::new("read-token-123")],
            admin: vec![Secret::new("admin-token-123")],
        }
    }

    fn granted(a: Access) -> Grant {
        match a {
            Access::Granted(g) => g,
            other => panic!("not granted: {other:?}"),
        }
    }

    #[test]
    fn each_scope_takes_its_own_tokens() {
        let t = TokenTable::new(&tokens());
        use Scope::*;
        let cases = [
            ("ingest-any-123", Ingest, true),
            ("ingest-any-123", Read, false),
            ("ingest-any-123", Admin, false),
            ("ingest-vc1-123", Ingest, true),
            ("ingest-vc1-123", Admin, false),
            ("read-token-123", Read, true),
            ("read-token-123", Ingest, false),
            ("read-token-123", Admin, false),
            ("admin-token-123", Admin, true),
            ("admin-token-123", Read, true),
            ("admin-token-123", Ingest, false),
        ];
        for (token, scope, ok) in cases {
            let access = t.decide(Some(token), scope);
            if ok {
                assert!(matches!(access, Access::Granted(_)), "{token} {scope:?}");
            } else {
                assert_eq!(access, Access::WrongScope, "{token} {scope:?}");
            }
        }
        for scope in [Ingest, Read, Admin] {
            assert_eq!(t.decide(None, scope), Access::Unauthenticated);
            assert_eq!(
                t.decide(Some("ingest-any-12"), scope),
                Access::Unauthenticated
            );
        }
    }

    #[test]
    fn bound_tokens_speak_only_for_their_vcenters() {
        let t = TokenTable::new(&tokens());
        let bound = granted(t.decide(Some("ingest-vc1-123"), Scope::Ingest));
        assert!(bound.may_speak_for("vc1"));
        assert!(!bound.may_speak_for("vc2"));
        let any = granted(t.decide(Some("ingest-any-123"), Scope::Ingest));
        assert!(any.may_speak_for("vc2"));
        // The same token listed unbound as well speaks for any vCenter.
        let mut both = tokens();
        both.ingest.push(Secret::new("ingest-vc1-123"));
        let t = TokenTable::new(&both);
        assert!(granted(t.decide(Some("ingest-vc1-123"), Scope::Ingest)).may_speak_for("vc9"));
    }

    #[test]
    fn open_scopes_and_the_admin_default() {
        // Fully open loopback default: everything open.
        let open = TokenTable::new(&Tokens::default());
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
            assert!(matches!(open.decide(None, scope), Access::Granted(_)));
        }
        // Tokens for ingest and read only: admin refused, naming the key.
        let mut some = tokens();
        some.admin.clear();
        let t = TokenTable::new(&some);
        assert_eq!(
            t.decide(Some("read-token-123"), Scope::Admin),
            Access::AdminDisabled
        );
        assert!(
            refusal(&Access::AdminDisabled, Scope::Admin)
                .detail
                .contains("[http] admin_tokens")
        );
        // No read tokens (loopback): reads open, ingest still checked.
        let mut no_read = tokens();
        no_read.read.clear();
        let t = TokenTable::new(&no_read);
        assert!(matches!(t.decide(None, Scope::Read), Access::Granted(_)));
        assert_eq!(t.decide(None, Scope::Ingest), Access::Unauthenticated);
    }

    #[test]
    fn bearer_tokens_match_exactly() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer token-two-456".parse().unwrap());
        assert_eq!(bearer(&h), Some("token-two-456"));
        h.insert("authorization", "Basic token-two-456".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
