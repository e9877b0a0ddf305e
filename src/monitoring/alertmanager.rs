//! The Alertmanager sender: one task per `format = "alertmanager"` target
//! that keeps every URL of the target in step with the active-alert table,
//! following Prometheus' contract for clients that push alerts.
//!
//! - Every firing alert the target was told about is re-sent every
//!   `resend_interval` with `endsAt = now + 4 × resend_interval`: it stays
//!   active exactly as long as vcgate says, and ends by itself only if
//!   vcgate is gone for good.
//! - A change (a new alert, an update, a resolve) is sent at once, to every URL.
//! - Each URL is tracked on its own: the highest table version it has taken
//!   and its backoff after failures (1 s doubling, at most `resend_interval`).
//!   A resolved row is deleted once every URL took it, or once the alert's
//!   last `endsAt` has passed (then every Alertmanager has ended it anyway).
//! - That progress is in memory: after a restart every URL gets the whole
//!   table again (Alertmanager takes repeats as the same alerts), so a crash
//!   loses no resolve and leaves nothing firing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::webhook::{post, table_alert};
use crate::config::WebhookForwardTarget;
use crate::ingest::Ingestor;
use crate::store::{AlertRow, AlertState};
use crate::telemetry::internal_events::{ActiveAlerts, Forwarded};

/// What one URL has taken so far.
#[derive(Debug, Default)]
struct UrlProgress {
    /// Every row change up to this table version reached this URL.
    acked: i64,
    last_full: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// What to send to one URL now, by a pure rule: every firing, told alert
/// when a full re-send is due, else those changed since the URL's last
/// success; resolved alerts it has not taken. `None`: nothing to send.
fn batch_for(rows: &[AlertRow], acked: i64, full: bool) -> Vec<&AlertRow> {
    rows.iter()
        .filter(|r| match r.state {
            AlertState::Firing => r.sent_event_id.is_some() && (full || r.version > acked),
            AlertState::Resolved => r.version > acked,
        })
        .collect()
}

/// Resolved rows no URL still needs: taken by all, or past their last `endsAt`.
fn forgettable(
    rows: &[AlertRow],
    min_acked: i64,
    now: OffsetDateTime,
    resend_interval: Duration,
) -> Vec<(String, i64)> {
    rows.iter()
        .filter(|r| r.state == AlertState::Resolved)
        .filter(|r| {
            r.version <= min_acked
                || r.resolved_at
                    .is_some_and(|at| at + resend_interval * 4 < now)
        })
        .map(|r| (r.key.clone(), r.version))
        .collect()
}

pub async fn run(
    name: String,
    config: WebhookForwardTarget,
    external_url: String,
    ingestor: Ingestor,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target = %name, error = %e, "cannot build the HTTP client; Alertmanager target disabled");
            return;
        }
    };
    let sender = Sender {
        resend_interval: config.resend_interval,
        name,
        client,
        external_url,
        ingestor,
    };
    let urls = config.all_urls();
    let mut progress: Vec<UrlProgress> = urls.iter().map(|_| UrlProgress::default()).collect();
    loop {
        let rows = sender.rows().await;
        let now = OffsetDateTime::now_utc();
        for (url, p) in urls.iter().zip(progress.iter_mut()) {
            sender.send(url, p, &rows, now).await;
        }
        sender.tidy(&rows, &progress, now).await;
        // Sleep until the next full re-send or retry is due, or a change.
        let next = next_due(&progress, sender.resend_interval);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(next) => {}
        }
    }
}

/// One Alertmanager target's sender.
struct Sender {
    name: String,
    client: reqwest::Client,
    resend_interval: Duration,
    external_url: String,
    ingestor: Ingestor,
}

impl Sender {
    /// The target's alert table (empty, logged, when it cannot be read).
    async fn rows(&self) -> Vec<AlertRow> {
        match self.ingestor.store.target_alerts(self.name.clone()).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(target = %self.name, error = %e, "cannot read the active alerts");
                Vec::new()
            }
        }
    }

    /// Brings one URL up to date with `rows` ([`batch_for`]), unless it is
    /// backing off; on failure starts (or extends) its backoff.
    async fn send(&self, url: &str, p: &mut UrlProgress, rows: &[AlertRow], now: OffsetDateTime) {
        let ri = self.resend_interval;
        let top = rows.iter().map(|r| r.version).max().unwrap_or(0);
        if p.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let full = p.last_full.is_none_or(|at| at.elapsed() >= ri);
        let batch = batch_for(rows, p.acked, full);
        if batch.is_empty() {
            p.acked = p.acked.max(top);
            if full {
                p.last_full = Some(Instant::now());
            }
            return;
        }
        let body: Vec<serde_json::Value> = batch
            .iter()
            .map(|r| table_alert(r, now, ri, &self.external_url))
            .collect();
        let body = serde_json::Value::Array(body).to_string();
        let sent = post(
            &self.client,
            url,
            "application/json",
            &[],
            body.into_bytes(),
        )
        .await;
        self.settle(url, p, sent, &batch, top, full);
    }

    /// Moves one URL's progress after a send: on success to `top` (counting
    /// each alert it had not taken yet), on failure into backoff.
    fn settle(
        &self,
        url: &str,
        p: &mut UrlProgress,
        sent: Result<(), super::ForwardError>,
        batch: &[&AlertRow],
        top: i64,
        full: bool,
    ) {
        match sent {
            Ok(()) => {
                for r in batch.iter().filter(|r| r.version > p.acked) {
                    self.ingestor.stats.emit(Forwarded::sent(
                        &self.name,
                        r.sent_event_id.unwrap_or(r.event_id),
                    ));
                }
                p.acked = top;
                p.failures = 0;
                p.retry_at = None;
                if full {
                    p.last_full = Some(Instant::now());
                }
            }
            Err(e) => {
                p.failures += 1;
                let wait = super::backoff(p.failures).min(self.resend_interval);
                p.retry_at = Some(Instant::now() + wait);
                self.ingestor.stats.emit(Forwarded::failed(
                    &self.name,
                    url,
                    p.failures,
                    &e.to_string(),
                ));
            }
        }
    }

    /// Forgets resolved rows no URL still needs ([`forgettable`]) and
    /// reports how many alerts are firing.
    async fn tidy(&self, rows: &[AlertRow], progress: &[UrlProgress], now: OffsetDateTime) {
        let min_acked = progress.iter().map(|p| p.acked).min().unwrap_or(0);
        let done = forgettable(rows, min_acked, now, self.resend_interval);
        if let Err(e) = self
            .ingestor
            .store
            .forget_resolved(self.name.clone(), done)
            .await
        {
            tracing::warn!(target = %self.name, error = %e, "cannot forget resolved alerts");
        }
        self.ingestor.stats.emit(ActiveAlerts {
            target: &self.name,
            firing: rows
                .iter()
                .filter(|r| r.state == AlertState::Firing && r.sent_event_id.is_some())
                .count(),
        });
    }
}

/// How long until some URL's retry or full re-send is due (at least 50 ms).
fn next_due(progress: &[UrlProgress], resend_interval: Duration) -> Duration {
    progress
        .iter()
        .map(|p| match (p.retry_at, p.last_full) {
            (Some(at), _) => at.saturating_duration_since(Instant::now()),
            (None, Some(at)) => resend_interval.saturating_sub(at.elapsed()),
            (None, None) => Duration::ZERO,
        })
        .min()
        .unwrap_or(resend_interval)
        .max(Duration::from_millis(50))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AlertIdentity, AlertRow};

    fn row(key: &str, state: AlertState, version: i64, told: bool) -> AlertRow {
        let id = crate::model::EventId::new();
        AlertRow {
            target: "am".into(),
            key: key.into(),
            identity: AlertIdentity {
                vcenter: "vc1".into(),
                entity_moref: None,
                entity_name: "esx01".into(),
                entity_type: None,
                alarm_moref: None,
                alarm_name: key.into(),
            },
            labels: Default::default(),
            state,
            severity: "critical".into(),
            status: "Red".into(),
            summary: String::new(),
            starts_at: OffsetDateTime::UNIX_EPOCH,
            resolved_at: (state == AlertState::Resolved).then(OffsetDateTime::now_utc),
            event_id: id,
            sent_event_id: told.then_some(id),
            held_by: None,
            version,
        }
    }

    #[test]
    fn batches_carry_changes_at_once_and_everything_on_a_full_resend() {
        let rows = [
            row("old", AlertState::Firing, 1, true),
            row("new", AlertState::Firing, 5, true),
            row("held", AlertState::Firing, 6, false),
            row("gone", AlertState::Resolved, 7, true),
            row("taken", AlertState::Resolved, 2, true),
        ];
        let keys = |b: Vec<&AlertRow>| b.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(batch_for(&rows, 4, false)), ["new", "gone"]);
        assert_eq!(keys(batch_for(&rows, 4, true)), ["old", "new", "gone"]);
        assert_eq!(
            keys(batch_for(&rows, 0, true)),
            ["old", "new", "gone", "taken"]
        );
        assert!(batch_for(&rows, 7, false).is_empty());
    }

    #[test]
    fn resolved_rows_are_forgotten_when_every_url_took_them_or_they_ended_anyway() {
        let now = OffsetDateTime::now_utc();
        let ri = Duration::from_secs(10);
        let mut stale = row("stale", AlertState::Resolved, 9, true);
        stale.resolved_at = Some(now - time::Duration::seconds(41));
        let rows = [
            row("taken", AlertState::Resolved, 3, true),
            row("pending", AlertState::Resolved, 8, true),
            stale,
            row("firing", AlertState::Firing, 1, true),
        ];
        let gone: Vec<String> = forgettable(&rows, 5, now, ri)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(gone, ["taken", "stale"]);
    }
}
