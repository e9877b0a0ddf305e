//! The guard's decisions: a pure function from (policy, what the guard
//! remembers, what vCenter shows now) to (actions, what to remember next).
//!
//! Owns: the policy rules of issue 6 and the per-host memory that makes them
//! flap-free. No I/O, no clock: the reconciler (`super`) reads vCenter, calls
//! [`decide`], performs the actions and feeds each outcome back through
//! [`HostMemory::apply`].
//!
//! Rules, per host (excluded hosts are never touched):
//! - **In maintenance, actions enabled**, `disable_on_enter`, and the guard has
//!   not handled this maintenance episode yet → disable; on success the host is
//!   *guarded*. The episode is then handled: if an admin re-enables actions
//!   during the same maintenance, the guard does not fight them.
//! - **In maintenance, actions disabled**, and the previous observation saw
//!   them enabled → someone disabled them for this maintenance (the forgetful
//!   admin of issue 6): the host is *adopted* as guarded, no action.
//! - **Out of maintenance, actions disabled**, and guarded (or `reenable =
//!   "all"`) → enable; on success the host is forgotten.
//! - **Out of maintenance, actions enabled** → forgotten (someone re-enabled).
//! - A host disabled by hand outside maintenance is never adopted, so under
//!   `guarded` it is left alone.
//!
//! Never flap: each action changes the state it acted on, and the memory is
//! updated with that new state, so the same observation cannot trigger the
//! same action twice; a failed action leaves the memory as it was, so it is
//! retried (that is a retry, not a flap).

use crate::config::Reenable;

/// What the guard needs from one host, as read from vCenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// MOID, e.g. `host-21`.
    pub moref: String,
    pub name: String,
    pub in_maintenance: bool,
    /// `alarmActionsEnabled`; `None` when vCenter did not say (then nothing is done).
    pub actions_enabled: Option<bool>,
}

/// The policy part of `[guard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub disable_on_enter: bool,
    pub reenable: Reenable,
    /// Host name globs (`crate::filter::glob_match`).
    pub exclude: Vec<String>,
}

impl Policy {
    pub fn excludes(&self, host_name: &str) -> bool {
        self.exclude
            .iter()
            .any(|glob| crate::filter::glob_match(glob, host_name))
    }
}

/// The guard's memory and action kinds are persisted records: they live
/// with the store (`store::guard`).
pub use crate::store::{ActionKind, HostMemory, Memory};

/// One call to make: `EnableAlarmActions(host, kind == Enable)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub moref: String,
    pub host: String,
    pub kind: ActionKind,
    pub reason: String,
}

/// The result of [`decide`]: actions to take, and the memory to keep if none
/// of them succeeds (apply each success with [`HostMemory::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub memory: Memory,
}

/// Decides what to do for every observed host. Hosts in `memory` but not in
/// `observed` are kept as they are: a host missing from one listing (e.g. its
/// runtime could not be read) must not lose its guarded state.
pub fn decide(policy: &Policy, memory: &Memory, observed: &[Observation]) -> Decision {
    let mut next = memory.clone();
    let mut actions = Vec::new();
    for obs in observed {
        let before = memory.get(&obs.moref).cloned().unwrap_or_default();
        let (host, action) = decide_host(policy, &before, obs);
        next.insert(obs.moref.clone(), host);
        actions.extend(action);
    }
    Decision {
        actions,
        memory: next,
    }
}

fn decide_host(
    policy: &Policy,
    before: &HostMemory,
    obs: &Observation,
) -> (HostMemory, Option<Action>) {
    let mut host = HostMemory {
        name: obs.name.clone(),
        in_maintenance: obs.in_maintenance,
        actions_enabled: obs.actions_enabled,
        ..before.clone()
    };
    let action = |kind, reason: &str| Action {
        moref: obs.moref.clone(),
        host: obs.name.clone(),
        kind,
        reason: reason.to_owned(),
    };
    if policy.excludes(&obs.name) {
        // Untouched, and never adopted: an excluded host is not ours.
        host.episode_handled = obs.in_maintenance;
        return (host, None);
    }
    if obs.in_maintenance {
        match obs.actions_enabled {
            Some(true) if policy.disable_on_enter && !before.episode_handled => {
                // Memory stays "unhandled" until the disable succeeds, so a
                // failed attempt is retried.
                return (
                    host,
                    Some(action(
                        ActionKind::Disable,
                        "host is in maintenance mode and disable_on_enter is set",
                    )),
                );
            }
            Some(true) => host.episode_handled = true,
            Some(false) => {
                if !before.guarded && before.actions_enabled == Some(true) {
                    host.guarded = true;
                    host.guarded_reason = Some(
                        "alarm actions were disabled while the host entered maintenance mode"
                            .to_owned(),
                    );
                }
                host.episode_handled = true;
            }
            None => {}
        }
        return (host, None);
    }
    host.episode_handled = false;
    match obs.actions_enabled {
        Some(false) if before.guarded => (
            host,
            Some(action(
                ActionKind::Enable,
                "host left maintenance mode; the guard disabled its alarm actions",
            )),
        ),
        Some(false) if policy.reenable == Reenable::All => (
            host,
            Some(action(
                ActionKind::Enable,
                "alarm actions disabled outside maintenance mode and reenable = \"all\"",
            )),
        ),
        Some(true) => {
            host.guarded = false;
            host.guarded_reason = None;
            (host, None)
        }
        _ => (host, None),
    }
}

impl HostMemory {
    /// Records that `action` succeeded: the host now has the flag the action
    /// set, so the next identical observation is not a transition.
    pub fn apply(&mut self, action: &Action) {
        self.actions_enabled = Some(action.kind.enables());
        match action.kind {
            ActionKind::Disable => {
                self.guarded = true;
                self.guarded_reason = Some(action.reason.clone());
                self.episode_handled = true;
            }
            ActionKind::Enable => {
                self.guarded = false;
                self.guarded_reason = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
