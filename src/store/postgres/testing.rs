//! Opening a PostgreSQL store on a private test cluster (the conformance
//! suite's PostgreSQL constructor). One cluster serves the tests running at
//! the same time (each gets its own database); the last one out stops it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

#[path = "cluster.rs"]
mod cluster;
pub use cluster::PgCluster;

use crate::config::StoreConfig;
use crate::store::Store;

static CLUSTER: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The running shared cluster, or a new one.
pub fn cluster() -> Arc<PgCluster> {
    let mut shared = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = shared.upgrade() {
        return c;
    }
    let c = Arc::new(PgCluster::start());
    *shared = Arc::downgrade(&c);
    c
}

/// A store config for a fresh database on `cluster`.
pub fn config(cluster: &PgCluster, node: &str) -> StoreConfig {
    let db = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    StoreConfig {
        backend: crate::config::StoreBackend::Postgres,
        url: Some(cluster.create_db(&db)),
        node_id: Some(node.to_owned()),
        pool_size: 4,
        ..StoreConfig::default()
    }
}

/// A fresh `Store` on its own database, and the cluster it must outlive.
pub async fn open_temp() -> (Store, Arc<PgCluster>) {
    let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
    let c = cluster.clone();
    let config = tokio::task::spawn_blocking(move || config(&c, "test-node"))
        .await
        .unwrap();
    let store = Store::open(&config)
        .await
        .unwrap_or_else(|e| panic!("opening the PostgreSQL store: {e}\n{}", cluster.log()));
    (store, cluster)
}
