//! The alerts firing now, kept for inhibition ("hold a VM's alert while its
//! host has a firing source alert").
//!
//! Owns: the firing set, keyed by vCenter, then entity name (lowercased),
//! then alarm name, so that the question inhibition asks, "what fires on
//! this host?", reads that host's alerts only. It used to be one flat map
//! scanned whole for every VM alarm of a host known to the maintenance view:
//! in a storm with 100,000 alerts firing, 100,000 comparisons per VM alarm,
//! on the pipeline's path.

use std::collections::HashMap;

use crate::model::AlarmStatus;

/// How many firing alerts are remembered; beyond it new ones are not (an
/// alert already known still changes status).
pub const MAX_FIRING: usize = 100_000;

/// Longest entity or alarm name kept, in bytes. vSphere names are at most
/// 80 characters (host names at most 253), so a longer one can never be the
/// host a VM runs on; the names come from trap and hook input, and without
/// this `MAX_FIRING` entries of up to a request body each could hold
/// gigabytes.
pub const MAX_NAME_BYTES: usize = 512;

/// Alert name → its last status, for one entity.
type EntityAlerts = HashMap<String, AlarmStatus>;

/// Alerts whose last status was not green or gray.
#[derive(Debug)]
pub struct FiringAlerts {
    /// vCenter → entity name (lowercased) → alarm name → status.
    by_vcenter: HashMap<String, HashMap<String, EntityAlerts>>,
    len: usize,
    limit: usize,
}

impl Default for FiringAlerts {
    fn default() -> Self {
        Self::with_limit(MAX_FIRING)
    }
}

impl FiringAlerts {
    pub fn with_limit(limit: usize) -> Self {
        Self {
            by_vcenter: HashMap::new(),
            len: 0,
            limit,
        }
    }

    /// Books an alarm's new status: green and gray end it, anything else
    /// makes it (or keeps it) firing.
    pub fn observe(&mut self, vcenter: &str, entity: &str, alarm: &str, status: AlarmStatus) {
        if entity.len() > MAX_NAME_BYTES || alarm.len() > MAX_NAME_BYTES {
            return; // not a vSphere name: it cannot be a host's alert
        }
        let entity = entity.to_lowercase();
        if matches!(status, AlarmStatus::Green | AlarmStatus::Gray) {
            self.end(vcenter, &entity, alarm);
            return;
        }
        let known = self
            .by_vcenter
            .get(vcenter)
            .and_then(|entities| entities.get(&entity))
            .is_some_and(|alerts| alerts.contains_key(alarm));
        if !known && self.len >= self.limit {
            return;
        }
        let alerts = self
            .by_vcenter
            .entry(vcenter.to_owned())
            .or_default()
            .entry(entity)
            .or_default();
        if alerts.insert(alarm.to_owned(), status).is_none() {
            self.len += 1;
        }
    }

    fn end(&mut self, vcenter: &str, entity_lc: &str, alarm: &str) {
        let Some(entities) = self.by_vcenter.get_mut(vcenter) else {
            return;
        };
        let Some(alerts) = entities.get_mut(entity_lc) else {
            return;
        };
        if alerts.remove(alarm).is_some() {
            self.len -= 1;
        }
        // Empty maps are dropped so that a storm's hosts do not stay behind.
        if alerts.is_empty() {
            entities.remove(entity_lc);
            if entities.is_empty() {
                self.by_vcenter.remove(vcenter);
            }
        }
    }

    /// The alarms firing on `entity` (any case) of `vcenter`, with their status.
    pub fn on_entity<'a>(
        &'a self,
        vcenter: &str,
        entity: &str,
    ) -> impl Iterator<Item = (&'a str, AlarmStatus)> + 'a {
        self.by_vcenter
            .get(vcenter)
            .and_then(|entities| entities.get(&entity.to_lowercase()))
            .into_iter()
            .flat_map(|alerts| {
                alerts
                    .iter()
                    .map(|(alarm, status)| (alarm.as_str(), *status))
            })
    }

    /// How many alerts are firing.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = AlarmStatus> {
        prop_oneof![
            Just(AlarmStatus::Green),
            Just(AlarmStatus::Gray),
            Just(AlarmStatus::Yellow),
            Just(AlarmStatus::Red),
        ]
    }

    proptest! {
        /// The keyed set answers what the flat map it replaced answered: for
        /// every entity, the alarms whose last status was not green or gray
        /// (entity names compared lowercased), within the limit.
        #[test]
        fn answers_what_a_flat_map_of_every_alert_answers(
            steps in proptest::collection::vec(
                (0..2usize, 0..3usize, 0..3usize, status()),
                0..60,
            ),
            limit in 1..8usize,
        ) {
            let vcenters = ["vc1", "vc2"];
            let entities = ["esx01", "ESX01", "esx02"];
            let alarms = ["alarm.A", "alarm.B", "alarm.C"];
            let mut keyed = FiringAlerts::with_limit(limit);
            let mut flat: HashMap<(String, String, String), AlarmStatus> = HashMap::new();
            for (v, e, a, s) in steps {
                let (vc, entity, alarm) = (vcenters[v], entities[e], alarms[a]);
                keyed.observe(vc, entity, alarm, s);
                let key = (vc.to_owned(), entity.to_lowercase(), alarm.to_owned());
                match s {
                    AlarmStatus::Green | AlarmStatus::Gray => {
                        flat.remove(&key);
                    }
                    _ if flat.contains_key(&key) || flat.len() < limit => {
                        flat.insert(key, s);
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(keyed.len(), flat.len());
            for vc in vcenters {
                for entity in entities {
                    let mut got: Vec<(String, AlarmStatus)> = keyed
                        .on_entity(vc, entity)
                        .map(|(a, s)| (a.to_owned(), s))
                        .collect();
                    got.sort_by(|x, y| x.0.cmp(&y.0));
                    let mut want: Vec<(String, AlarmStatus)> = flat
                        .iter()
                        .filter(|((v, e, _), _)| v == vc && *e == entity.to_lowercase())
                        .map(|((_, _, a), s)| (a.clone(), *s))
                        .collect();
                    want.sort_by(|x, y| x.0.cmp(&y.0));
                    prop_assert_eq!(got, want);
                }
            }
        }
    }

    #[test]
    fn names_longer_than_vsphere_allows_are_not_kept() {
        let mut firing = FiringAlerts::default();
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        firing.observe("vc1", &long, "alarm.A", AlarmStatus::Red);
        firing.observe("vc1", "esx01", &long, AlarmStatus::Red);
        assert!(firing.is_empty());
        let longest = "x".repeat(MAX_NAME_BYTES);
        firing.observe("vc1", &longest, &longest, AlarmStatus::Red);
        assert_eq!(firing.len(), 1);
    }

    #[test]
    fn ended_alerts_leave_nothing_behind() {
        let mut firing = FiringAlerts::default();
        firing.observe("vc1", "esx01", "alarm.A", AlarmStatus::Red);
        firing.observe("vc1", "ESX01", "alarm.A", AlarmStatus::Green);
        assert!(firing.is_empty());
        assert!(firing.by_vcenter.is_empty(), "no empty maps kept");
    }
}
