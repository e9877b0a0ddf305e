//! Singleton roles: work that must run on one node at a time when several
//! gateways share a store (the pipeline's decider, the guard reconciler and
//! the event stream of each vCenter, the maintenance poller).
//!
//! Owns: [`SingletonStore`] and [`Role`]. Must not: know what a role does;
//! its owner asks before each step and acts on the answer. A single-node
//! backend (SQLite) always answers [`Role::Holding`].

use super::StoreError;

/// Role names used by the stages (one per vCenter where it says so).
pub const PIPELINE: &str = "pipeline";

/// The guard reconciler of one vCenter.
pub fn guard(vcenter: &str) -> String {
    format!("guard:{vcenter}")
}

/// The vCenter event stream of one vCenter.
pub fn event_stream(vcenter: &str) -> String {
    format!("events:{vcenter}")
}

/// The maintenance poller of one vCenter (monitoring silences).
pub fn maintenance(vcenter: &str) -> String {
    format!("maintenance:{vcenter}")
}

#[async_trait::async_trait]
pub trait SingletonStore: Send + Sync {
    /// Takes or keeps the role `name` for this node if nobody else holds
    /// it; says whether this node holds it now, and whether it just took it
    /// over (what it remembers of the role's state is then stale). A shared
    /// backend holds it by a lease that this node's heartbeat renews and
    /// that expires when the node dies.
    async fn singleton(&self, _name: &str) -> Result<Role, StoreError> {
        Ok(Role::Holding)
    }
}

/// This node's part in a singleton role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This node holds it, as it did at the last ask.
    Holding,
    /// This node holds it from now on: state it keeps in memory for the
    /// role must be reloaded from the store first.
    TookOver,
    /// Another node holds it; ask again later.
    Standby,
}

impl Role {
    pub fn holds(self) -> bool {
        self != Self::Standby
    }
}
