//! High availability: two `vcgate serve` processes active/active on one
//! private PostgreSQL cluster (`[store] backend = "postgres"`).
//!
//! What the database must make exactly-once between the nodes: a delivery
//! sent to both is one event; each subscribed function runs once per event
//! whichever node took the event; after a `kill -9` of one node under load,
//! every acknowledged event is stored and every run finished by the
//! survivor, none twice (a run the dead node had started is taken over after
//! its lease, with the attempt counted); the same trap sent by vCenter to
//! both nodes (two SNMP receivers) is one event plus an audit copy,
//! forwarded once to a real `snmptrapd`; the vCenter event stream moves to
//! the survivor and resumes from the shared checkpoint; the guard moves to
//! the survivor, which re-enables the host the dead node had guarded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::peers::vcsim::{connected, host_named};
use crate::support::vcgate_cli;
use crate::support::{PgCluster, Snmptrapd, TestApp, TestConfig, Vcsim, alarm_body, alarm_trap};

/// A database on a fresh cluster (the cluster must outlive the nodes).
fn database() -> (PgCluster, String) {
    let cluster = PgCluster::start();
    let url = cluster.create_db("vcgate");
    (cluster, url)
}

/// A v2c SNMP forward named `nms` to `trapd`.
fn nms_forward(trapd: &Snmptrapd) -> String {
    format!(
        "[[monitoring.snmp]]\nname = \"nms\"\ntarget = \"{}\"\nversion = \"2c\"\ncommunity = \"public\"\n",
        trapd.target()
    )
}

/// A node on `url` named `node`, with `extra` sections.
async fn node(url: &str, node: &str, extra: &str) -> TestApp {
    TestApp::spawn_config(TestConfig {
        store: format!(
            "backend = \"postgres\"\nurl = \"{url}\"\nnode_id = \"{node}\"\nnode_timeout = \"2s\"\npool_size = 8\n"
        ),
        extra: extra.to_owned(),
        ..TestConfig::default()
    })
    .await
}

/// A command function that appends the event id to `log` (after `pause`
/// seconds), subscribed to `vm.*`.
fn recording_function(dir: &Path, log: &Path, pause: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("record.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\ninput=$(cat)\nsleep {pause}\npython3 -c 'import json,sys; print(json.loads(sys.argv[1])[\"context\"][\"event\"][\"id\"])' \"$input\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n[[function]]\nname = \"record\"\nkind = \"command\"\ncommand = [\"{}\"]\nconcurrency = 4\nmax_attempts = 5\nbackoff = \"200ms\"\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"record\"\n",
        script.display()
    )
}

/// Emits CloudEvent `i` (its own entity, so dedup keeps each) to `app`;
/// returns the event id when acknowledged (202).
async fn emit(app: &TestApp, i: usize) -> Option<String> {
    let body = json!({"specversion": "1.0", "id": format!("ce-{i}"), "source": "test",
        "type": "vm.created", "subject": format!("vm{i}"),
        "data": {"message": format!("vm{i} created"), "metadata": {"vm_name": format!("vm{i}")}}});
    let r = app.post_json("/api/v1/events", &body).send().await.ok()?;
    if r.status() != 202 {
        return None;
    }
    let answer: Value = r.json().await.ok()?;
    answer["id"].as_str().map(str::to_owned)
}

/// Lines of the function's log, counted per event id.
fn recorded(log: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}

async fn runs_with(app: &TestApp, status: &str) -> u64 {
    app.status().await["runs"][status].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_delivery_sent_to_both_nodes_is_one_event() {
    let (_cluster, url) = database();
    let (a, b) = tokio::join!(node(&url, "a", ""), node(&url, "b", ""));
    for i in 0..20 {
        let body = alarm_body(
            &format!("7b0c6f5e-2222-4000-8000-{i:012}"),
            "VM created",
            &format!("web{i}"),
            "Red",
        );
        let (ra, rb) = tokio::join!(
            a.post_json("/api/v1/alarms", &body).send(),
            b.post_json("/api/v1/alarms", &body).send()
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let mut codes = [ra.status().as_u16(), rb.status().as_u16()];
        codes.sort();
        assert_eq!(codes, [200, 202], "one node stores it, the other finds it");
        let (ia, ib): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
        assert_eq!(ia["id"], ib["id"], "both answer with the one event's id");
    }
    assert_eq!(a.events("limit=100").await.len(), 20);
    assert_eq!(b.events("limit=100").await.len(), 20);
    // Both nodes are in the cluster (heartbeat rows); one decides.
    let cluster = b
        .wait_for(
            "both nodes and the decider in status",
            Duration::from_secs(20),
            || async {
                let cluster = b.status().await["cluster"].clone();
                let nodes = cluster["nodes"].as_array().map_or(0, Vec::len);
                let deciders = cluster["singletons"]
                    .as_array()
                    .map_or(0, |s| s.iter().filter(|s| s["name"] == "pipeline").count());
                (nodes == 2 && deciders == 1).then_some(cluster)
            },
        )
        .await;
    assert_eq!(cluster["node_id"], "b");
    let holder = cluster["singletons"][0]["holder"].as_str().unwrap();
    assert!(["a", "b"].contains(&holder), "{cluster}");
}

#[tokio::test]
async fn events_split_across_three_nodes_run_each_function_once() {
    let (_cluster, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let functions = recording_function(dir.path(), &log, "0");
    // Three nodes: each takes a third of the events.
    let (a, b, c) = tokio::join!(
        node(&url, "a", &functions),
        node(&url, "b", &functions),
        node(&url, "c", &functions)
    );
    let nodes = [Arc::new(a), Arc::new(b), Arc::new(c)];
    let a = nodes[0].clone();
    let sends = (0..200).map(|i| {
        let app = nodes[i % 3].clone();
        async move { emit(&app, i).await.expect("acknowledged") }
    });
    let ids = futures::future::join_all(sends).await;
    a.wait_for("200 runs succeeded", Duration::from_secs(240), || async {
        (runs_with(&a, "succeeded").await == 200).then_some(())
    })
    .await;
    let counts = recorded(&log);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "event {id} ran once");
    }
    assert_eq!(counts.len(), 200);
    let runs = a.all_pages("/api/v1/runs", "runs").await;
    let by_node = runs.iter().filter(|r| r["attempt"] == 1).count();
    assert_eq!(by_node, 200, "no run needed a second attempt");
}

#[tokio::test]
async fn kill_9_of_one_node_under_load_loses_nothing_and_runs_nothing_twice() {
    let (_cluster, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    // The same function on both nodes; on `a` each run takes a second, so
    // `a` dies holding runs.
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let mut a = node(&url, "a", &recording_function(&dir_a, &log, "1")).await;
    let mut acked = Vec::new();
    for i in 0..30 {
        acked.extend(emit(&a, i).await);
    }
    // `a` alone: it decides and claims.
    a.wait_for("runs running on a", Duration::from_secs(60), || async {
        (runs_with(&a, "running").await > 0).then_some(())
    })
    .await;
    let b = node(&url, "b", &recording_function(&dir_b, &log, "0.05")).await;
    // Load on both nodes; `a` dies while its runs are in flight.
    for i in 0..40 {
        let (ra, rb) = tokio::join!(emit(&a, 100 + 2 * i), emit(&b, 101 + 2 * i));
        acked.extend(ra);
        acked.extend(rb);
        if i == 10 {
            a.kill9();
        }
    }
    assert!(acked.len() >= 80, "{} acknowledged", acked.len());
    // Every acknowledged event is stored; the survivor finishes every run.
    for id in &acked {
        let r = b
            .read(&format!("/api/v1/events/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged event {id} is stored");
    }
    let want = acked.len() as u64;
    b.wait_for(
        "every run finished by the survivor",
        Duration::from_secs(240),
        || async { (runs_with(&b, "succeeded").await == want).then_some(()) },
    )
    .await;
    let counts = recorded(&log);
    let runs = b.all_pages("/api/v1/runs", "runs").await;
    assert_eq!(runs.len(), acked.len(), "one run per event");
    for run in &runs {
        let event = run["event_id"].as_str().unwrap();
        let times = counts.get(event).copied().unwrap_or(0);
        assert!(times >= 1, "run of {event} executed");
        // Only a run the dead node had started may have executed twice
        // (kill -9 between the function's work and the commit of its
        // outcome); a run that had succeeded never runs again.
        if times > 1 {
            assert!(
                run["attempt"].as_u64().unwrap() >= 2,
                "event {event} ran {times} times in one attempt: {run}"
            );
        }
    }
    assert!(
        runs.iter().all(|r| r["status"] == "succeeded"),
        "every run succeeded"
    );
    // The runs `a` held when it died were taken over: a second attempt.
    let taken_over = runs.iter().filter(|r| r["attempt"] == 2).count();
    assert!(taken_over > 0, "the survivor took over a's runs: {runs:#?}");
}

#[tokio::test]
async fn the_same_trap_to_both_nodes_is_one_event_and_one_forward() {
    let trapd = Snmptrapd::start();
    let (_cluster, url) = database();
    let nms = nms_forward(&trapd);
    let (a, b) = tokio::join!(node(&url, "a", &nms), node(&url, "b", &nms));
    // vCenter's two SNMP receivers: the same notification to each node.
    alarm_trap(&a, 2, "Red", "alarm.HostConnectionStateAlarm", "esx-ha-01");
    alarm_trap(&b, 2, "Red", "alarm.HostConnectionStateAlarm", "esx-ha-01");
    let events = a
        .wait_for("both copies decided", Duration::from_secs(30), || async {
            let events: Vec<Value> = a
                .events("limit=50")
                .await
                .into_iter()
                .filter(|e| e["entity"]["name"] == "esx-ha-01")
                .collect();
            (events.len() == 2 && events.iter().all(|e| e["stage"] == "processed"))
                .then_some(events)
        })
        .await;
    let copies: Vec<&Value> = events
        .iter()
        .filter(|e| e["disposition"]["duplicate_of"].is_string())
        .collect();
    assert_eq!(copies.len(), 1, "one event and one audit copy: {events:?}");
    let original = copies[0]["disposition"]["duplicate_of"].as_str().unwrap();
    b.wait_for("the forward settled", Duration::from_secs(30), || async {
        let e = b.event(original).await;
        (e["deliveries"][0]["state"] == "sent").then_some(())
    })
    .await;
    b.wait_for("snmptrapd logged it", Duration::from_secs(15), || async {
        trapd.contents().contains("esx-ha-01").then_some(())
    })
    .await;
    assert_eq!(
        trapd.contents().matches("esx-ha-01").count(),
        1,
        "forwarded once: {}",
        trapd.contents()
    );
}

/// A silence made through one node holds on the node that decides the
/// events, and its early end there too: each node's silencer follows the
/// stored silences, not only the writes made through it.
#[tokio::test]
async fn a_silence_made_through_one_node_holds_on_every_node() {
    let trapd = Snmptrapd::start();
    let (_cluster, url) = database();
    let nms = nms_forward(&trapd);
    let (a, b) = tokio::join!(node(&url, "a", &nms), node(&url, "b", &nms));
    let decider = a
        .wait_for("a node to decide events", Duration::from_secs(15), || {
            holder(&a, "pipeline")
        })
        .await;
    // The silence is made through the node that does not decide events.
    let (maker, decider) = if decider == "a" { (&b, &a) } else { (&a, &b) };
    let r = maker
        .admin(reqwest::Method::POST, "/api/v1/silences")
        .json(&json!({
            "matchers": [{"name": "alarm", "value": "alarm.Datastore*", "isRegex": false}],
            "endsAt": "2099-01-01T00:00:00Z", "createdBy": "ops", "comment": "ha"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    decider
        .wait_for(
            "the decider to know the silence",
            Duration::from_secs(10),
            || async { (decider.status().await["silences"]["active"] == 1).then_some(()) },
        )
        .await;
    alarm_trap(
        decider,
        4,
        "Red",
        "alarm.DatastoreDiskUsageAlarm - 95%",
        "ds-ha-held",
    );
    let held = decider.processed("ds-ha-held").await;
    assert_eq!(held["disposition"]["held_by"], format!("silence:{id}"));

    // Ended early through the maker: the decider releases the alarm, still
    // firing, to the NMS.
    let r = maker
        .admin(reqwest::Method::DELETE, &format!("/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "expire: {}", r.status());
    decider
        .wait_for(
            "the held alarm forwarded",
            Duration::from_secs(20),
            || async { trapd.contents().contains("ds-ha-held").then_some(()) },
        )
        .await;
    // The release may be queued by the maker, whose silencer heard of the
    // end at once; the decider's follows the store within its sync interval.
    decider
        .wait_for(
            "the decider to know the silence ended",
            Duration::from_secs(10),
            || async { (decider.status().await["silences"]["active"] == 0).then_some(()) },
        )
        .await;
}

/// One node per vCenter polls maintenance state (the `maintenance:<vc>`
/// role) and stores its picture; the other node reads it from the store, so
/// both hold and release against the same hosts.
#[tokio::test]
async fn one_node_polls_maintenance_and_every_node_sees_its_picture() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_C0_H0").await;
    let (_cluster, url) = database();
    let extra = format!(
        "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"u\"\npassword = \"p\"\n\n[silence]\npoll = \"300ms\"\n",
        sim.url
    );
    let (a, b) = tokio::join!(node(&url, "a", &extra), node(&url, "b", &extra));
    let poller = a
        .wait_for(
            "a node to poll maintenance",
            Duration::from_secs(15),
            || holder(&a, "maintenance:vc1"),
        )
        .await;
    assert!(poller == "a" || poller == "b", "{poller}");
    client
        .enter_maintenance_mode(&host.moref, Duration::from_secs(30))
        .await
        .unwrap();
    for app in [&a, &b] {
        app.wait_for(
            "the host seen in maintenance",
            Duration::from_secs(15),
            || async { (app.hosts_in_maintenance().await == [host.name.as_str()]).then_some(()) },
        )
        .await;
    }
    // Still one poller, the same one.
    assert_eq!(
        holder(&b, "maintenance:vc1").await.as_deref(),
        Some(poller.as_str())
    );
    client
        .exit_maintenance_mode(&host.moref, Duration::from_secs(30))
        .await
        .unwrap();
    for app in [&a, &b] {
        app.wait_for(
            "the host seen out of maintenance",
            Duration::from_secs(15),
            || async { app.hosts_in_maintenance().await.is_empty().then_some(()) },
        )
        .await;
    }
}

#[tokio::test]
async fn a_node_that_loses_the_database_stops_acknowledging_and_is_not_ready() {
    let (cluster, url) = database();
    let a = node(&url, "a", "").await;
    assert_eq!(a.read("/readyz").send().await.unwrap().status(), 200);
    let body = alarm_body(
        "7b0c6f5e-3333-4000-8000-000000000001",
        "VM created",
        "web1",
        "Red",
    );
    let r = a.post_json("/api/v1/alarms", &body).send().await.unwrap();
    assert_eq!(r.status(), 202);
    // The database goes away (stopped at once, like a partition).
    drop(cluster);
    a.wait_readyz(503).await;
    let body = alarm_body(
        "7b0c6f5e-3333-4000-8000-000000000002",
        "VM created",
        "web2",
        "Red",
    );
    let r = a.post_json("/api/v1/alarms", &body).send().await.unwrap();
    assert_eq!(
        r.status(),
        503,
        "nothing is acknowledged that is not committed"
    );
}

/// A database that takes connections but answers nothing (a hung server,
/// a partition that drops packets): the heartbeat used to wait on it
/// forever, so `/readyz` stayed ready and a load balancer kept sending
/// alarms to a node that could store none.
#[tokio::test]
async fn a_node_whose_database_hangs_is_not_ready_until_it_answers_again() {
    let (cluster, url) = database();
    let a = TestApp::spawn_config(TestConfig {
        store: format!(
            "backend = \"postgres\"\nurl = \"{url}\"\nnode_id = \"a\"\nnode_timeout = \"2s\"\npool_size = 8\n"
        ),
        // Reads are bounded by the request timeout (a hung database would
        // otherwise hold them until TCP gives up).
        http: "body_timeout = \"1s\"\nrequest_timeout = \"3s\"\n".to_owned(),
        ..TestConfig::default()
    })
    .await;
    assert_eq!(a.read("/readyz").send().await.unwrap().status(), 200);
    let frozen = cluster.freeze();
    a.wait_readyz(503).await;
    let body = alarm_body(
        "7b0c6f5e-3333-4000-8000-000000000011",
        "VM created",
        "web1",
        "Red",
    );
    let r = a
        .post_json("/api/v1/alarms", &body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an alarm is answered while the database hangs, not held");
    assert_eq!(
        r.status(),
        503,
        "nothing is acknowledged that is not committed"
    );
    let r = a
        .read("/api/v1/events?limit=10")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("a read is answered while the database hangs, not held");
    assert_eq!(r.status(), 503);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "timeout", "{answer}");
    drop(frozen);
    a.wait_readyz(200).await;
    let r = a.post_json("/api/v1/alarms", &body).send().await.unwrap();
    let status = r.status();
    assert_eq!(
        status,
        202,
        "the node takes alarms again: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Who holds role `name`, by `app`'s status (the heartbeat's view).
async fn holder(app: &TestApp, name: &str) -> Option<String> {
    let cluster = app.status().await["cluster"].clone();
    cluster["singletons"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name && s["live"] == true)
        .and_then(|s| s["holder"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_event_stream_moves_to_the_survivor_and_resumes_from_the_checkpoint() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap();
    let (_cluster, url) = database();
    let stream = format!(
        "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"vcsim-user\"\npassword = \"vcsim-pass\"\ntimeout = \"3s\"\nevents = true\nevents_poll = \"200ms\"\nevents_exclude = [\"UserLoginSessionEvent\"]\n",
        sim.url
    );
    let (a, b) = tokio::join!(node(&url, "a", &stream), node(&url, "b", &stream));
    let mut nodes = [a, b];
    let post = |user: &'static str| {
        let path = format!(
            "/vcsim/events/post?class=VmSuspendedEvent&vm={}&user={user}",
            vm.value
        );
        let sim = &sim;
        async move { sim.control_post(&path).await }
    };
    post("before-kill").await;
    let reader = nodes[0]
        .wait_for(
            "a node reads the stream",
            Duration::from_secs(30),
            || async { holder(&nodes[0], "events:vc1").await },
        )
        .await;
    let (dead, survivor) = if reader == "a" { (0, 1) } else { (1, 0) };
    let by_user =
        |events: &[Value], user: &str| events.iter().filter(|e| e["user"] == user).count();
    nodes[survivor]
        .wait_for(
            "the event before the kill",
            Duration::from_secs(30),
            || async {
                let events = nodes[survivor]
                    .events("source=vcenter-events&limit=1000")
                    .await;
                (by_user(&events, "before-kill") == 1).then_some(())
            },
        )
        .await;
    nodes[dead].kill9();
    for user in ["missed-1", "missed-2", "missed-3"] {
        post(user).await;
    }
    let s = &nodes[survivor];
    let events = s
        .wait_for(
            "the survivor delivers what was missed",
            Duration::from_secs(60),
            || async {
                let events = s.events("source=vcenter-events&limit=1000").await;
                ["missed-1", "missed-2", "missed-3"]
                    .iter()
                    .all(|u| by_user(&events, u) == 1)
                    .then_some(events)
            },
        )
        .await;
    assert_eq!(
        by_user(&events, "before-kill"),
        1,
        "resumed from the shared checkpoint, nothing stored twice"
    );
    let name = ["a", "b"][survivor];
    s.wait_for(
        "status names the new reader",
        Duration::from_secs(10),
        || async { (holder(s, "events:vc1").await.as_deref() == Some(name)).then_some(()) },
    )
    .await;
    let log = s.log();
    assert!(
        log.contains("this node reads the vCenter event stream now")
            && log.contains("event stream resumes from its checkpoint"),
        "the survivor took over from the shared checkpoint:\n{log}"
    );
}

#[tokio::test]
async fn the_guard_moves_to_the_survivor_and_reenables_the_host() {
    use vcgate::vsphere::{Client, ClientConfig};
    let sim = Vcsim::start();
    // No exit event: only the guard's own reading re-enables the host.
    sim.control_post("/vcsim/maintenance/exit-events?suppress=true")
        .await;
    let admin = Client::new(ClientConfig {
        name: "admin".into(),
        url: sim.url.clone(),
        username: "admin".into(),
        password: "any-password".into(),
        insecure: false,
        ca_file: None,
        timeout: Duration::from_secs(10),
        max_response: vcgate::vsphere::DEFAULT_MAX_RESPONSE,
    })
    .unwrap();
    let host = host_named(&admin, "DC0_C0_H0").await.moref;
    let (_cluster, url) = database();
    let guard = format!(
        "[[vcenter]]\nname = \"vc1\"\nurl = \"{}\"\nusername = \"vcgate-it\"\npassword = \"any-password\"\ntimeout = \"3s\"\n\n[guard]\ninterval = \"1s\"\ndisable_on_enter = true\n",
        sim.url
    );
    let (a, b) = tokio::join!(node(&url, "a", &guard), node(&url, "b", &guard));
    let mut nodes = [a, b];
    let guarding = nodes[0]
        .wait_for("a node guards vc1", Duration::from_secs(30), || async {
            holder(&nodes[0], "guard:vc1").await
        })
        .await;
    let (dead, survivor) = if guarding == "a" { (0, 1) } else { (1, 0) };
    let enabled = || async { admin.are_alarm_actions_enabled(&host).await.unwrap() };
    admin
        .enter_maintenance_mode(&host, Duration::from_secs(30))
        .await
        .unwrap();
    nodes[survivor]
        .wait_for(
            "the guard disables and records it",
            Duration::from_secs(30),
            || async {
                let g = nodes[survivor].get_json("/api/v1/guard").await;
                let guarded = g.to_string().contains("DC0_C0_H0") && !enabled().await;
                guarded.then_some(())
            },
        )
        .await;
    nodes[dead].kill9();
    admin
        .exit_maintenance_mode(&host, Duration::from_secs(30))
        .await
        .unwrap();
    let s = &nodes[survivor];
    s.wait_for(
        "the survivor re-enables the host",
        Duration::from_secs(60),
        || async { enabled().await.then_some(()) },
    )
    .await;
    let name = ["a", "b"][survivor];
    s.wait_for(
        "status names the new guard",
        Duration::from_secs(10),
        || async { (holder(s, "guard:vc1").await.as_deref() == Some(name)).then_some(()) },
    )
    .await;
    assert!(
        s.log().contains("this node guards the vCenter now"),
        "{}",
        s.log()
    );
}

#[tokio::test]
async fn vcgate_migrate_runs_the_migrations_once_and_backup_refuses_postgres() {
    let (_cluster, url) = database();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vcgate.toml");
    std::fs::write(
        &config,
        format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = vcgate_cli(args, &[]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, first) = run(&["migrate", "--config", config]);
    assert!(ok && first.contains("2 migration(s) run"), "{first}");
    let (ok, again) = run(&["migrate", "--config", config]);
    assert!(ok && again.contains("0 migration(s) run"), "{again}");
    // A node on the migrated database starts without migrating again.
    let a = node(&url, "a", "").await;
    assert!(
        !a.log().contains("PostgreSQL schema migrated"),
        "{}",
        a.log()
    );
    let dest = dir.path().join("backup");
    let (ok, refused) = run(&["backup", "--config", config, dest.to_str().unwrap()]);
    assert!(!ok && refused.contains("pg_dump"), "{refused}");
}
