use super::*;
use crate::model::{Alarm, Moref, StatusText};
use crate::vsphere::{VcEvent, xml};
use time::macros::datetime;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/veba")
            .join(name),
    )
    .unwrap()
}

fn golden(name: &str) -> Value {
    let v: Value = serde_json::from_str(&fixture(&format!("{name}.json"))).unwrap();
    v[0].clone()
}

/// The fixture's event read as the stream reads it.
fn stream_event(name: &str) -> Event {
    let doc = xml::parse(&fixture(&format!("{name}.xml"))).unwrap();
    let el = doc.children_named("returnval").next().unwrap().clone();
    let vc = VcEvent::from_element(el).unwrap();
    crate::normalize::vcenter_event::normalize("vc1", &vc, datetime!(2026-11-30 00:00 UTC))
}

#[test]
fn stream_events_render_as_veba_did() {
    let e = stream_event("DrsVmPoweredOnEvent");
    let ce = cloudevent(&e, "https://vc1.example.com/sdk");
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["id"], e.id.to_string());
    assert_eq!(ce["type"], "com.vmware.vsphere.DrsVmPoweredOnEvent.v0");
    assert_eq!(ce["subject"], "DrsVmPoweredOnEvent");
    assert_eq!(ce["eventclass"], "event");
    assert_eq!(ce["source"], "https://vc1.example.com/sdk");
    assert_eq!(ce["datacontenttype"], "application/json");
    assert_eq!(ce["data"], golden("DrsVmPoweredOnEvent"));
    assert_eq!(ce["time"], ce["data"]["CreatedTime"]);
    assert_eq!(type_name(&e), "com.vmware.vsphere.DrsVmPoweredOnEvent.v0");

    let ha = stream_event("EventEx-com.vmware.vc.HA.DasHostFailedEvent");
    let ce = cloudevent(&ha, "https://vc1/sdk");
    assert_eq!(
        ce["type"],
        "com.vmware.vsphere.com.vmware.vc.HA.DasHostFailedEvent.v0"
    );
    assert_eq!(ce["subject"], "com.vmware.vc.HA.DasHostFailedEvent");
    assert_eq!(ce["eventclass"], "eventex");
    assert_eq!(
        ce["data"],
        golden("EventEx-com.vmware.vc.HA.DasHostFailedEvent")
    );
    // The stream's alarm events keep vCenter's own data.
    let alarm = stream_event("AlarmStatusChangedEvent");
    assert_eq!(
        cloudevent(&alarm, "x")["data"],
        golden("AlarmStatusChangedEvent")
    );
}

#[test]
fn hook_and_trap_alarms_are_alarm_status_changed_events() {
    let mut e = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
    e.entity.name = Some("esx01".into());
    e.entity.moref = Moref::parse("host-9");
    e.entity.kind = Some(EntityKind::HostSystem);
    e.alarm = Some(Alarm {
        name: Some("Host connection state".into()),
        moref: Moref::parse("alarm-7"),
        old_status: Some(StatusText::parse("Green")),
        new_status: Some(StatusText::parse("Red")),
    });
    e.message = Some("Alarm 'Host connection state' changed".into());
    e.time = Some(datetime!(2026-11-25 12:00:00.25 UTC));
    e.metadata.insert("datacenter".into(), json!("DC0"));
    // Enrichment may have learnt the trigger's class: still an alarm transition.
    e.metadata.insert(
        "vcenter_event_class".into(),
        json!("HostConnectionLostEvent"),
    );
    let ce = cloudevent(&e, &source_url(None, "vc1"));
    assert_eq!(ce["type"], "com.vmware.vsphere.AlarmStatusChangedEvent.v0");
    assert_eq!(ce["source"], "https://vc1/sdk");
    let data = &ce["data"];
    // Exactly govmomi's keys, in its order.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(data), keys(&golden("AlarmStatusChangedEvent")));
    assert_eq!(data["Alarm"]["Name"], "Host connection state");
    assert_eq!(
        data["Alarm"]["Alarm"],
        json!({"Type": "Alarm", "Value": "alarm-7"})
    );
    assert_eq!(data["Entity"]["Name"], "esx01");
    assert_eq!(
        data["Entity"]["Entity"],
        json!({"Type": "HostSystem", "Value": "host-9"})
    );
    assert_eq!(data["Host"]["Name"], "esx01");
    assert_eq!(data["Datacenter"]["Name"], "DC0");
    assert_eq!(
        (&data["From"], &data["To"]),
        (&json!("green"), &json!("red"))
    );
    assert_eq!(data["CreatedTime"], "2026-11-25T12:00:00.25Z");
    assert_eq!(data["Vm"], Value::Null);
    assert_eq!(data["Source"]["Name"], "", "unknown, so Go's zero");

    // A localized colour is kept verbatim.
    e.alarm.as_mut().unwrap().new_status = Some(StatusText::parse("红色"));
    assert_eq!(cloudevent(&e, "x")["data"]["To"], "红色");
}

#[test]
fn classes_from_dispatch_names_and_the_eventex_fallback() {
    assert_eq!(
        class_for_dispatch("vm.powered.on"),
        Some("VmPoweredOnEvent")
    );
    assert_eq!(
        class_for_dispatch("dv.portgroup.created"),
        Some("DVPortgroupCreatedEvent")
    );
    assert_eq!(class_for_dispatch("no.such.thing"), None);

    let mut api = Event::new(Source::Api, "vc1", EventType::parse("vm.deployed").unwrap());
    api.metadata.insert("vm_name".into(), json!("web03"));
    api.metadata.insert("vm_id".into(), json!("vm-77"));
    api.metadata.insert("src_template".into(), json!("tmpl"));
    let ce = cloudevent(&api, "x");
    assert_eq!(ce["type"], "com.vmware.vsphere.VmDeployedEvent.v0");
    assert_eq!(ce["data"]["Vm"]["Name"], "web03");
    assert_eq!(ce["data"]["Vm"]["Vm"]["Value"], "vm-77");
    assert_eq!(ce["data"]["SrcTemplate"]["Name"], "tmpl");
    assert_eq!(ce["data"]["Template"], false);

    let mut guard = Event::new(
        Source::Guard,
        "vc1",
        EventType::parse("guard.alarm.actions.enabled").unwrap(),
    );
    guard.entity.name = Some("esx01".into());
    guard.entity.kind = Some(EntityKind::HostSystem);
    guard.category = Some("warning".into());
    let ce = cloudevent(&guard, "x");
    assert_eq!(
        ce["type"],
        "com.vmware.vsphere.guard.alarm.actions.enabled.v0"
    );
    assert_eq!(ce["eventclass"], "eventex");
    assert_eq!(ce["data"]["EventTypeId"], "guard.alarm.actions.enabled");
    assert_eq!(ce["data"]["Severity"], "warning");
    assert_eq!(ce["data"]["ObjectType"], "HostSystem");
    assert_eq!(ce["data"]["ObjectName"], "esx01");
    assert_eq!(ce["data"]["Fault"], Value::Null);
}

#[test]
fn type_names_and_source_urls() {
    assert_eq!(
        parse_type_name("com.vmware.vsphere.VmPoweredOnEvent.v0"),
        Some("VmPoweredOnEvent")
    );
    assert_eq!(
        parse_type_name("com.vmware.vsphere.com.vmware.vc.HA.X.v0"),
        Some("com.vmware.vc.HA.X")
    );
    assert_eq!(parse_type_name("vm.powered.on"), None);
    assert_eq!(parse_type_name("com.vmware.vsphere..v0"), None);
    assert_eq!(
        source_url(Some("https://user:pw@vc1.example.com/sdk"), "vc1"),
        "https://vc1.example.com/sdk"
    );
    assert_eq!(
        source_url(Some("https://vc1.example.com:8443/sdk"), "vc1"),
        "https://vc1.example.com:8443/sdk"
    );
    assert_eq!(
        source_url(None, "vcsa.lab.local"),
        "https://vcsa.lab.local/sdk"
    );
}
