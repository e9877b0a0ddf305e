//! A private PostgreSQL cluster for the HA tests: the same helper the store's
//! conformance suite uses (initdb/pg_ctl as the `postgres` user, a loopback
//! port, removed on drop), shared as a source file.

#[path = "../../../../src/store/postgres/cluster.rs"]
mod cluster;

pub use cluster::PgCluster;
