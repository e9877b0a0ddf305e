//! vcgate — an event-driven automation gateway for VMware vCenter.
//!
//! A guided tour, in the order data flows:
//!
//! ```text
//!  sources                 formats       hand-off      pipeline                                 sinks
//!  api POST /alarms ──┐                                admission: dedup ─> route ─> silence ─┐
//!  api POST /events ──┼─> normalize ─> Ingestor ─┬─>   store.accept_decided (one write)      ├─> automation (runs)
//!  ingest::snmp ──────┤    (Event)               └─>   stage loop: undecided events from     └─> monitoring (SNMP,
//!  ingest::vcenter_events                              the store ─> dedup ─> enrich ─> …         Alertmanager, webhooks)
//!  guard: reconciles host alarm actions after maintenance mode (its own loop, per vCenter)
//!  api: status / events / runs / alerts / metrics — the read side over the store and live counters
//! ```
//!
//! ## Layers
//!
//! Each top module belongs to one layer and uses only its own layer and the
//! layers below; there is no cycle (`tests/module_graph.rs` checks both, from
//! this list, ignoring test code). Bottom first:
//!
//! ```text
//! foundation: model, vsphere, logging, telemetry, rate_limit, notify, supervisor
//! formats:    veba, cloudevents, normalize, snmp_values, filter, dedup
//! config:     config
//! store:      store, vcenters
//! stages:     enrich, route, settings, silence
//! sources:    ingest
//! sinks:      automation, monitoring, guard
//! pipeline:   pipeline
//! surface:    api, ops, ui
//! top:        app, cli
//! ```
//!
//! Sources sit above the store because they commit to it; sinks sit above
//! sources because they emit events of their own through the `Ingestor`
//! (guard, released alerts); the pipeline sits above the sinks because it
//! starts them and queues their work. Nothing below knows what is above it.
//!
//! ## Modules
//!
//! - [`model`]: the `Event` every source produces and its newtypes (`Moref`,
//!   `AlarmStatus`, `EventType`, …).
//! - [`vsphere`]: SOAP client (session, property collector, events, custom
//!   fields, alarm manager); imports nothing else from the crate.
//! - [`logging`]: escaping input in log fields, sampling per-input warnings,
//!   JSON errors that never echo the input; [`telemetry`]: logs + metrics +
//!   status counters from one typed event (`telemetry::internal_events`);
//!   [`rate_limit`]: per-address budgets with a bounded address table;
//!   [`notify`]: systemd readiness (`Type=notify`); [`supervisor`]: the
//!   gateway's long-lived tasks, and stopping the process (for systemd to
//!   restart) when one of them panics or ends before shutdown.
//! - [`veba`]: events in the VMware Event Broker Appliance's CloudEvent shape;
//!   [`cloudevents`]: the CloudEvents HTTP binding (structured, binary, batch).
//! - [`normalize`]: pure mappers (hook payload, CloudEvent, SNMP notification,
//!   vCenter event → `Event`; the triggering vCenter event's facts);
//!   [`snmp_values`]: SNMP varbind values to and from the wire.
//! - [`filter`]: the event fields a matcher can select and the one reading
//!   of their values, the status rule and the one glob dialect (`*`, `?`),
//!   shared by routes, subscriptions, silences and event listing.
//! - [`dedup`]: the pure duplicate detector (time passed in, bounded memory).
//! - [`config`]: the TOML contract, embedded defaults, validation, secret sets.
//! - [`store`]: the durable store: one trait per aggregate (events,
//!   deliveries, runs, guard, silences, checkpoints, alerts, kv) behind a
//!   cheap `Store` handle; the SQLite backend (one writer, group commit) and
//!   the PostgreSQL backend (several nodes active/active: claims, leases,
//!   singleton roles) implement them, and the conformance suite says what any
//!   backend must do.
//!   [`vcenters`]: one vSphere client per configured vCenter.
//! - [`enrich`]: finds the vCenter event behind an alarm (who, which class,
//!   which entity), bounded in time, never on the acceptance path.
//! - [`route`]: `[[route]]` rules (automation, monitoring, both, drop) and
//!   `[[subscription]]`s (which functions run); [`settings`]: the reloadable
//!   part of the config (routes, functions, subscriptions, secrets).
//! - [`silence`]: silences, inhibit rules and maintenance-mode holds.
//! - [`ingest`]: the SNMP listener and the vCenter event stream; `Ingestor`
//!   is the one path to "accepted" for every source (HTTP included).
//! - [`automation`]: the run queue and runners (command, webhook, builtin).
//! - [`monitoring`]: forwarders to the NMS (SNMP traps, Alertmanager and
//!   CloudEvents webhooks) and the alert state they keep.
//! - [`guard`]: keeps host alarm actions from staying disabled after
//!   maintenance mode (reconciler per vCenter; pure decisions in `guard::decide`).
//! - [`pipeline`]: applies dedup, enrichment, routing and silences and
//!   records the decision with the runs and deliveries it queues in one
//!   commit: at acceptance for events that need no vCenter lookup
//!   (admission, single-node store: the event is written once, decided),
//!   from the store for the rest (enrichment, the event stream, PostgreSQL's
//!   one decider, recovery after a restart); starts the sinks.
//! - [`api`]: HTTP listener (connection cap, timeouts, TLS), router with its
//!   three auth-layered route groups (ingest, read, admin), the HTTP ingest
//!   handlers, read endpoints, error policy; every JSON body as a type in
//!   `api::wire` (the handlers write them, the CLI reads them).
//!   [`ops`]: backup, restore, check-store.
//! - [`app`]: wiring and graceful shutdown; [`cli`]: the client commands
//!   (`get`, `emit`, `silence`, `retry`, `reload`; tables, JSON, YAML, `--follow`).
//! - [`ui`]: the web console at `/ui/` (an embedded static shell; data only
//!   through the API).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod automation;
pub mod cli;
pub mod cloudevents;
pub mod config;
pub mod dedup;
pub mod enrich;
pub mod filter;
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
pub mod supervisor;
pub mod telemetry;
pub mod ui;
pub mod vcenters;
pub mod veba;
pub mod vsphere;
