//! The single integration-test binary: every test starts real processes
//! (the `vcgate` binary, net-snmp tools, the vCenter simulator) — no mocks at
//! the edges. Shared fixtures (TestApp, peers, payload builders, waits) are
//! in `support/`.

mod alertmanager;
mod automation;
mod cli;
mod console;
mod contrib;
mod crash;
mod enrich;
mod event_filters;
mod guard;
mod ha;
mod hardening_edges;
mod hardening_http;
mod hardening_snmp;
mod hook;
mod http_ingest;
mod operations;
mod reliability;
mod silence;
mod snmp;
mod snmp_informs;
mod support;
mod vcenter_events;
mod veba;
mod vsphere;
mod webhook;
