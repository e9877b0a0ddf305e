//! PostgreSQL backend of the store, for active/active high availability:
//! several gateways share one database, which is the only place they agree
//! on anything (no gossip, no consensus of our own). Implements every
//! aggregate trait of `store` on [`PgStore`].
//!
//! Owns: the pool, the schema and its migrations (run once under an advisory
//! lock, `schema.rs`), this node's heartbeat row and the singleton leases
//! (`nodes.rs`), and the SQL of each aggregate. Must not: know the stages.
//!
//! Why tokio-postgres + deadpool-postgres + tokio-postgres-rustls: the store
//! is hand-written SQL behind traits already (no ORM to feed), so the plain
//! async driver is the smallest thing that does the job; `sqlx` would bring
//! its macros, its own pool and migration runner that we do not use.
//! deadpool gives a bounded pool with wait/create timeouts (a node that lost
//! the database answers 503 within seconds instead of hanging), and
//! tokio-postgres-rustls gives TLS without OpenSSL, on the same rustls
//! (aws-lc-rs) the HTTP listener and reqwest already use.
//!
//! How several nodes share the work (the exactly-once rules):
//! - acceptance: `INSERT … ON CONFLICT DO NOTHING` on the unique
//!   `(source, delivery_id)` index: the same delivery to two nodes is one
//!   event, whichever commits first; the other answers with its id.
//! - pipeline decisions: one node at a time decides (the `pipeline`
//!   singleton lease, so dedup memory sees every event); the decision commit
//!   locks the event row and skips it when it is already decided, so an
//!   overlapping decider during a takeover cannot decide twice.
//! - runs and deliveries: claimed with `FOR UPDATE SKIP LOCKED`, stamped
//!   with the claiming node; a run claimed by a node whose heartbeat lease
//!   expired is taken over (attempt + 1); a delivery's claim is a lease on
//!   its due time. Settling a run only counts while this node still holds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};

use super::{Backend, StoreError};
use crate::config::StoreConfig;

mod alerts;
mod checkpoint;
mod decisions;
mod deliveries;
mod events;
mod guard;
#[cfg(test)]
mod ha_tests;
mod kv;
pub(crate) mod nodes;
mod runs;
mod schema;
mod silences;
#[cfg(test)]
pub(crate) mod testing;

pub use nodes::{ClusterNode, ClusterStatus, SingletonHolder};

/// Current time in Unix milliseconds, by the database's clock: leases are
/// compared between nodes, so they all use one clock.
pub(super) const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The PostgreSQL backend; the `Store` handle holds it behind an `Arc`.
pub(super) struct PgStore {
    pool: Pool,
    /// False after a failed round trip to the database, until the next good one.
    writable: Arc<AtomicBool>,
    node: Arc<nodes::Node>,
}

impl PgStore {
    /// Connects, runs pending migrations (under an advisory lock) and starts
    /// this node's heartbeat.
    pub(super) async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        // The directory of `path` still holds this node's own files (the
        // SNMPv3 engine's boots counter), as with SQLite.
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::files::ensure_private_dir(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        let pool = pool(config)?;
        {
            let mut client = get(&pool)
                .await
                .map_err(|e| StoreError::Open(e.to_string()))?;
            schema::migrate(&mut client).await?;
        }
        let writable = Arc::new(AtomicBool::new(true));
        let node = Arc::new(nodes::Node::new(config));
        nodes::join(&pool, &node).await?;
        nodes::spawn_heartbeat(pool.clone(), node.clone(), writable.clone());
        tracing::info!(node = %node.id, "PostgreSQL store open");
        Ok(Self {
            pool,
            writable,
            node,
        })
    }

    /// A pooled connection; a failure marks the store unwritable. Getting
    /// one is no proof that the database answers (an idle pooled connection
    /// is handed out without a round trip), so success marks nothing: with
    /// a hung database every read used to set `/readyz` back to ready until
    /// the next failure. Completed commits and heartbeats do.
    async fn client(&self) -> Result<Object, StoreError> {
        let result = get(&self.pool).await;
        if result.is_err() {
            self.note(&result);
        }
        result
    }

    /// Books the outcome of a round trip for `is_writable`.
    fn note<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.writable.store(true, Ordering::Relaxed),
            Err(StoreError::Unavailable(_) | StoreError::Full(_)) => {
                self.writable.store(false, Ordering::Relaxed)
            }
            Err(_) => {}
        }
    }

    pub(super) fn node_id(&self) -> &str {
        &self.node.id
    }
}

impl Backend for PgStore {
    fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    fn cluster(&self) -> Option<ClusterStatus> {
        Some(self.node.snapshot())
    }
}

/// `vcgate migrate`: runs the migrations a database has not seen yet.
pub async fn migrate_only(config: &StoreConfig) -> Result<usize, StoreError> {
    let pool = pool(config)?;
    let mut client = get(&pool)
        .await
        .map_err(|e| StoreError::Open(e.to_string()))?;
    schema::migrate(&mut client).await
}

async fn get(pool: &Pool) -> Result<Object, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))
}

/// The bounded pool: `pool_size` connections, and a caller waits at most a
/// few seconds for one (or for a new connection), so a node cut off from
/// the database refuses quickly instead of piling up requests.
fn pool(config: &StoreConfig) -> Result<Pool, StoreError> {
    let pg = connection_config(config)?;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(config)?);
    let manager = Manager::from_config(
        pg,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeout = Some(Duration::from_secs(5));
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .build()
        .map_err(|e| StoreError::Open(e.to_string()))
}

/// The connection settings: the URL, the password, and bounds on a dead
/// peer. A partition that drops packets without resets otherwise left a
/// query in flight waiting for TCP's retransmissions to give up (about 15
/// minutes) and an idle pooled connection dead until used. Unacknowledged
/// data fails the connection after `node_timeout` (`TCP_USER_TIMEOUT`), and
/// an idle connection is probed after `node_timeout`, three probes a third
/// of it apart (at least 3 s and 1 s: the kernel takes whole seconds).
/// Values set in the URL (`tcp_user_timeout`, `keepalives_idle`, … in
/// seconds) win.
fn connection_config(config: &StoreConfig) -> Result<tokio_postgres::Config, StoreError> {
    let url = config
        .url
        .as_deref()
        .ok_or_else(|| StoreError::Open("[store] url is required for postgres".into()))?;
    let mut pg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Open(format!("[store] url: {e}")))?;
    if let Some(password) = password(config)? {
        pg.password(password);
    }
    pg.connect_timeout(Duration::from_secs(5));
    pg.application_name("vcgate");
    // Keepalive times are whole seconds for the kernel (zero is refused).
    let lease = config.node_timeout.max(Duration::from_secs(3));
    if pg.get_tcp_user_timeout().is_none() {
        pg.tcp_user_timeout(lease);
    }
    // tokio-postgres's own default idle time is two hours.
    if pg.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        pg.keepalives_idle(lease);
    }
    if pg.get_keepalives_interval().is_none() {
        pg.keepalives_interval(Duration::from_secs((lease / 3).as_secs().max(1)));
    }
    if pg.get_keepalives_retries().is_none() {
        pg.keepalives_retries(3);
    }
    Ok(pg)
}

/// The password: `password_file`, else `password_env`, else
/// `VCGATE_PG_PASSWORD`, else none (the URL's, or trust/cert auth).
fn password(config: &StoreConfig) -> Result<Option<String>, StoreError> {
    if let Some(file) = &config.password_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| StoreError::Open(format!("{}: {e}", file.display())))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    let var = config
        .password_env
        .as_deref()
        .unwrap_or("VCGATE_PG_PASSWORD");
    Ok(std::env::var(var).ok())
}

/// rustls client config: the CA in `tls_ca_file`, else the system roots.
/// Used only when the URL asks for TLS (`sslmode=require` or `prefer`).
fn tls_config(config: &StoreConfig) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &config.tls_ca_file {
        Some(file) => {
            for cert in CertificateDer::pem_file_iter(file)
                .map_err(|e| StoreError::Open(format!("{}: {e}", file.display())))?
            {
                let cert =
                    cert.map_err(|e| StoreError::Open(format!("{}: {e}", file.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Open(format!("{}: {e}", file.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A database error as a store error: disk full is `Full`, the rest
/// `Unavailable` (nothing was committed).
pub(super) fn pg(e: tokio_postgres::Error) -> StoreError {
    let full = e
        .code()
        .is_some_and(|c| *c == tokio_postgres::error::SqlState::DISK_FULL);
    if full {
        StoreError::Full(e.to_string())
    } else {
        StoreError::Unavailable(format!("PostgreSQL: {e}"))
    }
}

pub(super) fn node_timeout_ms(timeout: Duration) -> i64 {
    timeout.as_millis().min(i64::MAX as u128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> StoreConfig {
        StoreConfig {
            url: Some(url.to_owned()),
            password_env: Some("VCGATE_TEST_NO_SUCH_PASSWORD_VARIABLE".into()),
            ..StoreConfig::default()
        }
    }

    #[test]
    fn a_dead_peer_is_noticed_within_the_node_timeout() {
        let pg = connection_config(&config("postgres://vcgate@db.example.com/vcgate")).unwrap();
        let lease = StoreConfig::default().node_timeout;
        assert_eq!(pg.get_tcp_user_timeout(), Some(&lease));
        assert!(pg.get_keepalives());
        assert_eq!(pg.get_keepalives_idle(), lease);
        assert_eq!(pg.get_keepalives_interval(), Some(lease / 3));
        // A short lease (tests use 2 s) still gives the kernel whole seconds.
        let short = StoreConfig {
            node_timeout: Duration::from_millis(2_000),
            ..config("postgres://vcgate@db.example.com/vcgate")
        };
        let pg = connection_config(&short).unwrap();
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(3));
        assert_eq!(pg.get_keepalives_interval(), Some(Duration::from_secs(1)));
        assert_eq!(pg.get_keepalives_retries(), Some(3));
    }

    #[test]
    fn dead_peer_settings_in_the_url_win() {
        let pg = connection_config(&config(
            "postgres://vcgate@db.example.com/vcgate?tcp_user_timeout=60&keepalives_idle=30&keepalives_interval=2&keepalives_retries=9",
        ))
        .unwrap();
        assert_eq!(pg.get_tcp_user_timeout(), Some(&Duration::from_secs(60)));
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(pg.get_keepalives_interval(), Some(Duration::from_secs(2)));
        assert_eq!(pg.get_keepalives_retries(), Some(9));
    }
}
