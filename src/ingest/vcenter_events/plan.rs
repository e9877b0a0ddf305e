//! Pure core of one event-stream poll: which of the events vCenter returned
//! are stored, in which order, and the checkpoint each commit carries.
//!
//! Ordering is by vCenter `createdTime`, ties by key (wrap-aware): keys are
//! int32 and wrap, and start over after a history reset, so only time says
//! what is newer. What the store already holds (by delivery id) is skipped,
//! which makes re-reading the overlap before the checkpoint harmless.

use std::collections::HashSet;

use time::OffsetDateTime;

use crate::normalize::vcenter_event;
use crate::store::StreamCheckpoint;
use crate::vsphere::{self, VcEvent};

/// The events of a poll worth looking at: created at or after `lower`, in
/// delivery order — by `createdTime`, ties by key (wrap-aware, stable sort).
pub(super) fn candidates(events: Vec<VcEvent>, lower: OffsetDateTime) -> Vec<VcEvent> {
    let mut out: Vec<VcEvent> = events
        .into_iter()
        .filter(|e| e.created_time >= lower)
        .collect();
    vsphere::events::sort_by_key(&mut out);
    out.sort_by_key(|e| e.created_time);
    out
}

/// One write: events to store and the checkpoint that goes with them.
#[derive(Debug, PartialEq)]
pub(super) struct Commit {
    pub events: Vec<VcEvent>,
    pub checkpoint: StreamCheckpoint,
}

#[derive(Debug, PartialEq)]
pub(super) struct Plan {
    pub commits: Vec<Commit>,
    pub excluded: u64,
}

/// Pure core of a poll. From `sorted` candidates, store those the store does
/// not `know` and that are not excluded, at most `chunk` per commit; each
/// commit's checkpoint is the newest event seen up to its end (known and
/// excluded events move it too), and it never moves back in time. A final
/// commit without events moves the checkpoint past trailing known/excluded
/// events.
pub(super) fn plan(
    vcenter: &str,
    sorted: Vec<VcEvent>,
    checkpoint: Option<StreamCheckpoint>,
    known: &HashSet<String>,
    excluded: impl Fn(&VcEvent) -> bool,
    chunk: usize,
) -> Plan {
    let mut plan = Plan {
        commits: Vec::new(),
        excluded: 0,
    };
    let mut position = checkpoint;
    let mut committed = checkpoint;
    let mut batch = Vec::new();
    for event in sorted {
        if position.is_none_or(|p| event.created_time >= p.time) {
            position = Some(StreamCheckpoint {
                key: event.key,
                time: event.created_time,
            });
        }
        if known.contains(&vcenter_event::delivery_id(vcenter, &event)) {
            continue;
        }
        if excluded(&event) {
            plan.excluded += 1;
            continue;
        }
        batch.push(event);
        if batch.len() >= chunk.max(1)
            && let Some(p) = position
        {
            plan.commits.push(Commit {
                events: std::mem::take(&mut batch),
                checkpoint: p,
            });
            committed = Some(p);
        }
    }
    if let Some(p) = position
        && (!batch.is_empty() || committed != Some(p))
    {
        plan.commits.push(Commit {
            events: batch,
            checkpoint: p,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::vcenter_events::OVERLAP;

    fn ev(key: i64, secs: i64, class: &str) -> VcEvent {
        VcEvent {
            key,
            class: class.into(),
            event_type_id: None,
            created_time: T0 + time::Duration::seconds(secs),
            user_name: None,
            message: None,
            chain_id: None,
            datacenter: None,
            compute_resource: None,
            host: None,
            vm: None,
            datastore: None,
            src_template: None,
            source_vm: None,
            alarm: None,
            entity: None,
            from_status: None,
            to_status: None,
            tree: Default::default(),
        }
    }

    const T0: OffsetDateTime = time::macros::datetime!(2026-11-25 12:00 UTC);

    fn cp(key: i64, secs: i64) -> Option<StreamCheckpoint> {
        Some(StreamCheckpoint {
            key,
            time: T0 + time::Duration::seconds(secs),
        })
    }

    fn keys(commit: &Commit) -> Vec<i64> {
        commit.events.iter().map(|e| e.key).collect()
    }

    fn run(events: Vec<VcEvent>, at: Option<StreamCheckpoint>, known: &[&VcEvent]) -> Plan {
        let lower = at.map_or(T0 - time::Duration::hours(1), |c| c.time - OVERLAP);
        let known = known
            .iter()
            .map(|e| vcenter_event::delivery_id("vc1", e))
            .collect();
        plan(
            "vc1",
            candidates(events, lower),
            at,
            &known,
            |e| e.class == "UserLoginSessionEvent",
            2,
        )
    }

    #[test]
    fn int32_key_wrap_is_followed_by_time() {
        let max = i64::from(i32::MAX);
        let min = i64::from(i32::MIN);
        let delivered = ev(max - 1, 0, "VmPoweredOnEvent");
        let events = vec![
            ev(min + 1, 3, "VmPoweredOnEvent"),
            ev(max, 1, "VmPoweredOnEvent"),
            delivered.clone(),
            ev(min, 2, "VmPoweredOnEvent"),
            ev(5, -7200, "VmPoweredOnEvent"), // long before: below the bound
        ];
        let p = run(events, cp(max - 1, 0), &[&delivered]);
        assert_eq!(p.commits.len(), 2);
        assert_eq!(keys(&p.commits[0]), vec![max, min]);
        assert_eq!(p.commits[0].checkpoint, cp(min, 2).unwrap());
        assert_eq!(keys(&p.commits[1]), vec![min + 1]);
        assert_eq!(p.commits[1].checkpoint, cp(min + 1, 3).unwrap());
    }

    #[test]
    fn history_reset_restarts_keys_without_getting_stuck() {
        let before = ev(1000, 0, "VmCreatedEvent");
        let events = vec![
            before.clone(),
            ev(1, 5, "VmCreatedEvent"),
            ev(2, 6, "VmCreatedEvent"),
        ];
        let p = run(events, cp(1000, 0), &[&before]);
        assert_eq!(p.commits.len(), 1);
        assert_eq!(keys(&p.commits[0]), vec![1, 2]);
        assert_eq!(p.commits[0].checkpoint, cp(2, 6).unwrap());
    }

    #[test]
    fn late_events_in_the_overlap_are_delivered_without_moving_back() {
        let seen = ev(10, 0, "VmCreatedEvent");
        let late = ev(9, -30, "VmPoweredOnEvent"); // visible only now
        let too_old = ev(8, -61, "VmPoweredOnEvent");
        let p = run(vec![seen.clone(), late, too_old], cp(10, 0), &[&seen]);
        assert_eq!(p.commits.len(), 1);
        assert_eq!(keys(&p.commits[0]), vec![9]);
        assert_eq!(p.commits[0].checkpoint, cp(10, 0).unwrap());
        // Nothing new at all: no write.
        let idle = run(vec![seen.clone()], cp(10, 0), &[&seen]);
        assert!(idle.commits.is_empty());
    }

    #[test]
    fn excluded_events_move_the_checkpoint_and_ties_go_by_key() {
        let p = run(
            vec![
                ev(4, 1, "VmPoweredOnEvent"),
                ev(3, 1, "VmPoweredOffEvent"),
                ev(5, 2, "UserLoginSessionEvent"),
            ],
            None,
            &[],
        );
        assert_eq!(p.excluded, 1);
        assert_eq!(keys(&p.commits[0]), vec![3, 4]);
        assert_eq!(p.commits[0].checkpoint, cp(4, 1).unwrap());
        assert!(p.commits[1].events.is_empty());
        assert_eq!(p.commits[1].checkpoint, cp(5, 2).unwrap());
    }
}
