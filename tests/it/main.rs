//! The single integration-test binary: every test starts real processes
//! (the `vcgate` binary, net-snmp tools, the vCenter simulator) — no mocks at
//! the edges.

mod alertmanager;
mod automation;
mod cli;
mod crash;
mod enrich;
mod guard;
mod hardening_edges;
mod hardening_http;
mod hardening_snmp;
mod hook;
mod http_ingest;
mod operations;
mod reliability;
mod silence;
mod snmp;
mod support;
mod vcenter_events;
mod vcsim_support;
mod veba;
mod vsphere;
mod webhook;
