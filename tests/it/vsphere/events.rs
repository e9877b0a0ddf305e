//! Events: maintenance-mode events, event collectors, VM creation events.

use super::*;

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
        .query_events(&EventFilterSpec {
            entity: Some(host.clone()),
            recursion: EventRecursion::SelfOnly,
            event_type_ids: vec![
                "EnteredMaintenanceModeEvent".into(),
                "ExitMaintenanceModeEvent".into(),
            ],
            ..EventFilterSpec::default()
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
async fn vsphere_event_collector_create_read_destroy() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    assert!(sim.collectors().await.is_empty());

    let collector = client
        .create_event_collector(&EventFilterSpec {
            event_type_ids: vec!["VmCreatedEvent".into()],
            max_count: Some(100),
            ..EventFilterSpec::default()
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
        .query_events(&EventFilterSpec {
            begin_time: Some(before),
            event_type_ids: vec!["VmCreatedEvent".into()],
            ..EventFilterSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 1, "{recent:#?}");
    let all = client
        .query_events(&EventFilterSpec {
            event_type_ids: vec!["VmCreatedEvent".into()],
            ..EventFilterSpec::default()
        })
        .await
        .unwrap();
    assert!(all.len() > 1);
    let newest = client
        .query_events(&EventFilterSpec {
            event_type_ids: vec!["VmCreatedEvent".into()],
            max_count: Some(1),
            ..EventFilterSpec::default()
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
async fn vsphere_alarm_status_changed_event_via_control_api() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let host = host_named(&client, "DC0_C0_H0").await;
    let posted = sim
        .control_post(&format!(
            "/vcsim/events/post?class=AlarmStatusChangedEvent&host={}&alarm=alarm-7&alarm_name=Host%20connection%20state&from=green&to=red&message=Alarm%20changed&user=",
            host.value
        ))
        .await;
    let events = events_of(&client, &host, "AlarmStatusChangedEvent").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(Some(e.key), posted["key"].as_i64());
    assert_eq!(e.alarm.as_ref().unwrap().moref, "alarm-7");
    assert_eq!(e.alarm.as_ref().unwrap().name, "Host connection state");
    assert_eq!(e.entity.as_ref().unwrap().name, "DC0_C0_H0");
    assert_eq!(e.from_status.as_deref(), Some("green"));
    assert_eq!(e.to_status.as_deref(), Some("red"));
    assert_eq!(e.host.as_ref().unwrap().moref, host.value);
    assert_eq!(e.datacenter.as_ref().unwrap().name, "DC0");

    // Any class works, with a chosen user; unknown classes are refused.
    let vm = client.find_vm("DC0_H0_VM0").await.unwrap().unwrap();
    sim.control_post(&format!(
        "/vcsim/events/post?class=VmPoweredOffEvent&vm={}&user=carol",
        vm.value
    ))
    .await;
    let off = events_of(&client, &vm, "VmPoweredOffEvent").await;
    assert!(
        off.iter().any(|e| e.user_name.as_deref() == Some("carol")),
        "{off:#?}"
    );
    let status = reqwest::Client::new()
        .post(format!("{}/vcsim/events/post?class=NoSuchEvent", sim.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
}
