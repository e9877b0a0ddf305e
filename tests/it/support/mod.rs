//! Shared fixtures of the integration tests.
//!
//! - [`app`]: [`TestApp`], the real `vcgate serve` binary as a child process
//!   on port 0, its bound addresses read from its log (zero2prod's TestApp).
//! - [`peers`]: the real peers the tests start themselves: net-snmp's
//!   `snmptrapd`, a webhook receiver and a black hole, Alertmanager, the
//!   vCenter simulator, a private PostgreSQL cluster.
//! - [`builders`]: request and trap payloads (`alarm_body`, vpxdAlarmInfo
//!   traps sent with net-snmp's tools).
//! - [`waits`]: polling a condition with a deadline; tests never sleep to
//!   synchronize.
//! - [`tools`]: Debian tools the tests need, the `vcgate` CLI, `/proc` reads.
//!
//! Every server binds port 0 and reports what it bound, so suites running
//! side by side on one machine never race for a port. A peer that cannot be
//! started fails the test loudly; nothing is skipped.

pub mod app;
pub mod builders;
pub mod peers;
pub mod tools;
pub mod waits;

pub use app::{ADMIN_TOKEN, INGEST_TOKEN, READ_TOKEN, TestApp, TestConfig};
pub use builders::{AlarmInfo, alarm_body, alarm_trap};
pub use peers::alertmanager::Alertmanager;
pub use peers::postgres::PgCluster;
pub use peers::snmptrapd::Snmptrapd;
pub use peers::vcsim::{Vcsim, VcsimOptions};
pub use peers::webhook::WebhookReceiver;
pub use tools::{closed_port, require_tool, vcgate_cli};
