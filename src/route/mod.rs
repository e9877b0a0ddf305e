//! Routing: which stream an event belongs to — automation, monitoring, both,
//! or nowhere.
//!
//! Pure: ordered `[[route]]` rules, first match wins; an event no rule matches
//! goes to monitoring, because the safe default is never to swallow a real
//! alert. A rule's patterns are an [`EventFilter`] (the rules shared with
//! subscriptions, including how `new_status` matches).
//!
//! Globs are the one dialect of [`crate::filter`] (linear in the text);
//! pattern length and rule count are limited ([`check_glob`], [`MAX_ROUTES`])
//! when the config is loaded or reloaded.

pub mod subscriptions;

use crate::config::{RouteRule, RouteTarget};
use crate::filter::{EventFilter, Subject};
use crate::model::Event;

// Kept at their old paths: the glob dialect lives in `filter`, the limits in `config`.
pub use crate::config::{MAX_ROUTES, MAX_SUBSCRIPTIONS};
pub use crate::filter::{MAX_GLOB_CHARS, check_glob, glob_match, type_matches};

/// The routing decision for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub target: RouteTarget,
    /// The deciding rule's name (`route[N]` when unnamed), or `default`.
    pub rule: String,
}

impl Decision {
    pub fn to_automation(&self) -> bool {
        self.target.to_automation()
    }
    pub fn to_monitoring(&self) -> bool {
        self.target.to_monitoring()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    rules: Vec<RouteRule>,
}

impl Router {
    pub fn new(rules: Vec<RouteRule>) -> Self {
        Self { rules }
    }

    pub fn route(&self, event: &Event) -> Decision {
        let subject = Subject::new(event);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule_filter(rule).matches_subject(&subject) {
                return Decision {
                    target: rule.to,
                    rule: rule.name.clone().unwrap_or_else(|| format!("route[{i}]")),
                };
            }
        }
        Decision {
            target: RouteTarget::Monitoring,
            rule: "default".to_owned(),
        }
    }
}

fn rule_filter(rule: &RouteRule) -> EventFilter<'_> {
    EventFilter {
        source: rule.source.as_deref(),
        event_type: rule.event_type.as_deref(),
        alarm: rule.alarm.as_deref(),
        entity: rule.entity.as_deref(),
        vcenter: rule.vcenter.as_deref(),
        status: rule.new_status.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EventType, Source, StatusText};
    use proptest::prelude::*;

    fn rule(to: RouteTarget) -> RouteRule {
        RouteRule {
            name: None,
            source: None,
            event_type: None,
            alarm: None,
            entity: None,
            new_status: None,
            vcenter: None,
            to,
        }
    }

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

    #[test]
    fn type_rules_match_veba_names_too() {
        let mut veba = rule(RouteTarget::Automation);
        veba.event_type = Some("com.vmware.vsphere.AlarmStatusChangedEvent.v0".into());
        let mut class = rule(RouteTarget::Drop);
        class.event_type = Some("VmPoweredOnEvent".into());
        let router = Router::new(vec![veba, class]);
        let alarm = alarm_event("Host down", "esx1", "Red");
        assert_eq!(router.route(&alarm).target, RouteTarget::Automation);
        let on = Event::new(
            Source::Api,
            "vc1",
            EventType::parse("vm.powered.on").unwrap(),
        );
        assert_eq!(router.route(&on).target, RouteTarget::Drop);
        let off = Event::new(
            Source::Api,
            "vc1",
            EventType::parse("vm.powered.off").unwrap(),
        );
        assert_eq!(router.route(&off).target, RouteTarget::Monitoring);
    }

    #[test]
    fn first_match_wins_and_default_is_monitoring() {
        let mut automation = rule(RouteTarget::Automation);
        automation.alarm = Some("VM created*".into());
        let mut drop_green = rule(RouteTarget::Drop);
        drop_green.new_status = Some("green".into());
        let router = Router::new(vec![automation, drop_green]);
        assert_eq!(
            router
                .route(&alarm_event("VM created", "vm1", "Green"))
                .target,
            RouteTarget::Automation
        );
        assert_eq!(
            router
                .route(&alarm_event("Host down", "esx1", "GREEN"))
                .target,
            RouteTarget::Drop
        );
        let d = router.route(&alarm_event("Host down", "esx1", "Red"));
        assert_eq!(d.target, RouteTarget::Monitoring);
        assert_eq!(d.rule, "default");
    }

    #[test]
    fn missing_field_does_not_match_a_pattern() {
        let mut r = rule(RouteTarget::Automation);
        r.alarm = Some("*".into());
        let router = Router::new(vec![r]);
        let plain = Event::new(Source::Api, "vc1", EventType::parse("vm.created").unwrap());
        assert_eq!(router.route(&plain).target, RouteTarget::Monitoring);
    }

    proptest! {
        #[test]
        fn unmatched_events_go_to_monitoring(alarm in "[a-z]{1,10}") {
            let mut r = rule(RouteTarget::Automation);
            r.alarm = Some("NEVER-MATCHES".into());
            let router = Router::new(vec![r]);
            prop_assert_eq!(router.route(&alarm_event(&alarm, "x", "Red")).target, RouteTarget::Monitoring);
        }
    }
}
