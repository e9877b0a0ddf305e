//! Unit tests of the guard's pure helpers (the decision rules are tested in
//! `decide/tests.rs`).

use super::*;
use crate::model::Alarm;

fn event(source: Source, type_name: &str) -> Event {
    Event::new(source, "vc1", EventType::parse(type_name).unwrap())
}

#[test]
fn maintenance_events_from_any_source_wake_the_guard() {
    for t in [
        "entering.maintenance.mode",
        "entered.maintenance.mode",
        "exit.maintenance.mode",
        "exited.maintenance.mode",
    ] {
        for source in [
            Source::Api,
            Source::AlarmHook,
            Source::Snmp,
            Source::VcenterEvents,
        ] {
            assert!(is_maintenance_event(&event(source, t)), "{t} from {source}");
        }
    }
    let mut alarm = event(Source::AlarmHook, "alarm.status.changed");
    assert!(!is_maintenance_event(&alarm));
    alarm.alarm = Some(Alarm {
        name: Some("Host entered Maintenance Mode".into()),
        ..Alarm::default()
    });
    assert!(is_maintenance_event(&alarm));
    let mut trap = event(Source::Snmp, "snmp.trap");
    trap.message = Some("Host esx01 in DC0 has exited maintenance mode".into());
    assert!(is_maintenance_event(&trap));
    assert!(!is_maintenance_event(&event(Source::Api, "vm.created")));
}

#[test]
fn the_guards_own_events_do_not_wake_it() {
    let action = Action {
        moref: "host-1".into(),
        host: "esx01".into(),
        kind: ActionKind::Enable,
        reason: "host left maintenance mode".into(),
    };
    let e = action_event("vc1", &action);
    assert_eq!(e.event_type.as_str(), "guard.alarm.actions.enabled");
    assert_eq!(e.source, Source::Guard);
    assert!(e.message.as_deref().unwrap().contains("maintenance mode"));
    assert!(!is_maintenance_event(&e));
}

#[test]
fn action_events_name_the_host_and_differ_over_time() {
    let action = Action {
        moref: "host-7".into(),
        host: "esx07".into(),
        kind: ActionKind::Disable,
        reason: "in maintenance".into(),
    };
    let e = action_event("vc1", &action);
    assert_eq!(e.event_type.as_str(), "guard.alarm.actions.disabled");
    assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "host-7");
    assert_eq!(e.entity.name.as_deref(), Some("esx07"));
    assert_eq!(e.entity.kind, Some(EntityKind::HostSystem));
    assert_eq!(e.metadata["action"], "disable");
    assert_eq!(e.metadata["reason"], "in maintenance");
    std::thread::sleep(Duration::from_millis(2));
    let later = action_event("vc1", &action);
    assert_ne!(
        e.fingerprint, later.fingerprint,
        "a later action must not be a dedup repeat"
    );
}

#[test]
fn backoff_grows_and_is_capped() {
    let minute = Duration::from_secs(60);
    assert_eq!(backoff(minute, 1), Duration::from_secs(1));
    assert_eq!(backoff(minute, 2), Duration::from_secs(2));
    assert_eq!(backoff(minute, 4), Duration::from_secs(8));
    assert_eq!(backoff(minute, 30), Duration::from_secs(300));
    let second = Duration::from_secs(1);
    assert_eq!(backoff(second, 1), second);
    assert_eq!(backoff(second, 30), Duration::from_secs(5));
    let short = Duration::from_millis(200);
    assert_eq!(backoff(short, 1), short);
    assert_eq!(backoff(short, 30), Duration::from_secs(1));
}

#[test]
fn failures_map_to_status() {
    let denied = VsphereError::NoPermission {
        privilege: Some("Alarm.DisableActions".into()),
        object: None,
    };
    assert_eq!(ReconcileStatus::of(&denied), ReconcileStatus::Denied);
    assert_eq!(
        ReconcileStatus::of(&VsphereError::InvalidLogin),
        ReconcileStatus::Denied
    );
    let down = VsphereError::Http {
        status: 503,
        snippet: String::new(),
    };
    assert_eq!(ReconcileStatus::of(&down), ReconcileStatus::Stale);
    let other = VsphereError::Protocol("x".into());
    assert_eq!(ReconcileStatus::of(&other), ReconcileStatus::Error);
}

#[test]
fn guard_config_defaults_and_activation() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.guard.interval, Duration::from_secs(60));
    assert!(!c.guard.disable_on_enter && !c.guard.dry_run);
    assert_eq!(c.guard.reenable, Reenable::Guarded);
    assert!(
        !GuardSettings::from_config(&c).enabled,
        "no vCenter url: off"
    );

    let with_vc = "[[vcenter]]\nname = \"vc1\"\nurl = \"http://127.0.0.1:1/sdk\"\nusername = \"u\"\npassword = \"p\"\n";
    let c = Config::parse(with_vc).unwrap();
    let s = GuardSettings::from_config(&c);
    assert!(s.enabled, "on by default with a vCenter url");
    assert_eq!(s.vcenters, ["vc1"]);

    let c = Config::parse(&format!(
        "{with_vc}[guard]\nenabled = false\ninterval = \"5s\"\ndisable_on_enter = true\nreenable = \"all\"\nexclude = [\"esx-lab-*\"]\ndry_run = true\n"
    ))
    .unwrap();
    let s = GuardSettings::from_config(&c);
    assert!(!s.enabled);
    assert!(s.vcenters.is_empty(), "a disabled guard lists no vCenters");
    assert_eq!(s.interval, Duration::from_secs(5));
    assert_eq!(s.reenable, Reenable::All);
    assert!(s.dry_run && s.disable_on_enter);

    let err = Config::parse("[guard]\nreenable = \"some\"\n").unwrap_err();
    assert!(
        err.to_string().contains("reenable") || err.to_string().contains("some"),
        "{err}"
    );
    let err = Config::parse("[guard]\nbogus = 1\n").unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = Config::parse("[guard]\ninterval = \"0s\"\n").unwrap_err();
    assert!(err.to_string().starts_with("guard.interval"), "{err}");
}
