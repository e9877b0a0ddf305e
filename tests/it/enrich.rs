//! Enrichment and the `set-created-by` builtin against the vCenter simulator
//! (real peer): who created the VM, the Dispatch type, custom attributes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::peers::vcsim::{connected, create_vm, events_of};
use crate::support::{TestApp, TestConfig, Vcsim, alarm_trap};
use vcgate::vsphere::Client;

fn vcenter_config(sim: &Vcsim, extra: &str) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"vcsim-user\"\npassword = \"vcsim-pass\"\ntimeout = \"3s\"\n\n[enrich]\ntimeout = \"3s\"\nretry_after = \"300ms\"\n\n{extra}",
            sim.url
        ),
        ..TestConfig::default()
    }
}

/// The hook payload vCenter would send for an event alarm on `vm` triggered by event `key`.
fn vm_alarm(delivery: &str, vm_name: &str, vm_moref: &str, key: i64, description: &str) -> Value {
    json!({
        "delivery_id": delivery,
        "vcenter": "vc1",
        "env": {
            "VMWARE_ALARM_NAME": "VM created",
            "VMWARE_ALARM_ID": "alarm-101",
            "VMWARE_ALARM_TARGET_NAME": vm_name,
            "VMWARE_ALARM_TARGET_ID": vm_moref,
            "VMWARE_ALARM_OLDSTATUS": "Gray",
            "VMWARE_ALARM_NEWSTATUS": "Red",
            "VMWARE_ALARM_TRIGGERINGSUMMARY": format!("Event: VM created ({key})"),
            "VMWARE_ALARM_EVENTDESCRIPTION": description,
        }
    })
}

async fn created_vm(client: &Client, name: &str) -> (String, i64, String) {
    let vm = create_vm(client, name).await;
    let created = events_of(client, &vm, "VmCreatedEvent").await;
    let event = created.last().expect("the simulator posts VmCreatedEvent");
    (
        vm.value.clone(),
        event.key,
        event.message.clone().unwrap_or_default(),
    )
}

async fn enriched(app: &TestApp, id: &str) -> Value {
    app.wait_for("enrichment", Duration::from_secs(20), || async {
        let e = app.event(id).await;
        (e["stage"] == "processed").then_some(e)
    })
    .await
}

#[tokio::test]
async fn alarm_for_a_created_vm_is_enriched_and_stamped_with_created_by() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let (vm, key, message) = created_vm(&client, "enrich-vm-01").await;
    let app = TestApp::spawn_config(vcenter_config(
        &sim,
        "[[route]]\nalarm = \"VM created*\"\nto = \"automation\"\n\n[[function]]\nname = \"created-by\"\nkind = \"builtin\"\nbuiltin = \"set-created-by\"\n\n[[subscription]]\nname = \"stamp\"\nevent_type = \"vm.created\"\nfunction = \"created-by\"\n",
    ))
    .await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &vm_alarm("enrich-1", "enrich-vm-01", &vm, key, &message),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = enriched(&app, &id).await;
    assert_eq!(e["enrichment"]["status"], "enriched", "{e}");
    assert_eq!(e["type"], "vm.created");
    assert!(
        e["user"].as_str().is_some_and(|u| !u.is_empty()),
        "creating user filled: {e}"
    );
    assert_eq!(e["metadata"]["vm_id"], vm.as_str());
    assert_eq!(e["metadata"]["vm_name"], "enrich-vm-01");
    assert_eq!(e["metadata"]["vcenter_event_class"], "VmCreatedEvent");
    assert_eq!(e["metadata"]["vcenter_event_key"], key);
    assert!(e["metadata"]["datacenter"].is_string());
    let user = e["user"].as_str().unwrap().to_owned();

    // The builtin ran from the subscription on the enriched type.
    let runs = app
        .wait_for("set-created-by run", Duration::from_secs(20), || async {
            let runs = app.get_json("/api/v1/runs?function=created-by").await["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let done = runs.first().is_some_and(|r| r["status"] == "succeeded");
            done.then_some(runs)
        })
        .await;
    assert_eq!(runs[0]["output"]["created_by"], user.as_str());
    let values = read_attributes(&client, &vm).await;
    assert_eq!(values.0.as_deref(), Some(user.as_str()));
    let created_on = values.1.expect("Created On set");
    assert!(
        time::OffsetDateTime::parse(&created_on, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
}

async fn read_attributes(client: &Client, vm: &str) -> (Option<String>, Option<String>) {
    let fields = client.custom_field_defs().await.unwrap();
    let key = |name: &str| fields.iter().find(|f| f.name == name).map(|f| f.key);
    let values = client
        .custom_values(&vcgate::vsphere::ManagedObjectRef::new(
            "VirtualMachine",
            vm,
        ))
        .await
        .unwrap();
    (
        key("Created By").and_then(|k| values.get(&k).cloned()),
        key("Created On").and_then(|k| values.get(&k).cloned()),
    )
}

#[tokio::test]
async fn set_created_by_twice_keeps_one_correct_value() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let (vm, _, _) = created_vm(&client, "stamp-twice").await;
    let app = TestApp::spawn_config(vcenter_config(
        &sim,
        "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"created-by\"\nkind = \"builtin\"\nbuiltin = \"set-created-by\"\n\n[[subscription]]\nname = \"stamp\"\nevent_type = \"vm.created\"\nfunction = \"created-by\"\n",
    ))
    .await;
    for i in 0..2 {
        // No user in the event: the builtin looks up the VmCreatedEvent itself.
        let ce = json!({"specversion": "1.0", "id": format!("twice-{i}"), "source": "test", "type": "vm.created",
            "data": {"message": format!("creation {i}"), "entity": {"type": "VirtualMachine", "moref": vm, "name": "stamp-twice"}, "vcenter": "vc1"}});
        assert_eq!(
            app.post_json("/api/v1/events", &ce)
                .send()
                .await
                .unwrap()
                .status(),
            202
        );
    }
    let runs = app
        .wait_for("two runs", Duration::from_secs(20), || async {
            let runs = app.get_json("/api/v1/runs?function=created-by").await["runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (runs.len() == 2 && runs.iter().all(|r| r["status"] == "succeeded")).then_some(runs)
        })
        .await;
    assert_eq!(
        runs[0]["output"], runs[1]["output"],
        "idempotent: both runs wrote the same values"
    );
    let fields = client.custom_field_defs().await.unwrap();
    assert_eq!(fields.iter().filter(|f| f.name == "Created By").count(), 1);
    assert_eq!(fields.iter().filter(|f| f.name == "Created On").count(), 1);
    let (by, on) = read_attributes(&client, &vm).await;
    assert_eq!(
        by,
        runs[0]["output"]["created_by"].as_str().map(str::to_owned)
    );
    assert_eq!(
        on,
        runs[0]["output"]["created_on"].as_str().map(str::to_owned)
    );
}

/// After a failure the gateway leaves vCenter alone for `retry_after`
/// (300 ms). Probes (one VM name each, so dedup leaves each alone) until an
/// alarm is looked up again.
async fn wait_cool_down_over(app: &TestApp) {
    let mut probe = 0;
    app.wait_for(
        "the enrichment cool-down over",
        Duration::from_secs(10),
        || {
            probe += 1;
            let name = format!("cool-down-probe-{probe}");
            let body = vm_alarm(&name, &name, "vm-999", 1, "x");
            async move {
                let r = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
                let id = r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let e = enriched(app, &id).await;
                let looked_up = e["enrichment"]["status"].is_string()
                    && !e["enrichment"]["reason"].to_string().contains("cool-down");
                looked_up.then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn vcenter_down_fails_enrichment_but_not_acceptance_and_recovers() {
    let mut sim = Vcsim::start();
    let app = TestApp::spawn_config(vcenter_config(&sim, "")).await;
    sim.stop();
    let r = app
        .post_json(
            "/api/v1/alarms",
            &vm_alarm("down-1", "DC0_H0_VM0", "vm-999", 1, "x"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "acceptance never waits on vCenter");
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = enriched(&app, &id).await;
    assert_eq!(e["enrichment"]["status"], "failed", "{e}");
    assert!(e["enrichment"]["reason"].as_str().unwrap().contains("vc1"));
    assert_eq!(
        e["disposition"]["route"], "monitoring",
        "routed all the same"
    );

    sim.restart();
    let client = connected(&sim).await;
    let (vm, key, message) = created_vm(&client, "after-restart").await;
    wait_cool_down_over(&app).await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &vm_alarm("down-2", "after-restart", &vm, key, &message),
        )
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = enriched(&app, &id).await;
    assert_eq!(e["enrichment"]["status"], "enriched", "{e}");
    assert_eq!(e["type"], "vm.created");
}

#[tokio::test]
async fn trap_names_only_the_vm_and_gets_its_moref() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let (vm, _, _) = created_vm(&client, "trap-vm-01").await;
    let app = TestApp::spawn_config(vcenter_config(&sim, "")).await;
    alarm_trap(
        &app,
        3,
        "Red",
        "alarm.VmMemoryUsageAlarm - Metric = 97%",
        "trap-vm-01",
    );
    let e = app
        .wait_for("trap enriched", Duration::from_secs(20), || async {
            app.events("source=snmp")
                .await
                .into_iter()
                .find(|e| e["stage"] == "processed")
        })
        .await;
    assert_eq!(e["entity"]["moref"], vm.as_str(), "{e}");
    assert_eq!(
        e["enrichment"]["status"], "not_found",
        "a metric alarm has no triggering event: {e}"
    );
    assert_eq!(e["type"], "alarm.status.changed");
}
