//! The nodes sharing a PostgreSQL store: this node's heartbeat row (its
//! lease: a node whose `lease_until_ms` passed is dead, and its claimed runs
//! are taken over), the singleton leases (the pipeline's decider, and any
//! job that must run on one node at a time), and the snapshot the status
//! endpoint shows.
//!
//! Owns: the `nodes` and `singletons` tables. Must not: decide what a
//! singleton does (its owner asks `SingletonStore::singleton` before each step).
//!
//! Why lease rows, not `pg_try_advisory_lock`: an advisory lock lives on
//! one connection, and a pooled connection is recycled; a row with an expiry
//! survives reconnects, shows who holds what, and expires by itself when the
//! holder stops renewing it (kill -9, power off, network partition).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};

use super::{DB_NOW_MS, PgStore, node_timeout_ms, pg};
use crate::config::StoreConfig;
use crate::store::{Role, SingletonStore, StoreError};

/// One node of the cluster as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub id: String,
    pub version: String,
    /// Milliseconds since its last heartbeat (by the database's clock).
    pub last_seen_ms_ago: i64,
    /// Its lease has not expired.
    pub alive: bool,
}

/// Who holds a singleton.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingletonHolder {
    pub name: String,
    pub holder: String,
    /// The holder's lease has not expired.
    pub live: bool,
}

/// The cluster as of the last heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: String,
    pub nodes: Vec<ClusterNode>,
    pub singletons: Vec<SingletonHolder>,
}

/// This node: its id, lease length, the singletons it holds.
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) timeout: Duration,
    /// Singletons this node holds (as of the last acquire or renewal).
    held: Mutex<BTreeSet<String>>,
    snapshot: Mutex<ClusterStatus>,
}

impl Node {
    pub(crate) fn new(config: &StoreConfig) -> Self {
        let id = config.node_id.clone().unwrap_or_else(default_id);
        Self {
            snapshot: Mutex::new(ClusterStatus {
                node_id: id.clone(),
                ..ClusterStatus::default()
            }),
            id,
            timeout: config.node_timeout,
            held: Mutex::new(BTreeSet::new()),
        }
    }

    pub(crate) fn snapshot(&self) -> ClusterStatus {
        self.snapshot.lock().expect("snapshot lock").clone()
    }

    fn lease_ms(&self) -> i64 {
        node_timeout_ms(self.timeout)
    }

    /// Takes or renews the singleton `name` when it is free, expired or
    /// already ours; true while this node holds it.
    pub(crate) async fn acquire(
        &self,
        client: &tokio_postgres::Client,
        name: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO singletons (name, holder, lease_until_ms, since_ms) VALUES ($1, $2, {DB_NOW_MS} + $3, {DB_NOW_MS}) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until_ms = excluded.lease_until_ms, \
             since_ms = CASE WHEN singletons.holder = excluded.holder THEN singletons.since_ms ELSE excluded.since_ms END \
             WHERE singletons.holder = excluded.holder OR singletons.lease_until_ms < {DB_NOW_MS} \
             RETURNING holder"
        );
        let won = client
            .query_opt(&sql, &[&name, &self.id, &self.lease_ms()])
            .await
            .map_err(pg)?
            .is_some();
        let mut held = self.held.lock().expect("held lock");
        let had = if won {
            !held.insert(name.to_owned())
        } else {
            held.remove(name)
        };
        if won && !had {
            tracing::info!(node = %self.id, singleton = name, "took the singleton lease");
        }
        Ok(won)
    }

    /// Whether this node held `name` before the last acquire.
    pub(crate) fn holds(&self, name: &str) -> bool {
        self.held.lock().expect("held lock").contains(name)
    }
}

#[async_trait::async_trait]
impl SingletonStore for PgStore {
    async fn singleton(&self, name: &str) -> Result<Role, StoreError> {
        let client = self.client().await?;
        let held = self.node.holds(name);
        Ok(match self.node.acquire(&client, name).await? {
            false => Role::Standby,
            true if held => Role::Holding,
            true => Role::TookOver,
        })
    }
}

fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "node".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Joins the cluster: the first heartbeat, before this node claims anything
/// (a claim by a node without a live row would look abandoned).
pub(super) async fn join(pool: &Pool, node: &Node) -> Result<(), StoreError> {
    let status = beat(pool, node).await?;
    *node.snapshot.lock().expect("snapshot lock") = status;
    Ok(())
}

/// Beats every third of the lease: renews this node's row and its
/// singletons, refreshes the snapshot, and says whether the database is
/// reachable (`writable`). Stops when the store is dropped.
///
/// A beat not done within the same third counts as failed. A database that
/// takes connections but answers nothing (a stopped or hung server, a
/// partition that drops packets without resets) otherwise held the beat
/// forever: `/readyz` stayed ready and a load balancer kept sending alarms
/// to a node that could store none.
pub(super) fn spawn_heartbeat(pool: Pool, node: Arc<Node>, writable: Arc<AtomicBool>) {
    let weak = Arc::downgrade(&node);
    drop(node);
    tokio::spawn(async move {
        loop {
            let Some(node) = weak.upgrade() else { return };
            let every = (node.timeout / 3).max(Duration::from_millis(100));
            drop(node);
            tokio::time::sleep(every).await;
            let Some(node) = weak.upgrade() else { return };
            let beaten = tokio::time::timeout(every, beat(&pool, &node))
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "PostgreSQL did not answer the heartbeat within {every:?}"
                    )))
                });
            match beaten {
                Ok(status) => {
                    writable.store(true, Ordering::Relaxed);
                    *node.snapshot.lock().expect("snapshot lock") = status;
                }
                Err(e) => {
                    writable.store(false, Ordering::Relaxed);
                    tracing::warn!(node = %node.id, error = %e, "heartbeat to PostgreSQL failed");
                }
            }
        }
    });
}

async fn beat(pool: &Pool, node: &Node) -> Result<ClusterStatus, StoreError> {
    let client = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))?;
    let lease = node.lease_ms();
    client
        .execute(
            &format!(
                "INSERT INTO nodes (id, started_ms, seen_ms, lease_until_ms, version) \
                 VALUES ($1, {DB_NOW_MS}, {DB_NOW_MS}, {DB_NOW_MS} + $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms, \
                 lease_until_ms = excluded.lease_until_ms, version = excluded.version"
            ),
            &[&node.id, &lease, &env!("CARGO_PKG_VERSION")],
        )
        .await
        .map_err(pg)?;
    let renewed = client
        .query(
            &format!(
                "UPDATE singletons SET lease_until_ms = {DB_NOW_MS} + $2 WHERE holder = $1 RETURNING name"
            ),
            &[&node.id, &lease],
        )
        .await
        .map_err(pg)?;
    *node.held.lock().expect("held lock") = renewed.iter().map(|r| r.get(0)).collect();
    // Forget nodes dead for a day (their work was taken over long ago).
    client
        .execute(
            &format!("DELETE FROM nodes WHERE lease_until_ms < {DB_NOW_MS} - 86400000"),
            &[],
        )
        .await
        .map_err(pg)?;
    let nodes = client
        .query(
            &format!(
                "SELECT id, version, {DB_NOW_MS} - seen_ms, lease_until_ms >= {DB_NOW_MS} FROM nodes ORDER BY id"
            ),
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| ClusterNode {
            id: r.get(0),
            version: r.get(1),
            last_seen_ms_ago: r.get(2),
            alive: r.get(3),
        })
        .collect();
    let singletons = client
        .query(
            &format!(
                "SELECT name, holder, lease_until_ms >= {DB_NOW_MS} FROM singletons ORDER BY name"
            ),
            &[],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| SingletonHolder {
            name: r.get(0),
            holder: r.get(1),
            live: r.get(2),
        })
        .collect();
    Ok(ClusterStatus {
        node_id: node.id.clone(),
        nodes,
        singletons,
    })
}

/// SQL condition: the node named by `column` holds no live lease.
pub(super) fn dead(column: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = {column} AND n.lease_until_ms >= {DB_NOW_MS})"
    )
}
