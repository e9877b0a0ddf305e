//! Silences: hold back *monitoring* traffic — never automation — for what is
//! in maintenance, for manual silences (Alertmanager-style matchers and time
//! range), and for inhibited alerts (a VM alert while its host is down).
//!
//! Owns: the pure hold decision (`decide`), the silence model and matchers,
//! the maintenance view (`maintenance.rs`: which hosts are in maintenance and
//! what runs on them, from maintenance events of any source and confirmed by
//! polling vCenter), and inhibition state. The pipeline asks `Silencer::hold`
//! for every event routed to monitoring; a held event is still stored, still
//! deduplicated and still sent to automation, and records what held it.

pub mod maintenance;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::InhibitRule;
use crate::model::{AlarmStatus, EntityKind, Event};
use crate::route::glob_match;
pub use maintenance::{MaintenanceView, SharedMaintenance};

/// Matcher names a silence may use.
pub const MATCHER_NAMES: &[&str] = &["vcenter", "type", "alarm", "entity", "status", "source"];

/// One matcher: `name` is one of `MATCHER_NAMES`, `value` a glob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    /// Alertmanager's flag; only `false` is accepted (values are globs).
    #[serde(default)]
    pub is_regex: bool,
}

/// A manual silence, Alertmanager's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now: OffsetDateTime) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Every matcher must match; a matcher on a field the event lacks does not.
    pub fn matches(&self, event: &Event) -> bool {
        self.matchers.iter().all(|m| matcher_matches(m, event))
    }

    /// Checks a silence submitted through the API.
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        for m in &self.matchers {
            if m.is_regex {
                return Err(format!(
                    "matcher {:?}: regex matchers are not supported; values are globs (* and ?)",
                    m.name
                ));
            }
            if !MATCHER_NAMES.contains(&m.name.as_str()) {
                return Err(format!(
                    "matcher name {:?} is not one of {}",
                    m.name,
                    MATCHER_NAMES.join(", ")
                ));
            }
        }
        if self.ends_at <= self.starts_at {
            return Err("endsAt must be after startsAt".into());
        }
        Ok(())
    }
}

fn matcher_matches(m: &Matcher, event: &Event) -> bool {
    let alarm = event.alarm.as_ref();
    let value = |v: Option<&str>| v.is_some_and(|v| glob_match(&m.value, v));
    match m.name.as_str() {
        "vcenter" => value(Some(&event.vcenter)),
        "type" => value(Some(event.event_type.as_str())),
        "alarm" => value(alarm.and_then(|a| a.name.as_deref())),
        "entity" => value(event.entity.name.as_deref()),
        "source" => value(Some(event.source.as_str())),
        "status" => alarm.and_then(|a| a.new_status.as_ref()).is_some_and(|s| {
            glob_match(&m.value.to_ascii_lowercase(), s.status.as_str())
                || glob_match(&m.value, &s.raw)
        }),
        _ => false,
    }
}

/// What held an event back from monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The entity is a host in maintenance, or runs on / is stored on one.
    Maintenance {
        host: String,
    },
    Silence {
        id: String,
    },
    Inhibited {
        rule: String,
        by: String,
    },
}

impl Hold {
    /// Stable label stored on the event (`maintenance:esx01`, `silence:<id>`, `inhibit:<rule>`).
    pub fn label(&self) -> String {
        match self {
            Hold::Maintenance { host } => format!("maintenance:{host}"),
            Hold::Silence { id } => format!("silence:{id}"),
            Hold::Inhibited { rule, .. } => format!("inhibit:{rule}"),
        }
    }

    /// Counter family (`held.maintenance`, `held.silence`, `held.inhibit`).
    pub fn reason(&self) -> &'static str {
        match self {
            Hold::Maintenance { .. } => "maintenance",
            Hold::Silence { .. } => "silence",
            Hold::Inhibited { .. } => "inhibit",
        }
    }
}

/// An alert that is currently firing (last seen status not green/gray),
/// keyed by (vcenter, entity name, alarm name).
type AlertKey = (String, String, String);

/// The pure decision: maintenance first, then manual silences, then inhibition.
pub fn decide(
    event: &Event,
    now: OffsetDateTime,
    maintenance: Option<&MaintenanceView>,
    silences: &[Silence],
    inhibit: &[InhibitRule],
    firing: &HashMap<AlertKey, AlarmStatus>,
) -> Option<Hold> {
    if let Some(view) = maintenance
        && let Some(host) = view.host_in_maintenance_for(event)
    {
        return Some(Hold::Maintenance { host });
    }
    if let Some(s) = silences
        .iter()
        .find(|s| s.state(now) == SilenceState::Active && s.matches(event))
    {
        return Some(Hold::Silence { id: s.id.clone() });
    }
    // Inhibition: an alert on a VM while its host has a firing source alert.
    if event.entity.kind == Some(EntityKind::VirtualMachine)
        && let Some(view) = maintenance
        && let Some(host) = view.host_of_vm(event)
    {
        for rule in inhibit {
            let firing_on_host = firing.iter().any(|((vc, entity, alarm), status)| {
                vc == &event.vcenter
                    && entity.eq_ignore_ascii_case(&host)
                    && glob_match(&rule.source_alarm, alarm)
                    && glob_match(&rule.source_status.to_ascii_lowercase(), status.as_str())
            });
            if firing_on_host {
                return Some(Hold::Inhibited {
                    rule: rule.name.clone(),
                    by: host,
                });
            }
        }
    }
    None
}

/// Live silence state shared by the pipeline (reads) and the API (writes).
#[derive(Clone, Default)]
pub struct Silencer {
    silences: Arc<RwLock<Vec<Silence>>>,
    maintenance: Option<SharedMaintenance>,
    inhibit: Arc<Vec<InhibitRule>>,
    firing: Arc<RwLock<HashMap<AlertKey, AlarmStatus>>>,
}

impl Silencer {
    pub fn new(
        silences: Vec<Silence>,
        maintenance: Option<SharedMaintenance>,
        inhibit: Vec<InhibitRule>,
    ) -> Self {
        Self {
            silences: Arc::new(RwLock::new(silences)),
            maintenance,
            inhibit: Arc::new(inhibit),
            firing: Arc::default(),
        }
    }

    pub fn maintenance(&self) -> Option<&SharedMaintenance> {
        self.maintenance.as_ref()
    }

    /// Replaces the silence list (after the store changed).
    pub fn set_silences(&self, silences: Vec<Silence>) {
        *self.silences.write().unwrap_or_else(|p| p.into_inner()) = silences;
    }

    pub fn silences(&self) -> Vec<Silence> {
        self.silences
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tracks alert state (for inhibition) and maintenance events, in arrival
    /// order; call for every non-duplicate event before `hold`.
    pub fn observe(&self, event: &Event) {
        if let (Some(alarm), Some(entity)) = (&event.alarm, &event.entity.name)
            && let (Some(name), Some(status)) = (&alarm.name, &alarm.new_status)
        {
            let key = (event.vcenter.clone(), entity.to_lowercase(), name.clone());
            let mut firing = self.firing.write().unwrap_or_else(|p| p.into_inner());
            match status.status {
                AlarmStatus::Green | AlarmStatus::Gray => {
                    firing.remove(&key);
                }
                other => {
                    if firing.len() < 100_000 {
                        firing.insert(key, other);
                    }
                }
            }
        }
        if let Some(m) = &self.maintenance {
            m.observe_event(event);
        }
    }

    pub fn hold(&self, event: &Event, now: OffsetDateTime) -> Option<Hold> {
        let silences = self.silences.read().unwrap_or_else(|p| p.into_inner());
        let firing = self.firing.read().unwrap_or_else(|p| p.into_inner());
        let view = self.maintenance.as_ref().map(|m| m.snapshot());
        decide(
            event,
            now,
            view.as_deref(),
            &silences,
            &self.inhibit,
            &firing,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EventType, Source, StatusText};

    fn alarm(entity: &str, kind: EntityKind, name: &str, status: &str) -> Event {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some(entity.into());
        e.entity.kind = Some(kind);
        e.alarm = Some(Alarm {
            name: Some(name.into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
    }

    fn silence(matchers: &[(&str, &str)], from: i64, to: i64) -> Silence {
        Silence {
            id: "s1".into(),
            matchers: matchers
                .iter()
                .map(|(n, v)| Matcher {
                    name: (*n).into(),
                    value: (*v).into(),
                    is_regex: false,
                })
                .collect(),
            starts_at: at(from),
            ends_at: at(to),
            created_by: "me".into(),
            comment: String::new(),
        }
    }

    #[test]
    fn silences_hold_only_matching_events_while_active() {
        let s = silence(&[("alarm", "alarm.Datastore*"), ("status", "red")], 0, 100);
        let ds = alarm(
            "ds1",
            EntityKind::Datastore,
            "alarm.DatastoreDiskUsageAlarm",
            "Red",
        );
        let other = alarm(
            "ds1",
            EntityKind::Datastore,
            "alarm.HostConnectionStateAlarm",
            "Red",
        );
        let none = HashMap::new();
        assert_eq!(
            decide(&ds, at(50), None, std::slice::from_ref(&s), &[], &none),
            Some(Hold::Silence { id: "s1".into() })
        );
        assert_eq!(
            decide(&other, at(50), None, std::slice::from_ref(&s), &[], &none),
            None
        );
        assert_eq!(
            decide(&ds, at(-1), None, std::slice::from_ref(&s), &[], &none),
            None,
            "pending"
        );
        assert_eq!(
            decide(&ds, at(100), None, std::slice::from_ref(&s), &[], &none),
            None,
            "expired"
        );
        let green = alarm(
            "ds1",
            EntityKind::Datastore,
            "alarm.DatastoreDiskUsageAlarm",
            "Green",
        );
        assert_eq!(decide(&green, at(50), None, &[s], &[], &none), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut s = silence(&[("alarm", "x")], 0, 10);
        assert!(s.validate().is_ok());
        s.matchers[0].name = "bogus".into();
        assert!(s.validate().unwrap_err().contains("bogus"));
        s.matchers[0].name = "alarm".into();
        s.matchers[0].is_regex = true;
        assert!(s.validate().unwrap_err().contains("regex"));
        let backwards = silence(&[("alarm", "x")], 10, 0);
        assert!(backwards.validate().unwrap_err().contains("endsAt"));
        assert!(silence(&[], 0, 10).validate().is_err());
    }

    #[test]
    fn inhibition_hides_vm_alerts_while_the_host_alert_fires() {
        let mut view = MaintenanceView::default();
        view.set_vm("vc1", "vm-1", "web01", "host-1");
        view.set_host("vc1", "host-1", "esx01", false);
        let rule = InhibitRule {
            name: "host-down".into(),
            source_alarm: "alarm.HostConnectionStateAlarm".into(),
            source_status: "red".into(),
        };
        let mut firing = HashMap::new();
        let vm_alert = alarm(
            "web01",
            EntityKind::VirtualMachine,
            "alarm.VmCPUUsageAlarm",
            "Red",
        );
        assert_eq!(
            decide(
                &vm_alert,
                at(0),
                Some(&view),
                &[],
                std::slice::from_ref(&rule),
                &firing
            ),
            None
        );
        firing.insert(
            (
                "vc1".into(),
                "esx01".into(),
                "alarm.HostConnectionStateAlarm".into(),
            ),
            AlarmStatus::Red,
        );
        assert_eq!(
            decide(&vm_alert, at(0), Some(&view), &[], &[rule], &firing),
            Some(Hold::Inhibited {
                rule: "host-down".into(),
                by: "esx01".into()
            })
        );
    }

    #[test]
    fn silencer_tracks_firing_alerts() {
        let s = Silencer::new(vec![], None, vec![]);
        s.observe(&alarm(
            "esx01",
            EntityKind::HostSystem,
            "alarm.HostConnectionStateAlarm",
            "Red",
        ));
        assert_eq!(s.firing.read().unwrap().len(), 1);
        s.observe(&alarm(
            "ESX01",
            EntityKind::HostSystem,
            "alarm.HostConnectionStateAlarm",
            "Green",
        ));
        assert!(s.firing.read().unwrap().is_empty());
    }
}
