//! `vcgate get status`: the headline, per-source counters, pipeline counters
//! and event streams; `-o wide` adds vCenters, runs, silences, alerts, the
//! listeners and refused authentications.

use super::output::{Table, opt_time, or_dash, pairs, printable};
use crate::api::wire::Status;

/// `node a  nodes: a b(dead)  singletons: pipeline=a guard:vc1=b`
fn cluster_line(c: &crate::store::ClusterStatus) -> String {
    let nodes: Vec<String> = c
        .nodes
        .iter()
        .map(|n| {
            let id = printable(&n.id);
            if n.alive { id } else { format!("{id}(dead)") }
        })
        .collect();
    let holders: Vec<String> = c
        .singletons
        .iter()
        .map(|h| {
            let stale = if h.live { "" } else { "(expired)" };
            format!("{}={}{stale}", printable(&h.name), printable(&h.holder))
        })
        .collect();
    format!(
        "node {}  nodes: {}  singletons: {}\n",
        printable(&c.node_id),
        nodes.join(" "),
        holders.join(" ")
    )
}

pub fn render(s: &Status, wide: bool) -> String {
    let store = &s.store;
    let mut out = format!(
        "vcgate {}  up {}s  store: {} events, {} pending, {} bytes, writable={}\n",
        printable(&s.version),
        s.uptime_seconds,
        store.events,
        store.pending_pipeline,
        store.size_bytes,
        store.writable,
    );
    if let Some(cluster) = &s.cluster {
        out.push_str(&cluster_line(cluster));
    }
    let counters = &s.counters;
    let rows: Vec<Vec<String>> = counters
        .sources
        .iter()
        .map(|(name, c)| {
            vec![
                name.to_string(),
                c.received.to_string(),
                c.accepted.to_string(),
                c.duplicate.to_string(),
                pairs(&c.rejected, ","),
                opt_time(c.last_at),
            ]
        })
        .collect();
    out.push_str(
        &Table::new(&[
            "SOURCE",
            "RECEIVED",
            "ACCEPTED",
            "DUPLICATE",
            "REJECTED",
            "LAST",
        ])
        .render(&rows),
    );
    if !counters.pipeline.is_empty() {
        out.push_str(&format!("pipeline: {}\n", pairs(&counters.pipeline, " ")));
    }
    for (name, stream) in &counters.event_streams {
        out.push_str(&format!(
            "event stream {}: connected={} last_key={} last_time={} lag={}s delivered={} errors={}{}\n",
            printable(name),
            stream.connected,
            or_dash(stream.last_event_key),
            opt_time(stream.last_event_time),
            or_dash(stream.lag_seconds.map(|l| format!("{l:.1}"))),
            stream.delivered,
            stream.errors,
            stream
                .last_error
                .as_deref()
                .map(|e| format!(" last_error={}", printable(e)))
                .unwrap_or_default(),
        ));
    }
    if wide {
        out.push_str(&details(s));
    }
    out
}

/// What `-o wide` adds.
fn details(s: &Status) -> String {
    let c = &s.counters;
    let mut out = format!(
        "store: {} deliveries pending, oldest event {}\nruns: {}\n",
        s.store.pending_deliveries,
        opt_time(s.store.oldest_event),
        pairs(&s.runs, " "),
    );
    let hosts: Vec<String> = s
        .silences
        .hosts_in_maintenance
        .iter()
        .map(|h| format!("{}/{}", h.vcenter, h.host))
        .collect();
    out.push_str(&format!(
        "silences: active={} maintenance_silencing={} hosts_in_maintenance={}\n",
        s.silences.active,
        s.silences.maintenance_silencing,
        or_dash((!hosts.is_empty()).then(|| hosts.join(","))),
    ));
    out.push_str(&format!(
        "active alerts: {}\n",
        pairs(&c.active_alerts, " ")
    ));
    out.push_str(&format!(
        "http: open={} max={} rate_limit_addresses={} closed: {}\n",
        c.http.open,
        c.http.max,
        c.http.rate_limit_addresses,
        pairs(&c.http.closed, " "),
    ));
    if let Some(snmp) = &c.snmp {
        out.push_str(&format!(
            "snmp: listen={} recv_buffer_bytes={} rate_limit_addresses={}\n",
            snmp.listen, snmp.recv_buffer_bytes, snmp.rate_limit_addresses
        ));
    }
    out.push_str(&format!(
        "auth failures: {}\n",
        pairs(&c.auth_failures, " ")
    ));
    let rows: Vec<Vec<String>> = c
        .vcenters
        .iter()
        .map(|(name, v)| {
            vec![
                name.clone(),
                v.accepted.to_string(),
                opt_time(v.last_event_at),
                opt_time(v.last_diagnostic_at),
            ]
        })
        .collect();
    out.push_str(
        &Table::new(&["VCENTER", "ACCEPTED", "LAST EVENT", "LAST DIAGNOSTIC"]).render(&rows),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::{SilenceSummary, Status};
    use crate::model::Source;

    fn status() -> Status {
        let stats = crate::telemetry::Stats::new();
        stats.rejected(Source::AlarmHook, "unauthorized");
        stats.accepted(Source::Snmp, "vc1");
        stats.pipeline("routed.monitoring", 2);
        stats.event_stream("vc1", |s| {
            s.connected = true;
            s.lag_seconds = Some(1.25);
            s.last_error = Some("bad\u{1b}[2J".into());
        });
        Status {
            version: "0.1.0".into(),
            started_at: time::macros::datetime!(2026-11-25 10:00 UTC),
            uptime_seconds: 2,
            store: Default::default(),
            counters: stats.snapshot(),
            runs: [("dead".to_owned(), 1)].into(),
            silences: SilenceSummary {
                active: 1,
                maintenance_silencing: false,
                hosts_in_maintenance: Vec::new(),
            },
            cluster: None,
        }
    }

    #[test]
    fn status_view() {
        let status = status();
        let text = render(&status, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "vcgate 0.1.0  up 2s  store: 0 events, 0 pending, 0 bytes, writable=false"
        );
        assert!(
            lines[1].starts_with("SOURCE          RECEIVED  ACCEPTED"),
            "{text}"
        );
        assert!(
            text.contains("alarm-hook      0         0         0          unauthorized=1  -"),
            "{text}"
        );
        assert!(text.contains("pipeline: routed.monitoring=2\n"), "{text}");
        assert!(
            text.contains("event stream vc1: connected=true last_key=- last_time=- lag=1.2s delivered=0 errors=0 last_error=bad\u{FFFD}[2J\n"),
            "{text}"
        );
        assert!(!text.contains("runs:"));
        let wide = render(&status, true);
        assert!(wide.starts_with(&text), "wide adds lines below");
        assert!(
            wide.contains("runs: dead=1\n") && wide.contains("VCENTER  ACCEPTED"),
            "{wide}"
        );
    }
}
