//! SNMP receiver, dedup across sources, routing and forwarding — with
//! net-snmp's `snmptrap`/`snmpinform` as senders and `snmptrapd` as the NMS.

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::Value;

use crate::support::builders::{VC, net_snmp, send_trap, v2c_args};
use crate::support::{AlarmInfo, Snmptrapd, TestApp, TestConfig, alarm_body};

const V3_USER: &str = "[[snmp.user]]\nname = \"vigil\"\nauth_protocol = \"sha\"\nauth_password = \"authpass123\"\npriv_protocol = \"aes\"\npriv_password = \"privpass123\"\n";

/// vpxdAlarmInfo varbinds with the entity kind and both statuses.
fn alarm_info_args(kind: i32, old: &str, new: &str, obj_value: &str, target: &str) -> Vec<String> {
    AlarmInfo::new(new, obj_value, target)
        .kind(kind)
        .old_status(old)
        .varbinds()
}

fn v2c_trap(app: &TestApp, community: &str, varbinds: Vec<String>) {
    let trap_oid = format!("{VC}.0.203");
    send_trap(&v2c_args(
        community,
        &[],
        &app.snmp_target(),
        &trap_oid,
        varbinds,
    ));
}

async fn wait_for_entity(app: &TestApp, entity: &str) -> Value {
    app.wait_for(
        &format!("event for {entity}"),
        Duration::from_secs(10),
        || async {
            app.events("limit=200")
                .await
                .into_iter()
                .find(|e| e["entity"]["name"] == entity)
        },
    )
    .await
}

#[tokio::test]
async fn live_v1_v2c_and_inform_become_events() {
    let app = TestApp::spawn().await;
    // v1 trap: enterprise vmwVC, specific 203 → v2 form …4.3.0.203 (RFC 3584).
    let mut v1: Vec<String> = vec![
        "-v".into(),
        "1".into(),
        "-c".into(),
        "public".into(),
        app.snmp_target(),
        VC.into(),
        "127.0.0.9".into(),
        "6".into(),
        "203".into(),
        String::new(),
    ];
    v1.extend(alarm_info_args(
        2,
        "Gray",
        "Yellow",
        "alarm.HostConnectionStateAlarm",
        "esx-v1.example.com",
    ));
    let out = net_snmp("snmptrap", &v1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = wait_for_entity(&app, "esx-v1.example.com").await;
    assert_eq!(e["source"], "snmp");
    assert_eq!(e["type"], "alarm.status.changed");
    assert_eq!(e["entity"]["type"], "HostSystem");
    assert_eq!(e["alarm"]["name"], "alarm.HostConnectionStateAlarm");
    assert_eq!(e["alarm"]["old_status"]["status"], "gray");
    assert_eq!(e["alarm"]["new_status"]["status"], "yellow");
    assert_eq!(e["metadata"]["trap_oid"], format!("{VC}.0.203"));
    assert_eq!(e["metadata"]["agent_address"], "127.0.0.9");
    assert_eq!(e["raw"]["version"], "v1");

    v2c_trap(
        &app,
        "public",
        alarm_info_args(
            3,
            "Green",
            "红色",
            "alarm.VmMemoryUsageAlarm - Metric Memory Host consumed % = 97%",
            "testvm-v2c",
        ),
    );
    let e = wait_for_entity(&app, "testvm-v2c").await;
    assert_eq!(e["entity"]["type"], "VirtualMachine");
    assert_eq!(e["alarm"]["name"], "alarm.VmMemoryUsageAlarm");
    assert_eq!(e["alarm"]["new_status"]["status"], "unknown");
    assert_eq!(e["alarm"]["new_status"]["raw"], "红色");
    assert_eq!(
        e["message"],
        "alarm.VmMemoryUsageAlarm - Metric Memory Host consumed % = 97%"
    );

    // Inform: the sender exits 0 only when it got its acknowledgement.
    let mut inform: Vec<String> = vec![
        "-v".into(),
        "2c".into(),
        "-c".into(),
        "public".into(),
        "-t".into(),
        "3".into(),
        "-r".into(),
        "1".into(),
        app.snmp_target(),
        String::new(),
        format!("{VC}.0.203"),
    ];
    inform.extend(alarm_info_args(
        2,
        "Green",
        "Red",
        "Host esx-inform entered maintenance mode",
        "esx-inform",
    ));
    let out = net_snmp("snmpinform", &inform);
    assert!(
        out.status.success(),
        "snmpinform was not acknowledged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Acknowledged means committed: it is readable at once.
    let found = app
        .events("limit=50")
        .await
        .into_iter()
        .find(|e| e["entity"]["name"] == "esx-inform");
    let e = found.expect("an acknowledged inform is already stored");
    assert_eq!(e["raw"]["inform"], true);

    // Unknown trap OIDs are kept, not dropped.
    let out = net_snmp(
        "snmptrap",
        &[
            "-v".into(),
            "2c".into(),
            "-c".into(),
            "public".into(),
            app.snmp_target(),
            String::new(),
            "1.3.6.1.6.3.1.1.5.3".into(),
            "1.3.6.1.2.1.2.2.1.1.2".into(),
            "i".into(),
            "2".into(),
        ],
    );
    assert!(out.status.success());
    let e = app
        .wait_for("unknown trap", Duration::from_secs(10), || async {
            app.events("type=snmp.trap").await.into_iter().next()
        })
        .await;
    assert_eq!(e["metadata"]["trap_oid"], "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(e["raw"]["varbinds"][0]["oid"], "1.3.6.1.2.1.2.2.1.1.2");

    // vpxdDiagnostic marks the vCenter as heard from.
    v2c_diag(&app);
    app.wait_for("diagnostic recorded", Duration::from_secs(10), || async {
        app.status().await["vcenters"]["vc1"]["last_diagnostic_at"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
}

fn v2c_diag(app: &TestApp) {
    let out = net_snmp(
        "snmptrap",
        &[
            "-v".into(),
            "2c".into(),
            "-c".into(),
            "public".into(),
            app.snmp_target(),
            String::new(),
            format!("{VC}.0.202"),
        ],
    );
    assert!(out.status.success());
}

/// The trap socket gets the configured receive buffer (where a trap burst
/// waits while vcgate is busy), and status reports what the kernel granted.
#[tokio::test]
async fn trap_socket_gets_the_configured_receive_buffer() {
    let requested: u64 = 1 << 20;
    let app = TestApp::spawn_config(TestConfig {
        snmp: "recv_buffer = \"1MiB\"".into(),
        ..TestConfig::default()
    })
    .await;
    let rmem_max: u64 = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .expect("Linux exposes net.core.rmem_max")
        .trim()
        .parse()
        .expect("rmem_max is a number");
    let status = app.status().await;
    // Linux accepts min(request, rmem_max) and reports twice that (the second
    // half is its allowance for bookkeeping). The OS default would be
    // net.core.rmem_default, reported undoubled.
    assert_eq!(
        status["snmp"]["recv_buffer_bytes"].as_u64(),
        Some(2 * requested.min(rmem_max)),
        "{status}"
    );
    assert_eq!(status["snmp"]["listen"], app.snmp_target());
}

#[tokio::test]
async fn v3_auth_priv_trap_and_inform() {
    let app = TestApp::spawn_config(TestConfig {
        snmp: V3_USER.into(),
        ..TestConfig::default()
    })
    .await;
    let v3 = |tool: &str, extra: &[&str], target: &str| {
        let mut args: Vec<String> = vec![
            "-v",
            "3",
            "-u",
            "vigil",
            "-l",
            "authPriv",
            "-a",
            "SHA",
            "-A",
            "authpass123",
            "-x",
            "AES",
            "-X",
            "privpass123",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([app.snmp_target(), String::new(), format!("{VC}.0.203")]);
        args.extend(alarm_info_args(
            2,
            "Green",
            "Red",
            "Host entered maintenance mode",
            target,
        ));
        net_snmp(tool, &args)
    };
    let out = v3("snmptrap", &["-e", "0x8000000001020304"], "esx-v3-trap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = wait_for_entity(&app, "esx-v3-trap").await;
    assert_eq!(e["raw"]["version"], "v3");
    assert_eq!(e["raw"]["security_name"], "vigil");
    assert_eq!(e["alarm"]["new_status"]["status"], "red");

    let out = v3("snmpinform", &["-t", "3", "-r", "1"], "esx-v3-inform");
    assert!(
        out.status.success(),
        "v3 inform not acknowledged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = app
        .events("limit=50")
        .await
        .into_iter()
        .any(|e| e["entity"]["name"] == "esx-v3-inform");
    assert!(stored, "an acknowledged v3 inform is already stored");

    // Wrong password: dropped and counted, and the receiver goes on serving.
    let mut wrong: Vec<String> = [
        "-v",
        "3",
        "-e",
        "0x8000000001020304",
        "-u",
        "vigil",
        "-l",
        "authPriv",
        "-a",
        "SHA",
        "-A",
        "wrongpass123",
        "-x",
        "AES",
        "-X",
        "privpass123",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    wrong.extend([app.snmp_target(), String::new(), format!("{VC}.0.203")]);
    wrong.extend(alarm_info_args(2, "Green", "Red", "x", "esx-wrong-pass"));
    net_snmp("snmptrap", &wrong);
    let mut unknown = wrong.clone();
    unknown[5] = "mallory".into();
    net_snmp("snmptrap", &unknown);
    app.wait_for(
        "wrong digest and unknown user counted",
        Duration::from_secs(10),
        || async {
            let s = app.status().await;
            let r = &s["sources"]["snmp"]["rejected"];
            (r["wrong_digest"].as_u64() >= Some(1) && r["unknown_user"].as_u64() >= Some(1))
                .then_some(())
        },
    )
    .await;
    let out = v3("snmptrap", &["-e", "0x8000000001020304"], "esx-v3-after");
    assert!(out.status.success());
    wait_for_entity(&app, "esx-v3-after").await;
    assert!(
        !app.events("limit=100")
            .await
            .iter()
            .any(|e| e["entity"]["name"] == "esx-wrong-pass")
    );
}

#[tokio::test]
async fn bad_packets_are_counted_and_the_receiver_keeps_serving() {
    let app = TestApp::spawn().await;
    v2c_trap(
        &app,
        "not-the-community",
        alarm_info_args(3, "Green", "Red", "x", "vm-bad-community"),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/traps/v2c-alarminfo-vm-red.bin"
    ))
    .unwrap();
    let mut garbage_sent = 0;
    for len in [1, 5, 17, fixture.len() / 2, fixture.len() - 1] {
        socket.send_to(&fixture[..len], app.snmp_target()).unwrap();
        garbage_sent += 1;
    }
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..50 {
        let bytes: Vec<u8> = (0..(seed % 300) as usize)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        socket.send_to(&bytes, app.snmp_target()).unwrap();
        garbage_sent += 1;
    }
    // The captured packet itself is still good.
    socket.send_to(&fixture, app.snmp_target()).unwrap();
    let e = wait_for_entity(&app, "testvm01").await;
    assert_eq!(e["alarm"]["name"], "alarm.VmMemoryUsageAlarm");
    app.wait_for("rejections counted", Duration::from_secs(10), || async {
        let s = app.status().await;
        let r = &s["sources"]["snmp"]["rejected"];
        (r["bad_community"].as_u64() == Some(1) && r["malformed"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let malformed = app.rejected("snmp", "malformed").await;
    assert!(malformed <= garbage_sent, "{malformed} > {garbage_sent}");
    assert!(
        !app.events("limit=100")
            .await
            .iter()
            .any(|e| e["entity"]["name"] == "vm-bad-community")
    );
    v2c_trap(
        &app,
        "public",
        alarm_info_args(3, "Green", "Red", "x", "vm-still-serving"),
    );
    wait_for_entity(&app, "vm-still-serving").await;
}

fn forwarding_config(trapd: &Snmptrapd) -> TestConfig {
    TestConfig {
        extra: format!(
            "[[route]]\nname = \"vm-created-automation\"\nalarm = \"VM created*\"\nto = \"automation\"\n\n[[monitoring.snmp]]\nname = \"nms\"\ntarget = \"{}\"\nversion = \"2c\"\ncommunity = \"public\"\n",
            trapd.target()
        ),
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn monitoring_traps_reach_snmptrapd_and_automation_traps_never_do() {
    let trapd = Snmptrapd::start();
    let app = TestApp::spawn_config(forwarding_config(&trapd)).await;
    v2c_trap(
        &app,
        "public",
        alarm_info_args(
            3,
            "Gray",
            "Red",
            "Alarm 'VM created' on vm-automation-only changed",
            "vm-automation-only",
        ),
    );
    v2c_trap(
        &app,
        "public",
        alarm_info_args(
            3,
            "Green",
            "Red",
            "alarm.VmMemoryUsageAlarm - Metric Memory = 97%",
            "vm-for-the-nms",
        ),
    );
    app.wait_for("forward in snmptrapd", Duration::from_secs(15), || async {
        trapd.contents().contains("vm-for-the-nms").then_some(())
    })
    .await;
    app.wait_processed().await;
    let log = trapd.contents();
    assert!(
        log.contains(&format!(".{VC}.0.203")),
        "trap OID preserved:\n{log}"
    );
    assert!(
        log.contains("alarm.VmMemoryUsageAlarm - Metric Memory = 97%"),
        "varbinds preserved:\n{log}"
    );
    assert!(
        log.contains(".1.3.6.1.6.3.18.1.3.0 = IpAddress: 127.0.0.1"),
        "snmpTrapAddress added:\n{log}"
    );
    assert!(
        !log.contains("vm-automation-only"),
        "automation traffic reached the NMS:\n{log}"
    );

    let automation = wait_for_entity(&app, "vm-automation-only").await;
    assert_eq!(automation["disposition"]["route"], "automation");
    assert_eq!(automation["disposition"]["rule"], "vm-created-automation");
    assert!(
        automation["deliveries"]
            .as_array()
            .is_none_or(|d| d.is_empty())
    );
    let monitored = wait_for_entity(&app, "vm-for-the-nms").await;
    assert_eq!(monitored["deliveries"][0]["target"], "nms");
    assert_eq!(monitored["deliveries"][0]["state"], "sent");
    assert_eq!(app.pipeline_counter("forward.nms.sent").await, 1);
}

#[tokio::test]
async fn same_alarm_by_hook_and_trap_is_one_event_and_one_forward() {
    let trapd = Snmptrapd::start();
    let app = TestApp::spawn_config(forwarding_config(&trapd)).await;
    let mut body = alarm_body(
        "dedup-1",
        "alarm.HostConnectionStateAlarm",
        "esx-dedup-01",
        "Red",
    );
    body["env"]["VMWARE_ALARM_TARGET_ID"] = "host-77".into();
    let original = app.post_accepted("/api/v1/alarms", &body).await;
    app.wait_processed().await;
    v2c_trap(
        &app,
        "public",
        alarm_info_args(
            2,
            "Green",
            "Red",
            "alarm.HostConnectionStateAlarm",
            "esx-dedup-01",
        ),
    );
    app.wait_for("trap merged", Duration::from_secs(10), || async {
        let e = app.event(&original).await;
        (e["duplicates"] == 1).then_some(())
    })
    .await;
    let events: Vec<Value> = app
        .events("limit=50")
        .await
        .into_iter()
        .filter(|e| e["entity"]["name"] == "esx-dedup-01")
        .collect();
    assert_eq!(events.len(), 2, "both arrivals are stored for audit");
    let trap = events.iter().find(|e| e["source"] == "snmp").unwrap();
    assert_eq!(trap["disposition"]["duplicate_of"], original.as_str());
    let merged = app.event(&original).await;
    assert!(merged["last_seen"].is_string());
    assert_eq!(app.pipeline_counter("dedup.merged").await, 1);

    app.wait_for("one forward", Duration::from_secs(15), || async {
        trapd.contents().contains("esx-dedup-01").then_some(())
    })
    .await;
    // Exactly one forward: the original's delivery is settled, the merged
    // trap has none of its own, ...
    app.wait_for("the forward settled", Duration::from_secs(10), || async {
        let e = app.event(&original).await;
        (e["deliveries"][0]["state"] == "sent").then_some(())
    })
    .await;
    let merged = app.event(trap["id"].as_str().unwrap()).await;
    assert!(
        merged["deliveries"].as_array().is_none_or(|d| d.is_empty()),
        "{merged}"
    );

    // ... and a status change (a new event and a new forward, through the
    // same target) arrives second, with no other forward before it.
    v2c_trap(
        &app,
        "public",
        alarm_info_args(
            2,
            "Red",
            "Green",
            "alarm.HostConnectionStateAlarm",
            "esx-dedup-01",
        ),
    );
    app.wait_for(
        "the status change forwarded",
        Duration::from_secs(15),
        || async {
            forwarded_statuses(&trapd, "esx-dedup-01")
                .contains(&"Green".to_owned())
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        forwarded_statuses(&trapd, "esx-dedup-01"),
        ["Red", "Green"],
        "exactly one forward per transition:\n{}",
        trapd.contents()
    );
}

/// The new status (`vpxdNewStatus`) of each notification about `entity`
/// that snmptrapd logged, in arrival order.
fn forwarded_statuses(trapd: &Snmptrapd, entity: &str) -> Vec<String> {
    let new_status = format!("{VC}.305.0 = STRING: \"");
    trapd
        .contents()
        .lines()
        .filter(|l| l.contains(entity))
        .map(|l| {
            l.split_once(&new_status)
                .and_then(|(_, rest)| rest.split('"').next())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn inform_is_not_acknowledged_when_the_store_cannot_commit() {
    let app = TestApp::spawn_config(TestConfig {
        // `max_size` is the SQLite store's cap: pinned to SQLite. On PostgreSQL
        // the store that cannot commit is a lost database (`ha::`).
        store: "backend = \"sqlite\"\nmax_size = \"200KiB\"".into(),
        ..TestConfig::default()
    })
    .await;
    // Fill the store until not even a small alarm fits.
    let mut i = 0;
    for size in [30_000, 3_000, 300, 0] {
        loop {
            i += 1;
            let mut body = alarm_body(&format!("fill-{i}"), "A", "vm", "Red");
            body["env"]["VMWARE_ALARM_ALARMVALUE"] = "z".repeat(size).into();
            if app
                .post_json("/api/v1/alarms", &body)
                .send()
                .await
                .unwrap()
                .status()
                == 503
            {
                break;
            }
        }
    }
    // The guarantee is "acknowledged ⇒ stored". SQLite can still fit a small
    // row into a page's free space, so "full" is not exact: keep sending
    // informs into the nearly full store until one is refused; every
    // acknowledged one must be stored, the refused one must not be.
    let mut refused = 0;
    for i in 0..60 {
        let target = format!("esx-full-store-{i}");
        let mut inform: Vec<String> = ["-v", "2c", "-c", "public", "-t", "1", "-r", "0"]
            .into_iter()
            .map(String::from)
            .collect();
        inform.extend([app.snmp_target(), String::new(), format!("{VC}.0.203")]);
        inform.extend(alarm_info_args(
            2,
            "Green",
            "Red",
            &"w".repeat(1000),
            &target,
        ));
        let out = net_snmp("snmpinform", &inform);
        let stored = app
            .events("limit=1000")
            .await
            .iter()
            .any(|e| e["entity"]["name"] == target.as_str());
        if out.status.success() {
            assert!(stored, "inform {i} was acknowledged but not stored");
        } else {
            refused += 1;
            assert!(!stored, "inform {i} was refused but stored");
            break;
        }
    }
    assert!(refused >= 1, "a full store must refuse informs");
    assert!(app.rejected("snmp", "store_unavailable").await >= 1);
}
