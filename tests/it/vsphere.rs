//! vSphere client against the vCenter simulator (a real SOAP peer, no mocks).
//!
//! Each test starts its own simulator, so they run in parallel and may
//! change inventory state freely.

use std::time::Duration;

use vcgate::vsphere::soap::Body;
use vcgate::vsphere::{
    Client, ClientConfig, EventQuery, EventRecursion, Moref, PropValue, VcEvent, VsphereError,
};

use crate::vcsim_support::{Vcsim, VcsimOptions};

mod events;
mod inventory;
mod session;

const USER: &str = "vcgate-it";
const TASK_WAIT: Duration = Duration::from_secs(30);

fn config(url: &str, user: &str, password: &str) -> ClientConfig {
    ClientConfig {
        name: "vcsim".into(),
        url: url.into(),
        username: user.into(),
        password: password.into(),
        insecure: false,
        ca_file: None,
        timeout: Duration::from_secs(10),
        max_response: vcgate::vsphere::DEFAULT_MAX_RESPONSE,
    }
}

pub(crate) async fn connected(sim: &Vcsim) -> Client {
    let client = Client::new(config(&sim.url, USER, "any-password")).expect("client");
    client.connect().await.expect("connect");
    client
}

async fn host_named(client: &Client, name: &str) -> Moref {
    client
        .hosts()
        .await
        .expect("hosts")
        .into_iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
        .moref
}

pub(crate) async fn events_of(client: &Client, entity: &Moref, class: &str) -> Vec<VcEvent> {
    client
        .query_events(&EventQuery {
            entity: Some(entity.clone()),
            recursion: EventRecursion::SelfOnly,
            event_type_ids: vec![class.to_owned()],
            ..EventQuery::default()
        })
        .await
        .expect("query_events")
}

/// CreateVM_Task through the low-level `invoke`, as a user would create a VM.
pub(crate) async fn create_vm(client: &Client, name: &str) -> Moref {
    let dcs = client
        .list_objects("Datacenter", &["vmFolder"])
        .await
        .unwrap();
    let folder = dcs[0]
        .get("vmFolder")
        .and_then(PropValue::as_moref)
        .expect("vmFolder")
        .clone();
    let pools = client
        .list_objects("ResourcePool", &["name"])
        .await
        .unwrap();
    let pool = pools[0].moref.clone();
    let mut body = Body::new("CreateVM_Task", &folder);
    body.open("config")
        .text("name", name)
        .text("guestId", "otherGuest")
        .open("files")
        .text("vmPathName", "[LocalDS_0]")
        .close("files")
        .text("numCPUs", 1)
        .text("memoryMB", 64)
        .close("config")
        .moref("pool", &pool);
    let res = client.invoke(body).await.unwrap();
    let task = res
        .child("returnval")
        .and_then(|t| t.as_moref())
        .expect("task");
    let result = client.wait_for_task(&task, TASK_WAIT).await.unwrap();
    result
        .as_ref()
        .and_then(PropValue::as_moref)
        .cloned()
        .unwrap_or_else(|| panic!("CreateVM_Task result: {result:?}"))
}
