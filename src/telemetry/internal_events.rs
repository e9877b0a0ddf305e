//! Typed internal events (vector's `emit!` style): each struct is one
//! noteworthy thing; its `emit` writes one log line, bumps one bounded metric
//! family and the matching live counter of `/api/v1/status`, so logs,
//! metrics and status never drift apart.
//!
//! Metrics (all labels bounded by config, never ids):
//! `vcgate_held_total{reason}`, `vcgate_routed_total{route}`,
//! `vcgate_dedup_merged_total`, `vcgate_dedup_evicted_total`,
//! `vcgate_runs_total{function,status}`, `vcgate_forwards_total{target,outcome}`,
//! `vcgate_forwards_given_up_total{target}`,
//! `vcgate_active_alerts{target}`, and the latency histograms (seconds)
//! `vcgate_receipt_to_commit_seconds`, `vcgate_receipt_to_forward_seconds{target}`,
//! `vcgate_receipt_to_run_start_seconds{function}`.

use time::OffsetDateTime;

use super::Stats;
use crate::model::EventId;

/// Statuses of `vcgate_runs_total`: `started` per attempt, then how it ended.
pub const RUN_STATUSES: [&str; 4] = ["started", "succeeded", "failed", "dead"];
/// Outcomes of `vcgate_forwards_total`.
pub const FORWARD_OUTCOMES: [&str; 2] = ["sent", "failed"];
/// Reasons of `vcgate_held_total`.
pub const HELD_REASONS: [&str; 3] = ["maintenance", "silence", "inhibit"];
/// Routes of `vcgate_routed_total`.
pub const ROUTES: [&str; 3] = ["automation", "monitoring", "drop"];

/// Declares the series of known label values at zero: a counter's first
/// increment then shows in `increase()` (an alert on the first dead run
/// fires), and panels show 0 rather than "no data". Idempotent; called at
/// scrape time, so functions added by a reload are declared too.
pub fn declare_series<'a>(
    functions: impl IntoIterator<Item = &'a str>,
    targets: impl IntoIterator<Item = &'a str>,
) {
    for function in functions {
        for status in RUN_STATUSES {
            metrics::counter!("vcgate_runs_total", "function" => function.to_owned(), "status" => status)
                .increment(0);
        }
    }
    for target in targets {
        for outcome in FORWARD_OUTCOMES {
            metrics::counter!("vcgate_forwards_total", "target" => target.to_owned(), "outcome" => outcome)
                .increment(0);
        }
        metrics::counter!("vcgate_forwards_given_up_total", "target" => target.to_owned())
            .increment(0);
    }
    for reason in HELD_REASONS {
        metrics::counter!("vcgate_held_total", "reason" => reason).increment(0);
    }
    // A pipeline stuck from the start still has these (VcgatePipelineStalled).
    for route in ROUTES {
        metrics::counter!("vcgate_routed_total", "route" => route).increment(0);
    }
    metrics::counter!("vcgate_dedup_merged_total").increment(0);
    metrics::counter!("vcgate_dedup_evicted_total").increment(0);
}

/// Something worth a log line, a metric and a status counter.
pub trait InternalEvent {
    fn emit(self, stats: &Stats);
}

/// Seconds from `from` to now (0 when the clock went back).
fn since(from: OffsetDateTime) -> f64 {
    (OffsetDateTime::now_utc() - from).as_seconds_f64().max(0.0)
}

/// When the event with this id was received: ids are UUIDv7, minted at receipt.
pub fn received_at(id: EventId) -> Option<OffsetDateTime> {
    let (secs, nanos) = id.0.get_timestamp()?.to_unix();
    OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .map(|t| t + time::Duration::nanoseconds(nanos as i64))
}

/// Events committed to the store (acceptance): receipt → commit latency.
pub struct EventsCommitted<'a> {
    pub received: &'a [OffsetDateTime],
}

impl InternalEvent for EventsCommitted<'_> {
    fn emit(self, _stats: &Stats) {
        let h = metrics::histogram!("vcgate_receipt_to_commit_seconds");
        for at in self.received {
            h.record(since(*at));
        }
    }
}

/// An event routed to monitoring was held back (maintenance, silence, inhibition).
pub struct EventHeld<'a> {
    /// `maintenance`, `silence` or `inhibit`.
    pub reason: &'static str,
    /// What held it (`silence:<id>`, …): logged, never a label.
    pub by: &'a str,
    pub event: EventId,
}

impl InternalEvent for EventHeld<'_> {
    fn emit(self, stats: &Stats) {
        tracing::debug!(event = %self.event, held_by = self.by, "held back from monitoring");
        metrics::counter!("vcgate_held_total", "reason" => self.reason).increment(1);
        stats.pipeline(&format!("held.{}", self.reason), 1);
    }
}

/// One pipeline batch decided: merges, routes, dedup evictions.
pub struct BatchDecided {
    pub merged: u64,
    pub automation: u64,
    pub monitoring: u64,
    pub dropped: u64,
    pub evicted: u64,
}

impl InternalEvent for BatchDecided {
    fn emit(self, stats: &Stats) {
        metrics::counter!("vcgate_dedup_merged_total").increment(self.merged);
        metrics::counter!("vcgate_dedup_evicted_total").increment(self.evicted);
        for (route, n) in ROUTES
            .into_iter()
            .zip([self.automation, self.monitoring, self.dropped])
        {
            metrics::counter!("vcgate_routed_total", "route" => route).increment(n);
        }
        stats.pipeline("dedup.merged", self.merged);
        if self.evicted > 0 {
            stats.pipeline("dedup.evicted", self.evicted);
        }
        stats.pipeline("routed.automation", self.automation);
        stats.pipeline("routed.monitoring", self.monitoring);
        stats.pipeline("routed.drop", self.dropped);
    }
}

/// A run's attempt started.
pub struct RunStarted<'a> {
    pub function: &'a str,
    pub run: &'a str,
    pub event: EventId,
    pub attempt: u32,
}

impl InternalEvent for RunStarted<'_> {
    fn emit(self, stats: &Stats) {
        tracing::info!(run = %self.run, function = %self.function, event = %self.event, attempt = self.attempt, "run started");
        if self.attempt == 1
            && let Some(at) = received_at(self.event)
        {
            metrics::histogram!("vcgate_receipt_to_run_start_seconds", "function" => self.function.to_owned())
                .record(since(at));
        }
        metrics::counter!("vcgate_runs_total", "function" => self.function.to_owned(), "status" => "started")
            .increment(1);
        stats.pipeline(&format!("runs.{}.started", self.function), 1);
    }
}

/// A run's attempt ended (`succeeded`, `failed` = will retry, `dead`).
pub struct RunFinished<'a> {
    pub function: &'a str,
    pub run: &'a str,
    pub status: &'static str,
    /// Already redacted.
    pub reason: Option<&'a str>,
}

impl InternalEvent for RunFinished<'_> {
    fn emit(self, stats: &Stats) {
        tracing::info!(run = %self.run, function = %self.function, status = self.status, reason = self.reason, "run finished");
        metrics::counter!("vcgate_runs_total", "function" => self.function.to_owned(), "status" => self.status)
            .increment(1);
        stats.pipeline(&format!("runs.{}.{}", self.function, self.status), 1);
    }
}

/// One send to a monitoring target: `sent` (with receipt → forward latency
/// of the event it carried) or `failed`.
pub struct Forwarded<'a> {
    pub target: &'a str,
    pub outcome: Outcome<'a>,
}

pub enum Outcome<'a> {
    Sent {
        event: EventId,
    },
    Failed {
        to: &'a str,
        attempts: u32,
        error: &'a str,
    },
}

impl<'a> Forwarded<'a> {
    pub fn sent(target: &'a str, event: EventId) -> Self {
        Self {
            target,
            outcome: Outcome::Sent { event },
        }
    }

    pub fn failed(target: &'a str, to: &'a str, attempts: u32, error: &'a str) -> Self {
        Self {
            target,
            outcome: Outcome::Failed {
                to,
                attempts,
                error,
            },
        }
    }
}

impl InternalEvent for Forwarded<'_> {
    fn emit(self, stats: &Stats) {
        let outcome = match self.outcome {
            Outcome::Sent { event } => {
                tracing::debug!(target = self.target, %event, "forwarded");
                if let Some(at) = received_at(event) {
                    metrics::histogram!("vcgate_receipt_to_forward_seconds", "target" => self.target.to_owned())
                        .record(since(at));
                }
                "sent"
            }
            Outcome::Failed {
                to,
                attempts,
                error,
            } => {
                tracing::warn!(target = self.target, to, attempts, error, "forward failed");
                "failed"
            }
        };
        metrics::counter!("vcgate_forwards_total", "target" => self.target.to_owned(), "outcome" => outcome)
            .increment(1);
        stats.pipeline(&format!("forward.{}.{outcome}", self.target), 1);
    }
}

/// A delivery to a monitoring target was given up (a permanent error, or
/// the last of its attempts failed): that event never reaches the target.
pub struct ForwardGivenUp<'a> {
    pub target: &'a str,
    pub event: EventId,
    pub attempts: u32,
    pub error: &'a str,
}

impl InternalEvent for ForwardGivenUp<'_> {
    fn emit(self, stats: &Stats) {
        tracing::error!(target = self.target, event = %self.event, attempts = self.attempts, error = self.error, "forward given up");
        metrics::counter!("vcgate_forwards_given_up_total", "target" => self.target.to_owned())
            .increment(1);
        stats.pipeline(&format!("forward.{}.given_up", self.target), 1);
    }
}

/// How many alerts a target is told are firing now.
pub struct ActiveAlerts<'a> {
    pub target: &'a str,
    pub firing: usize,
}

impl InternalEvent for ActiveAlerts<'_> {
    fn emit(self, stats: &Stats) {
        metrics::gauge!("vcgate_active_alerts", "target" => self.target.to_owned())
            .set(self.firing as f64);
        stats.with(|s| {
            s.active_alerts
                .insert(self.target.to_owned(), self.firing as u64);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_time_comes_from_the_event_id() {
        let before = OffsetDateTime::now_utc() - time::Duration::milliseconds(2);
        let id = EventId::new();
        let at = received_at(id).unwrap();
        assert!(at >= before && at <= OffsetDateTime::now_utc());
    }

    #[test]
    fn status_counters_stay_bounded() {
        let stats = Stats::new();
        for _ in 0..3 {
            stats.emit(EventHeld {
                reason: "silence",
                by: &format!("silence:{}", uuid::Uuid::now_v7()),
                event: EventId::new(),
            });
        }
        let snap = stats.snapshot();
        assert_eq!(snap.pipeline["held.silence"], 3);
        assert_eq!(snap.pipeline.len(), 1, "{:?}", snap.pipeline);
    }
}
