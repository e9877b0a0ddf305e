//! Subscriptions: which functions an event routed to automation runs
//! (`[[subscription]]` → `[[function]]`). Pure; the run queue and the
//! runners are `crate::automation`'s.

use crate::config::{Config, FunctionConfig, SubscriptionConfig};
use crate::filter::glob_match;
use crate::model::{AlarmStatus, Event};
use crate::store::NewRun;

/// Functions and subscriptions as configured.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub functions: Vec<FunctionConfig>,
    pub subscriptions: Vec<SubscriptionConfig>,
}

impl Registry {
    pub fn from_config(config: &Config) -> Self {
        Self {
            functions: config.function.clone(),
            subscriptions: config.subscription.clone(),
        }
    }

    pub fn function(&self, name: &str) -> Option<&FunctionConfig> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The runs to queue for an event routed to automation (pure).
    pub fn runs_for(&self, event: &Event) -> Vec<NewRun> {
        self.subscriptions
            .iter()
            .filter(|s| subscription_matches(s, event))
            .filter_map(|s| {
                let function = self.function(&s.function)?;
                Some(NewRun {
                    subscription: s.name.clone(),
                    function: function.name.clone(),
                    secrets: function.secrets.clone(),
                })
            })
            .collect()
    }
}

/// Type glob plus optional filters; a filter on a field the event lacks does not match.
pub fn subscription_matches(s: &SubscriptionConfig, event: &Event) -> bool {
    subscription_filters_match(s, event) && crate::filter::type_matches(&s.event_type, event)
}

fn subscription_filters_match(s: &SubscriptionConfig, event: &Event) -> bool {
    let alarm = event.alarm.as_ref();
    let opt = |pattern: &Option<String>, value: Option<&str>| match pattern {
        None => true,
        Some(p) => value.is_some_and(|v| glob_match(p, v)),
    };
    let status_ok = match &s.status {
        None => true,
        Some(p) => alarm.and_then(|a| a.new_status.as_ref()).is_some_and(|st| {
            (st.status != AlarmStatus::Unknown
                && glob_match(&p.to_ascii_lowercase(), st.status.as_str()))
                || glob_match(p, &st.raw)
        }),
    };
    opt(&s.vcenter, Some(&event.vcenter))
        && opt(&s.entity, event.entity.name.as_deref())
        && opt(&s.alarm, alarm.and_then(|a| a.name.as_deref()))
        && status_ok
}

/// The event shape of a run: its subscription's `event_format`, else its
/// function's (a subscription removed by a reload falls back too).
pub fn event_format(
    registry: &Registry,
    function: &FunctionConfig,
    subscription: &str,
) -> crate::cloudevents::EventFormat {
    registry
        .subscriptions
        .iter()
        .find(|s| s.name == subscription)
        .and_then(|s| s.event_format)
        .unwrap_or(function.event_format)
}
