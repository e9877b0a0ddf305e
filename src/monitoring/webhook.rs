//! Webhook forwarding of single events: CloudEvents (vcgate's or VEBA's
//! shape, structured or binary content mode), and Alertmanager
//! one-shot notifications (events that are not alarm transitions). Alarm
//! transitions reach Alertmanager from the active-alert table instead
//! (`alertmanager.rs`); the payload of both is built here.
//!
//! Every URL of a target gets every event; a URL that failed is retried
//! without sending again to the URLs that already took it (remembered in
//! memory: after a restart all are sent again, which Alertmanager and any
//! CloudEvents consumer keyed on the event id take as a repeat).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{ForwardError, Forwarder};
use crate::cloudevents::{self, Encoding, EventFormat, Outgoing};
use crate::config::{WebhookFormat, WebhookForwardTarget};
use crate::model::{Event, EventId, format_rfc3339};
use crate::store::{AlertRow, AlertState};

/// Pending deliveries whose per-URL progress is remembered at most.
const MAX_REMEMBERED: usize = 10_000;

pub struct WebhookForwarder {
    urls: Vec<String>,
    format: WebhookFormat,
    /// `format = "cloudevents"`: vcgate's or VEBA's event, structured or binary.
    event_format: EventFormat,
    encoding: Encoding,
    /// vCenter SDK URLs by name (VEBA's `source`).
    vcenter_urls: HashMap<String, String>,
    client: reqwest::Client,
    resend_interval: Duration,
    external_url: String,
    /// URLs (by index) that already took a delivery still being retried.
    taken: Mutex<HashMap<EventId, HashSet<usize>>>,
}

impl WebhookForwarder {
    pub fn new(
        config: &WebhookForwardTarget,
        external_url: &str,
        vcenter_urls: HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            urls: config.all_urls(),
            format: config.format,
            event_format: config.event_format,
            encoding: config.encoding,
            vcenter_urls,
            client: reqwest::Client::builder().timeout(config.timeout).build()?,
            resend_interval: config.resend_interval,
            external_url: external_url.to_owned(),
            taken: Mutex::default(),
        })
    }

    fn taken(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, HashSet<usize>>> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// POSTs `body` to `url` with `content_type` and `headers`: 2xx is
/// success; 5xx, 408, 429 and connection errors are worth retrying.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(), ForwardError> {
    let mut request = client.post(url).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| ForwardError::Transient(format!("POST {url}: {e}")))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(ForwardError::Transient(format!(
            "POST {url}: HTTP {status}"
        )))
    } else {
        Err(ForwardError::Permanent(format!(
            "POST {url}: HTTP {status}"
        )))
    }
}

impl Forwarder for WebhookForwarder {
    async fn deliver(&self, event: &Event) -> Result<(), ForwardError> {
        let outgoing = match self.format {
            WebhookFormat::Alertmanager => Outgoing {
                content_type: "application/json".to_owned(),
                headers: Vec::new(),
                body: json!([one_shot_alert(
                    event,
                    OffsetDateTime::now_utc(),
                    self.resend_interval,
                    &self.external_url
                )])
                .to_string()
                .into_bytes(),
            },
            WebhookFormat::Cloudevents => {
                let vcenter_url = self.vcenter_urls.get(&event.vcenter).map(String::as_str);
                let ce = cloudevents::render(event, self.event_format, vcenter_url);
                cloudevents::send(&ce, self.encoding)
            }
        };
        let done = self.taken().get(&event.id).cloned().unwrap_or_default();
        let mut last_error = None;
        let mut now_done = done.clone();
        for (i, url) in self.urls.iter().enumerate() {
            if done.contains(&i) {
                continue;
            }
            match post(
                &self.client,
                url,
                &outgoing.content_type,
                &outgoing.headers,
                outgoing.body.clone(),
            )
            .await
            {
                Ok(()) => {
                    now_done.insert(i);
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut taken = self.taken();
        match last_error {
            None => {
                taken.remove(&event.id);
                Ok(())
            }
            Some(e) => {
                if matches!(e, ForwardError::Permanent(_)) {
                    taken.remove(&event.id);
                } else {
                    if taken.len() >= MAX_REMEMBERED {
                        taken.clear(); // worst case: a repeat to a URL that had it
                    }
                    taken.insert(event.id, now_done);
                }
                Err(e)
            }
        }
    }
}

/// Where an event can be looked at in vcgate.
pub fn generator_url(external_url: &str, event: EventId) -> String {
    format!("{external_url}api/v1/events/{event}")
}

/// A firing alert lives `4 × resend_interval` past each send.
pub fn firing_ends_at(now: OffsetDateTime, resend_interval: Duration) -> OffsetDateTime {
    now + resend_interval * 4
}

/// An alert of the active-alert table as Alertmanager's `postableAlert`:
/// firing ones end `4 × resend_interval` from now (re-sent before then),
/// resolved ones at their resolve time, with the labels they fired with.
pub fn table_alert(
    row: &AlertRow,
    now: OffsetDateTime,
    resend_interval: Duration,
    external_url: &str,
) -> Value {
    let ends_at = match (row.state, row.resolved_at) {
        (AlertState::Resolved, Some(at)) => at,
        _ => firing_ends_at(now, resend_interval),
    };
    let annotations = BTreeMap::from([
        ("summary", row.summary.clone()),
        ("severity", row.severity.clone()),
        ("status", row.status.clone()),
        ("event_id", row.event_id.to_string()),
    ]);
    json!({
        "labels": row.labels,
        "annotations": annotations,
        "startsAt": format_rfc3339(row.starts_at),
        "endsAt": format_rfc3339(ends_at),
        "generatorURL": generator_url(external_url, row.event_id),
    })
}

/// A one-shot notification (not an alarm transition) as an alert that ends
/// by itself `4 × resend_interval` after it is sent: it is never re-sent, so
/// nothing pages forever. `alertname` is the alarm name or the event type.
pub fn one_shot_alert(
    event: &Event,
    now: OffsetDateTime,
    resend_interval: Duration,
    external_url: &str,
) -> Value {
    let identity = super::alerts::identity_of(event);
    let status = event.alarm.as_ref().and_then(|a| a.new_status.as_ref());
    let annotations = BTreeMap::from([
        (
            "summary",
            event
                .message
                .clone()
                .unwrap_or_else(|| identity.alarm_name.clone()),
        ),
        (
            "severity",
            crate::silence::severity(status.map(|s| s.status)).to_owned(),
        ),
        ("status", status.map(|s| s.raw.clone()).unwrap_or_default()),
        ("event_id", event.id.to_string()),
        ("type", event.event_type.to_string()),
    ]);
    json!({
        "labels": super::alerts::labels(&identity),
        "annotations": annotations,
        "startsAt": format_rfc3339(event.time.unwrap_or(event.received_at)),
        "endsAt": format_rfc3339(firing_ends_at(now, resend_interval)),
        "generatorURL": generator_url(external_url, event.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EventType, Source, StatusText};
    use crate::monitoring::alerts::{Observation, apply};
    use crate::store::TargetKind;

    fn alarm(status: &str) -> Event {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some("esx01".into());
        e.alarm = Some(Alarm {
            name: Some("Host down".into()),
            new_status: Some(StatusText::parse(status)),
            ..Alarm::default()
        });
        e
    }

    fn row(e: &Event) -> AlertRow {
        let o = Observation::of(e, e.received_at, None, true).unwrap();
        match apply(TargetKind::Alertmanager, "am", None, &o, "k").step {
            crate::monitoring::alerts::Step::Upsert(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ends_at_is_four_resend_intervals_out_while_firing() {
        let now = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let ri = Duration::from_secs(60);
        assert_eq!(
            firing_ends_at(now, ri),
            time::macros::datetime!(2026-01-01 00:04:00 UTC)
        );
        let red = alarm("Red");
        let r = row(&red);
        let a = table_alert(&r, now, ri, "http://vcgate:8080/");
        assert_eq!(a["endsAt"], "2026-01-01T00:04:00Z");
        assert_eq!(a["labels"]["alertname"], "Host down");
        assert!(a["labels"].get("severity").is_none());
        assert_eq!(a["annotations"]["severity"], "critical");
        assert_eq!(
            a["generatorURL"],
            format!("http://vcgate:8080/api/v1/events/{}", red.id)
        );
        let mut resolved = r.clone();
        resolved.state = AlertState::Resolved;
        resolved.resolved_at = Some(now - time::Duration::seconds(5));
        let a = table_alert(&resolved, now, ri, "http://x/");
        assert_eq!(a["endsAt"], "2025-12-31T23:59:55Z");
        assert_eq!(a["labels"], table_alert(&r, now, ri, "http://x/")["labels"]);
    }

    #[test]
    fn one_shots_end_by_themselves() {
        let mut e = Event::new(
            Source::VcenterEvents,
            "vc1",
            EventType::parse("vm.powered.off").unwrap(),
        );
        e.entity.name = Some("web01".into());
        let now = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        let a = one_shot_alert(&e, now, Duration::from_secs(5), "http://x/");
        assert_eq!(a["labels"]["alertname"], "vm.powered.off");
        assert_eq!(a["endsAt"], "2026-01-01T00:00:20Z");
    }
}
