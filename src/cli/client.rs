//! Talking to a running gateway: which token a command sends, the HTTP
//! client, query strings, and error answers turned into messages.
//!
//! Tokens never come from a flag's value (they would land in shell history
//! and `ps`): from `--token-file`, else the command's scope variable
//! (`VCGATE_READ_TOKEN` for reads, `VCGATE_INGEST_TOKEN` for emit,
//! `VCGATE_ADMIN_TOKEN` for silence add/expire, retry and reload), else
//! `VCGATE_TOKEN`. The gateway reads the same scope variables as extra
//! tokens, so one environment serves both on one host.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::ClientArgs;
use super::output::printable;
use crate::api::wire::ErrorBody;

/// What a command does to the gateway, and so which token it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every `get`, `silence list`.
    Read,
    /// `emit`.
    Ingest,
    /// `silence add|expire`, `retry`, `reload`.
    Admin,
}

/// Used when the scope's own variable is unset or empty.
pub const TOKEN_VARIABLE: &str = "VCGATE_TOKEN";

impl Scope {
    /// The environment variable holding this scope's token.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Read => "VCGATE_READ_TOKEN",
            Self::Ingest => "VCGATE_INGEST_TOKEN",
            Self::Admin => "VCGATE_ADMIN_TOKEN",
        }
    }
}

/// The token to send for `scope`: the file's content (trimmed) when a token
/// file is given, else the scope's variable, else `VCGATE_TOKEN`; an empty
/// variable counts as unset. `None`: send no `Authorization` (a gateway
/// without tokens, e.g. the loopback default).
pub fn choose_token(
    scope: Scope,
    token_file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("--token-file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            anyhow::bail!("--token-file {}: the file is empty", path.display());
        }
        return Ok(Some(token.to_owned()));
    }
    Ok([scope.variable(), TOKEN_VARIABLE]
        .into_iter()
        .filter_map(&env)
        .find(|token| !token.is_empty()))
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// A non-2xx answer; `error` and `detail` from its JSON body.
    #[error("{status}: {error}{}{detail}", if detail.is_empty() { "" } else { ": " })]
    Refused {
        status: StatusCode,
        error: String,
        detail: String,
    },
    /// A 2xx answer that is not the document this client expects (a gateway
    /// of another version, a proxy's page).
    #[error("unexpected answer from {url}: {source}")]
    Shape {
        url: String,
        source: serde_json::Error,
    },
}

impl RequestError {
    /// Worth trying again (while following): the gateway restarting or busy.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Shape { .. } => false,
        }
    }
}

/// A gateway client for one command (one scope, one token).
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ClientArgs, scope: Scope) -> anyhow::Result<Self> {
        let token = choose_token(scope, args.token_file.as_deref(), |name| {
            std::env::var(name).ok()
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Sends a request; the body of a 2xx answer, or why not.
    pub async fn send<B: Serialize>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<bytes::Bytes, RequestError> {
        let url = self.url(path_and_query);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |source| RequestError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes);
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(RequestError::Refused {
            status,
            error: printable(body.as_ref().map_or("request failed", |b| &b.error)),
            detail: printable(body.as_ref().map_or("", |b| &b.detail)),
        })
    }

    pub async fn get(&self, path_and_query: &str) -> Result<bytes::Bytes, RequestError> {
        self.send::<()>(Method::GET, path_and_query, None).await
    }

    /// GETs `path_and_query` and reads the answer as `T`.
    pub async fn get_as<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, RequestError> {
        let body = self.get(path_and_query).await?;
        self.decode(path_and_query, &body)
    }

    /// Reads an answer of `path_and_query` as `T`.
    pub fn decode<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<T, RequestError> {
        serde_json::from_slice(body).map_err(|source| RequestError::Shape {
            url: self.url(path_and_query),
            source,
        })
    }
}

/// A path with a query string: only the parameters that are set, values
/// percent-encoded.
#[derive(Debug, Clone)]
pub struct PathQuery {
    path: String,
    params: Vec<(&'static str, String)>,
}

impl PathQuery {
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds `name=value` when `value` is set.
    pub fn param(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.params.push((name, v.to_string()));
        }
        self
    }

    /// Sets (or replaces) `name=value`.
    pub fn set(mut self, name: &'static str, value: impl ToString) -> Self {
        self.params.retain(|(n, _)| *n != name);
        self.params.push((name, value.to_string()));
        self
    }

    pub fn build(&self) -> String {
        let mut out = self.path.clone();
        for (i, (name, value)) in self.params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            out.push_str(&encode(value));
        }
        out
    }
}

/// Percent-encodes everything but unreserved characters (and `*`, kept
/// readable in globs).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn each_scope_has_its_variable_and_falls_back_to_vcgate_token() {
        let all = env(&[
            ("VCGATE_READ_TOKEN", "r"),
            ("VCGATE_INGEST_TOKEN", "i"),
            ("VCGATE_ADMIN_TOKEN", "a"),
            ("VCGATE_TOKEN", "t"),
        ]);
        let pick =
            |scope, env: &dyn Fn(&str) -> Option<String>| choose_token(scope, None, env).unwrap();
        assert_eq!(pick(Scope::Read, &all).as_deref(), Some("r"));
        assert_eq!(pick(Scope::Ingest, &all).as_deref(), Some("i"));
        assert_eq!(pick(Scope::Admin, &all).as_deref(), Some("a"));
        let fallback = env(&[("VCGATE_TOKEN", "t"), ("VCGATE_ADMIN_TOKEN", "")]);
        for scope in [Scope::Read, Scope::Ingest, Scope::Admin] {
            assert_eq!(pick(scope, &fallback).as_deref(), Some("t"), "{scope:?}");
        }
        assert_eq!(
            pick(Scope::Read, &env(&[("VCGATE_ADMIN_TOKEN", "a")])),
            None
        );
    }

    #[test]
    fn a_token_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("read.token");
        std::fs::write(&file, "from-file\n").unwrap();
        let token = choose_token(Scope::Read, Some(&file), env(&[("VCGATE_TOKEN", "t")]));
        assert_eq!(token.unwrap().as_deref(), Some("from-file"));
        std::fs::write(&file, " \n").unwrap();
        let empty = choose_token(Scope::Read, Some(&file), env(&[])).unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        let missing = choose_token(Scope::Read, Some(&dir.path().join("nope")), env(&[]));
        assert!(missing.unwrap_err().to_string().contains("nope"));
    }

    #[test]
    fn queries_hold_only_set_parameters_encoded() {
        let q = PathQuery::new("/api/v1/events")
            .param("type", Some("vm.*"))
            .param("source", None::<&str>)
            .param("entity", Some("web 01&x=1"))
            .set("limit", 20);
        assert_eq!(
            q.build(),
            "/api/v1/events?type=vm.*&entity=web%2001%26x%3D1&limit=20"
        );
        assert_eq!(q.set("limit", 5).build().matches("limit").count(), 1);
        assert_eq!(PathQuery::new("/x").build(), "/x");
        assert_eq!(encode("é/?"), "%C3%A9%2F%3F");
    }

    #[test]
    fn errors_name_the_status_and_what_is_transient() {
        let refused = |status: u16| RequestError::Refused {
            status: StatusCode::from_u16(status).unwrap(),
            error: "unauthorized".into(),
            detail: "missing or invalid bearer token".into(),
        };
        assert_eq!(
            refused(401).to_string(),
            "401 Unauthorized: unauthorized: missing or invalid bearer token"
        );
        assert!(!refused(401).is_transient());
        assert!(refused(503).is_transient() && refused(429).is_transient());
    }
}
