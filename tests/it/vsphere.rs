//! vSphere client against the vCenter simulator (a real SOAP peer, no mocks).
//!
//! Each test starts its own simulator, so they run in parallel and may
//! change inventory state freely.

use std::time::Duration;

use vcgate::vsphere::soap::Body;
use vcgate::vsphere::{
    Client, ClientConfig, EventQuery, EventRecursion, Moref, PropValue, VcEvent, VsphereError,
};

use crate::vcsim_support::Vcsim;

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
    }
}

async fn connected(sim: &Vcsim) -> Client {
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

async fn events_of(client: &Client, entity: &Moref, class: &str) -> Vec<VcEvent> {
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

#[tokio::test]
async fn vsphere_wrong_credentials_are_invalid_login() {
    let sim = Vcsim::start_with_credentials("admin", "right-pass");
    let bad = Client::new(config(&sim.url, "admin", "wrong-pass-XYZ")).unwrap();
    let err = bad.connect().await.expect_err("login must fail");
    assert!(matches!(err, VsphereError::InvalidLogin), "{err:?}");
    // Neither the error nor the client's Debug may leak the password.
    for text in [err.to_string(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(!text.contains("wrong-pass-XYZ"), "{text}");
    }
    // A call without a session logs in first and fails the same way.
    assert!(matches!(bad.hosts().await, Err(VsphereError::InvalidLogin)));

    let good = Client::new(config(&sim.url, "admin", "right-pass")).unwrap();
    let sc = good.connect().await.expect("right credentials");
    assert_eq!(sc.about.api_type, "VirtualCenter");
    assert!(!sc.about.api_version.is_empty());
    assert!(good.is_logged_in());
}

#[tokio::test]
async fn vsphere_expired_session_relogs_in_transparently() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    assert_eq!(client.hosts().await.unwrap().len(), 4);

    let expired = sim.control_post("/vcsim/sessions/expire").await;
    assert!(expired["expired"].as_u64().unwrap() >= 1, "{expired}");

    // The next calls meet NotAuthenticated, log in again and succeed. Several
    // at once (clones share the session) must cause a single re-login.
    let calls = (0..6).map(|_| {
        let c = client.clone();
        async move { c.hosts().await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("after expiry").len(), 4);
    }
    let logins = client
        .query_events(&EventQuery {
            event_type_ids: vec!["UserLoginSessionEvent".into()],
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let ours = logins
        .iter()
        .filter(|e| e.user_name.as_deref() == Some(USER))
        .count();
    assert_eq!(ours, 2, "expected exactly one re-login: {logins:#?}");

    // connect() again replaces the session instead of adding one.
    client.connect().await.unwrap();
    let logouts = client
        .query_events(&EventQuery {
            event_type_ids: vec!["UserLogoutSessionEvent".into()],
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(logouts.len(), 1, "{logouts:#?}");

    // Logout, then a call logs in again by itself.
    client.logout().await.unwrap();
    assert!(!client.is_logged_in());
    assert!(!client.vms().await.unwrap().is_empty());
    assert!(client.is_logged_in());
}

#[tokio::test]
async fn vsphere_lists_hosts_and_vms() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;

    let mut hosts = client.hosts().await.unwrap();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2", "DC0_H0"]);
    for h in &hosts {
        assert_eq!(h.moref.kind, "HostSystem");
        assert!(!h.in_maintenance, "{h:?}");
        assert_eq!(h.alarm_actions_enabled, Some(true), "{h:?}");
    }

    let vms = client.vms().await.unwrap();
    assert!(vms.iter().any(|(_, n)| n == "DC0_H0_VM0"), "{vms:?}");
    assert!(vms.iter().all(|(m, _)| m.kind == "VirtualMachine"));
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().expect("VM");
    assert!(vms.contains(&(vm.clone(), "DC0_H0_VM0".to_owned())));
    assert_eq!(client.find_vm("no-such-vm").await.unwrap(), None);

    // Generic property read on a single object.
    let oc = client
        .retrieve_one(&vm, &["name", "runtime.host"])
        .await
        .unwrap();
    assert_eq!(
        oc.get("name").and_then(PropValue::as_str),
        Some("DC0_H0_VM0")
    );
    assert_eq!(
        oc.get("runtime.host")
            .and_then(PropValue::as_moref)
            .map(|m| m.kind.as_str()),
        Some("HostSystem")
    );
    let gone = Moref::new("VirtualMachine", "vm-does-not-exist");
    match client.retrieve_one(&gone, &["name"]).await {
        Err(VsphereError::ManagedObjectNotFound { moref }) => assert_eq!(moref, gone),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn vsphere_maintenance_mode_and_its_events() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_C0_H1").await;

    client
        .enter_maintenance_mode(&host, TASK_WAIT)
        .await
        .unwrap();
    let state = client.host(&host).await.unwrap();
    assert!(state.in_maintenance, "{state:?}");
    let entered = events_of(&client, &host, "EnteredMaintenanceModeEvent").await;
    assert_eq!(entered.len(), 1, "{entered:#?}");
    let e = &entered[0];
    assert_eq!(e.class, "EnteredMaintenanceModeEvent");
    assert_eq!(e.host.as_ref().unwrap().moref, host.value);
    assert_eq!(e.host.as_ref().unwrap().name, "DC0_C0_H1");
    assert_eq!(e.compute_resource.as_ref().unwrap().name, "DC0_C0");
    assert_eq!(e.datacenter.as_ref().unwrap().name, "DC0");

    // Exit with the event suppressed: state flips, no event.
    sim.control_post("/vcsim/maintenance/exit-events?suppress=true")
        .await;
    client
        .exit_maintenance_mode(&host, TASK_WAIT)
        .await
        .unwrap();
    assert!(!client.host(&host).await.unwrap().in_maintenance);
    assert!(
        events_of(&client, &host, "ExitMaintenanceModeEvent")
            .await
            .is_empty()
    );

    // Unsuppressed, the same cycle does post it (so the check above can fail).
    sim.control_post("/vcsim/maintenance/exit-events?suppress=false")
        .await;
    client
        .enter_maintenance_mode(&host, TASK_WAIT)
        .await
        .unwrap();
    client
        .exit_maintenance_mode(&host, TASK_WAIT)
        .await
        .unwrap();
    let exited = events_of(&client, &host, "ExitMaintenanceModeEvent").await;
    assert_eq!(exited.len(), 1, "{exited:#?}");
    assert!(exited[0].created_time >= entered[0].created_time);
    // query_events returns key order.
    let both = client
        .query_events(&EventQuery {
            entity: Some(host.clone()),
            recursion: EventRecursion::SelfOnly,
            event_type_ids: vec![
                "EnteredMaintenanceModeEvent".into(),
                "ExitMaintenanceModeEvent".into(),
            ],
            ..EventQuery::default()
        })
        .await
        .unwrap();
    let classes: Vec<&str> = both.iter().map(|e| e.class.as_str()).collect();
    assert_eq!(
        classes,
        [
            "EnteredMaintenanceModeEvent",
            "EnteredMaintenanceModeEvent",
            "ExitMaintenanceModeEvent"
        ]
    );
    assert!(both.windows(2).all(|w| w[0].key < w[1].key));
}

#[tokio::test]
async fn vsphere_alarm_actions_round_trip() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_H0").await;

    assert!(client.are_alarm_actions_enabled(&host).await.unwrap());
    client.enable_alarm_actions(&host, false).await.unwrap();
    assert!(!client.are_alarm_actions_enabled(&host).await.unwrap());
    assert_eq!(
        client.host(&host).await.unwrap().alarm_actions_enabled,
        Some(false)
    );
    // Only that host changed.
    let others = client.hosts().await.unwrap();
    assert_eq!(
        others
            .iter()
            .filter(|h| h.alarm_actions_enabled == Some(false))
            .count(),
        1
    );

    client.enable_alarm_actions(&host, true).await.unwrap();
    assert!(client.are_alarm_actions_enabled(&host).await.unwrap());
    assert_eq!(
        client.host(&host).await.unwrap().alarm_actions_enabled,
        Some(true)
    );

    let gone = Moref::new("HostSystem", "host-999999");
    assert!(matches!(
        client.enable_alarm_actions(&gone, false).await,
        Err(VsphereError::ManagedObjectNotFound { .. })
    ));
}

#[tokio::test]
async fn vsphere_custom_fields_add_set_read() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let vm = client.find_vm("DC0_H0_VM1").await.unwrap().unwrap();

    let key = client
        .add_custom_field_def("Created By", Some("VirtualMachine"))
        .await
        .unwrap();
    match client
        .add_custom_field_def("Created By", Some("VirtualMachine"))
        .await
    {
        Err(VsphereError::DuplicateName { name }) => assert_eq!(name, "Created By"),
        other => panic!("{other:?}"),
    }
    let defs = client.custom_field_defs().await.unwrap();
    let def = defs.iter().find(|d| d.name == "Created By").expect("def");
    assert_eq!(def.key, key);
    assert_eq!(def.mo_type.as_deref(), Some("VirtualMachine"));
    assert_eq!(
        client
            .ensure_custom_field("Created By", Some("VirtualMachine"))
            .await
            .unwrap(),
        key
    );
    let other = client
        .ensure_custom_field("Created On", Some("VirtualMachine"))
        .await
        .unwrap();
    assert_ne!(other, key);

    // Values needing escaping survive the round trip.
    let value = r#"alice <admin> & "ops" ' é"#;
    client.set_field(&vm, key, value).await.unwrap();
    assert_eq!(
        client
            .custom_values(&vm)
            .await
            .unwrap()
            .get(&key)
            .map(String::as_str),
        Some(value)
    );
    // Setting again: the last value wins (the simulator appends duplicates).
    client.set_field(&vm, key, "bob").await.unwrap();
    client.set_field(&vm, other, "2026-11-25").await.unwrap();
    let values = client.custom_values(&vm).await.unwrap();
    assert_eq!(values.get(&key).map(String::as_str), Some("bob"));
    assert_eq!(values.get(&other).map(String::as_str), Some("2026-11-25"));
}

#[tokio::test]
async fn vsphere_event_collector_create_read_destroy() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    assert!(sim.collectors().await.is_empty());

    let collector = client
        .create_event_collector(&EventQuery {
            event_type_ids: vec!["VmCreatedEvent".into()],
            max_count: Some(100),
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(collector.kind, "EventHistoryCollector");
    assert_eq!(sim.collectors().await, vec![collector.value.clone()]);

    let first = client.read_next_events(&collector, 3).await.unwrap();
    assert_eq!(first.len(), 3, "{first:#?}");
    assert!(first.iter().all(|e| e.class == "VmCreatedEvent"));
    // Each page comes back in key order (the simulator's own order is not).
    assert!(first.windows(2).all(|w| w[0].key < w[1].key), "{first:#?}");
    let rest = client.read_next_events(&collector, 1000).await.unwrap();
    let vms = client.vms().await.unwrap().len();
    assert_eq!(first.len() + rest.len(), vms, "one VmCreatedEvent per VM");
    assert!(
        client
            .read_next_events(&collector, 10)
            .await
            .unwrap()
            .is_empty()
    );

    client.destroy_collector(&collector).await.unwrap();
    assert!(sim.collectors().await.is_empty());
    assert!(matches!(
        client.read_next_events(&collector, 10).await,
        Err(VsphereError::ManagedObjectNotFound { .. })
    ));
}

/// CreateVM_Task through the low-level `invoke`, as a user would create a VM.
async fn create_vm(client: &Client, name: &str) -> Moref {
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

#[tokio::test]
async fn vsphere_failed_task_is_a_typed_fault() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap(); // powered on
    let res = client
        .invoke(Body::new("PowerOnVM_Task", &vm))
        .await
        .unwrap();
    let task = res.child("returnval").and_then(|t| t.as_moref()).unwrap();
    match client.wait_for_task(&task, TASK_WAIT).await {
        Err(VsphereError::Fault { fault_type, .. }) => assert_eq!(fault_type, "InvalidPowerState"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn vsphere_vm_creation_events_carry_the_user() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    // Same clock as the simulator; its inventory events predate this.
    let before = time::OffsetDateTime::now_utc();

    let vm = create_vm(&client, "it-created-vm").await;
    let created = events_of(&client, &vm, "VmCreatedEvent").await;
    assert_eq!(created.len(), 1, "{created:#?}");
    let e = &created[0];
    assert_eq!(e.class, "VmCreatedEvent");
    assert_eq!(e.user_name.as_deref(), Some(USER));
    assert_eq!(e.vm.as_ref().unwrap().name, "it-created-vm");
    assert_eq!(e.vm.as_ref().unwrap().moref, vm.value);
    assert!(e.created_time >= before);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("it-created-vm")
    );

    // The time filter is applied client-side (the simulator ignores it): the
    // inventory's own VmCreatedEvents predate `before`.
    let recent = client
        .query_events(&EventQuery {
            begin_time: Some(before),
            event_type_ids: vec!["VmCreatedEvent".into()],
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 1, "{recent:#?}");
    let all = client
        .query_events(&EventQuery {
            event_type_ids: vec!["VmCreatedEvent".into()],
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert!(all.len() > 1);
    let newest = client
        .query_events(&EventQuery {
            event_type_ids: vec!["VmCreatedEvent".into()],
            max_count: Some(1),
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].key, all.last().unwrap().key);

    // Deployed / registered events injected through the control API.
    let template = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap();
    let posted = sim
        .control_post(&format!(
            "/vcsim/events/vm-deployed?vm={}&template={}&user=bob",
            vm.value, template.value
        ))
        .await;
    let deployed = events_of(&client, &vm, "VmDeployedEvent").await;
    assert_eq!(deployed.len(), 1, "{deployed:#?}");
    let d = &deployed[0];
    assert_eq!(Some(d.key), posted["key"].as_i64());
    assert_eq!(d.user_name.as_deref(), Some("bob"));
    assert_eq!(d.src_template.as_ref().unwrap().name, "DC0_H0_VM0");
    assert_eq!(d.src_template.as_ref().unwrap().moref, template.value);
    assert!(d.host.is_some() && d.datacenter.is_some());

    sim.control_post(&format!("/vcsim/events/vm-registered?vm={}", vm.value))
        .await;
    let registered = events_of(&client, &vm, "VmRegisteredEvent").await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].vm.as_ref().unwrap().name, "it-created-vm");
}

#[tokio::test]
async fn vsphere_vcenter_down_then_back() {
    let mut sim = Vcsim::start();
    let client = connected(&sim).await;
    assert_eq!(client.hosts().await.unwrap().len(), 4);

    sim.stop();
    let err = client.hosts().await.expect_err("simulator is down");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        matches!(err, VsphereError::Transport { timeout: false, .. }),
        "{err:?}"
    );

    // A fresh simulator on the same port knows no session: the client meets
    // NotAuthenticated, logs in again and carries on.
    sim.restart();
    assert_eq!(client.hosts().await.expect("after restart").len(), 4);
}

#[tokio::test]
async fn vsphere_tls_needs_the_ca_or_explicit_insecure() {
    let sim = Vcsim::start_tls();
    assert!(sim.url.starts_with("https://"), "{}", sim.url);

    // Unknown CA: refused, and not mistaken for "vCenter down".
    let strict = Client::new(config(&sim.url, USER, "pw")).unwrap();
    let err = strict.connect().await.expect_err("untrusted certificate");
    assert!(matches!(err, VsphereError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(!err.is_unavailable(), "{err:?}");

    let mut with_ca = config(&sim.url, USER, "pw");
    with_ca.ca_file = sim.ca_file.clone();
    let client = Client::new(with_ca).unwrap();
    assert_eq!(client.hosts().await.expect("trusted via ca_file").len(), 4);

    let mut insecure = config(&sim.url, USER, "pw");
    insecure.insecure = true;
    let client = Client::new(insecure).unwrap();
    assert_eq!(client.hosts().await.expect("insecure").len(), 4);
}

/// Captures everything the client logs (TRACE) on this thread.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn vsphere_logs_never_contain_secrets() {
    let sim = Vcsim::start_with_credentials("admin", "Pa55-w0rd-in-logs?");
    // While only one dispatcher exists, tracing decides whether a callsite is
    // enabled from the default of whichever thread hits it first; another
    // test thread (no subscriber) would then disable the client's callsites
    // for good. With a second live dispatcher, every dispatcher is asked.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let client = Client::new(config(&sim.url, "admin", "Pa55-w0rd-in-logs?")).unwrap();
    client.hosts().await.unwrap();
    sim.control_post("/vcsim/sessions/expire").await;
    client.hosts().await.unwrap(); // re-login path
    let bad = Client::new(config(&sim.url, "admin", "Pa55-w0rd-in-logs?-not")).unwrap();
    assert!(bad.connect().await.is_err());

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("logged in to vCenter"),
        "nothing captured: {logs}"
    );
    assert!(logs.contains("session expired"), "{logs}");
    assert!(!logs.contains("Pa55-w0rd"), "{logs}");
    assert!(!logs.contains("vmware_soap_session"), "{logs}");
}
