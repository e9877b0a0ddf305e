//! vcgate — an event-driven automation gateway for VMware vCenter.
//!
//! A guided tour, in the order data flows:
//!
//! ```text
//!  sources                      core (pure)                          sinks
//!  http /api/v1/alarms ─┐
//!  snmp udp (v1/v2c/v3) ├─> normalize ─> store.accept ─> dedup ─> route ─┬─> automation (later)
//!  api POST /events ────┘    (Event)     (durable)                       └─> monitoring forwarders
//!  api: status / events / metrics — read side over the store and live counters
//! ```
//!
//! - [`model`]: the `Event` every source produces, its newtypes, CloudEvents rendering.
//! - [`config`]: the TOML contract, embedded defaults, validation.
//! - [`normalize`]: pure mappers (hook payload, CloudEvent, SNMP notification → `Event`).
//! - [`ingest`]: the edges where events enter (HTTP, SNMP, the vCenter event stream);
//!   `Ingestor` is the one path to "accepted".
//! - [`store`]: the durable store: one trait per aggregate (events, deliveries, runs,
//!   guard, silences, checkpoints, alerts, kv, singleton roles) behind a cheap
//!   `Store` handle; the SQLite backend (one writer, group commit) and the
//!   PostgreSQL backend (several nodes active/active: claims, leases) implement
//!   them, and the conformance suite says what any backend must do.
//! - [`pipeline`]: takes accepted events from the store, applies [`dedup`] and [`route`],
//!   records the decision and queues deliveries in one commit.
//! - [`monitoring`]: forwarders to the NMS (SNMP traps, Alertmanager/CloudEvents webhooks).
//! - [`api`]: HTTP listener (connection cap, timeouts, TLS), router with its
//!   three auth-layered route groups (ingest, read, admin), read endpoints, error policy;
//!   every JSON body as a type in `api::wire` (the handlers write them, the CLI reads them).
//! - [`rate_limit`]: per-address budgets with a bounded address table (HTTP, SNMP).
//! - [`telemetry`]: logs + metrics + status counters from one call;
//!   [`logging`]: escaping input in log fields, sampling per-input warnings.
//! - [`vsphere`]: SOAP client (session, property collector, events, custom fields, alarm manager).
//! - [`automation`]: functions, subscriptions, the run queue and runners.
//! - [`guard`]: keeps host alarm actions from staying disabled after maintenance
//!   mode (reconciler per vCenter; pure decisions in `guard::decide`).
//! - [`app`]: wiring and graceful shutdown; [`cli`]: the client commands (`get`, `emit`,
//!   `silence`, `retry`, `reload`; tables, JSON, YAML, `--follow`);
//!   [`notify`]: systemd readiness (`Type=notify`); [`ops`]: backup, restore, check-store.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod automation;
pub mod cli;
pub mod config;
pub mod dedup;
pub mod enrich;
pub mod guard;
pub mod ingest;
pub mod logging;
pub mod model;
pub mod monitoring;
pub mod normalize;
pub mod notify;
pub mod ops;
pub mod pipeline;
pub mod rate_limit;
pub mod route;
pub mod settings;
pub mod silence;
pub mod snmp_values;
pub mod store;
pub mod telemetry;
pub mod vcenters;
pub mod vsphere;
