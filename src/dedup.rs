//! Dedup: decides whether an event repeats one seen moments ago.
//!
//! Pure state machine with an injected clock (`now` is a parameter). Identity
//! is `Event::dedup_identity()` (for alarms: vcenter, entity name, alarm name —
//! the fields both the hook and a trap carry) plus the new status. Within
//! `window` of the last sighting, the same identity with the same status is a
//! duplicate; a different status is a new transition and replaces the entry.
//! The window slides with every sighting, and a condition still repeating after
//! `repeat_interval` is notified again (like Alertmanager's repeat_interval).
//!
//! Memory is bounded: at most `max_entries` identities are remembered (about
//! 200 bytes each). A storm of distinct alarms beyond that evicts the least
//! recently seen first, so dedup's horizon shrinks instead of memory growing;
//! `evicted()` counts them.
//!
//! A redelivery the store recognised (`take_back`) is undone: memory goes
//! back to what it held before the redelivery was observed (a late retry of
//! an old Red, arriving after Green, must not make the next real Red look
//! like a repeat). The undo is resolved when the identity is next seen, not
//! by scanning memory: a burst of hook retries after an overload would
//! otherwise pay a scan of up to `max_entries` identities each, under the
//! lock admission decides with.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{Event, EventId, Fingerprint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// First sighting (or a new status): process it.
    New,
    /// Same identity and status inside the window: merge into `original`.
    Duplicate { original: EventId },
    /// Still repeating after `repeat_interval`: process it again as a new notification.
    Renotify { previous: EventId },
}

/// What observing one event changed in memory, for [`Dedup::take_back`].
#[derive(Debug)]
pub struct Undo(UndoKind);

#[derive(Debug)]
enum UndoKind {
    /// A duplicate: only `last_seen` moved, which is left as it is.
    Nothing,
    /// A new sighting replaced this one (`None`: there was none).
    Replaced(Option<Sighting>),
    /// A renotification moved the original and the notification time.
    Renotified {
        original: EventId,
        last_notified: OffsetDateTime,
    },
}

#[derive(Debug, Clone)]
struct Sighting {
    status: String,
    original: EventId,
    last_seen: OffsetDateTime,
    last_notified: OffsetDateTime,
}

/// What memory keeps of one original event (about 200 bytes, where the
/// event is kilobytes): a rebuild reads the store newest first, keeps only
/// this, and seeds memory oldest first.
#[derive(Debug, Clone)]
pub struct Recalled {
    identity: Fingerprint,
    sighting: Sighting,
}

impl Recalled {
    /// `event`, an original last seen at `last_seen`.
    pub fn of(event: &Event, last_seen: OffsetDateTime) -> Self {
        let (identity, status) = event.dedup_identity();
        Self {
            identity,
            sighting: Sighting {
                status,
                original: event.id,
                last_seen,
                last_notified: event.received_at,
            },
        }
    }
}

#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    repeat_interval: Duration,
    active: HashMap<Fingerprint, Sighting>,
    observed_since_sweep: usize,
    max_entries: usize,
    evicted: u64,
    /// Originals never stored → when the undo was recorded (a count) and
    /// what to restore (see [`Dedup::take_back`]).
    taken_back: HashMap<EventId, (u64, UndoKind)>,
    /// Undos recorded so far: orders them, see [`undo_waiting`].
    undos_recorded: u64,
}

/// Undos kept before they are applied to all of memory in one pass, so the
/// scan is paid once per this many redeliveries, not per redelivery.
const MAX_TAKEN_BACK: usize = 1024;

impl Dedup {
    pub fn new(window: Duration, repeat_interval: Duration, max_entries: usize) -> Self {
        Self {
            window,
            repeat_interval,
            active: HashMap::new(),
            observed_since_sweep: 0,
            max_entries: max_entries.max(1),
            evicted: 0,
            taken_back: HashMap::new(),
            undos_recorded: 0,
        }
    }

    /// Identities forgotten early because `max_entries` was reached (total).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Number of identities currently remembered.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Seeds state from an event that was already processed as an original
    /// (used after a restart), last seen at `last_seen`.
    pub fn remember(&mut self, event: &Event, last_seen: OffsetDateTime) {
        self.recall(Recalled::of(event, last_seen));
    }

    /// `remember`, from what was kept of the event.
    pub fn recall(&mut self, recalled: Recalled) {
        let Recalled { identity, sighting } = recalled;
        self.make_room(sighting.last_seen);
        self.active.insert(identity, sighting);
    }

    /// How many identities memory holds at most.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Classifies `event` seen at `now` and updates the state.
    pub fn observe(&mut self, event: &Event, now: OffsetDateTime) -> Verdict {
        self.observe_undoable(event, now).0
    }

    /// [`Dedup::observe`], also returning how to take the observation back
    /// should the store turn out to hold this delivery already.
    pub fn observe_undoable(&mut self, event: &Event, now: OffsetDateTime) -> (Verdict, Undo) {
        self.observed_since_sweep += 1;
        if self.observed_since_sweep >= 4096 {
            self.sweep(now);
        }
        let (identity, status) = event.dedup_identity();
        if !self.taken_back.is_empty() {
            self.restore(&identity);
        }
        let window = time::Duration::try_from(self.window).unwrap_or(time::Duration::MAX);
        let repeat = time::Duration::try_from(self.repeat_interval).unwrap_or(time::Duration::MAX);
        if let Some(s) = self.active.get_mut(&identity)
            && s.status == status
            && now - s.last_seen <= window
        {
            s.last_seen = s.last_seen.max(now);
            if now - s.last_notified >= repeat {
                let undo = UndoKind::Renotified {
                    original: s.original,
                    last_notified: s.last_notified,
                };
                let previous = s.original;
                s.original = event.id;
                s.last_notified = now;
                return (Verdict::Renotify { previous }, Undo(undo));
            }
            let original = s.original;
            return (Verdict::Duplicate { original }, Undo(UndoKind::Nothing));
        }
        self.make_room(now);
        let replaced = self.active.insert(
            identity,
            Sighting {
                status,
                original: event.id,
                last_seen: now,
                last_notified: now,
            },
        );
        (Verdict::New, Undo(UndoKind::Replaced(replaced)))
    }

    /// Applies the undos waiting for `identity`'s original.
    fn restore(&mut self, identity: &Fingerprint) {
        if let Some(s) = self.active.get_mut(identity)
            && !undo_waiting(s, &mut self.taken_back)
        {
            self.active.remove(identity);
        }
    }

    /// Called before recording an identity. At the limit: drop what the
    /// window already expired, then the least recently seen down to 90 % of
    /// the limit, so the O(n) work is paid once per `max_entries / 10` new
    /// identities, not per event.
    fn make_room(&mut self, now: OffsetDateTime) {
        if self.active.len() < self.max_entries {
            return;
        }
        self.sweep(now);
        if self.active.len() < self.max_entries {
            return;
        }
        let keep = (self.max_entries - self.max_entries / 10).saturating_sub(1);
        let drop = self.active.len() - keep;
        let mut seen: Vec<OffsetDateTime> = self.active.values().map(|s| s.last_seen).collect();
        // The `drop`-th oldest sighting is the cut-off; ties at the cut-off
        // are counted so exactly `drop` entries go.
        let (_, cutoff, _) = seen.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut ties_to_drop = drop - seen.iter().filter(|t| **t < cutoff).count();
        self.active.retain(|_, s| {
            if s.last_seen != cutoff {
                s.last_seen > cutoff
            } else if ties_to_drop > 0 {
                ties_to_drop -= 1;
                false
            } else {
                true
            }
        });
        self.evicted += drop as u64;
    }

    /// Takes back the observation of `admitted` (`undo`, from
    /// [`Dedup::observe_undoable`]): the store kept an earlier event for the
    /// same delivery, so `admitted` never existed and memory must hold what
    /// it held before. Resolved when the identity is next observed, or by
    /// the next sweep (every 4,096 events), or once [`MAX_TAKEN_BACK`] wait,
    /// so none waits long. Only the first undo of `admitted` counts: after
    /// it, no identity holds `admitted`.
    pub fn take_back(&mut self, admitted: EventId, undo: Undo) {
        if matches!(undo.0, UndoKind::Nothing) {
            return;
        }
        self.undos_recorded += 1;
        self.taken_back
            .entry(admitted)
            .or_insert((self.undos_recorded, undo.0));
        if self.taken_back.len() >= MAX_TAKEN_BACK {
            self.apply_taken_back();
        }
    }

    /// The reference for the property test: the undo applied at once, by a
    /// scan of memory.
    #[cfg(test)]
    fn take_back_by_scan(&mut self, admitted: EventId, undo: Undo) {
        let mut undo = Some(undo.0);
        self.active
            .retain(|_, s| match undo.take_if(|_| s.original == admitted) {
                Some(u) => undo_into(s, u),
                None => true,
            });
    }

    /// Every waiting undo, in one pass over memory.
    fn apply_taken_back(&mut self) {
        let taken_back = &mut self.taken_back;
        self.active.retain(|_, s| undo_waiting(s, taken_back));
        taken_back.clear();
    }

    /// Forgets identities not seen within the window (after applying the
    /// undos waiting for them, see [`Dedup::take_back`]).
    pub fn sweep(&mut self, now: OffsetDateTime) {
        let window = time::Duration::try_from(self.window).unwrap_or(time::Duration::MAX);
        // The same pass applies the waiting undos (an undo can only make a
        // sighting older or remove it).
        let taken_back = &mut self.taken_back;
        self.active
            .retain(|_, s| undo_waiting(s, taken_back) && now - s.last_seen <= window);
        taken_back.clear();
        self.observed_since_sweep = 0;
    }
}

/// Applies the undos waiting for `s`'s original; false when `s` did not
/// exist before them (the caller removes it).
///
/// A restored sighting may hold an original with an undo of its own. That
/// undo counts only if it was recorded after the one that restored the
/// sighting: recorded before, its original was not in memory then (a later
/// event had replaced it), so taking it back then changed nothing. The
/// first undo always counts: every undo recorded while a sighting is in
/// memory is applied before the next event of that identity replaces it.
fn undo_waiting(s: &mut Sighting, taken_back: &mut HashMap<EventId, (u64, UndoKind)>) -> bool {
    let mut restored_by = 0;
    while let Some((recorded, undo)) = taken_back.remove(&s.original) {
        if recorded < restored_by {
            break;
        }
        restored_by = recorded;
        if !undo_into(s, undo) {
            return false;
        }
    }
    true
}

/// Restores `s` as `undo` says; false when the sighting did not exist
/// before (the caller removes it).
fn undo_into(s: &mut Sighting, undo: UndoKind) -> bool {
    match undo {
        UndoKind::Nothing => true,
        UndoKind::Replaced(Some(previous)) => {
            *s = previous;
            true
        }
        UndoKind::Replaced(None) => false,
        UndoKind::Renotified {
            original,
            last_notified,
        } => {
            s.original = original;
            s.last_notified = last_notified;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EventType, Source, StatusText};
    use proptest::prelude::*;

    fn alarm(source: Source, entity: &str, status: &str) -> Event {
        let mut e = Event::new(source, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some(entity.into());
        e.alarm = Some(Alarm {
            name: Some("alarm.HostConnectionStateAlarm".into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
    }

    fn dedup() -> Dedup {
        Dedup::new(
            Duration::from_secs(300),
            Duration::from_secs(4 * 3600),
            100_000,
        )
    }

    #[test]
    fn hook_and_trap_of_one_transition_merge() {
        let mut d = dedup();
        let hook = alarm(Source::AlarmHook, "esx01", "Red");
        let trap = alarm(Source::Snmp, "esx01", "red");
        assert_eq!(d.observe(&hook, at(0)), Verdict::New);
        assert_eq!(
            d.observe(&trap, at(2)),
            Verdict::Duplicate { original: hook.id }
        );
    }

    /// A late retry of an old Red, arriving after Green: admitted as a new
    /// transition, then recognised by the store. Taken back, memory holds
    /// Green again, so Green repeats merge into Green's event and the next
    /// real Red is new.
    #[test]
    fn a_late_retry_taken_back_restores_the_status_before_it() {
        let mut d = dedup();
        let red = alarm(Source::AlarmHook, "esx01", "Red");
        let green = alarm(Source::AlarmHook, "esx01", "Green");
        let retry = alarm(Source::AlarmHook, "esx01", "Red");
        assert_eq!(d.observe(&red, at(0)), Verdict::New);
        assert_eq!(d.observe(&green, at(10)), Verdict::New);
        let (verdict, undo) = d.observe_undoable(&retry, at(20));
        assert_eq!(verdict, Verdict::New);
        d.take_back(retry.id, undo);
        let green_trap = alarm(Source::Snmp, "esx01", "green");
        assert_eq!(
            d.observe(&green_trap, at(21)),
            Verdict::Duplicate { original: green.id }
        );
        let red_again = alarm(Source::AlarmHook, "esx01", "Red");
        assert_eq!(d.observe(&red_again, at(30)), Verdict::New);
    }

    /// Two retries of one alarm, taken back oldest first: the first was
    /// already replaced in memory when its undo came, so it changes
    /// nothing; the second restores the first's sighting, and the first's
    /// stale undo must not then remove it.
    #[test]
    fn an_undo_recorded_after_its_event_was_replaced_changes_nothing() {
        let mut d = dedup();
        let red = alarm(Source::AlarmHook, "esx01", "Red");
        let (_, red_undo) = d.observe_undoable(&red, at(0));
        let green = alarm(Source::AlarmHook, "esx01", "Green");
        let (_, green_undo) = d.observe_undoable(&green, at(1));
        d.take_back(red.id, red_undo);
        d.take_back(green.id, green_undo);
        let red_trap = alarm(Source::Snmp, "esx01", "red");
        assert_eq!(
            d.observe(&red_trap, at(2)),
            Verdict::Duplicate { original: red.id }
        );
    }

    /// Taken back, a first sighting leaves nothing behind; a renotification
    /// leaves the earlier original due for it still.
    #[test]
    fn taking_back_a_first_sighting_or_a_renotification() {
        let mut d = dedup();
        let first = alarm(Source::AlarmHook, "esx01", "Red");
        let (_, undo) = d.observe_undoable(&first, at(0));
        d.take_back(first.id, undo);
        let next = alarm(Source::Snmp, "esx01", "red");
        assert_eq!(d.observe(&next, at(1)), Verdict::New);

        let four_hours = 4 * 3600;
        // Repeats inside the window until the repeat interval is up.
        let mut t = 1;
        while t + 200 < 1 + four_hours {
            t += 200;
            let repeat = alarm(Source::Snmp, "esx01", "red");
            assert!(matches!(
                d.observe(&repeat, at(t)),
                Verdict::Duplicate { .. }
            ));
        }
        let due_at = 1 + four_hours + 10;
        let retry = alarm(Source::AlarmHook, "esx01", "Red");
        let (verdict, undo) = d.observe_undoable(&retry, at(due_at));
        assert_eq!(verdict, Verdict::Renotify { previous: next.id });
        d.take_back(retry.id, undo);
        let due = alarm(Source::Snmp, "esx01", "red");
        assert_eq!(
            d.observe(&due, at(due_at + 1)),
            Verdict::Renotify { previous: next.id }
        );
    }

    #[test]
    fn status_change_is_new_and_flapping_back_is_new_too() {
        let mut d = dedup();
        let red = alarm(Source::AlarmHook, "esx01", "Red");
        let green = alarm(Source::AlarmHook, "esx01", "Green");
        let red_again = alarm(Source::AlarmHook, "esx01", "Red");
        assert_eq!(d.observe(&red, at(0)), Verdict::New);
        assert_eq!(d.observe(&green, at(10)), Verdict::New);
        assert_eq!(d.observe(&red_again, at(20)), Verdict::New);
    }

    #[test]
    fn window_slides_and_expires() {
        let mut d = dedup();
        let first = alarm(Source::Snmp, "vm1", "Yellow");
        assert_eq!(d.observe(&first, at(0)), Verdict::New);
        assert!(matches!(
            d.observe(&alarm(Source::Snmp, "vm1", "Yellow"), at(290)),
            Verdict::Duplicate { .. }
        ));
        // 290 + 300 still inside the slid window
        assert!(matches!(
            d.observe(&alarm(Source::Snmp, "vm1", "Yellow"), at(580)),
            Verdict::Duplicate { .. }
        ));
        assert_eq!(
            d.observe(&alarm(Source::Snmp, "vm1", "Yellow"), at(900)),
            Verdict::New
        );
    }

    #[test]
    fn repeats_are_renotified_after_repeat_interval() {
        let mut d = Dedup::new(Duration::from_secs(300), Duration::from_secs(600), 100_000);
        let first = alarm(Source::Snmp, "vm1", "Red");
        assert_eq!(d.observe(&first, at(0)), Verdict::New);
        for t in (200..600).step_by(200) {
            assert!(matches!(
                d.observe(&alarm(Source::Snmp, "vm1", "Red"), at(t)),
                Verdict::Duplicate { .. }
            ));
        }
        assert_eq!(
            d.observe(&alarm(Source::Snmp, "vm1", "Red"), at(600)),
            Verdict::Renotify { previous: first.id }
        );
    }

    #[test]
    fn sweep_forgets_old_identities() {
        let mut d = dedup();
        d.observe(&alarm(Source::Snmp, "a", "Red"), at(0));
        d.observe(&alarm(Source::Snmp, "b", "Red"), at(200));
        d.sweep(at(400));
        assert_eq!(d.len(), 1);
    }

    proptest! {
        /// Taking back lazily (when the identity is next seen, or all at
        /// once) gives the verdicts taking back at once by a scan gives,
        /// whatever the mix of arrivals, redeliveries (also of an event whose
        /// identity has moved on), one-pass applications and sweeps.
        #[test]
        fn lazy_take_back_decides_as_an_immediate_scan(
            ops in proptest::collection::vec((0u8..8, 0u8..4, 0u8..2, 0i64..200, any::<proptest::sample::Index>()), 1..150),
        ) {
            let mut lazy = dedup();
            let mut eager = dedup();
            let mut observed: Vec<(EventId, Option<Undo>, Option<Undo>)> = Vec::new();
            let mut t = 0;
            for (op, entity, status, gap, pick) in ops {
                t += gap;
                match op {
                    0 | 1 if !observed.is_empty() => {
                        let n = pick.index(observed.len());
                        let (admitted, lazy_undo, eager_undo) = &mut observed[n];
                        if let (Some(l), Some(e)) = (lazy_undo.take(), eager_undo.take()) {
                            lazy.take_back(*admitted, l);
                            eager.take_back_by_scan(*admitted, e);
                        }
                    }
                    2 => lazy.apply_taken_back(),
                    3 => {
                        lazy.sweep(at(t));
                        eager.sweep(at(t));
                    }
                    _ => {
                        let e = alarm(Source::Snmp, &format!("e{entity}"), if status == 0 { "Red" } else { "Green" });
                        let (lv, lu) = lazy.observe_undoable(&e, at(t));
                        let (ev, eu) = eager.observe_undoable(&e, at(t));
                        prop_assert_eq!(lv, ev);
                        observed.push((e.id, Some(lu), Some(eu)));
                    }
                }
            }
        }

        /// Whatever the arrival pattern, an identity's first sighting is never a
        /// duplicate and a duplicate always points at an event seen before.
        #[test]
        fn duplicates_point_backwards(arrivals in proptest::collection::vec((0u8..3, 0u8..2, 0i64..1000), 1..60)) {
            let mut d = dedup();
            let mut seen = Vec::new();
            let mut t = 0;
            for (entity, status, gap) in arrivals {
                t += gap;
                let e = alarm(Source::Snmp, &format!("e{entity}"), if status == 0 { "Red" } else { "Green" });
                match d.observe(&e, at(t)) {
                    Verdict::Duplicate { original } => prop_assert!(seen.contains(&original)),
                    Verdict::Renotify { previous } => prop_assert!(seen.contains(&previous)),
                    Verdict::New => {}
                }
                seen.push(e.id);
            }
        }

        /// However many distinct identities arrive, memory stays within the
        /// limit, every identity is either remembered or counted as evicted,
        /// and the one just seen is always remembered.
        #[test]
        fn the_limit_holds_and_the_latest_is_kept(
            limit in 1usize..12,
            arrivals in proptest::collection::vec((0u8..40, 0i64..3), 1..120),
        ) {
            let mut d = Dedup::new(Duration::from_secs(300), Duration::from_secs(4 * 3600), limit);
            let mut distinct = std::collections::HashSet::new();
            let mut t = 0;
            for (entity, gap) in arrivals {
                t += gap;
                let e = alarm(Source::Snmp, &format!("e{entity}"), "Red");
                let first_time = distinct.insert(entity);
                let verdict = d.observe(&e, at(t));
                prop_assert!(d.len() <= limit);
                if first_time {
                    prop_assert_eq!(verdict, Verdict::New);
                }
                prop_assert!(
                    matches!(d.observe(&alarm(Source::Snmp, &format!("e{entity}"), "Red"), at(t)), Verdict::Duplicate { .. }),
                    "the identity just seen must be remembered"
                );
            }
            // Nothing expired (t < window), so every distinct identity is
            // either still remembered or was evicted, exactly once each
            // (an evicted one seen again is new again and may go twice).
            prop_assert!(d.len() as u64 + d.evicted() >= distinct.len() as u64);
        }
    }

    #[test]
    fn a_storm_of_distinct_alarms_evicts_the_least_recently_seen() {
        let mut d = Dedup::new(Duration::from_secs(300), Duration::from_secs(4 * 3600), 10);
        let storm: Vec<Event> = (0..25)
            .map(|i| alarm(Source::Snmp, &format!("vm{i}"), "Red"))
            .collect();
        for (i, e) in storm.iter().enumerate() {
            assert_eq!(d.observe(e, at(i as i64)), Verdict::New);
            assert!(d.len() <= 10);
        }
        assert_eq!(d.evicted() + d.len() as u64, 25);
        // The newest are still deduplicated; the oldest were forgotten.
        assert!(matches!(
            d.observe(&alarm(Source::Snmp, "vm24", "Red"), at(30)),
            Verdict::Duplicate { .. }
        ));
        assert_eq!(
            d.observe(&alarm(Source::Snmp, "vm0", "Red"), at(30)),
            Verdict::New
        );
    }
}
