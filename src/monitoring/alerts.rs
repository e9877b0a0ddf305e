//! The alert life cycle, pure: what an event means for the active-alert
//! table (fire, resolve, entity gone), how an event finds the alert it is
//! about, the label set, and each table transition with whether the target
//! must be told. The store applies `apply` inside the commit that records the
//! event's disposition, so the table and the queued forwards never disagree.
//!
//! Rules, per monitoring target and alert:
//!
//! - **Identity** = vCenter + entity + alarm; never source, status or
//!   severity. An event finds its alert by vCenter, entity (moref when both
//!   sides know it, else the name, case-insensitive) and alarm (moref when
//!   both know it, else the name). Morefs learnt later are kept on the row.
//! - **Labels** (`alertname`, `vcenter`, `entity`, `entity_type` when known)
//!   are frozen when the alert first fires; severity and status are
//!   annotations, so yellow → red updates one alert and the resolve carries
//!   the very labels that fired.
//! - **Red/yellow** fires: a new row, or an update of the firing one; the
//!   target is told unless the event is held (maintenance, silence,
//!   inhibition) — a held alert is tracked and sent when nothing holds it
//!   any more (`release`).
//! - **Green/gray** resolves. A target that was told the alert fired is told
//!   it resolved, held or not: a hold must never leave a stale firing alert.
//!   An alert the target was never told about is forgotten silently. A clear
//!   for an alert not in the table is still passed on to event-by-event
//!   targets (SNMP, CloudEvents) when routed to monitoring and not held (it
//!   may have fired before the table existed); Alertmanager needs none.
//! - **Entity removed** (`vm.removed`, `host.removed`, …) resolves every
//!   alert on the entity; the removal event itself is forwarded like any event.
//! - Events that are not alarm transitions (no alarm, or a status vcgate
//!   cannot read) are one-shot notifications and never enter the table.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::model::{AlarmStatus, Event};
use crate::store::AlertIdentity;
/// The table's transitions live with the store (every backend applies them
/// inside its commit); this module maps events onto them.
pub use crate::store::alerts::{
    Applied, Change, Observation, Step, apply, entity_matches, identity_matches, labels, learn,
    release,
};

/// Event types that mean the entity is gone (its alerts resolve).
pub const ENTITY_REMOVED: &[&str] = &[
    "vm.removed",
    "host.removed",
    "datastore.destroyed",
    "cluster.destroyed",
];

/// The life-cycle meaning of `event`, `None` for one-shot notifications.
pub fn change_for(event: &Event) -> Option<Change> {
    if let Some(alarm) = &event.alarm {
        return match alarm.new_status.as_ref().map(|s| s.status) {
            Some(AlarmStatus::Red | AlarmStatus::Yellow) if alarm.name.is_some() => {
                Some(Change::Fire)
            }
            Some(AlarmStatus::Green | AlarmStatus::Gray) if alarm.name.is_some() => {
                Some(Change::Resolve)
            }
            _ => None,
        };
    }
    (ENTITY_REMOVED.contains(&event.event_type.as_str()) && event.entity.name.is_some())
        .then_some(Change::EntityRemoved)
}

/// The identity an event carries.
pub fn identity_of(event: &Event) -> AlertIdentity {
    let alarm = event.alarm.as_ref();
    AlertIdentity {
        vcenter: event.vcenter.clone(),
        entity_moref: event.entity.moref.as_ref().map(|m| m.to_string()),
        entity_name: event.entity.name.clone().unwrap_or_default(),
        entity_type: event.entity.kind.map(|k| k.name().to_owned()),
        alarm_moref: alarm.and_then(|a| a.moref.as_ref()).map(|m| m.to_string()),
        alarm_name: alarm
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| event.event_type.to_string()),
    }
}

/// Alertmanager's fingerprint stand-in: a stable hash of the label set.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Observation {
    /// `None` for one-shot notifications.
    pub fn of(
        event: &Event,
        now: OffsetDateTime,
        held: Option<String>,
        routed: bool,
    ) -> Option<Self> {
        let change = change_for(event)?;
        let status = event.alarm.as_ref().and_then(|a| a.new_status.as_ref());
        Some(Self {
            change,
            identity: identity_of(event),
            severity: crate::silence::severity(status.map(|s| s.status)).to_owned(),
            status: status.map(|s| s.raw.clone()).unwrap_or_default(),
            summary: event
                .message
                .clone()
                .or_else(|| event.alarm.as_ref().and_then(|a| a.name.clone()))
                .unwrap_or_else(|| event.event_type.to_string()),
            event_id: event.id,
            time: event.time.unwrap_or(event.received_at),
            now,
            held,
            routed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EntityKind, EventType, Moref, Source, StatusText};
    use crate::store::{AlertRow, AlertState, TargetKind};
    use proptest::prelude::*;

    fn event(
        source: Source,
        entity: &str,
        moref: Option<&str>,
        alarm: &str,
        status: &str,
    ) -> Event {
        let mut e = Event::new(source, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some(entity.into());
        e.entity.moref = moref.and_then(Moref::parse);
        e.entity.kind = Some(EntityKind::HostSystem);
        e.alarm = Some(Alarm {
            name: Some(alarm.into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn obs(e: &Event, held: Option<&str>) -> Observation {
        Observation::of(e, e.received_at, held.map(str::to_owned), true).unwrap()
    }

    fn run(kind: TargetKind, row: Option<&AlertRow>, o: &Observation) -> Applied {
        apply(kind, "t", row, o, "k1")
    }

    fn upserted(a: &Applied) -> AlertRow {
        match &a.step {
            Step::Upsert(r) => (**r).clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trap_and_hook_are_one_identity() {
        let trap = identity_of(&event(Source::Snmp, "ESX01", None, "Host down", "Red"));
        let hook = identity_of(&event(
            Source::AlarmHook,
            "esx01",
            Some("host-7"),
            "Host down",
            "Green",
        ));
        assert!(identity_matches(&trap, &hook));
        let renamed = identity_of(&event(
            Source::AlarmHook,
            "esx01-new",
            Some("host-7"),
            "Host down",
            "Red",
        ));
        let learnt = learn(trap.clone(), &hook);
        assert!(identity_matches(&learnt, &renamed), "moref wins once known");
        let other = identity_of(&event(
            Source::AlarmHook,
            "esx01",
            Some("host-8"),
            "Host down",
            "Red",
        ));
        assert!(!identity_matches(&learnt, &other));
        let other_alarm = identity_of(&event(Source::Snmp, "esx01", None, "CPU", "Red"));
        assert!(!identity_matches(&trap, &other_alarm));
    }

    #[test]
    fn labels_never_carry_status_severity_or_source() {
        let l = labels(&identity_of(&event(
            Source::Snmp,
            "esx01",
            None,
            "Host down",
            "Red",
        )));
        assert_eq!(
            l.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alertname", "entity", "entity_type", "vcenter"]
        );
    }

    #[test]
    fn yellow_then_red_updates_one_alert_and_green_resolves_it_with_the_same_labels() {
        let yellow = event(Source::Snmp, "esx01", None, "Host down", "Yellow");
        let a = run(TargetKind::Alertmanager, None, &obs(&yellow, None));
        assert!(a.tell);
        let row = upserted(&a);
        assert_eq!(
            (row.severity.as_str(), row.state),
            ("warning", AlertState::Firing)
        );
        let red = event(
            Source::AlarmHook,
            "esx01",
            Some("host-7"),
            "Host down",
            "Red",
        );
        let row2 = upserted(&run(TargetKind::Alertmanager, Some(&row), &obs(&red, None)));
        assert_eq!(row2.key, row.key);
        assert_eq!(row2.labels, row.labels);
        assert_eq!(row2.severity, "critical");
        assert_eq!(row2.identity.entity_moref.as_deref(), Some("host-7"));
        let green = event(Source::Snmp, "esx01", None, "Host down", "Green");
        let done = run(TargetKind::Alertmanager, Some(&row2), &obs(&green, None));
        let resolved = upserted(&done);
        assert!(done.tell);
        assert_eq!(resolved.state, AlertState::Resolved);
        assert_eq!(resolved.labels, row.labels);
        assert_eq!(resolved.resolved_at, Some(green.received_at));
        // Events targets: the clear is one delivery and the row goes.
        let snmp_row = upserted(&run(TargetKind::Events, None, &obs(&red, None)));
        let clear = run(TargetKind::Events, Some(&snmp_row), &obs(&green, None));
        assert_eq!(
            clear,
            Applied {
                step: Step::Delete,
                tell: true
            }
        );
    }

    #[test]
    fn held_alerts_are_tracked_released_and_resolved_quietly() {
        let red = event(Source::Snmp, "esx01", None, "Host down", "Red");
        let held = run(
            TargetKind::Events,
            None,
            &obs(&red, Some("maintenance:esx01")),
        );
        assert!(!held.tell);
        let row = upserted(&held);
        assert_eq!(row.sent_event_id, None);
        // Green while never told: forgotten, nothing sent.
        let green = event(Source::Snmp, "esx01", None, "Host down", "Green");
        assert_eq!(
            run(
                TargetKind::Events,
                Some(&row),
                &obs(&green, Some("maintenance:esx01"))
            ),
            Applied {
                step: Step::Delete,
                tell: false
            }
        );
        // Released: the latest event is queued once.
        let (released, queue) = release(&row, true);
        assert!(queue && released.held_by.is_none());
        assert!(!release(&released, true).1);
        let (quiet, queue) = release(&row, false);
        assert!(!queue && quiet.sent_event_id.is_none());
        // A told alert's clear goes out even when the clear is held.
        assert!(
            run(
                TargetKind::Events,
                Some(&released),
                &obs(&green, Some("silence:x"))
            )
            .tell
        );
    }

    #[test]
    fn unknown_clears_pass_through_to_event_targets_only() {
        let green = event(Source::Snmp, "esx01", None, "Host down", "Green");
        assert!(run(TargetKind::Events, None, &obs(&green, None)).tell);
        assert!(!run(TargetKind::Alertmanager, None, &obs(&green, None)).tell);
        assert!(!run(TargetKind::Events, None, &obs(&green, Some("silence:x"))).tell);
        let mut unrouted = obs(&green, None);
        unrouted.routed = false;
        assert!(!run(TargetKind::Events, None, &unrouted).tell);
    }

    #[test]
    fn one_shots_and_removals() {
        let mut e = Event::new(
            Source::VcenterEvents,
            "vc1",
            EventType::parse("vm.powered.off").unwrap(),
        );
        e.entity.name = Some("web01".into());
        assert_eq!(change_for(&e), None);
        e.event_type = EventType::parse("vm.removed").unwrap();
        assert_eq!(change_for(&e), Some(Change::EntityRemoved));
        let localized = event(Source::Snmp, "esx01", None, "Host down", "红色");
        assert_eq!(change_for(&localized), None);
        // A removal resolves a told alert in Alertmanager; the NMS gets the removal event itself.
        let red = event(Source::Snmp, "web01", None, "VM CPU", "Red");
        let row = upserted(&run(TargetKind::Alertmanager, None, &obs(&red, None)));
        let removed = Observation::of(&e, e.received_at, None, true).unwrap();
        assert!(entity_matches(&row.identity, &removed.identity));
        let a = run(TargetKind::Alertmanager, Some(&row), &removed);
        assert!(a.tell && upserted(&a).state == AlertState::Resolved);
        assert_eq!(
            run(TargetKind::Events, Some(&row), &removed),
            Applied {
                step: Step::Delete,
                tell: false
            }
        );
    }

    proptest! {
        /// Whatever sequence of statuses and holds arrives, the labels of the
        /// alert never change, a target is told about a resolve exactly when it
        /// was told the alert fired, and only one row exists per identity.
        #[test]
        fn life_cycle_invariants(steps in proptest::collection::vec((0usize..4, proptest::option::of(0usize..2)), 1..30)) {
            let statuses = ["Red", "Yellow", "Green", "Gray"];
            let mut row: Option<AlertRow> = None;
            let mut first_labels: Option<BTreeMap<String, String>> = None;
            for (s, hold) in steps {
                let source = if s % 2 == 0 { Source::Snmp } else { Source::AlarmHook };
                let e = event(source, "esx01", (s == 1).then_some("host-1"), "Host down", statuses[s]);
                let o = obs(&e, hold.map(|h| ["silence:a", "maintenance:esx01"][h]));
                let told_before = row.as_ref().is_some_and(|r| r.state == AlertState::Firing && r.sent_event_id.is_some());
                let a = run(TargetKind::Alertmanager, row.as_ref(), &o);
                if o.change == Change::Resolve {
                    prop_assert_eq!(a.tell, told_before);
                }
                match a.step {
                    Step::Upsert(r) => {
                        let r = *r;
                        if let Some(l) = &first_labels { prop_assert_eq!(&r.labels, l); }
                        first_labels.get_or_insert(r.labels.clone());
                        row = Some(r);
                    }
                    Step::Delete => { row = None; first_labels = None; }
                    Step::Nothing => {}
                }
            }
        }
    }
}
