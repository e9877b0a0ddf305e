//! Inventory reads and changes: hosts, VMs, paging, alarm actions, custom
//! attributes, tasks.

use super::*;

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
    let gone = ManagedObjectRef::new("VirtualMachine", "vm-does-not-exist");
    match client.retrieve_one(&gone, &["name"]).await {
        Err(VsphereError::ManagedObjectNotFound { moref }) => assert_eq!(moref, gone),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn vsphere_follows_property_collector_paging() {
    // Pages of 1 object: 4 hosts need three ContinueRetrievePropertiesEx.
    let sim = Vcsim::start_with(VcsimOptions {
        page_size: Some(1),
        ..VcsimOptions::default()
    });
    let client = connected(&sim).await;
    let mut names: Vec<String> = client
        .hosts()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.name)
        .collect();
    names.sort();
    assert_eq!(names, ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2", "DC0_H0"]);
    let vms = client.vms().await.unwrap();
    let unpaged = connected(&Vcsim::start()).await.vms().await.unwrap();
    assert_eq!(vms.len(), unpaged.len());
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

    let gone = ManagedObjectRef::new("HostSystem", "host-999999");
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
