//! The HTTP surface: the router that joins ingest endpoints
//! (`crate::ingest::http`) and the read side (`read.rs`), plus what they
//! share — application state, bearer-token checks and the per-address rate
//! limit.
//!
//! Must not: log tokens or bodies.

pub mod error;
mod guard;
mod read;
mod runs;
mod silences;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Config, Secret};
use crate::ingest::Ingestor;
use crate::model::Source;
use error::ApiError;

/// Bearer tokens, kept only as SHA-256 digests so comparisons are constant-time
/// over equal-length values and the plain tokens are not held in memory longer
/// than config loading.
#[derive(Clone, Default)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

impl TokenSet {
    pub fn new(tokens: &[Secret]) -> Self {
        Self {
            digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.expose().as_bytes()).into())
                .collect(),
        }
    }

    /// Empty set = open (only allowed by config validation on loopback listeners).
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// True when the `Authorization: Bearer …` header carries one of the tokens.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(presented) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        // Check every token (no early exit) so timing does not reveal which matched.
        self.digests
            .iter()
            .fold(subtle::Choice::from(0u8), |acc, d| acc | d.ct_eq(&digest))
            .into()
    }
}

/// Per-client-address request budget.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("nonzero");
        let burst = NonZeroU32::new(burst.max(per_second).max(1)).expect("nonzero");
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its budget.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets idle addresses so the key map does not grow without bound.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub ingestor: Ingestor,
    pub ingest_tokens: TokenSet,
    pub read_tokens: TokenSet,
    pub rate_limit: Arc<RateLimit>,
    pub max_body: u64,
    pub open_metrics: bool,
    pub default_vcenter: String,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Reloadable settings (functions, subscriptions, routes, secrets).
    pub live: crate::settings::Live,
    pub run_wakes: crate::automation::Wakes,
    pub silencer: crate::silence::Silencer,
    /// `[guard]` settings for `GET /api/v1/guard`.
    pub guard: Arc<crate::guard::GuardSettings>,
}

impl AppState {
    pub fn new(
        config: &Config,
        ingestor: Ingestor,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        run_wakes: crate::automation::Wakes,
        live: crate::settings::Live,
        silencer: crate::silence::Silencer,
    ) -> Result<Self, crate::config::ConfigError> {
        let tokens = config.tokens()?;
        Ok(Self {
            ingestor,
            ingest_tokens: TokenSet::new(&tokens.ingest),
            read_tokens: TokenSet::new(&tokens.read),
            rate_limit: Arc::new(RateLimit::new(
                config.http.rate_limit,
                config.http.rate_burst,
            )),
            max_body: config.http.max_body.0,
            open_metrics: config.http.open_metrics,
            default_vcenter: config.snmp.default_vcenter.clone(),
            metrics,
            live,
            run_wakes,
            silencer,
            guard: Arc::new(crate::guard::GuardSettings::from_config(config)),
        })
    }

    /// Rate limit, then token: the checks every ingest request passes first.
    pub fn admit_ingest(
        &self,
        source: Source,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let stats = &self.ingestor.stats;
        stats.received(source);
        if let Err(wait) = self.rate_limit.check(peer.ip()) {
            stats.rejected(source, "rate_limited");
            return Err(ApiError::rate_limited(wait));
        }
        if !self.ingest_tokens.allows(headers) {
            stats.rejected(source, "unauthorized");
            return Err(ApiError::unauthorized());
        }
        Ok(())
    }

    pub fn admit_read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.read_tokens.allows(headers) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// All routes of the gateway.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/alarms", post(crate::ingest::http::post_alarm))
        .route(
            "/api/v1/events",
            post(crate::ingest::http::post_event).get(read::list_events),
        )
        .route("/api/v1/events/{id}", get(read::get_event))
        .route("/api/v1/status", get(read::status))
        .route("/api/v1/runs", get(runs::list_runs))
        .route("/api/v1/runs/{id}", get(runs::get_run))
        .route("/api/v1/runs/{id}/retry", post(runs::retry_run))
        .route("/api/v1/functions", get(runs::functions))
        .route("/api/v1/subscriptions", get(runs::subscriptions))
        .route("/api/v1/reload", post(runs::reload))
        .route(
            "/api/v1/silences",
            get(silences::list_v1).post(silences::create_v1),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(silences::expire_v1),
        )
        .route(
            "/api/v2/silences",
            get(silences::list_v2).post(silences::create_v2),
        )
        .route(
            "/api/v2/silence/{id}",
            get(silences::get_v2).delete(silences::expire_v2),
        )
        .route("/api/v2/status", get(silences::status_v2))
        .route("/api/v1/alerts", get(read::list_alerts))
        .route("/api/v2/alerts", get(read::list_alerts_v2))
        .route("/api/v1/guard", get(guard::guard))
        .route("/metrics", get(read::metrics))
        .route("/healthz", get(read::healthz))
        .route("/readyz", get(read::readyz))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        // Bodies are read with our own limit (for a JSON 413); this only stops
        // axum's default 2 MB cap from answering first.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_match_exactly() {
        let set = TokenSet::new(&[Secret::new("token-one-123"), Secret::new("token-two-456")]);
        let mut h = HeaderMap::new();
        assert!(!set.allows(&h));
        h.insert("authorization", "Bearer token-two-456".parse().unwrap());
        assert!(set.allows(&h));
        h.insert("authorization", "Bearer token-two-45".parse().unwrap());
        assert!(!set.allows(&h));
        h.insert("authorization", "Basic token-two-456".parse().unwrap());
        assert!(!set.allows(&h));
        assert!(TokenSet::default().allows(&HeaderMap::new()));
    }

    #[test]
    fn rate_limit_reports_wait() {
        let rl = RateLimit::new(1, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(rl.check(ip).is_ok());
        let wait = rl.check(ip).unwrap_err();
        assert!(wait >= 1);
        assert!(rl.check("10.0.0.2".parse().unwrap()).is_ok());
    }
}
