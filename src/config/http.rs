//! `[http]`: the listener, TLS, tokens, limits and timeouts.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{ByteSize, Secret, default_true};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// Ingest scope: hook alarms and CloudEvent emit, for any vCenter.
    #[serde(default)]
    pub ingest_tokens: Vec<Secret>,
    pub ingest_token_file: Option<PathBuf>,
    /// Ingest tokens bound to the vCenters they may speak for.
    #[serde(default)]
    pub ingest_token: Vec<BoundIngestToken>,
    /// Read scope: every GET of the API.
    #[serde(default)]
    pub read_tokens: Vec<Secret>,
    pub read_token_file: Option<PathBuf>,
    /// Admin scope: silences, reload, retry — anything that changes
    /// behaviour (and every read).
    #[serde(default)]
    pub admin_tokens: Vec<Secret>,
    pub admin_token_file: Option<PathBuf>,
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// Requests per second allowed from one client address (sustained).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    /// Burst above `rate_limit` tolerated from one client address.
    #[serde(default = "default_rate_burst")]
    pub rate_burst: u32,
    /// Refused authentications per second allowed from one address (their
    /// own budget: they never use up the address's `rate_limit`).
    #[serde(default = "default_auth_failure_rate")]
    pub auth_failure_rate: u32,
    #[serde(default = "default_auth_failure_burst")]
    pub auth_failure_burst: u32,
    /// Most client addresses each per-address limit remembers at once.
    #[serde(default = "default_rate_limit_max_addresses")]
    pub rate_limit_max_addresses: usize,
    /// Longest a client may take to send a request's headers (from the
    /// connection's start, or the first byte of a later request).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest a client may take to send a request body after its headers.
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Longest the gateway takes to answer an API request, its body
    /// included (so longer than `body_timeout`); past it the answer is 503
    /// `timeout`. Bounds a request held by a store that does not answer (a
    /// hung disk or database). Default: 60 s, or `body_timeout` + 30 s when
    /// that is longer (see [`HttpConfig::request_timeout`]).
    #[serde(default, rename = "request_timeout", with = "humantime_serde")]
    pub request_timeout_set: Option<Duration>,
    /// An idle keep-alive connection is closed after this.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most open client connections; beyond it new ones wait in the kernel's
    /// accept queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// `/metrics` and `/healthz` without a token.
    #[serde(default = "default_true")]
    pub open_metrics: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The URL people reach vcgate at (like Alertmanager's
    /// `--web.external-url`); links such as an alert's `generatorURL` start
    /// with it. Default: `http(s)://<listen>/`.
    pub external_url: Option<String>,
}

impl HttpConfig {
    /// `request_timeout`, or its default: 60 s, and always 30 s past
    /// `body_timeout` so that a config written before the key existed (with
    /// a long `body_timeout`) keeps loading and keeps its slow senders.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout_set.unwrap_or_else(|| {
            (self.body_timeout + Duration::from_secs(30)).max(Duration::from_secs(60))
        })
    }

    /// `external_url`, or one made from `listen`; always ends with `/`.
    pub fn external_url(&self) -> String {
        let url = self.external_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}/", self.listen)
        });
        if url.ends_with('/') {
            url
        } else {
            format!("{url}/")
        }
    }
}

/// One `[[http.ingest_token]]`: an ingest token that may only speak for the
/// listed vCenters (an alarm or CloudEvent for another one gets 403).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundIngestToken {
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub vcenters: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_http_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("literal")
}

fn default_max_body() -> ByteSize {
    ByteSize(64 * 1024)
}

fn default_rate_limit() -> u32 {
    2_000
}

fn default_rate_burst() -> u32 {
    4_000
}

fn default_auth_failure_rate() -> u32 {
    10
}

fn default_auth_failure_burst() -> u32 {
    100
}

pub(super) fn default_rate_limit_max_addresses() -> usize {
    100_000
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_connections() -> usize {
    1024
}
