//! Silences against real peers: the vCenter simulator (maintenance mode),
//! snmptrapd as the NMS, and a command function for automation.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::peers::vcsim::{connected, host_named};
use crate::support::{Snmptrapd, TestApp, TestConfig, Vcsim, alarm_body, alarm_trap};
use vcgate::vsphere::PropValue;

fn config(trapd: &Snmptrapd, extra: &str) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[route]]\nname = \"alarms-to-both\"\ntype = \"alarm.*\"\nto = \"both\"\n\n[[monitoring.snmp]]\nname = \"nms\"\ntarget = \"{}\"\n\n[[function]]\nname = \"record\"\nkind = \"command\"\ncommand = [\"/bin/cat\"]\n\n[[subscription]]\nname = \"all-alarms\"\nevent_type = \"alarm.*\"\nfunction = \"record\"\n\n{extra}",
            trapd.target()
        ),
        ..TestConfig::default()
    }
}

async fn runs_for(app: &TestApp, event_id: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/runs?event={event_id}"))
        .await["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn maintenance_holds_monitoring_not_automation_and_releases_on_exit() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_C0_H0").await;
    let vms = client
        .list_objects("VirtualMachine", &["name", "runtime.host"])
        .await
        .unwrap();
    let vm_name = vms
        .iter()
        .find(|vm| vm.get("runtime.host").and_then(PropValue::as_moref) == Some(&host.moref))
        .and_then(|vm| vm.get("name").and_then(PropValue::as_str))
        .expect("a VM on the host")
        .to_owned();
    let trapd = Snmptrapd::start();
    let app = TestApp::spawn_config(config(
        &trapd,
        &format!("[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"u\"\npassword = \"p\"\n\n[silence]\npoll = \"300ms\"\n", sim.url),
    ))
    .await;
    client
        .enter_maintenance_mode(&host.moref, Duration::from_secs(30))
        .await
        .unwrap();
    app.wait_for(
        "host seen in maintenance",
        Duration::from_secs(10),
        || async {
            let s = app.status().await;
            (s["silences"]["hosts_in_maintenance"][0]["host"] == host.name.as_str()).then_some(())
        },
    )
    .await;

    let mut host_alarm = alarm_body(
        "mm-host-1",
        "alarm.HostConnectionStateAlarm",
        &host.name,
        "Red",
    );
    host_alarm["env"]["VMWARE_ALARM_TARGET_ID"] = host.moref.value.clone().into();
    assert_eq!(
        app.post_json("/api/v1/alarms", &host_alarm)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    alarm_trap(
        &app,
        3,
        "Red",
        "alarm.VmCPUUsageAlarm - Metric = 99%",
        &vm_name,
    );
    let held_host = app.processed(&host.name).await;
    let held_vm = app.processed(&vm_name).await;
    for e in [&held_host, &held_vm] {
        assert_eq!(
            e["disposition"]["held_by"],
            format!("maintenance:{}", host.name),
            "{e}"
        );
        assert!(e["deliveries"].as_array().is_none_or(|d| d.is_empty()));
        assert_eq!(
            e["disposition"]["subscriptions"][0], "all-alarms",
            "automation still runs"
        );
        let id = e["id"].as_str().unwrap().to_owned();
        app.wait_for("run succeeded", Duration::from_secs(10), || async {
            runs_for(&app, &id)
                .await
                .first()
                .filter(|r| r["status"] == "succeeded")
                .cloned()
        })
        .await;
    }
    assert_eq!(app.pipeline_counter("held.maintenance").await, 2);

    client
        .exit_maintenance_mode(&host.moref, Duration::from_secs(30))
        .await
        .unwrap();
    app.wait_for(
        "host out of maintenance",
        Duration::from_secs(10),
        || async {
            let s = app.status().await;
            s["silences"]["hosts_in_maintenance"]
                .as_array()
                .is_some_and(|h| h.is_empty())
                .then_some(())
        },
    )
    .await;
    // resolve_on_exit (default on): what maintenance held and still fires is sent now.
    app.wait_for(
        "held alarms released to the NMS",
        Duration::from_secs(15),
        || async {
            let log = trapd.contents();
            (log.contains(&host.name) && log.contains(&vm_name)).then_some(())
        },
    )
    .await;
    let released = app
        .wait_for("released in the table", Duration::from_secs(5), || async {
            let t = app.get_json("/api/v1/alerts").await;
            let rows = t["alerts"].as_array().cloned().unwrap_or_default();
            (rows.len() == 2 && rows.iter().all(|r| r["held_by"].is_null())).then_some(rows)
        })
        .await;
    assert!(released.iter().all(|r| r["state"] == "firing"));
    // The clear of a forwarded alarm is forwarded too (the SNMP twin of a resolve).
    let mut after = alarm_body(
        "mm-host-2",
        "alarm.HostConnectionStateAlarm",
        &host.name,
        "Green",
    );
    after["env"]["VMWARE_ALARM_TARGET_ID"] = host.moref.value.clone().into();
    app.post_json("/api/v1/alarms", &after)
        .send()
        .await
        .unwrap();
    app.wait_for("clear forwarded", Duration::from_secs(15), || async {
        (trapd.contents().matches(&host.name).count() == 2).then_some(())
    })
    .await;
    let log = trapd.contents();
    assert!(
        log.contains("\"Green\""),
        "the clear reached the NMS:\n{log}"
    );
    assert_eq!(log.matches(&vm_name).count(), 1, "{log}");
    app.wait_for(
        "host alert gone from the table",
        Duration::from_secs(5),
        || async {
            let t = app.get_json("/api/v1/alerts").await;
            (t["alerts"].as_array().map(Vec::len) == Some(1)).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn manual_silence_holds_its_alarms_until_it_ends_and_survives_a_restart() {
    let trapd = Snmptrapd::start();
    let mut app = TestApp::spawn_config(config(&trapd, "")).await;
    let ends = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let body = json!({
        "matchers": [{"name": "alarm", "value": "alarm.Datastore*", "isRegex": false}],
        "endsAt": ends.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "createdBy": "ops", "comment": "datastore migration"
    });
    // Silences change what the NMS sees: admin scope, not the hook's token.
    for token in [&app.read_token, &app.ingest_token] {
        let denied = reqwest::Client::new()
            .post(format!("{}/api/v1/silences", app.base_url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
    }
    let r = app
        .admin(reqwest::Method::POST, "/api/v1/silences")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let silence_id = r.json::<Value>().await.unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = app
        .admin(reqwest::Method::POST, "/api/v1/silences")
        .json(&json!({"matchers": [{"name": "colour", "value": "x"}], "endsAt": "2030-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Restart with the silence active: it still holds.
    app.kill9();
    app.restart().await;
    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 95%",
        "ds-silenced",
    );
    alarm_trap(
        &app,
        2,
        "Red",
        "alarm.HostConnectionStateAlarm",
        "esx-not-silenced",
    );
    let held = app.processed("ds-silenced").await;
    assert_eq!(
        held["disposition"]["held_by"],
        format!("silence:{silence_id}")
    );
    assert_eq!(
        held["disposition"]["subscriptions"][0], "all-alarms",
        "silences never affect automation"
    );
    app.wait_for("unsilenced forward", Duration::from_secs(15), || async {
        trapd.contents().contains("esx-not-silenced").then_some(())
    })
    .await;
    assert!(!trapd.contents().contains("ds-silenced"));
    assert_eq!(app.pipeline_counter("held.silence").await, 1);
    let list = app.get_json("/api/v1/silences").await;
    assert_eq!(list["silences"][0]["status"]["state"], "active");

    // After it ends, the same kind of alarm is forwarded again.
    app.wait_for("silence expired", Duration::from_secs(10), || async {
        let list = app.get_json("/api/v1/silences").await;
        (list["silences"][0]["status"]["state"] == "expired").then_some(())
    })
    .await;
    // Still firing when its silence ended: sent then, as Alertmanager would.
    app.wait_for("held alarm released", Duration::from_secs(15), || async {
        trapd.contents().contains("ds-silenced").then_some(())
    })
    .await;
    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 96%",
        "ds-after-expiry",
    );
    app.wait_for("forward after expiry", Duration::from_secs(15), || async {
        trapd.contents().contains("ds-after-expiry").then_some(())
    })
    .await;

    // Expiring early works (CLI; the admin token from VCGATE_TOKEN).
    let env = [
        ("VCGATE_TOKEN", app.admin_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let out = crate::support::vcgate_cli(
        &[
            "silence",
            "add",
            "alarm=alarm.Datastore*",
            "--duration",
            "1h",
            "--comment",
            "again",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let second = text.split_whitespace().nth(1).unwrap().to_owned();
    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 97%",
        "ds-second-silence",
    );
    assert_eq!(
        app.processed("ds-second-silence").await["disposition"]["held_by"],
        format!("silence:{second}")
    );
    let listed = crate::support::vcgate_cli(
        &["silence", "list"],
        &[
            ("VCGATE_TOKEN", app.read_token.as_str()),
            ("VCGATE_SERVER", app.base_url.as_str()),
        ],
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&second));
    let out = crate::support::vcgate_cli(&["silence", "expire", &second], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alarm_trap(
        &app,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 98%",
        "ds-after-early-expiry",
    );
    app.wait_for(
        "forward after early expiry",
        Duration::from_secs(15),
        || async {
            trapd
                .contents()
                .contains("ds-after-early-expiry")
                .then_some(())
        },
    )
    .await;
    app.wait_for(
        "held alarm released after early expiry",
        Duration::from_secs(15),
        || async { trapd.contents().contains("ds-second-silence").then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn inhibition_holds_vm_alerts_while_the_host_is_down() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let vms = client
        .list_objects("VirtualMachine", &["name", "runtime.host"])
        .await
        .unwrap();
    let vm = &vms[0];
    let vm_name = vm
        .get("name")
        .and_then(PropValue::as_str)
        .unwrap()
        .to_owned();
    let host_moref = vm
        .get("runtime.host")
        .and_then(PropValue::as_moref)
        .unwrap()
        .clone();
    let host_name = client
        .hosts()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.moref == host_moref)
        .unwrap()
        .name;
    let trapd = Snmptrapd::start();
    let app = TestApp::spawn_config(config(
        &trapd,
        &format!(
            "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"u\"\npassword = \"p\"\n\n[silence]\npoll = \"300ms\"\n\n[[silence.inhibit]]\nname = \"host-down\"\nsource_alarm = \"alarm.HostConnectionStateAlarm\"\nsource_status = \"red\"\n",
            sim.url
        ),
    ))
    .await;
    assert_eq!(
        app.status().await["silences"]["maintenance_silencing"],
        true
    );
    // Which VM runs on which host comes from the maintenance poll, which
    // the status does not show. A sentinel does: another host goes into
    // maintenance, and the poll that lists it brought the VM's host too
    // (a poll replaces the whole picture at once). Then it comes back.
    let sentinel = client
        .hosts()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.moref != host_moref)
        .expect("a second host");
    client
        .enter_maintenance_mode(&sentinel.moref, Duration::from_secs(30))
        .await
        .unwrap();
    app.wait_for("the inventory polled", Duration::from_secs(10), || async {
        (app.hosts_in_maintenance().await == [sentinel.name.as_str()]).then_some(())
    })
    .await;
    client
        .exit_maintenance_mode(&sentinel.moref, Duration::from_secs(30))
        .await
        .unwrap();
    app.wait_for(
        "the sentinel host back",
        Duration::from_secs(10),
        || async { app.hosts_in_maintenance().await.is_empty().then_some(()) },
    )
    .await;
    alarm_trap(&app, 2, "Red", "alarm.HostConnectionStateAlarm", &host_name);
    app.processed(&host_name).await;
    alarm_trap(&app, 3, "Red", "alarm.VmCPUUsageAlarm - 99%", &vm_name);
    let vm_event = app.processed(&vm_name).await;
    assert_eq!(
        vm_event["disposition"]["held_by"], "inhibit:host-down",
        "{vm_event}"
    );
    app.wait_for("host alert forwarded", Duration::from_secs(15), || async {
        trapd.contents().contains(&host_name).then_some(())
    })
    .await;
    assert!(!trapd.contents().contains(&vm_name));
}
