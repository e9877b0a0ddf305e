//! What the pipeline does with one event, given the dedup verdict, the
//! settings snapshot of its batch, the silences and the clock. Pure: no
//! store, no metrics, no wake-ups (the stage loop in `mod.rs` does those).
//!
//! Rules, in order:
//! 1. A duplicate is merged into its original: no route, no runs, no
//!    forward, no alert change.
//! 2. Otherwise the first matching `[[route]]` decides (default: monitoring).
//! 3. Routed to automation: a run per matching `[[subscription]]`.
//! 4. Routed to monitoring: a silence, inhibit rule or maintenance hold may
//!    hold it (it is then recorded as held and forwarded nowhere).
//! 5. With monitoring targets, an alarm transition becomes an observation
//!    for the active-alert table — also when it was not routed to
//!    monitoring, so a target told an alert fired hears it clear.
//! 6. Everything else routed to monitoring, unheld, is a one-shot forward
//!    to every target (as is an entity-removed observation).

use time::OffsetDateTime;

use crate::dedup::Verdict;
use crate::model::Event;
use crate::monitoring::alerts::{Change, Observation};
use crate::settings::Settings;
use crate::silence::{Hold, Silencer};
use crate::store::{AlertInput, Disposition, ProcessedEvent, TargetKind};

/// The decision for one event.
#[derive(Debug)]
pub struct Decision {
    /// What the store records in the batch's commit (`updated` is left
    /// `None`: enrichment is the loop's business).
    pub processed: ProcessedEvent,
    /// The hold that kept it from monitoring, if any (for the metric).
    pub held: Option<Hold>,
}

/// Decides one event; see the module doc for the rules.
pub fn decide(
    event: &Event,
    verdict: Verdict,
    settings: &Settings,
    silencer: &Silencer,
    targets: &[(String, TargetKind)],
    now: OffsetDateTime,
) -> Decision {
    if let Verdict::Duplicate { original } = verdict {
        return Decision {
            processed: ProcessedEvent {
                id: event.id,
                disposition: Disposition {
                    duplicate_of: Some(original),
                    route: None,
                    rule: None,
                    forward_to: Vec::new(),
                    subscriptions: Vec::new(),
                    held_by: None,
                },
                merge_into: Some(original),
                seen_at: event.received_at,
                runs: Vec::new(),
                updated: None,
                alert: None,
            },
            held: None,
        };
    }
    let route = settings.router.route(event);
    let runs = if route.to_automation() {
        settings.registry.runs_for(event)
    } else {
        Vec::new()
    };
    let held = if route.to_monitoring() {
        silencer.hold(event, now)
    } else {
        None
    };
    let held_label = held.as_ref().map(Hold::label);
    let alert = (!targets.is_empty())
        .then(|| Observation::of(event, now, held_label.clone(), route.to_monitoring()))
        .flatten()
        .map(|observation| AlertInput {
            observation,
            targets: targets.to_vec(),
        });
    let one_shot = alert
        .as_ref()
        .is_none_or(|a| a.observation.change == Change::EntityRemoved);
    let forward_to = if route.to_monitoring() && held.is_none() && one_shot {
        targets.iter().map(|(t, _)| t.clone()).collect()
    } else {
        Vec::new()
    };
    Decision {
        processed: ProcessedEvent {
            id: event.id,
            disposition: Disposition {
                duplicate_of: None,
                route: Some(route.target),
                rule: Some(route.rule),
                forward_to,
                subscriptions: runs.iter().map(|r| r.subscription.clone()).collect(),
                held_by: held_label,
            },
            merge_into: None,
            seen_at: event.received_at,
            runs,
            updated: None,
            alert,
        },
        held,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::config::{Config, RouteTarget};
    use crate::model::{Alarm, EventId, EventType, Source, StatusText};

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn settings(toml: &str) -> Settings {
        Settings::from_config(&Config::parse(toml).unwrap()).unwrap()
    }

    fn alarm(name: &str, status: &str) -> Event {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some("vm1".into());
        e.alarm = Some(Alarm {
            name: Some(name.into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn plain(event_type: &str) -> Event {
        Event::new(Source::Api, "vc1", EventType::parse(event_type).unwrap())
    }

    fn nms() -> Vec<(String, TargetKind)> {
        vec![("nms".to_owned(), TargetKind::Events)]
    }

    #[test]
    fn a_duplicate_is_merged_and_goes_nowhere() {
        let original = EventId::new();
        let e = alarm("Host down", "red");
        let d = decide(
            &e,
            Verdict::Duplicate { original },
            &settings(""),
            &Silencer::default(),
            &nms(),
            NOW,
        );
        let p = d.processed;
        assert_eq!(p.merge_into, Some(original));
        assert_eq!(p.disposition.duplicate_of, Some(original));
        assert_eq!(p.disposition.route, None);
        assert!(p.disposition.forward_to.is_empty() && p.runs.is_empty() && p.alert.is_none());
        assert!(d.held.is_none());
    }

    #[test]
    fn unrouted_events_are_forwarded_once_to_every_target() {
        let d = decide(
            &plain("vm.powered.on"),
            Verdict::New,
            &settings(""),
            &Silencer::default(),
            &nms(),
            NOW,
        );
        let disposition = d.processed.disposition;
        assert_eq!(disposition.route, Some(RouteTarget::Monitoring));
        assert_eq!(disposition.rule.as_deref(), Some("default"));
        assert_eq!(disposition.forward_to, ["nms"]);
        assert!(d.processed.alert.is_none(), "not an alarm transition");
    }

    #[test]
    fn without_targets_nothing_is_forwarded_and_no_alert_is_kept() {
        let d = decide(
            &alarm("Host down", "red"),
            Verdict::New,
            &settings(""),
            &Silencer::default(),
            &[],
            NOW,
        );
        assert!(d.processed.disposition.forward_to.is_empty());
        assert!(d.processed.alert.is_none());
    }

    #[test]
    fn alarm_transitions_go_through_the_alert_table_not_one_shot_forwards() {
        let d = decide(
            &alarm("Host down", "red"),
            Verdict::New,
            &settings(""),
            &Silencer::default(),
            &nms(),
            NOW,
        );
        let alert = d.processed.alert.expect("an observation");
        assert_eq!(alert.targets, nms());
        assert!(d.processed.disposition.forward_to.is_empty());
    }

    #[test]
    fn automation_routes_queue_the_matching_subscriptions_only() {
        let s = settings(
            "[[route]]\nalarm = \"VM created*\"\nto = \"automation\"\n\n\
             [[function]]\nname = \"f\"\nkind = \"command\"\ncommand = [\"true\"]\n\n\
             [[subscription]]\nname = \"hit\"\nevent_type = \"*\"\nfunction = \"f\"\nalarm = \"VM created\"\n\n\
             [[subscription]]\nname = \"miss\"\nevent_type = \"*\"\nfunction = \"f\"\nstatus = \"green\"\n",
        );
        let d = decide(
            &alarm("VM created", "red"),
            Verdict::New,
            &s,
            &Silencer::default(),
            &nms(),
            NOW,
        );
        let p = d.processed;
        assert_eq!(p.disposition.route, Some(RouteTarget::Automation));
        assert_eq!(p.disposition.subscriptions, ["hit"]);
        assert_eq!(p.runs.len(), 1);
        assert_eq!(p.runs[0].function, "f");
        assert!(p.disposition.forward_to.is_empty(), "automation only");
        // The alert table still hears the transition (so a clear reaches a
        // target that heard the alert fire).
        assert!(p.alert.is_some());
    }

    #[test]
    fn dropped_events_run_nothing_and_forward_nothing() {
        let s = settings("[[route]]\ntype = \"vm.*\"\nto = \"drop\"\n");
        let d = decide(
            &plain("vm.powered.on"),
            Verdict::New,
            &s,
            &Silencer::default(),
            &nms(),
            NOW,
        );
        let p = d.processed;
        assert_eq!(p.disposition.route, Some(RouteTarget::Drop));
        assert!(p.runs.is_empty() && p.disposition.forward_to.is_empty());
    }
}
