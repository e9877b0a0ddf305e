//! Informs in flight together: each is acknowledged only once the commit
//! holding it is durable, and none holds up the receive loop (traps and other
//! informs keep being read while a commit waits). Real `snmpinform` and
//! `snmptrap` senders.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::builders::{NetSnmpChild, net_snmp_spawn, send_trap};
use crate::support::{AlarmInfo, TestApp};

/// A v2c inform about `target` that waits up to 10 s for its response and
/// never retransmits (a retransmission would be a second, legitimate event).
fn spawn_inform(app: &TestApp, target: &str) -> NetSnmpChild {
    let info = AlarmInfo::new("Red", "Host entered maintenance mode", target).kind(2);
    net_snmp_spawn(
        "snmpinform",
        &info.v2c_args("public", &["-t", "10", "-r", "0"], &app.snmp_target()),
    )
}

fn trap_about(app: &TestApp, target: &str) {
    let info = AlarmInfo::new("Yellow", "Metric Memory = 80%", target);
    send_trap(&info.v2c_args("public", &[], &app.snmp_target()));
}

/// Waits for a sender and asserts it exited 0 (for `snmpinform`: acknowledged).
fn assert_acknowledged(child: NetSnmpChild, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} was not acknowledged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many stored events name each entity.
async fn stored_by_entity(app: &TestApp) -> HashMap<String, Vec<serde_json::Value>> {
    let mut by_entity: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for e in app.all_pages("/api/v1/events", "events").await {
        if let Some(name) = e["entity"]["name"].as_str() {
            by_entity.entry(name.to_owned()).or_default().push(e);
        }
    }
    by_entity
}

async fn snmp_received(app: &TestApp) -> u64 {
    app.status().await["sources"]["snmp"]["received"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn concurrent_informs_are_all_acknowledged_and_stored_once_with_traps_between() {
    const INFORMS: usize = 60;
    let app = TestApp::spawn().await;
    let mut informs = Vec::new();
    let mut traps = 0;
    for i in 0..INFORMS {
        informs.push((i, spawn_inform(&app, &format!("esx-storm-{i}"))));
        if i % 3 == 0 {
            trap_about(&app, &format!("vm-between-{traps}"));
            traps += 1;
        }
    }
    for (i, child) in informs {
        assert_acknowledged(child, &format!("inform {i}"));
    }
    // Acknowledged means stored: every inform is readable now, exactly once.
    let stored = stored_by_entity(&app).await;
    for i in 0..INFORMS {
        let events = stored
            .get(&format!("esx-storm-{i}"))
            .unwrap_or_else(|| panic!("inform {i} was acknowledged but is not stored"));
        assert_eq!(events.len(), 1, "inform {i} stored {} times", events.len());
        assert_eq!(events[0]["raw"]["inform"], true);
    }
    // Traps sent between them were read too (they need no answer, so wait).
    app.wait_for(
        "every trap sent between the informs",
        Duration::from_secs(10),
        || async {
            let stored = stored_by_entity(&app).await;
            (0..traps)
                .all(|i| stored.get(&format!("vm-between-{i}")).map(Vec::len) == Some(1))
                .then_some(())
        },
    )
    .await;
    assert_eq!(app.rejected("snmp", "store_unavailable").await, 0);
}

#[tokio::test]
async fn the_receiver_keeps_reading_while_an_inform_waits_for_its_commit() {
    let app = TestApp::spawn().await;
    let before = snmp_received(&app).await;
    // Another connection takes the write lock (SQLite's, or the events
    // table's on PostgreSQL): the gateway's writer waits for it (SQLite's
    // busy timeout is 5 s), so the first inform's commit cannot become
    // durable until the lock is released.
    let lock = app.block_event_commits().await;

    let mut first = spawn_inform(&app, "esx-waiting-1");
    app.wait_for(
        "the first inform to arrive",
        Duration::from_secs(4),
        || async { (snmp_received(&app).await > before).then_some(()) },
    )
    .await;
    // While that commit waits, a trap and a second inform are still read.
    // (When the commit ran on the receive loop, both sat in the socket until
    // the writer gave up after 5 s; the deadline below is shorter than that.)
    trap_about(&app, "vm-while-waiting");
    let second = spawn_inform(&app, "esx-waiting-2");
    app.wait_for(
        "the trap and the second inform to be read during the commit",
        Duration::from_secs(4),
        || async { (snmp_received(&app).await >= before + 3).then_some(()) },
    )
    .await;
    // Nothing is acknowledged before it is durable.
    assert!(
        first.try_wait().unwrap().is_none(),
        "an inform was acknowledged while its commit could not complete"
    );
    assert!(
        app.events("limit=10").await.is_empty(),
        "nothing can be stored while the lock is held"
    );

    drop(lock); // rolls back the lock's transaction: the writer proceeds
    assert_acknowledged(first, "the first inform");
    assert_acknowledged(second, "the second inform");
    let stored = stored_by_entity(&app).await;
    for target in ["esx-waiting-1", "esx-waiting-2"] {
        assert_eq!(
            stored.get(target).map(Vec::len),
            Some(1),
            "{target} acknowledged but not stored exactly once"
        );
    }
    app.wait_for(
        "the trap read during the commit",
        Duration::from_secs(10),
        || async {
            (stored_by_entity(&app)
                .await
                .get("vm-while-waiting")
                .map(Vec::len)
                == Some(1))
            .then_some(())
        },
    )
    .await;
}
