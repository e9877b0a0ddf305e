//! Hardening of the SNMP side (issue 13), against the real binary with real
//! datagrams and net-snmp's `snmptrap`: the per-source table is bounded and
//! pruned (row 3), nothing is sent back outside `allowed_sources` (row 4),
//! per-datagram warnings are sampled while every datagram is counted
//! (rows 5 and 15).

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use crate::support::builders::net_snmp;
use crate::support::{TestApp, TestConfig};

const V3_USER: &str =
    "[[snmp.user]]\nname = \"vigil\"\nauth_protocol = \"sha\"\nauth_password = \"authpass123\"\n";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/traps/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// BER: one TLV (short or two-byte long form is all these packets need).
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n @ 0..=127 => out.push(n as u8),
        n @ 128..=255 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

fn int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes
        .windows(2)
        .take_while(|w| (w[0] == 0 && w[1] < 0x80) || (w[0] == 0xff && w[1] >= 0x80))
        .count();
    tlv(0x02, &bytes[skip..])
}

/// An SNMPv3 engine-id discovery probe, as net-snmp sends before an inform:
/// noAuthNoPriv, reportable, empty USM parameters, an empty GetRequest.
fn v3_discovery_probe(msg_id: i64) -> Vec<u8> {
    let header = [int(msg_id), int(65507), tlv(0x04, &[0x04]), int(3)].concat();
    let usm = tlv(
        0x30,
        &[
            tlv(0x04, &[]),
            int(0),
            int(0),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
            tlv(0x04, &[]),
        ]
        .concat(),
    );
    let pdu = tlv(
        0xa0,
        &[int(msg_id), int(0), int(0), tlv(0x30, &[])].concat(),
    );
    let scoped = tlv(0x30, &[tlv(0x04, &[]), tlv(0x04, &[]), pdu].concat());
    tlv(
        0x30,
        &[int(3), tlv(0x30, &header), tlv(0x04, &usm), scoped].concat(),
    )
}

fn socket_on(ip: [u8; 4]) -> UdpSocket {
    let s = UdpSocket::bind((Ipv4Addr::from(ip), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Row 4. Before: a v3 discovery probe from an address outside
/// `allowed_sources` got a USM Report back (101 B for 58 B: a reflector).
#[tokio::test]
async fn nothing_is_sent_back_to_a_source_outside_allowed_sources() {
    let app = TestApp::spawn_config(TestConfig {
        snmp: format!("allowed_sources = [\"127.0.0.2/32\"]\n{V3_USER}"),
        ..TestConfig::default()
    })
    .await;
    let outsider = socket_on([127, 0, 0, 3]);
    let allowed = socket_on([127, 0, 0, 2]);
    let mut reply = [0u8; 2048];
    for (what, packet) in [
        ("v3 discovery probe", v3_discovery_probe(4711)),
        ("v2c inform", fixture("v2c-inform-alarminfo.bin")),
    ] {
        outsider.send_to(&packet, app.snmp_target()).unwrap();
        // The same datagram from an allowed address is answered: once its
        // answer is here, the outsider's (sent first) has been handled too.
        allowed.send_to(&packet, app.snmp_target()).unwrap();
        let (n, _) = allowed
            .recv_from(&mut reply)
            .unwrap_or_else(|e| panic!("no answer to the allowed {what}: {e}"));
        assert!(n > 0);
        outsider.set_nonblocking(true).unwrap();
        let leaked = outsider.recv_from(&mut reply);
        assert!(
            matches!(&leaked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the {what} from outside allowed_sources was answered: {leaked:?}"
        );
        outsider.set_nonblocking(false).unwrap();
    }
    app.wait_for("refusals counted", Duration::from_secs(5), || async {
        (app.rejected("snmp", "source_not_allowed").await == 2).then_some(())
    })
    .await;
}

/// Row 3. Before: the per-source rate-limit table was never pruned (3 M
/// distinct sources: RSS 31 → 98 MB, still there after 75 s idle).
#[tokio::test]
async fn the_per_source_table_is_bounded_and_pruned() {
    let app = TestApp::spawn_config(TestConfig {
        snmp: "rate_limit_max_addresses = 1000".into(),
        ..TestConfig::default()
    })
    .await;
    let target = app.snmp_target();
    let sources = 5000u32;
    // One datagram from each of 5000 loopback addresses, paced so the
    // socket buffer never overflows.
    for batch in 0..(sources / 250) {
        let target = target.clone();
        tokio::task::spawn_blocking(move || {
            for i in batch * 250..(batch + 1) * 250 {
                let ip = [127, 1, (i >> 8) as u8, i as u8];
                let s = UdpSocket::bind((Ipv4Addr::from(ip), 0)).unwrap();
                s.send_to(b"\x30\x03\x02\x01\x01", &target).unwrap();
            }
        })
        .await
        .unwrap();
        let expected = u64::from((batch + 1) * 250);
        app.wait_for("datagrams received", Duration::from_secs(10), || async {
            let s = app.status().await;
            (s["sources"]["snmp"]["received"].as_u64() >= Some(expected)).then_some(())
        })
        .await;
    }
    let status = app.status().await;
    let remembered = status["snmp"]["rate_limit_addresses"].as_u64().unwrap();
    assert!(
        remembered <= 1000 + 64,
        "{remembered} source addresses remembered, cap 1000"
    );
    assert_eq!(status["sources"]["snmp"]["received"], u64::from(sources));
    app.wait_for(
        "idle sources forgotten",
        Duration::from_secs(30),
        || async { (app.status().await["snmp"]["rate_limit_addresses"] == 0).then_some(()) },
    )
    .await;
}

/// Rows 5 and 15. Before: every malformed datagram and every failed v3
/// authentication wrote a WARN line (100k 5-byte datagrams: 26.6 MB of log),
/// and malformed datagrams were not counted as received (rejected > received).
#[tokio::test]
async fn bad_datagrams_are_all_counted_but_logged_only_by_sample() {
    let app = TestApp::spawn_config(TestConfig {
        snmp: V3_USER.into(),
        // The production default (`vcgate serve` without RUST_LOG).
        log_filter: Some("info,async_snmp=warn".into()),
        ..TestConfig::default()
    })
    .await;
    let garbage = 20_000u64;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for batch in 0..garbage / 500 {
        for _ in 0..500 {
            socket
                .send_to(b"\x30\x03\x02\x01", app.snmp_target())
                .unwrap();
        }
        let sent = (batch + 1) * 500;
        app.wait_for("datagrams received", Duration::from_secs(10), || async {
            let s = app.status().await;
            (s["sources"]["snmp"]["received"].as_u64() >= Some(sent)).then_some(())
        })
        .await;
    }
    // Failed v3 authentications from a real sender (wrong password).
    let wrong = 20u64;
    for _ in 0..wrong {
        let out = net_snmp(
            "snmptrap",
            &[
                "-v",
                "3",
                "-e",
                "0x8000000001020304",
                "-u",
                "vigil",
                "-l",
                "authNoPriv",
                "-a",
                "SHA",
                "-A",
                "wrongpass123",
                &app.snmp_target(),
                "",
                "1.3.6.1.4.1.6876.4.3.0.203",
            ]
            .map(String::from),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = app
        .wait_for(
            "every datagram counted",
            Duration::from_secs(10),
            || async {
                let s = app.status().await;
                let snmp = &s["sources"]["snmp"];
                (snmp["rejected"]["malformed"].as_u64() == Some(garbage)
                    && snmp["rejected"]["wrong_digest"].as_u64() == Some(wrong))
                .then_some(s)
            },
        )
        .await;
    let snmp = &status["sources"]["snmp"];
    let received = snmp["received"].as_u64().unwrap();
    let rejected: u64 = snmp["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(received, garbage + wrong, "{status}");
    assert!(rejected <= received, "{status}");

    let log = app.log();
    let lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert!(
        (1..=3).contains(&lines("malformed SNMP datagram")),
        "malformed datagrams are logged by sample:\n{log}"
    );
    assert_eq!(lines("failed to parse notification"), 0);
    assert_eq!(lines("USM processing failed"), 0);
    assert!(
        log.len() < 64 * 1024,
        "{} bytes of log for {} bad datagrams",
        log.len(),
        garbage + wrong
    );
}
