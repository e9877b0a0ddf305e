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

mod firing;
pub mod maintenance;
pub mod matcher;

use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use crate::config::InhibitRule;
use crate::filter::glob_match;
use crate::model::{EntityKind, Event};
pub use firing::FiringAlerts;
pub use maintenance::{MaintenanceView, SharedMaintenance};

/// The stored silence and Alertmanager's update rule live with the store
/// (a backend applies the rule inside its transaction).
pub use crate::store::silences::{Silence, SilenceState, Upsert, upsert};
pub use matcher::{Matcher, severity};

/// Longest `comment`, in bytes.
pub const MAX_COMMENT_LEN: usize = 4096;
/// Longest `createdBy`, in bytes.
pub const MAX_CREATED_BY_LEN: usize = 256;

impl Silence {
    /// Checks a silence submitted through the API: matchers (names, limits,
    /// regexes), lengths and the time range. The message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        matcher::compile_all(&self.matchers)?;
        if self.comment.len() > MAX_COMMENT_LEN {
            return Err(format!(
                "comment is longer than {MAX_COMMENT_LEN} bytes (limit max_comment_length)"
            ));
        }
        if self.created_by.len() > MAX_CREATED_BY_LEN {
            return Err(format!(
                "createdBy is longer than {MAX_CREATED_BY_LEN} bytes (limit max_created_by_length)"
            ));
        }
        if self.ends_at <= self.starts_at {
            return Err("endsAt must be after startsAt".into());
        }
        Ok(())
    }
}

/// A silence with its matchers compiled (what the pipeline evaluates).
#[derive(Debug, Clone)]
pub struct CompiledSilence {
    pub silence: Silence,
    matchers: Vec<matcher::Compiled>,
}

impl CompiledSilence {
    /// `None` when a stored silence no longer compiles (logged by the caller).
    pub fn new(silence: Silence) -> Result<Self, String> {
        let matchers = matcher::compile_all(&silence.matchers)?;
        Ok(Self { silence, matchers })
    }

    /// Every matcher must match.
    pub fn matches(&self, event: &Event) -> bool {
        self.matchers.iter().all(|m| m.matches(event))
    }
}

/// Alertmanager's order for listing: active (ending first), pending
/// (starting first), then expired (most recently ended first).
pub fn sort_for_listing(silences: &mut [Silence], now: OffsetDateTime) {
    silences.sort_by(|a, b| {
        let rank = |s: &Silence| match s.state(now) {
            SilenceState::Active => 0,
            SilenceState::Pending => 1,
            SilenceState::Expired => 2,
        };
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
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

/// The pure decision: maintenance first, then manual silences, then inhibition.
pub fn decide(
    event: &Event,
    now: OffsetDateTime,
    maintenance: Option<&MaintenanceView>,
    silences: &[CompiledSilence],
    inhibit: &[InhibitRule],
    firing: &FiringAlerts,
) -> Option<Hold> {
    if let Some(view) = maintenance
        && let Some(host) = view.host_in_maintenance_for(event)
    {
        return Some(Hold::Maintenance { host });
    }
    if let Some(s) = silences
        .iter()
        .find(|s| s.silence.state(now) == SilenceState::Active && s.matches(event))
    {
        return Some(Hold::Silence {
            id: s.silence.id.clone(),
        });
    }
    // Inhibition: an alert on a VM while its host has a firing source alert.
    if event.entity.kind == Some(EntityKind::VirtualMachine)
        && let Some(view) = maintenance
        && let Some(host) = view.host_of_vm(event)
    {
        for rule in inhibit {
            let firing_on_host = firing
                .on_entity(&event.vcenter, &host)
                .any(|(alarm, status)| {
                    glob_match(&rule.source_alarm, alarm)
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

/// Compiles stored silences; one that no longer compiles (a limit lowered
/// since it was stored) is skipped with a warning rather than holding nothing
/// or everything.
fn compile_stored(silences: Vec<Silence>) -> Vec<CompiledSilence> {
    silences
        .into_iter()
        .filter_map(|s| {
            let id = s.id.clone();
            CompiledSilence::new(s)
                .map_err(|e| tracing::warn!(silence = %id, error = %e, "stored silence ignored"))
                .ok()
        })
        .collect()
}

/// Live silence state shared by the pipeline (reads) and the API (writes).
#[derive(Clone, Default)]
pub struct Silencer {
    silences: Arc<RwLock<Vec<CompiledSilence>>>,
    maintenance: Option<SharedMaintenance>,
    inhibit: Arc<Vec<InhibitRule>>,
    firing: Arc<RwLock<FiringAlerts>>,
}

impl Silencer {
    pub fn new(
        silences: Vec<Silence>,
        maintenance: Option<SharedMaintenance>,
        inhibit: Vec<InhibitRule>,
    ) -> Self {
        Self {
            silences: Arc::new(RwLock::new(compile_stored(silences))),
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
        *self.silences.write().unwrap_or_else(|p| p.into_inner()) = compile_stored(silences);
    }

    pub fn silences(&self) -> Vec<Silence> {
        self.silences
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|c| c.silence.clone())
            .collect()
    }

    /// Tracks alert state (for inhibition) and maintenance events, in arrival
    /// order; call for every non-duplicate event before `hold`. Without
    /// inhibit rules (fixed at start) nothing reads the firing alerts, so
    /// they are not kept.
    pub fn observe(&self, event: &Event) {
        if !self.inhibit.is_empty()
            && let (Some(alarm), Some(entity)) = (&event.alarm, &event.entity.name)
            && let (Some(name), Some(status)) = (&alarm.name, &alarm.new_status)
        {
            self.firing
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .observe(&event.vcenter, entity, name, status.status);
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
    use crate::model::AlarmStatus;
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

    /// A v1-style silence: glob values.
    fn silence(matchers: &[(&str, &str)], from: i64, to: i64) -> Silence {
        Silence {
            id: "s1".into(),
            matchers: matchers
                .iter()
                .map(|(n, v)| Matcher {
                    glob: true,
                    ..Matcher::new(n, v, false, true)
                })
                .collect(),
            starts_at: at(from),
            ends_at: at(to),
            created_by: "me".into(),
            comment: String::new(),
            updated_at: None,
        }
    }

    #[test]
    fn upsert_follows_alertmanager() {
        let now = at(50);
        let active = silence(&[("alarm", "x")], 0, 100);
        let mut longer = active.clone();
        longer.ends_at = at(200);
        match upsert(active.clone(), longer, now, "s2".into()) {
            Upsert::InPlace(s) => assert_eq!((s.id.as_str(), s.ends_at), ("s1", at(200))),
            other => panic!("{other:?}"),
        }
        let mut other_matchers = active.clone();
        other_matchers.matchers[0].value = "y".into();
        match upsert(active.clone(), other_matchers, now, "s2".into()) {
            Upsert::Replace { expire, new } => {
                assert_eq!(expire.ends_at, now);
                assert_eq!(new.id, "s2");
                assert_eq!(new.starts_at, now);
            }
            other => panic!("{other:?}"),
        }
        let pending = silence(&[("alarm", "x")], 60, 100);
        let mut changed = pending.clone();
        changed.matchers[0].value = "z".into();
        assert!(matches!(
            upsert(pending, changed, now, "s2".into()),
            Upsert::InPlace(_)
        ));
        let expired = silence(&[("alarm", "x")], 0, 10);
        assert!(matches!(
            upsert(expired.clone(), expired, now, "s2".into()),
            Upsert::Replace { .. }
        ));
    }

    #[test]
    fn listing_order_is_alertmanagers() {
        let now = at(50);
        let mut list = vec![
            silence(&[("alarm", "expired-early")], 0, 10),
            silence(&[("alarm", "pending")], 60, 100),
            silence(&[("alarm", "active-late")], 0, 300),
            silence(&[("alarm", "expired-late")], 0, 40),
            silence(&[("alarm", "active-soon")], 0, 70),
        ];
        sort_for_listing(&mut list, now);
        let order: Vec<&str> = list.iter().map(|s| s.matchers[0].value.as_str()).collect();
        assert_eq!(
            order,
            [
                "active-soon",
                "active-late",
                "pending",
                "expired-late",
                "expired-early"
            ]
        );
    }

    fn compiled(s: &Silence) -> CompiledSilence {
        CompiledSilence::new(s.clone()).unwrap()
    }

    #[test]
    fn silences_hold_only_matching_events_while_active() {
        let s = compiled(&silence(
            &[("alarm", "alarm.Datastore*"), ("status", "red")],
            0,
            100,
        ));
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
        let none = FiringAlerts::default();
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
        let error = s.validate().unwrap_err();
        assert!(error.contains("matchers[0]: name is not one of"), "{error}");
        assert!(
            !error.contains("bogus"),
            "the client's text is echoed: {error}"
        );
        s.matchers[0].name = "alarm".into();
        s.matchers[0].is_regex = true;
        s.matchers[0].value = "(".into();
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
        let mut firing = FiringAlerts::default();
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
        // The host's name as vCenter spells it in the trap: any case.
        firing.observe(
            "vc1",
            "ESX01",
            "alarm.HostConnectionStateAlarm",
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
    fn silencer_tracks_firing_alerts_only_for_inhibit_rules() {
        let red = alarm(
            "esx01",
            EntityKind::HostSystem,
            "alarm.HostConnectionStateAlarm",
            "Red",
        );
        let without_rules = Silencer::new(vec![], None, vec![]);
        without_rules.observe(&red);
        assert!(without_rules.firing.read().unwrap().is_empty());
        let rule = InhibitRule {
            name: "host-down".into(),
            source_alarm: "alarm.HostConnectionStateAlarm".into(),
            source_status: "red".into(),
        };
        let s = Silencer::new(vec![], None, vec![rule]);
        s.observe(&red);
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
