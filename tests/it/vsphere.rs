//! vSphere client against the vCenter simulator (a real SOAP peer, no mocks).
//!
//! Each test starts its own simulator, so they run in parallel and may
//! change inventory state freely.

use vcgate::vsphere::soap::Body;
use vcgate::vsphere::{
    Client, EventFilterSpec, EventRecursion, ManagedObjectRef, PropValue, VsphereError,
};

use crate::support::peers::vcsim::{
    TASK_WAIT, USER, client_config, connected, create_vm, events_of,
};
use crate::support::{Vcsim, VcsimOptions};

mod events;
mod inventory;
mod session;

/// The moref of the simulator's host named `name`.
async fn host_named(client: &Client, name: &str) -> ManagedObjectRef {
    crate::support::peers::vcsim::host_named(client, name)
        .await
        .moref
}
