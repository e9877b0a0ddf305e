//! Logging setup and the gateway's internal events: the one place where
//! something noteworthy (an event accepted, a packet rejected) becomes a log
//! line, a Prometheus metric and a live counter for `/api/v1/status` at once,
//! so the three never drift apart.
//!
//! Must not: log secrets. Callers pass reasons and names, never payloads.
//!
//! Metric labels are bounded: sources, reasons, configured targets and
//! functions — never ids. Newer code reports through typed events
//! (`internal_events`, vector's `emit!` style: one struct, one log line, one
//! metric family, one status counter).

mod describe;
pub mod internal_events;
pub mod kernel;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::Source;

/// Installs the tracing subscriber (`RUST_LOG` overrides `default_filter`).
///
/// In the text format every field and the message are written through
/// `logging::Escaped`: a value from input (an alarm name, a silence's
/// `createdBy`, a fault text from vCenter) can never break a line or carry
/// an escape sequence into the log. The JSON format escapes by itself.
pub fn init_logging(default_filter: &str, json: bool) {
    use tracing_subscriber::field::MakeExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        let escaped = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
            let text = format!("{value:?}");
            let text = crate::logging::Escaped(&text);
            if field.name() == "message" {
                write!(writer, "{text}")
            } else {
                write!(writer, "{field}={text}")
            }
        })
        .delimited(" ");
        fmt.fmt_fields(escaped).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .try_init();
}

/// Histogram buckets (seconds) for the latency metrics: 0.5 ms … 60 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Installs the global Prometheus recorder and returns its handle for `/metrics`.
pub fn init_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            LATENCY_BUCKETS,
        )
        .ok()?
        .install_recorder()
        .ok()?;
    describe::describe_all();
    metrics::gauge!(
        "vcgate_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "edition" => "2024",
    )
    .set(1.0);
    Some(handle)
}

/// Counters for one source, as shown by the status endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceCounters {
    pub received: u64,
    pub accepted: u64,
    /// Redeliveries recognized at ingest (same delivery id) — nothing stored.
    pub duplicate: u64,
    pub rejected: BTreeMap<String, u64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_at: Option<OffsetDateTime>,
}

/// Counters for one vCenter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VcenterCounters {
    pub accepted: u64,
    /// Last vpxdDiagnostic (liveness) trap heard from this vCenter.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_diagnostic_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_event_at: Option<OffsetDateTime>,
}

/// Live counters behind `/api/v1/status`; metrics mirror them.
#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    pub started_at: OffsetDateTime,
    inner: Mutex<StatsInner>,
}

/// The live counters of `/api/v1/status` (`api::wire::Status` flattens them).
/// Keys that the gateway names are `Cow::Borrowed` (no allocation when
/// counting); the CLI reads them back owned.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub sources: BTreeMap<Cow<'static, str>, SourceCounters>,
    pub vcenters: BTreeMap<String, VcenterCounters>,
    /// Pipeline counters: dedup merges, routed per destination, forwards per target.
    pub pipeline: BTreeMap<String, u64>,
    /// vCenter event streams by vCenter name (see `ingest::vcenter_events`).
    pub event_streams: BTreeMap<String, StreamStatus>,
    /// The SNMP listener, once bound (absent when `[snmp] enabled = false`).
    pub snmp: Option<SnmpListener>,
    /// Alerts each Alertmanager target is told are firing now.
    pub active_alerts: BTreeMap<String, u64>,
    /// Refused authentications on the API by scope (`ingest`, `read`,
    /// `admin`): missing, unknown or wrong-scope tokens.
    pub auth_failures: BTreeMap<Cow<'static, str>, u64>,
    /// The HTTP listener: open connections, and connections closed by a
    /// limit (`header_timeout`, `idle_timeout`, `handshake_timeout`, …).
    pub http: HttpConnections,
}

/// Connection counters of the HTTP listener.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpConnections {
    pub open: u64,
    pub max: u64,
    /// Addresses the per-address rate limits currently remember.
    pub rate_limit_addresses: u64,
    pub closed: BTreeMap<Cow<'static, str>, u64>,
}

/// What the kernel granted the SNMP socket; shown in status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnmpListener {
    pub listen: std::net::SocketAddr,
    /// `SO_RCVBUF` as the kernel reports it (Linux reports twice the
    /// accepted request, the extra being its bookkeeping allowance).
    pub recv_buffer_bytes: usize,
    /// Source addresses the per-source rate limit currently remembers
    /// (bounded by `[snmp] rate_limit_max_addresses`).
    pub rate_limit_addresses: usize,
}

#[derive(Debug, Default)]
struct StatsInner {
    snapshot: StatsSnapshot,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        let mut snapshot = StatsSnapshot::default();
        for source in Source::ALL {
            snapshot
                .sources
                .insert(source.as_str().into(), SourceCounters::default());
        }
        Self {
            started: Instant::now(),
            started_at: OffsetDateTime::now_utc(),
            inner: Mutex::new(StatsInner { snapshot }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatsSnapshot) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard.snapshot)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.with(|s| s.clone())
    }

    pub fn snmp_listening(&self, listener: SnmpListener) {
        metrics::gauge!("vcgate_snmp_recv_buffer_bytes").set(listener.recv_buffer_bytes as f64);
        self.with(|s| s.snmp = Some(listener));
    }

    /// Something arrived (before any check).
    pub fn received(&self, source: Source) {
        self.received_n(source, 1);
    }

    pub fn received_n(&self, source: Source, n: u64) {
        if n == 0 {
            return;
        }
        metrics::counter!("vcgate_received_total", "source" => source.as_str()).increment(n);
        self.with(|s| {
            s.sources
                .entry(source.as_str().into())
                .or_default()
                .received += n
        });
    }

    /// An event was committed to the store.
    pub fn accepted(&self, source: Source, vcenter: &str) {
        self.accepted_n(source, vcenter, 1);
    }

    /// `n` events of one source and vCenter were committed.
    pub fn accepted_n(&self, source: Source, vcenter: &str, n: u64) {
        metrics::counter!("vcgate_accepted_total", "source" => source.as_str()).increment(n);
        let now = OffsetDateTime::now_utc();
        self.with(|s| {
            let c = s.sources.entry(source.as_str().into()).or_default();
            c.accepted += n;
            c.last_at = Some(now);
            let vc = s.vcenters.entry(vcenter.to_owned()).or_default();
            vc.accepted += n;
            vc.last_event_at = Some(now);
        });
    }

    /// A redelivery with a known delivery id: answered, nothing stored.
    pub fn duplicate_delivery(&self, source: Source) {
        metrics::counter!("vcgate_duplicate_deliveries_total", "source" => source.as_str())
            .increment(1);
        self.with(|s| {
            s.sources
                .entry(source.as_str().into())
                .or_default()
                .duplicate += 1
        });
    }

    /// Input refused; `reason` is a short stable token (`unauthorized`, `bad_community`, …).
    pub fn rejected(&self, source: Source, reason: &'static str) {
        self.rejected_n(source, reason, 1);
    }

    pub fn rejected_n(&self, source: Source, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        metrics::counter!("vcgate_rejected_total", "source" => source.as_str(), "reason" => reason)
            .increment(n);
        tracing::debug!(
            source = source.as_str(),
            reason,
            count = n,
            "input rejected"
        );
        self.with(|s| {
            *s.sources
                .entry(source.as_str().into())
                .or_default()
                .rejected
                .entry(reason.to_owned())
                .or_default() += n;
        });
    }

    /// A refused authentication on the API (`scope`: ingest, read, admin).
    pub fn auth_failed(&self, scope: &'static str) {
        metrics::counter!("vcgate_auth_failures_total", "scope" => scope).increment(1);
        self.with(|s| *s.auth_failures.entry(scope.into()).or_default() += 1);
    }

    /// How many addresses the SNMP per-source rate limit remembers.
    pub fn snmp_rate_limit_addresses(&self, n: usize) {
        metrics::gauge!("vcgate_snmp_rate_limit_addresses").set(n as f64);
        self.with(|s| {
            if let Some(listener) = s.snmp.as_mut() {
                listener.rate_limit_addresses = n;
            }
        });
    }

    /// An HTTP connection opened (`delta` 1) or closed (-1); `max` is the cap.
    pub fn http_connections(&self, delta: i64, max: usize) {
        self.with(|s| {
            s.http.open = s.http.open.saturating_add_signed(delta);
            s.http.max = max as u64;
            metrics::gauge!("vcgate_http_connections_open").set(s.http.open as f64);
            metrics::gauge!("vcgate_http_connections_max").set(max as f64);
        });
    }

    /// An HTTP connection was closed by a limit (`reason`: `header_timeout`, …).
    pub fn http_closed(&self, reason: &'static str) {
        metrics::counter!("vcgate_http_connections_closed_total", "reason" => reason).increment(1);
        self.with(|s| *s.http.closed.entry(reason.into()).or_default() += 1);
    }

    /// How many addresses the HTTP per-address limits remember.
    pub fn http_rate_limit_addresses(&self, n: usize) {
        self.with(|s| s.http.rate_limit_addresses = n as u64);
    }

    /// A vpxdDiagnostic liveness trap from a vCenter.
    pub fn diagnostic(&self, vcenter: &str) {
        let now = OffsetDateTime::now_utc();
        self.with(|s| {
            s.vcenters
                .entry(vcenter.to_owned())
                .or_default()
                .last_diagnostic_at = Some(now)
        });
    }

    /// Updates the status of `vcenter`'s event stream (created on first use).
    pub fn event_stream(&self, vcenter: &str, f: impl FnOnce(&mut StreamStatus)) {
        self.with(|s| f(s.event_streams.entry(vcenter.to_owned()).or_default()));
    }

    /// A status counter in `pipeline` (e.g. `dedup.merged`, `forward.nms1.sent`).
    /// Status only: each caller is an internal event that also bumps its own
    /// bounded metric. Keys must be bounded (config names, never ids).
    pub fn pipeline(&self, name: &str, n: u64) {
        self.with(|s| *s.pipeline.entry(name.to_owned()).or_default() += n);
    }

    /// Reports one internal event (log line, metric, status counter).
    pub fn emit(&self, event: impl internal_events::InternalEvent) {
        event.emit(self);
    }
}

/// Live status of one vCenter's event stream (`event_streams.<name>` in status).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct StreamStatus {
    /// The last poll reached vCenter and read its events.
    pub connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_poll_at: Option<OffsetDateTime>,
    /// Key and vCenter time of the last delivered event (the checkpoint).
    pub last_event_key: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_event_time: Option<OffsetDateTime>,
    /// Seconds since the stream was last known complete (start of the last
    /// successful poll): events newer than that may still be on their way.
    pub lag_seconds: Option<f64>,
    /// Events stored since start, by vCenter class.
    pub events_by_class: BTreeMap<String, u64>,
    pub delivered: u64,
    /// Events dropped by `events_exclude` since start.
    pub excluded: u64,
    pub polls: u64,
    pub errors: u64,
    /// Times the event keys went backwards (history reset or int32 wrap).
    pub key_resets: u64,
    /// Collectors this stream holds open right now (0 between polls).
    pub collectors_open: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_by_reason() {
        let stats = Stats::new();
        stats.received(Source::AlarmHook);
        stats.rejected(Source::AlarmHook, "unauthorized");
        stats.rejected(Source::AlarmHook, "unauthorized");
        stats.accepted(Source::AlarmHook, "vc1");
        let snap = stats.snapshot();
        let hook = &snap.sources["alarm-hook"];
        assert_eq!(hook.received, 1);
        assert_eq!(hook.accepted, 1);
        assert_eq!(hook.rejected["unauthorized"], 2);
        assert_eq!(snap.vcenters["vc1"].accepted, 1);
    }
}
