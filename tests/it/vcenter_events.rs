//! The vCenter event-stream source against the simulator (a real SOAP peer):
//! types and metadata, at-least-once delivery across a kill -9 with each
//! event stored once, a simulator restart and session loss under a running
//! gateway, collectors cleaned up on shutdown, and dedup with the hook.
//!
//! Every test polls every 200 ms, so events arrive within a second or two.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use vcgate::vsphere::soap::Body;
use vcgate::vsphere::{Client, ManagedObjectRef, PropValue};

use crate::support::peers::vcsim::{connected, create_vm, host_named};
use crate::support::{TestApp, TestConfig, Vcsim};

const WAIT: Duration = Duration::from_secs(30);
const TASK_WAIT: Duration = Duration::from_secs(30);

fn stream_config(sim: &Vcsim, extra: &str) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"vcsim-user\"\npassword = \"vcsim-pass\"\ntimeout = \"3s\"\nevents = true\nevents_poll = \"200ms\"\n\n{extra}",
            sim.url
        ),
        ..TestConfig::default()
    }
}

/// Every stored event of the stream, newest first.
async fn stream_events(app: &TestApp) -> Vec<Value> {
    app.events("source=vcenter-events&limit=1000").await
}

async fn stream_status(app: &TestApp) -> Value {
    app.status().await["event_streams"]["vc1"].clone()
}

/// Waits until the stream has completed `n` more polls than now and says it
/// is connected (so everything vCenter had by then has been read).
async fn settled(app: &TestApp, n: u64) {
    let start = stream_status(app).await["polls"].as_u64().unwrap_or(0);
    app.wait_for("stream polls", WAIT, || async {
        let s = stream_status(app).await;
        (s["connected"] == true && s["polls"].as_u64().unwrap_or(0) >= start + n).then_some(())
    })
    .await;
}

/// Waits for the stream event matching `pred`, returning it.
async fn wait_event(app: &TestApp, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    app.wait_for(what, WAIT, || async {
        stream_events(app).await.into_iter().find(|e| pred(e))
    })
    .await
}

/// Panics unless every stored stream event has its own delivery id.
fn assert_each_once(events: &[Value]) {
    let mut seen = HashSet::new();
    for e in events {
        let id = e["delivery_id"]
            .as_str()
            .expect("stream events carry a delivery_id");
        assert!(seen.insert(id.to_owned()), "delivery {id} stored twice");
    }
}

async fn vm_folder(client: &Client) -> ManagedObjectRef {
    let dcs = client
        .list_objects("Datacenter", &["vmFolder"])
        .await
        .unwrap();
    dcs[0]
        .get("vmFolder")
        .and_then(PropValue::as_moref)
        .expect("vmFolder")
        .clone()
}

async fn run_task(client: &Client, body: Body) -> Option<PropValue> {
    let res = client.invoke(body).await.unwrap();
    let task = res
        .child("returnval")
        .and_then(|t| t.as_moref())
        .expect("task");
    client.wait_for_task(&task, TASK_WAIT).await.unwrap()
}

async fn clone_vm(client: &Client, vm: &ManagedObjectRef, name: &str) -> ManagedObjectRef {
    let folder = vm_folder(client).await;
    let mut body = Body::new("CloneVM_Task", vm);
    body.moref("folder", &folder)
        .text("name", name)
        .open("spec")
        .open("location")
        .close("location")
        .text("template", false)
        .text("powerOn", false)
        .close("spec");
    run_task(client, body)
        .await
        .as_ref()
        .and_then(PropValue::as_moref)
        .cloned()
        .expect("CloneVM_Task result")
}

async fn power_on(client: &Client, vm: &ManagedObjectRef) {
    run_task(client, Body::new("PowerOnVM_Task", vm)).await;
}

/// Posts `class` about VM `vm` as user `user` through the simulator's control API.
async fn post_vm_event(sim: &Vcsim, class: &str, vm: &ManagedObjectRef, user: &str) -> i64 {
    sim.control_post(&format!(
        "/vcsim/events/post?class={class}&vm={}&user={user}",
        vm.value
    ))
    .await["key"]
        .as_i64()
        .expect("posted key")
}

fn by_user<'a>(events: &'a [Value], user: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["user"] == user).collect()
}

#[tokio::test]
async fn vcenter_events_vm_created_cloned_powered_on_have_types_and_metadata() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let app = TestApp::spawn_config(stream_config(&sim, "")).await;
    settled(&app, 1).await;

    let vm = create_vm(&client, "stream-vm-01").await;
    let clone = clone_vm(&client, &vm, "stream-clone-01").await;
    power_on(&client, &clone).await;

    let created = wait_event(&app, "vm.created", |e| {
        e["type"] == "vm.created" && e["entity"]["name"] == "stream-vm-01"
    })
    .await;
    assert_eq!(created["source"], "vcenter-events");
    assert_eq!(created["vcenter"], "vc1");
    assert_eq!(created["entity"]["type"], "VirtualMachine");
    assert_eq!(created["entity"]["moref"], vm.value.as_str());
    assert_eq!(created["user"], "vcgate-it");
    assert_eq!(created["category"], "info");
    assert!(
        created["message"]
            .as_str()
            .unwrap()
            .contains("stream-vm-01")
    );
    let meta = &created["metadata"];
    assert_eq!(meta["vm_name"], "stream-vm-01");
    assert_eq!(meta["vm_id"], vm.value.as_str());
    assert_eq!(meta["datacenter"], "DC0");
    assert!(meta["host"].is_string(), "{meta}");
    assert_eq!(meta["vcenter_event_class"], "VmCreatedEvent");
    let key = created["event_key"].as_i64().expect("event_key");
    assert_eq!(meta["vcenter_event_key"], key);
    let time = created["time"].as_str().expect("time");
    assert_eq!(
        created["delivery_id"],
        format!("vc1:{key}:{time}"),
        "delivery id = vcenter:key:createdTime"
    );

    let cloned = wait_event(&app, "vm.cloned", |e| {
        e["type"] == "vm.cloned" && e["entity"]["name"] == "stream-clone-01"
    })
    .await;
    assert_eq!(cloned["entity"]["moref"], clone.value.as_str());
    assert_eq!(cloned["metadata"]["source_vm"], "stream-vm-01");
    assert_eq!(cloned["metadata"]["source_vm_id"], vm.value.as_str());
    assert_eq!(cloned["metadata"]["vm_name"], "stream-clone-01");
    assert_eq!(cloned["user"], "vcgate-it");

    let on = wait_event(&app, "vm.powered.on", |e| {
        e["type"] == "vm.powered.on" && e["entity"]["name"] == "stream-clone-01"
    })
    .await;
    assert_eq!(on["metadata"]["vm_id"], clone.value.as_str());
    assert_eq!(on["metadata"]["vcenter_event_class"], "VmPoweredOnEvent");
    // The CloudEvent rendering carries the same (not null) metadata.
    assert!(on["metadata"].as_object().is_some_and(|m| !m.is_empty()));

    app.wait_processed().await;
    let status = stream_status(&app).await;
    assert_eq!(status["connected"], true, "{status}");
    assert!(
        status["events_by_class"]["VmClonedEvent"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(
        status["events_by_class"]["VmPoweredOnEvent"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(status["last_event_key"].as_i64() >= Some(key), "{status}");
    assert!(status["last_event_time"].is_string(), "{status}");
    assert!(
        status["lag_seconds"].as_f64().is_some_and(|l| l < 10.0),
        "{status}"
    );
    assert_each_once(&stream_events(&app).await);

    // `vcgate get status` shows the stream too.
    let out = crate::support::vcgate_cli(
        &["get", "status"],
        &[
            ("VCGATE_TOKEN", crate::support::READ_TOKEN),
            ("VCGATE_SERVER", app.base_url.as_str()),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("event stream vc1: connected=true last_key="),
        "{stdout}"
    );
}

#[tokio::test]
async fn vcenter_events_missed_while_stopped_are_delivered_once_after_restart() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap();
    // Our own logins are vCenter events too; excluded here so the count below
    // is exact (and events_exclude is exercised).
    let mut cfg = stream_config(&sim, "");
    cfg.extra = cfg.extra.replace(
        "events = true\n",
        "events = true\nevents_exclude = [\"UserLoginSessionEvent\"]\n",
    );
    let mut app = TestApp::spawn_config(cfg).await;
    let before = post_vm_event(&sim, "VmPoweredOffEvent", &vm, "before-kill").await;
    wait_event(&app, "event before the kill", |e| {
        e["user"] == "before-kill"
    })
    .await;
    settled(&app, 2).await;
    let stored_before = stream_events(&app).await.len();

    app.kill9();
    let mut missed = Vec::new();
    for user in ["missed-1", "missed-2", "missed-3"] {
        missed.push(post_vm_event(&sim, "VmSuspendedEvent", &vm, user).await);
    }
    let created = create_vm(&client, "created-while-down").await;
    app.restart().await;

    for user in ["missed-1", "missed-2", "missed-3"] {
        wait_event(&app, user, |e| e["user"] == user).await;
    }
    wait_event(&app, "VM created while down", |e| {
        e["type"] == "vm.created" && e["entity"]["moref"] == created.value.as_str()
    })
    .await;
    settled(&app, 5).await;

    let events = stream_events(&app).await;
    assert_each_once(&events);
    for (user, key) in ["missed-1", "missed-2", "missed-3"].iter().zip(&missed) {
        let found = by_user(&events, user);
        assert_eq!(found.len(), 1, "{user}: {found:#?}");
        assert_eq!(found[0]["event_key"], *key);
        assert_eq!(found[0]["type"], "vm.suspended");
    }
    let before_kill = by_user(&events, "before-kill");
    assert_eq!(
        before_kill.len(),
        1,
        "replayed after restart: {before_kill:#?}"
    );
    assert_eq!(before_kill[0]["event_key"], before);
    // Only the events that happened while down are new: the 3 posted, and
    // CreateVM's VmBeingCreated, VmInstanceUuidAssigned, VmUuidAssigned and
    // VmCreated.
    assert_eq!(
        events.len(),
        stored_before + 3 + 4,
        "{:#?}",
        events
            .iter()
            .map(|e| (&e["type"], &e["user"]))
            .collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e["type"] != "user.login.session"));
    let status = stream_status(&app).await;
    assert!(status["excluded"].as_u64() >= Some(1), "{status}");
}

#[tokio::test]
async fn vcenter_events_resume_after_simulator_restart_and_session_loss() {
    let mut sim = Vcsim::start();
    let client = connected(&sim).await;
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap();
    let app = TestApp::spawn_config(stream_config(&sim, "")).await;
    post_vm_event(&sim, "VmPoweredOffEvent", &vm, "phase-a").await;
    wait_event(&app, "phase-a", |e| e["user"] == "phase-a").await;

    // vCenter down: the stream notices and backs off ...
    sim.stop();
    app.wait_for("the stream to notice vCenter is down", WAIT, || async {
        let s = stream_status(&app).await;
        (s["connected"] == false && s["last_error"].is_string()).then_some(())
    })
    .await;
    // ... and comes back by itself when vCenter does.
    sim.restart();
    // Same MOIDs after a restart (deterministic model); event keys start over.
    post_vm_event(&sim, "VmSuspendedEvent", &vm, "phase-b").await;
    wait_event(&app, "phase-b after the simulator restart", |e| {
        e["user"] == "phase-b"
    })
    .await;

    // Session loss: the next collector call fails, the stream logs in again
    // and recreates its collector from the checkpoint.
    sim.control_post("/vcsim/sessions/expire").await;
    post_vm_event(&sim, "VmResettingEvent", &vm, "phase-c").await;
    wait_event(&app, "phase-c after session loss", |e| {
        e["user"] == "phase-c"
    })
    .await;
    settled(&app, 5).await;

    let events = stream_events(&app).await;
    assert_each_once(&events);
    for user in ["phase-a", "phase-b", "phase-c"] {
        assert_eq!(by_user(&events, user).len(), 1, "{user}");
    }
    let status = stream_status(&app).await;
    assert_eq!(status["connected"], true, "{status}");
    assert!(status["last_error"].is_null(), "{status}");
    // Backoff, not a crash loop: a handful of failed polls at most.
    assert!(status["errors"].as_u64() < Some(20), "{status}");
    assert!(
        !app.log().contains("panicked"),
        "server log has a panic:\n{}",
        app.log()
    );
}

#[tokio::test]
async fn vcenter_events_shutdown_destroys_the_collector() {
    let sim = Vcsim::start();
    let mut app = TestApp::spawn_config(stream_config(&sim, "")).await;
    // While running, each poll's collector is destroyed again: never a pile-up.
    for _ in 0..10 {
        settled(&app, 1).await;
        let open = sim.collectors().await;
        assert!(open.len() <= 1, "collectors leak: {open:?}");
    }
    assert_eq!(app.terminate(), Some(0));
    assert!(
        sim.collectors().await.is_empty(),
        "collectors left behind after shutdown: {:?}",
        sim.collectors().await
    );
    assert!(app.log().contains("vCenter event stream stopped"));
}

#[tokio::test]
async fn vcenter_events_alarm_merges_with_the_same_alarm_from_the_hook() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_C0_H0").await.moref;
    let app = TestApp::spawn_config(stream_config(&sim, "")).await;
    settled(&app, 1).await;

    let r = app
        .post_json(
            "/api/v1/alarms",
            &json!({
                "delivery_id": "stream-merge-1",
                "vcenter": "vc1",
                "env": {
                    "VMWARE_ALARM_NAME": "Host connection state",
                    "VMWARE_ALARM_ID": "alarm-7",
                    "VMWARE_ALARM_TARGET_NAME": "DC0_C0_H0",
                    "VMWARE_ALARM_TARGET_ID": host.value,
                    "VMWARE_ALARM_OLDSTATUS": "Green",
                    "VMWARE_ALARM_NEWSTATUS": "Red",
                }
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let hook_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.control_post(&format!(
        "/vcsim/events/post?class=AlarmStatusChangedEvent&host={}&alarm=alarm-7&alarm_name=Host%20connection%20state&from=green&to=red",
        host.value
    ))
    .await;
    let streamed = wait_event(&app, "the alarm from the stream", |e| {
        e["type"] == "alarm.status.changed"
    })
    .await;
    assert_eq!(streamed["alarm"]["name"], "Host connection state");
    assert_eq!(streamed["alarm"]["new_status"]["status"], "red");
    assert_eq!(streamed["entity"]["name"], "DC0_C0_H0");
    app.wait_processed().await;

    let hook = app.event(&hook_id).await;
    let streamed = app.event(streamed["id"].as_str().unwrap()).await;
    let pair: BTreeMap<&str, &Value> = [("hook", &hook), ("stream", &streamed)].into();
    // The hook's event came first: it is the original, the stream's merged into it.
    assert_eq!(hook["duplicates"], 1, "{pair:#?}");
    assert_eq!(
        streamed["disposition"]["duplicate_of"],
        hook_id.as_str(),
        "{pair:#?}"
    );
    assert_eq!(streamed["duplicates"], 0);
    assert!(app.pipeline_counter("dedup.merged").await >= 1);
}
