//! Subscriptions: which functions an event routed to automation runs
//! (`[[subscription]]` → `[[function]]`). Pure; the run queue and the
//! runners are `crate::automation`'s.

use crate::config::{Config, FunctionConfig, SubscriptionConfig};
use crate::filter::{EventFilter, Subject};
use crate::model::Event;
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
        let subject = Subject::new(event);
        self.subscriptions
            .iter()
            .filter(|s| subscription_filter(s).matches_subject(&subject))
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

/// Type glob plus optional filters; a filter on a field the event lacks does
/// not match (an [`EventFilter`], like a route's).
pub fn subscription_matches(s: &SubscriptionConfig, event: &Event) -> bool {
    subscription_filter(s).matches(event)
}

fn subscription_filter(s: &SubscriptionConfig) -> EventFilter<'_> {
    EventFilter {
        source: None,
        event_type: Some(&s.event_type),
        alarm: s.alarm.as_deref(),
        entity: s.entity.as_deref(),
        vcenter: s.vcenter.as_deref(),
        status: s.status.as_deref(),
    }
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
