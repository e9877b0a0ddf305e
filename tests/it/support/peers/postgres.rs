//! PostgreSQL for the integration tests: the private-cluster helper the
//! store's conformance suite uses (initdb/pg_ctl as the `postgres` user, a
//! loopback port, removed on drop), shared as a source file, plus the
//! backend matrix.
//!
//! The matrix: with `VCGATE_TEST_STORE=postgres` (what `scripts/test.sh`
//! sets for its second pass), every [`TestApp`](crate::support::TestApp)
//! whose test did not pick a backend itself runs on PostgreSQL: a fresh
//! database per gateway on one cluster shared by the whole test process. So
//! the same tests, asserting the same things, run on both backends and the
//! two cannot drift. The shared cluster outlives every test; a watchdog
//! process stops and removes it when the test process exits (statics are
//! never dropped in Rust).

#[path = "../../../../src/store/postgres/cluster.rs"]
mod cluster;

pub use cluster::PgCluster;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that selects the backend of the test gateways:
/// `sqlite` (default) or `postgres`.
pub const BACKEND_VAR: &str = "VCGATE_TEST_STORE";

/// Whether this test process runs its gateways on PostgreSQL.
pub fn matrix_is_postgres() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VAR}={other}: expected `sqlite` or `postgres`"),
    }
}

/// A fresh database of the shared cluster for one test gateway: its URL and
/// the `[store]` lines that select it. The node id is fixed, as an operator
/// configures it, so a gateway restarted after a `kill -9` is the same node
/// and resumes its own claimed work at once (as the SQLite store does)
/// instead of waiting for its previous incarnation's lease to expire.
pub fn matrix_database() -> (String, String) {
    static NEXT_DB: AtomicUsize = AtomicUsize::new(0);
    let db = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    let url = shared_cluster().create_db(&db);
    let lines = format!("\nbackend = \"postgres\"\nurl = \"{url}\"\nnode_id = \"{db}\"\n");
    (url, lines)
}

/// Everything database `url` holds, as `pg_dump` writes it (for tests that
/// look for what must never be stored, e.g. a secret).
pub fn dump(url: &str) -> Vec<u8> {
    let out = std::process::Command::new(format!("{}/pg_dump", cluster::bin_dir()))
        .args(["--data-only", url])
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Holds an exclusive lock on the `events` table in an open transaction
/// until dropped: no event can be committed meanwhile (readers go on).
/// A `psql` child holds it, so the release on drop is synchronous (the
/// server rolls back when the killed client's socket closes), which a test
/// blocked on a child process right after the drop relies on.
pub struct EventsLock {
    psql: std::process::Child,
}

pub fn lock_events(url: &str) -> EventsLock {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let mut psql = Command::new(format!("{}/psql", cluster::bin_dir()))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run psql");
    writeln!(
        psql.stdin.as_mut().unwrap(),
        "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE; SELECT 'locked';"
    )
    .expect("write to psql");
    let mut line = String::new();
    std::io::BufReader::new(psql.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .expect("read from psql");
    assert_eq!(
        line.trim(),
        "locked",
        "psql could not lock the events table"
    );
    EventsLock { psql }
}

impl Drop for EventsLock {
    fn drop(&mut self) {
        let _ = self.psql.kill();
        let _ = self.psql.wait();
    }
}

/// One cluster for the whole test process, started on first use.
fn shared_cluster() -> &'static PgCluster {
    static SHARED: OnceLock<PgCluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let cluster = PgCluster::start();
        cluster.stop_when_process_exits(std::process::id());
        cluster
    })
}
