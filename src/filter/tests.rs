use proptest::prelude::*;

use super::*;
use crate::config::{RouteRule, RouteTarget, SubscriptionConfig};
use crate::model::{Alarm, EventType, Source};
use crate::route::Router;
use crate::route::subscriptions::subscription_matches;

fn alarm_event(alarm: &str, entity: &str, status: &str) -> Event {
    let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
    e.entity.name = Some(entity.into());
    e.alarm = Some(Alarm {
        name: Some(alarm.into()),
        new_status: Some(StatusText::parse(status)),
        ..Alarm::default()
    });
    e
}

fn status(pattern: &str) -> EventFilter<'_> {
    EventFilter {
        status: Some(pattern),
        ..EventFilter::default()
    }
}

#[test]
fn the_empty_filter_matches_everything_and_a_missing_field_nothing() {
    let plain = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
    assert!(EventFilter::default().matches(&plain));
    for field in [Field::Alarm, Field::Entity, Field::Status] {
        assert!(!field.matches("*", &plain), "{field:?}");
    }
    assert!(Field::Vcenter.matches("vc?", &plain));
    assert!(Field::Source.matches("api", &plain));
    assert!(Field::Type.matches("vm.*", &plain));
    assert!(
        Field::Type.matches("VmCreatedEvent", &plain),
        "the vSphere class"
    );
}

#[test]
fn every_given_field_must_match() {
    let e = alarm_event("Host down", "esx1", "Red");
    let f = EventFilter {
        alarm: Some("Host*"),
        entity: Some("esx?"),
        vcenter: Some("vc1"),
        ..EventFilter::default()
    };
    assert!(f.matches(&e));
    assert!(
        !EventFilter {
            entity: Some("esx2"),
            ..f
        }
        .matches(&e)
    );
}

#[test]
fn status_matches_the_colour_in_any_case_or_the_raw_text_as_written() {
    let red = alarm_event("a", "e", "Red");
    assert!(status("red").matches(&red));
    assert!(status("RED").matches(&red));
    assert!(status("Red").matches(&red), "raw");
    assert!(!status("yellow").matches(&red));
    let localized = alarm_event("a", "e", "红色");
    assert!(status("红色").matches(&localized));
    assert!(status("红*").matches(&localized));
}

#[test]
fn an_unknown_status_has_no_colour_name_only_its_raw_text() {
    let localized = alarm_event("a", "e", "红色");
    assert_eq!(
        status_names(
            localized
                .alarm
                .as_ref()
                .unwrap()
                .new_status
                .as_ref()
                .unwrap()
        ),
        [None, Some("红色")]
    );
    assert!(!status("unknown").matches(&localized));
    assert!(!status("unk*").matches(&localized));
    assert!(status("*").matches(&localized), "any status at all");
    // Raw text that happens to read "unknown" is still the raw text.
    assert!(status("unknown").matches(&alarm_event("a", "e", "unknown")));
}

fn route_rule(alarm: Option<String>, entity: Option<String>, status: Option<String>) -> RouteRule {
    RouteRule {
        name: None,
        source: None,
        event_type: None,
        alarm,
        entity,
        new_status: status,
        vcenter: None,
        to: RouteTarget::Automation,
    }
}

fn subscription(
    alarm: Option<String>,
    entity: Option<String>,
    status: Option<String>,
) -> SubscriptionConfig {
    SubscriptionConfig {
        name: "s".into(),
        event_type: "*".into(),
        function: "f".into(),
        vcenter: None,
        entity,
        alarm,
        status,
        event_format: None,
    }
}

proptest! {
    /// Routes and subscriptions with the same patterns select the same
    /// events (they disagreed on `Unknown` before there was one filter).
    #[test]
    fn routes_and_subscriptions_agree(
        alarm in proptest::option::of("[ab*?]{0,4}"),
        entity in proptest::option::of("[ab*?]{0,4}"),
        status in proptest::option::of(prop_oneof![
            Just("red".to_owned()), Just("RED".to_owned()), Just("unknown".to_owned()),
            Just("*".to_owned()), Just("gr*".to_owned()), "[a-z红色?*]{0,4}",
        ]),
        event_alarm in "[ab]{0,3}",
        event_entity in "[ab]{0,3}",
        event_status in prop_oneof![
            Just("red"), Just("Green"), Just("YELLOW"), Just("gray"), Just("红色"), Just("unknown"), Just(""),
        ],
    ) {
        let e = alarm_event(&event_alarm, &event_entity, event_status);
        let filter = EventFilter {
            alarm: alarm.as_deref(),
            entity: entity.as_deref(),
            status: status.as_deref(),
            ..EventFilter::default()
        };
        let routed = Router::new(vec![route_rule(alarm.clone(), entity.clone(), status.clone())])
            .route(&e)
            .target
            == RouteTarget::Automation;
        let subscribed = subscription_matches(&subscription(alarm.clone(), entity.clone(), status.clone()), &e);
        prop_assert_eq!(routed, filter.matches(&e));
        prop_assert_eq!(subscribed, filter.matches(&e));
    }

    /// A filter is the conjunction of its fields, each one glob.
    #[test]
    fn a_filter_is_the_conjunction_of_its_fields(
        alarm in proptest::option::of("[ab*?]{0,4}"),
        vcenter in proptest::option::of("[vc1*?]{0,4}"),
        event_alarm in "[ab]{0,3}",
    ) {
        let e = alarm_event(&event_alarm, "e", "red");
        let filter = EventFilter { alarm: alarm.as_deref(), vcenter: vcenter.as_deref(), ..EventFilter::default() };
        let expected = alarm.as_deref().is_none_or(|p| glob_match(p, &event_alarm))
            && vcenter.as_deref().is_none_or(|p| glob_match(p, "vc1"));
        prop_assert_eq!(filter.matches(&e), expected);
    }
}

#[test]
fn one_reading_of_every_field() {
    let values = |field: Field, e: &Event| {
        field
            .values(e)
            .iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut e = alarm_event("Host down", "esx1", "Red");
    e.entity.kind = Some(crate::model::EntityKind::HostSystem);
    assert_eq!(values(Field::Alertname, &e), ["Host down"]);
    assert_eq!(values(Field::EntityType, &e), ["HostSystem"]);
    assert_eq!(values(Field::Severity, &e), ["critical"]);
    assert_eq!(values(Field::Status, &e), ["red", "Red"]);
    assert_eq!(values(Field::EventType, &e), ["alarm.status.changed"]);
    assert_eq!(
        values(Field::Type, &e),
        [
            "alarm.status.changed",
            "AlarmStatusChangedEvent",
            "com.vmware.vsphere.AlarmStatusChangedEvent.v0"
        ]
    );
    let plain = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
    assert_eq!(
        values(Field::Alertname, &plain),
        ["vm.created"],
        "no alarm: the type"
    );
    assert_eq!(values(Field::Severity, &plain), ["info"]);
    for field in [
        Field::Alarm,
        Field::Entity,
        Field::EntityType,
        Field::Status,
    ] {
        assert!(field.values(&plain).is_empty(), "{field:?}");
    }
}

#[test]
fn a_subject_shared_by_many_filters_answers_as_each_alone() {
    let powered_on = Event::new(
        Source::Api,
        "vc1",
        EventType::parse("vm.powered.on").unwrap(),
    );
    let alarm = alarm_event("alarm.HostConnectionStateAlarm", "esx1", "red");
    let patterns = [
        "vm.powered.on",
        "vm.*",
        "VmPoweredOnEvent",
        "com.vmware.vsphere.VmPoweredOnEvent.v0",
        "com.vmware.vsphere.*",
        "AlarmStatusChangedEvent",
        "host.*",
        "*Event",
    ];
    for event in [&powered_on, &alarm] {
        // One subject for every pattern, in both orders: the cached names
        // must not depend on which pattern asked first.
        for order in [patterns.to_vec(), patterns.iter().rev().copied().collect()] {
            let subject = Subject::new(event);
            for pattern in order {
                let filter = EventFilter {
                    event_type: Some(pattern),
                    ..EventFilter::default()
                };
                assert_eq!(
                    filter.matches_subject(&subject),
                    filter.matches(event),
                    "{pattern} on {}",
                    event.event_type.as_str()
                );
            }
        }
    }
    let subject = Subject::new(&powered_on);
    assert!(Field::Type.matches_subject("com.vmware.vsphere.VmPoweredOnEvent.v0", &subject));
    assert!(Field::Type.matches_subject("VmPoweredOnEvent", &subject));
    assert!(!Field::Type.matches_subject("host.*", &subject));
}
