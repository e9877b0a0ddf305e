//! Unit and property tests of the guard's pure decisions.

use proptest::prelude::*;

use super::*;

fn policy(disable_on_enter: bool, reenable: Reenable) -> Policy {
    Policy {
        disable_on_enter,
        reenable,
        exclude: Vec::new(),
    }
}

fn obs(moref: &str, in_maintenance: bool, enabled: bool) -> Observation {
    Observation {
        moref: moref.into(),
        name: format!("esx-{moref}"),
        in_maintenance,
        actions_enabled: Some(enabled),
    }
}

/// Decides, then applies every action as successful (as the reconciler does).
fn step(policy: &Policy, memory: &Memory, observed: &[Observation]) -> (Vec<Action>, Memory) {
    let mut d = decide(policy, memory, observed);
    for a in &d.actions {
        d.memory.get_mut(&a.moref).unwrap().apply(a);
    }
    (d.actions, d.memory)
}

fn kinds(actions: &[Action]) -> Vec<(String, ActionKind)> {
    actions.iter().map(|a| (a.moref.clone(), a.kind)).collect()
}

#[test]
fn enter_disables_with_disable_on_enter_and_exit_reenables() {
    let p = policy(true, Reenable::Guarded);
    let (a, m) = step(&p, &Memory::new(), &[obs("host-1", false, true)]);
    assert!(a.is_empty());
    let (a, m) = step(&p, &m, &[obs("host-1", true, true)]);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Disable)]);
    assert!(m["host-1"].guarded);
    // Same state again: nothing (no flap).
    let (a, m) = step(&p, &m, &[obs("host-1", true, false)]);
    assert!(a.is_empty());
    // Out of maintenance, still disabled: re-enable, then forget.
    let (a, m) = step(&p, &m, &[obs("host-1", false, false)]);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Enable)]);
    assert!(a[0].reason.contains("left maintenance"), "{}", a[0].reason);
    assert!(!m["host-1"].guarded);
    let (a, _) = step(&p, &m, &[obs("host-1", false, true)]);
    assert!(a.is_empty());
}

#[test]
fn without_disable_on_enter_entering_maintenance_changes_nothing() {
    let p = policy(false, Reenable::Guarded);
    let (a, m) = step(&p, &Memory::new(), &[obs("host-1", true, true)]);
    assert!(a.is_empty());
    assert!(!m["host-1"].guarded);
}

#[test]
fn admin_reenabling_during_maintenance_is_not_fought() {
    let p = policy(true, Reenable::Guarded);
    let (_, m) = step(&p, &Memory::new(), &[obs("host-1", true, true)]);
    // The admin turns actions back on while still in maintenance.
    let (a, m) = step(&p, &m, &[obs("host-1", true, true)]);
    assert!(a.is_empty(), "guard disabled twice in one episode: {a:?}");
    // Next episode: disabled again.
    let (_, m) = step(&p, &m, &[obs("host-1", false, true)]);
    let (a, _) = step(&p, &m, &[obs("host-1", true, true)]);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Disable)]);
}

#[test]
fn actions_disabled_for_maintenance_by_someone_else_are_adopted() {
    let p = policy(false, Reenable::Guarded);
    let (_, m) = step(&p, &Memory::new(), &[obs("host-1", false, true)]);
    let (a, m) = step(&p, &m, &[obs("host-1", true, false)]);
    assert!(a.is_empty());
    assert!(m["host-1"].guarded, "{m:?}");
    let (a, _) = step(&p, &m, &[obs("host-1", false, false)]);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Enable)]);
}

#[test]
fn manual_disable_outside_maintenance_left_alone_under_guarded_enabled_under_all() {
    let seen = step(
        &policy(false, Reenable::Guarded),
        &Memory::new(),
        &[obs("host-1", false, true)],
    )
    .1;
    let manual = [obs("host-1", false, false)];
    let (a, m) = step(&policy(false, Reenable::Guarded), &seen, &manual);
    assert!(a.is_empty());
    // ...and entering maintenance later does not adopt it either.
    let (a, m) = step(
        &policy(false, Reenable::Guarded),
        &m,
        &[obs("host-1", true, false)],
    );
    assert!(a.is_empty());
    assert!(!m["host-1"].guarded);
    let (a, _) = step(&policy(false, Reenable::All), &seen, &manual);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Enable)]);
    assert!(a[0].reason.contains("all"), "{}", a[0].reason);
}

#[test]
fn excluded_hosts_are_never_touched() {
    let p = Policy {
        disable_on_enter: true,
        reenable: Reenable::All,
        exclude: vec!["esx-lab-*".into()],
    };
    let lab = |m, e| Observation {
        moref: "host-9".into(),
        name: "esx-lab-01".into(),
        in_maintenance: m,
        actions_enabled: Some(e),
    };
    let (a, m) = step(&p, &Memory::new(), &[lab(true, true)]);
    assert!(a.is_empty());
    let (a, m) = step(&p, &m, &[lab(true, false)]);
    assert!(a.is_empty());
    assert!(!m["host-9"].guarded);
    let (a, _) = step(&p, &m, &[lab(false, false)]);
    assert!(a.is_empty());
}

#[test]
fn a_failed_action_is_decided_again() {
    let p = policy(true, Reenable::Guarded);
    let d = decide(&p, &Memory::new(), &[obs("host-1", true, true)]);
    assert_eq!(d.actions.len(), 1);
    // Not applied (vCenter refused): same observation, same action.
    let again = decide(&p, &d.memory, &[obs("host-1", true, true)]);
    assert_eq!(again.actions, d.actions);
}

#[test]
fn unknown_flag_and_unobserved_hosts_change_nothing() {
    let p = policy(true, Reenable::All);
    let (_, m) = step(&p, &Memory::new(), &[obs("host-1", true, true)]);
    assert!(m["host-1"].guarded);
    let unknown = Observation {
        actions_enabled: None,
        ..obs("host-1", false, false)
    };
    let (a, m2) = step(&p, &m, &[unknown]);
    assert!(a.is_empty());
    assert!(m2["host-1"].guarded);
    // A listing without the host keeps its memory.
    let (a, m3) = step(&p, &m, &[obs("host-2", false, true)]);
    assert!(a.is_empty());
    assert_eq!(m3["host-1"], m["host-1"]);
}

#[test]
fn memory_survives_a_restart_through_serde() {
    let p = policy(true, Reenable::Guarded);
    let (_, m) = step(&p, &Memory::new(), &[obs("host-1", true, true)]);
    let text = serde_json::to_string(&m).unwrap();
    let back: Memory = serde_json::from_str(&text).unwrap();
    let (a, _) = step(&p, &back, &[obs("host-1", false, false)]);
    assert_eq!(kinds(&a), [("host-1".into(), ActionKind::Enable)]);
}

// ---- property tests: random worlds, admins and failures ------------------

const HOSTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Enter(usize),
    Exit(usize),
    AdminDisable(usize),
    AdminEnable(usize),
    /// `fail`: every action of this reconcile is refused by vCenter.
    Reconcile {
        fail: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..HOSTS).prop_map(Op::Enter),
        1 => (0..HOSTS).prop_map(Op::Exit),
        1 => (0..HOSTS).prop_map(Op::AdminDisable),
        1 => (0..HOSTS).prop_map(Op::AdminEnable),
        3 => any::<bool>().prop_map(|f| Op::Reconcile { fail: f }),
    ]
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        any::<bool>(),
        prop_oneof![Just(Reenable::Guarded), Just(Reenable::All)],
        proptest::collection::vec(0..HOSTS, 0..2),
    )
        .prop_map(|(disable_on_enter, reenable, ex)| Policy {
            disable_on_enter,
            reenable,
            exclude: ex.into_iter().map(|i| format!("esx-{i}")).collect(),
        })
}

/// Per-host bookkeeping of the test's own (independent) view of history.
#[derive(Debug, Clone, Default)]
struct Track {
    /// World state right after the last reconcile, and whether an action failed then.
    after_last: Option<((bool, bool), bool)>,
    /// A reconcile saw the host enabled out of maintenance since it last entered.
    seen_enabled_outside: bool,
    /// An admin disabled it out of maintenance after that; not entered since.
    manual_outside: bool,
    /// The guard disabled it and no admin has touched it since.
    guard_disabled: bool,
    /// A reconcile saw the hand-disabled (`manual_outside`) host out of
    /// maintenance; until actions are enabled again it must not be adopted,
    /// even across a later maintenance episode.
    manual_seen: bool,
    /// The guard disabled it during the current (world) maintenance episode.
    disabled_this_episode: bool,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn guard_invariants_hold_for_any_history(
        p in policy_strategy(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        // (in_maintenance, actions_enabled) per host.
        let mut world = [(false, true); HOSTS];
        let mut memory = Memory::new();
        let mut track = vec![Track::default(); HOSTS];
        let name = |i: usize| format!("esx-{i}");
        for op in ops {
            match op {
                Op::Enter(i) => {
                    if !world[i].0 {
                        track[i].disabled_this_episode = false;
                    }
                    world[i].0 = true;
                    track[i].seen_enabled_outside = false;
                    track[i].manual_outside = false;
                }
                Op::Exit(i) => world[i].0 = false,
                Op::AdminDisable(i) => {
                    world[i].1 = false;
                    track[i].guard_disabled = false;
                    if !world[i].0 && track[i].seen_enabled_outside {
                        track[i].manual_outside = true;
                    }
                }
                Op::AdminEnable(i) => {
                    world[i].1 = true;
                    track[i].guard_disabled = false;
                    track[i].manual_seen = false;
                }
                Op::Reconcile { fail } => {
                    for i in 0..HOSTS {
                        if track[i].manual_outside && world[i] == (false, false) {
                            track[i].manual_seen = true;
                        }
                    }
                    let observed: Vec<Observation> = (0..HOSTS)
                        .map(|i| Observation {
                            moref: format!("host-{i}"),
                            name: name(i),
                            in_maintenance: world[i].0,
                            actions_enabled: Some(world[i].1),
                        })
                        .collect();
                    let mut d = decide(&p, &memory, &observed);
                    let mut acted = [false; HOSTS];
                    for a in &d.actions {
                        let i: usize = a.moref["host-".len()..].parse().unwrap();
                        prop_assert!(!acted[i], "two actions for one host in one reconcile");
                        acted[i] = true;
                        prop_assert!(!p.excludes(&name(i)), "excluded host touched: {a:?}");
                        match a.kind {
                            ActionKind::Disable => {
                                prop_assert!(world[i].0 && world[i].1 && p.disable_on_enter, "{a:?} {:?}", world[i]);
                                prop_assert!(!track[i].disabled_this_episode,
                                    "disabled twice in one maintenance episode (fights the admin)");
                            }
                            ActionKind::Enable => {
                                prop_assert!(!world[i].0 && !world[i].1, "{a:?} {:?}", world[i]);
                                if p.reenable == Reenable::Guarded {
                                    prop_assert!(!track[i].manual_outside && !track[i].manual_seen,
                                        "re-enabled a host disabled by hand outside maintenance");
                                }
                            }
                        }
                        // One action per observed transition: an unchanged host
                        // whose last action did not fail gets nothing.
                        if let Some((state, failed)) = track[i].after_last {
                            prop_assert!(state != world[i] || failed,
                                "action without a transition (flap): {a:?}");
                        }
                    }
                    for a in &d.actions {
                        let i: usize = a.moref["host-".len()..].parse().unwrap();
                        if !fail {
                            world[i].1 = a.kind.enables();
                            d.memory.get_mut(&a.moref).unwrap().apply(a);
                            track[i].guard_disabled = a.kind == ActionKind::Disable;
                            if a.kind == ActionKind::Disable {
                                track[i].disabled_this_episode = true;
                            } else {
                                track[i].manual_seen = false;
                            }
                        }
                    }
                    memory = d.memory;
                    for i in 0..HOSTS {
                        if !fail && !world[i].0 {
                            // The core guarantee: a host the guard disabled is
                            // enabled by the first good reconcile after it left.
                            prop_assert!(!track[i].guard_disabled || world[i].1,
                                "host {i} left maintenance but stays disabled");
                            if world[i].1 {
                                track[i].seen_enabled_outside = true;
                            }
                        }
                        track[i].after_last = Some((world[i], fail && acted[i]));
                    }
                }
            }
        }
    }
}
