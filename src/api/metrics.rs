//! `GET /metrics`: the Prometheus text of the global recorder, after
//! sampling what is only known by looking — the store's counts and whether
//! it takes writes, the guard's status per vCenter, the kernel's UDP
//! receive-buffer drops — and declaring the series of configured label
//! values (functions, targets, scopes) at zero.
//!
//! Must not: write anything, or make a series per id. The metric reference
//! is `docs/operations.md` ("Metric reference").

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::AppState;
use super::auth::Scope;
use super::error::ApiError;
use crate::telemetry::internal_events::declare_series;

/// `/metrics`: open or in the read group, by `[http] open_metrics` (see `router`).
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = match &state.metrics {
        Some(handle) => {
            sample(&state).await;
            handle.render()
        }
        None => String::new(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

async fn sample(state: &AppState) {
    let store = &state.ingestor.store;
    let stats = &state.ingestor.stats;
    metrics::gauge!("vcgate_store_writable").set(if store.is_writable() { 1.0 } else { 0.0 });
    if let Ok(s) = store.stats().await {
        metrics::gauge!("vcgate_store_events").set(s.events as f64);
        metrics::gauge!("vcgate_store_pending_pipeline").set(s.pending_pipeline as f64);
        metrics::gauge!("vcgate_store_pending_deliveries").set(s.pending_deliveries as f64);
        metrics::gauge!("vcgate_store_size_bytes").set(s.size_bytes as f64);
    }
    metrics::gauge!("vcgate_uptime_seconds").set(stats.started.elapsed().as_secs_f64());
    if stats.snapshot().snmp.is_some()
        && let Some(drops) = crate::telemetry::kernel::udp_rcvbuf_errors()
    {
        metrics::counter!("vcgate_snmp_kernel_rcvbuf_errors_total").absolute(drops);
    }
    guard_status(state).await;
    let live = state.live.load();
    declare_series(
        live.registry.functions.iter().map(|f| f.name.as_str()),
        state.monitoring_targets.iter().map(String::as_str),
    );
    for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
        metrics::counter!("vcgate_auth_failures_total", "scope" => scope.as_str()).increment(0);
    }
}

/// `vcgate_guard_status{vcenter,status}`: 1 for the status `vcgate get guard`
/// shows (an overdue `ok` is `stale`), 0 for the others.
async fn guard_status(state: &AppState) {
    if state.guard.vcenters.is_empty() {
        return;
    }
    let Ok(snapshot) = state.ingestor.store.guard_snapshot(1).await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    for record in super::guard::records(&state.guard, &snapshot) {
        let shown = super::guard::shown_status(&state.guard, &record, now);
        for status in crate::guard::ReconcileStatus::ALL {
            metrics::gauge!("vcgate_guard_status", "vcenter" => record.vcenter.clone(), "status" => status.as_str())
                .set(if status == shown { 1.0 } else { 0.0 });
        }
    }
}
