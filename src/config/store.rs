//! `[store]`: where the database lives, retention, write batching.
//!
//! Kept in a file of its own so a second backend's keys (`backend`, its
//! connection settings) can be added here without touching the rest.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::ByteSize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Events older than this are pruned in the background.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// At most this many events are kept (oldest pruned first).
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// `full` fsyncs every group commit (an acknowledged event survives power
    /// loss); `normal` survives a process crash but not a power cut.
    #[serde(default)]
    pub sync: SyncMode,
    /// Hard cap on the database size; beyond it writes fail and ingest answers 503.
    pub max_size: Option<ByteSize>,
    /// How many writes one group commit may take.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// `sqlite` (embedded, `path`) or `postgres` (`url`; active/active HA).
    #[serde(default)]
    pub backend: StoreBackend,
    /// PostgreSQL connection URL, `postgres://user@host:port/db`; TLS with
    /// `?sslmode=require` (rustls; `tls_ca_file` or the system roots).
    pub url: Option<String>,
    /// File holding the PostgreSQL password (else `password_env`, else
    /// `VCGATE_PG_PASSWORD`, else the URL's).
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the PostgreSQL server's certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// Connections in the PostgreSQL pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// This gateway's name among the nodes sharing a PostgreSQL store
    /// (default: host name and process id).
    pub node_id: Option<String>,
    /// A node silent (no heartbeat) this long is dead: its claimed runs,
    /// deliveries and singletons are taken over.
    #[serde(default = "default_node_timeout", with = "humantime_serde")]
    pub node_timeout: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

fn default_pool_size() -> usize {
    16
}

fn default_node_timeout() -> Duration {
    Duration::from_secs(15)
}

impl Default for StoreConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Normal,
}

fn default_store_path() -> PathBuf {
    PathBuf::from("./vcgate-data/vcgate.db")
}

fn default_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_max_events() -> u64 {
    10_000_000
}

fn default_max_batch() -> usize {
    1024
}
