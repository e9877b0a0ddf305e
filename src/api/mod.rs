//! The HTTP surface: the router that joins ingest endpoints
//! (`ingest.rs`, handing events to `crate::ingest::Ingestor`), the read side (`read.rs`) and the admin writes,
//! each group behind its auth layer (`auth.rs`: token, scope, per-address
//! budgets — checked before any body is read), plus the application state
//! they share. The listener itself (connection limits, timeouts, TLS) is
//! `server.rs`.
//!
//! Must not: log tokens or bodies.

pub mod auth;
pub mod body;
pub mod error;
mod guard;
mod ingest;
mod metrics;
mod read;
mod runs;
pub mod server;
mod silences;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::config::Config;
use crate::ingest::Ingestor;
use crate::model::Source;
use crate::rate_limit::RateLimit;
use auth::{Rule, Scope, TokenTable};
use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub ingestor: Ingestor,
    /// Every configured token with its scopes (digests only).
    pub tokens: Arc<TokenTable>,
    /// Per-address budget of authenticated requests.
    pub rate_limit: Arc<RateLimit>,
    /// Per-address budget of refused authentications (kept apart, so wrong
    /// tokens cannot use up a valid sender's budget).
    pub auth_failures: Arc<RateLimit>,
    pub max_body: u64,
    /// How long a client may take to send a body.
    pub body_timeout: Duration,
    /// How long an API request may take to be answered, body included.
    pub request_timeout: Duration,
    pub open_metrics: bool,
    pub default_vcenter: String,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Reloadable settings (functions, subscriptions, routes, secrets).
    pub live: crate::settings::Live,
    pub run_wakes: crate::automation::Wakes,
    pub silencer: crate::silence::Silencer,
    /// `[guard]` settings for `GET /api/v1/guard`.
    pub guard: Arc<crate::guard::GuardSettings>,
    /// Monitoring target names, for the metrics declared per target.
    pub monitoring_targets: Arc<[String]>,
    /// The gateway's stages: `/readyz` is not ready once they are stopping.
    pub stages: crate::supervisor::Supervisor,
    /// True once start-up recovery is done and alarms are decided at
    /// acceptance again (`pipeline::recovery_gate`): `/readyz` is not ready
    /// before, as an alarm sent meanwhile would wait for it unanswered.
    pub recovery: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    pub fn new(
        config: &Config,
        ingestor: Ingestor,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        run_wakes: crate::automation::Wakes,
        live: crate::settings::Live,
        silencer: crate::silence::Silencer,
        stages: crate::supervisor::Supervisor,
    ) -> Result<Self, crate::config::ConfigError> {
        let tokens = config.tokens()?;
        let http = &config.http;
        Ok(Self {
            ingestor,
            tokens: Arc::new(TokenTable::new(&tokens)),
            rate_limit: Arc::new(RateLimit::new(
                http.rate_limit,
                http.rate_burst,
                http.rate_limit_max_addresses,
            )),
            auth_failures: Arc::new(RateLimit::new(
                http.auth_failure_rate,
                http.auth_failure_burst,
                http.rate_limit_max_addresses,
            )),
            max_body: http.max_body.0,
            body_timeout: http.body_timeout,
            request_timeout: http.request_timeout(),
            open_metrics: http.open_metrics,
            default_vcenter: config.snmp.default_vcenter.clone(),
            metrics,
            live,
            run_wakes,
            silencer,
            guard: Arc::new(crate::guard::GuardSettings::from_config(config)),
            monitoring_targets: crate::config::monitoring_target_names(config).into(),
            stages,
            // Open until `gated_by` says otherwise (the sender is gone; the
            // receiver keeps its value).
            recovery: tokio::sync::watch::channel(true).1,
        })
    }

    /// `/readyz` waits for this start-up recovery gate (`pipeline::recovery_gate`).
    pub fn gated_by(self, recovery: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { recovery, ..self }
    }

    /// Reads a request body within `[http] max_body` and `body_timeout`,
    /// counting a failure for `source` (when given) under its reason.
    pub async fn read_body(
        &self,
        source: Option<Source>,
        headers: &axum::http::HeaderMap,
        body: axum::body::Body,
    ) -> Result<axum::body::Bytes, ApiError> {
        body::read_body(headers, body, self.max_body, self.body_timeout)
            .await
            .map_err(|e| {
                if let Some(source) = source {
                    self.ingestor.stats.rejected(source, e.reason());
                }
                e.into_api_error(self.max_body, self.body_timeout)
            })
    }
}

/// A response body (a `wire` type) serialized through a `serde_json::Value`,
/// so its object keys come out sorted at every level: these bodies used to be
/// built as `Value`s, and clients may compare bytes. Bodies that were always
/// serialized straight from their type (an event, the reload summary) use
/// `Json` and keep their field order.
pub struct Sorted<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Sorted<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(value) => axum::Json(value).into_response(),
            Err(e) => ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                format!("cannot serialize the response: {e}"),
            )
            .into_response(),
        }
    }
}

/// All routes of the gateway, in three groups each behind its auth layer
/// (ingest, read, admin), plus the open health endpoints.
pub fn router(state: AppState) -> Router {
    let layer = |scope, source| from_fn_with_state(Rule::new(&state, scope, source), auth::require);
    let ingest = Router::new()
        .route(
            "/api/v1/alarms",
            post(ingest::post_alarm).route_layer(layer(Scope::Ingest, Some(Source::AlarmHook))),
        )
        .route(
            "/api/v1/events",
            post(ingest::post_event).route_layer(layer(Scope::Ingest, Some(Source::Api))),
        );
    let mut read = Router::new()
        .route("/api/v1/events", get(read::list_events))
        .route("/api/v1/events/{id}", get(read::get_event))
        .route("/api/v1/status", get(read::status))
        .route("/api/v1/runs", get(runs::list_runs))
        .route("/api/v1/runs/{id}", get(runs::get_run))
        .route("/api/v1/functions", get(runs::functions))
        .route("/api/v1/subscriptions", get(runs::subscriptions))
        .route("/api/v1/silences", get(silences::list_v1))
        .route("/api/v2/silences", get(silences::list_v2))
        .route("/api/v2/silence/{id}", get(silences::get_v2))
        .route("/api/v2/status", get(silences::status_v2))
        .route("/api/v1/alerts", get(read::list_alerts))
        .route("/api/v2/alerts", get(read::list_alerts_v2))
        .route("/api/v1/guard", get(guard::guard));
    let mut open = Router::new()
        .route("/healthz", get(read::healthz))
        .route("/readyz", get(read::readyz));
    if state.open_metrics {
        open = open.route("/metrics", get(metrics::metrics));
    } else {
        read = read.route("/metrics", get(metrics::metrics));
    }
    let read = read.route_layer(layer(Scope::Read, None));
    let admin = Router::new()
        .route("/api/v1/runs/{id}/retry", post(runs::retry_run))
        .route("/api/v1/reload", post(runs::reload))
        .route("/api/v1/silences", post(silences::create_v1))
        .route("/api/v1/silences/{id}", delete(silences::expire_v1))
        .route("/api/v2/silences", post(silences::create_v2))
        .route("/api/v2/silence/{id}", delete(silences::expire_v2))
        .route_layer(layer(Scope::Admin, None));
    Router::new()
        .merge(ingest)
        .merge(read)
        .merge(admin)
        .merge(open)
        // The web console: static, open, holds no data (see `crate::ui`).
        .merge(crate::ui::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        // Bodies are read with our own limit and timeout (for a JSON 413 or
        // 408); this only stops axum's default 2 MB cap from answering first.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}
