//! Webhook forwarder: Alertmanager v2 (`POST /api/v2/alerts`) or a CloudEvent.
//!
//! Alertmanager shape: one alert per event with `labels` (alertname, vcenter,
//! entity, severity, source, type), `annotations` (summary, description,
//! event id) and `startsAt`; a green/gray status sets `endsAt` so the alert
//! resolves.

use serde_json::{Value, json};

use super::{ForwardError, Forwarder};
use crate::config::{WebhookFormat, WebhookForwardTarget};
use crate::model::{AlarmStatus, Event, format_rfc3339};

pub struct WebhookForwarder {
    url: String,
    format: WebhookFormat,
    client: reqwest::Client,
}

impl WebhookForwarder {
    pub fn new(config: &WebhookForwardTarget) -> anyhow::Result<Self> {
        Ok(Self {
            url: config.url.clone(),
            format: config.format,
            client: reqwest::Client::builder().timeout(config.timeout).build()?,
        })
    }
}

impl Forwarder for WebhookForwarder {
    async fn deliver(&self, event: &Event) -> Result<(), ForwardError> {
        let request = match self.format {
            WebhookFormat::Alertmanager => self
                .client
                .post(&self.url)
                .json(&alertmanager_alerts(event)),
            WebhookFormat::Cloudevents => self
                .client
                .post(&self.url)
                .header("content-type", "application/cloudevents+json")
                .body(event.to_cloudevent().to_string()),
        };
        let response = request
            .send()
            .await
            .map_err(|e| ForwardError::Transient(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(ForwardError::Transient(format!(
                "POST {}: HTTP {status}",
                self.url
            )))
        } else {
            Err(ForwardError::Permanent(format!(
                "POST {}: HTTP {status}",
                self.url
            )))
        }
    }
}

/// Alertmanager v2 `postableAlerts` body for one event.
pub fn alertmanager_alerts(event: &Event) -> Value {
    let status = event.alarm.as_ref().and_then(|a| a.new_status.as_ref());
    let severity = match status.map(|s| s.status) {
        Some(AlarmStatus::Red) => "critical",
        Some(AlarmStatus::Yellow) => "warning",
        _ => "info",
    };
    let alertname = event
        .alarm
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_else(|| event.event_type.to_string());
    let starts = format_rfc3339(event.time.unwrap_or(event.received_at));
    let mut alert = json!({
        "labels": {
            "alertname": alertname,
            "vcenter": event.vcenter,
            "entity": event.entity.name.clone().unwrap_or_default(),
            "severity": severity,
            "source": event.source.as_str(),
            "type": event.event_type.as_str(),
        },
        "annotations": {
            "summary": event.message.clone().unwrap_or_else(|| alertname.clone()),
            "event_id": event.id.to_string(),
            "status": status.map(|s| s.raw.clone()).unwrap_or_default(),
        },
        "startsAt": starts,
    });
    if matches!(
        status.map(|s| s.status),
        Some(AlarmStatus::Green | AlarmStatus::Gray)
    ) {
        alert["endsAt"] = Value::String(format_rfc3339(event.received_at));
    }
    json!([alert])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, EventType, Source, StatusText};

    #[test]
    fn green_resolves_red_fires() {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.name = Some("esx01".into());
        e.alarm = Some(Alarm {
            name: Some("Host down".into()),
            new_status: Some(StatusText::parse("Red")),
            ..Alarm::default()
        });
        let red = alertmanager_alerts(&e);
        assert_eq!(red[0]["labels"]["alertname"], "Host down");
        assert_eq!(red[0]["labels"]["severity"], "critical");
        assert!(red[0].get("endsAt").is_none());
        e.alarm.as_mut().unwrap().new_status = Some(StatusText::parse("Green"));
        assert!(alertmanager_alerts(&e)[0]["endsAt"].is_string());
    }
}
