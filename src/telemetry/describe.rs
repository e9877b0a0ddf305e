//! `# HELP` text for every metric family, so `/metrics` explains itself
//! (Grafana's metric browser shows it). The full reference, with label
//! values and the alerts that use each metric, is docs/operations.md.
//!
//! Must not: create series. Describing a metric registers no value.

enum Kind {
    Counter,
    Gauge,
    Histogram,
}
use Kind::{Counter, Gauge, Histogram};

#[rustfmt::skip] // one row per family reads as a table
const HELP: &[(&str, Kind, &str)] = &[
    ("vcgate_build_info", Gauge, "1; the running version"),
    ("vcgate_uptime_seconds", Gauge, "Seconds since the process started"),
    ("vcgate_received_total", Counter, "Deliveries that arrived, before any check, by source"),
    ("vcgate_accepted_total", Counter, "Events committed to the store (acknowledged), by source"),
    ("vcgate_rejected_total", Counter, "Input refused, by source and reason"),
    ("vcgate_duplicate_deliveries_total", Counter, "Redeliveries with a known delivery id (nothing stored)"),
    ("vcgate_auth_failures_total", Counter, "API requests with a missing, unknown or wrong-scope token, by scope"),
    ("vcgate_receipt_to_commit_seconds", Histogram, "Receipt to durable commit"),
    ("vcgate_store_writable", Gauge, "1 while the store takes writes, 0 when not"),
    ("vcgate_store_events", Gauge, "Events in the store"),
    ("vcgate_store_pending_pipeline", Gauge, "Stored events not yet through the pipeline"),
    ("vcgate_store_pending_deliveries", Gauge, "Deliveries to monitoring targets waiting (first try or retry)"),
    ("vcgate_store_size_bytes", Gauge, "Database plus WAL on disk"),
    ("vcgate_dedup_merged_total", Counter, "Events merged into an earlier one"),
    ("vcgate_dedup_evicted_total", Counter, "Dedup entries evicted early (max_entries reached)"),
    ("vcgate_routed_total", Counter, "Routing decisions, by route"),
    ("vcgate_held_total", Counter, "Events held back from monitoring, by reason"),
    ("vcgate_forwards_total", Counter, "Sends to monitoring targets, by target and outcome (each retry counts)"),
    ("vcgate_forwards_given_up_total", Counter, "Deliveries given up: the event never reaches that target"),
    ("vcgate_receipt_to_forward_seconds", Histogram, "Receipt to sent to a monitoring target"),
    ("vcgate_active_alerts", Gauge, "Alerts an Alertmanager target is told are firing"),
    ("vcgate_runs_total", Counter, "Run attempts and how they ended, by function and status"),
    ("vcgate_receipt_to_run_start_seconds", Histogram, "Receipt to the first attempt of a run started"),
    ("vcgate_event_stream_polls_total", Counter, "Polls of a vCenter's event stream, by outcome"),
    ("vcgate_event_stream_connected", Gauge, "1 after a successful event stream poll, 0 after a failed one"),
    ("vcgate_event_stream_lag_seconds", Gauge, "Age of the last complete read of a vCenter's event stream"),
    ("vcgate_guard_status", Gauge, "1 for the guard's current status per vCenter, 0 for the others"),
    ("vcgate_guard_reconciles_total", Counter, "Completed guard reconciles"),
    ("vcgate_guard_reconcile_errors_total", Counter, "Failed guard reconciles, by status"),
    ("vcgate_guard_actions_total", Counter, "Alarm actions the guard changed on hosts, by action and outcome"),
    ("vcgate_guard_hosts_in_maintenance", Gauge, "Hosts in maintenance mode at the last reconcile"),
    ("vcgate_guard_hosts_guarded", Gauge, "Hosts whose alarm actions the guard keeps disabled"),
    ("vcgate_snmp_recv_buffer_bytes", Gauge, "SO_RCVBUF of the trap socket as the kernel reports it"),
    ("vcgate_snmp_kernel_rcvbuf_errors_total", Counter, "UDP datagrams the kernel dropped for a full receive buffer (host-wide RcvbufErrors)"),
    ("vcgate_snmp_rate_limit_addresses", Gauge, "Source addresses the SNMP rate limit remembers"),
    ("vcgate_http_connections_open", Gauge, "Open HTTP connections"),
    ("vcgate_http_connections_max", Gauge, "The HTTP connection cap ([http] max_connections)"),
    ("vcgate_http_connections_closed_total", Counter, "HTTP connections closed by a limit, by reason"),
];

/// Registers the help text of every family with the installed recorder.
pub fn describe_all() {
    for (name, kind, help) in HELP {
        match kind {
            Counter => metrics::describe_counter!(*name, *help),
            Gauge => metrics::describe_gauge!(*name, *help),
            Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
}
