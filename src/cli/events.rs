//! `vcgate get events` (filters, `--follow`) and `vcgate get event ID`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::args::{EventsArgs, OutputFormat};
use super::client::{Client, PathQuery, encode};
use super::follow::{self, Columns};
use super::output::{Fields, name_of, opt_time, or_dash, time};
use crate::api::wire::EventList;
use crate::store::StoredEvent;

/// `vcgate get events`.
pub async fn list(client: &Client, args: &EventsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let query = filters(args, OffsetDateTime::now_utc())?;
    follow::list::<EventList>(
        client,
        query,
        args.limit,
        args.before,
        args.follow,
        format,
        COLUMNS,
    )
    .await
}

/// `GET /api/v1/events` with the filters given (query parameters of the
/// same names); an age in `--since` counts back from `now`.
pub fn filters(args: &EventsArgs, now: OffsetDateTime) -> anyhow::Result<PathQuery> {
    let since = args.since.as_deref().map(|s| since(s, now)).transpose()?;
    Ok(PathQuery::new("/api/v1/events")
        .param("type", args.event_type.as_ref())
        .param("source", args.source.as_ref())
        .param("vcenter", args.vcenter.as_ref())
        .param("entity", args.entity.as_ref())
        .param("alarm", args.alarm.as_ref())
        .param("status", args.status.as_ref())
        .param("route", args.route.as_ref())
        .param("held", args.held)
        .param("duplicate", args.duplicate)
        .param("since", since))
}

/// `--since`: RFC 3339 as given, or an age (`15m`) as the time that long ago.
fn since(text: &str, now: OffsetDateTime) -> anyhow::Result<String> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time(t.to_offset(time::UtcOffset::UTC)));
    }
    let age = humantime::parse_duration(text)
        .ok()
        .and_then(|d| time::Duration::try_from(d).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--since: give an RFC 3339 time (2026-11-25T10:00:00Z) or an age (15m, 2h, 1d)"
            )
        })?;
    Ok(time(now - age))
}

/// `vcgate get event ID`.
pub async fn one(client: &Client, id: &str, format: OutputFormat) -> anyhow::Result<()> {
    let path = format!("/api/v1/events/{}", encode(id));
    super::show(client, &path, format, render_event).await
}

fn headers(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "ID",
            "TYPE",
            "SOURCE",
            "VCENTER",
            "ENTITY",
            "ALARM",
            "STATUS",
            "ROUTE",
            "HELD BY",
            "DUPLICATES",
            "RECEIVED",
            "MESSAGE",
        ]
    } else {
        &[
            "ID", "TYPE", "SOURCE", "ENTITY", "STATUS", "ROUTE", "RECEIVED",
        ]
    }
}

/// The table of `get events`.
pub const COLUMNS: Columns<StoredEvent> = Columns { headers, row };

fn row(stored: &StoredEvent, wide: bool) -> Vec<String> {
    let e = &stored.event;
    let alarm = e.alarm.as_ref();
    let status = or_dash(alarm.and_then(|a| a.new_status.as_ref()).map(|s| &s.raw));
    if !wide {
        return vec![
            e.id.to_string(),
            e.event_type.as_str().to_owned(),
            e.source.as_str().to_owned(),
            or_dash(e.entity.name.as_ref()),
            status,
            route_label(stored),
            time(e.received_at),
        ];
    }
    let disposition = stored.disposition.as_ref();
    vec![
        e.id.to_string(),
        e.event_type.as_str().to_owned(),
        e.source.as_str().to_owned(),
        e.vcenter.clone(),
        or_dash(e.entity.name.as_ref()),
        or_dash(alarm.and_then(|a| a.name.as_ref())),
        status,
        route_label(stored),
        or_dash(disposition.and_then(|d| d.held_by.as_ref())),
        stored.duplicates.to_string(),
        time(e.received_at),
        or_dash(e.message.as_ref()),
    ]
}

/// `duplicate of <id…>`, the route, or the stage while undecided.
pub fn route_label(stored: &StoredEvent) -> String {
    let disposition = stored.disposition.as_ref();
    if let Some(original) = disposition.and_then(|d| d.duplicate_of) {
        let original = original.to_string();
        return format!("duplicate of {}", &original[..8]);
    }
    match disposition.and_then(|d| d.route) {
        Some(route) => name_of(&route),
        None => stored.stage.as_str().to_owned(),
    }
}

fn render_event(stored: &StoredEvent, wide: bool) -> String {
    let e = &stored.event;
    let mut f = Fields::new(12);
    f.add("id", e.id.to_string())
        .add("type", e.event_type.as_str())
        .add("source", e.source.as_str())
        .add("vcenter", &e.vcenter)
        .add("time", opt_time(e.time))
        .add("received", time(e.received_at))
        .add(
            "entity",
            format!(
                "{} {} {}",
                or_dash(e.entity.kind.map(|k| name_of(&k))),
                or_dash(e.entity.moref.as_ref()),
                or_dash(e.entity.name.as_ref())
            ),
        );
    if let Some(a) = &e.alarm {
        f.add(
            "alarm",
            format!(
                "{} ({}) {} -> {}",
                or_dash(a.name.as_ref()),
                or_dash(a.moref.as_ref()),
                or_dash(a.old_status.as_ref().map(|s| &s.raw)),
                or_dash(a.new_status.as_ref().map(|s| &s.raw)),
            ),
        );
    }
    f.add("message", or_dash(e.message.as_ref()))
        .add("user", or_dash(e.user.as_ref()))
        .add("stage", stored.stage.as_str())
        .add("route", route_label(stored))
        .add("duplicates", stored.duplicates.to_string())
        .add(
            "metadata",
            serde_json::to_string(&e.metadata).unwrap_or_default(),
        );
    if wide {
        let d = stored.disposition.as_ref();
        f.add("category", or_dash(e.category.as_ref()))
            .add("event key", or_dash(e.event_key))
            .add("delivery id", or_dash(e.delivery_id.as_ref()))
            .add("fingerprint", e.fingerprint.to_string())
            .add(
                "enrichment",
                or_dash(e.enrichment.as_ref().map(|en| match &en.reason {
                    Some(reason) => format!("{} ({reason})", en.status),
                    None => en.status.clone(),
                })),
            )
            .add("last seen", opt_time(stored.last_seen))
            .add("rule", or_dash(d.and_then(|d| d.rule.as_ref())))
            .add("held by", or_dash(d.and_then(|d| d.held_by.as_ref())))
            .add(
                "forward to",
                d.map(|d| d.forward_to.join(",")).unwrap_or_default(),
            )
            .add(
                "runs for",
                d.map(|d| d.subscriptions.join(",")).unwrap_or_default(),
            );
        for delivery in &stored.deliveries {
            f.add(
                "delivery",
                format!(
                    "{} {} attempts={}{}",
                    delivery.target,
                    delivery.state.as_str(),
                    delivery.attempts,
                    delivery
                        .last_error
                        .as_ref()
                        .map(|e| format!(" last_error={e}"))
                        .unwrap_or_default()
                ),
            );
        }
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alarm, Event, EventType, Source, StatusText};
    use crate::store::Disposition;
    use time::macros::datetime;

    fn stored(message: &str) -> StoredEvent {
        let mut event = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        event.message = Some(message.into());
        event.user = Some(message.into());
        event.entity.name = Some(message.into());
        event.entity.kind = Some(crate::model::EntityKind::VirtualMachine);
        event.metadata.insert("x".into(), message.into());
        StoredEvent {
            event,
            seq: 1,
            stage: crate::store::EventStage::Accepted,
            duplicates: 0,
            last_seen: None,
            disposition: None,
            deliveries: Vec::new(),
        }
    }

    fn args() -> EventsArgs {
        EventsArgs {
            limit: 20,
            ..EventsArgs::default()
        }
    }

    #[test]
    fn every_filter_maps_to_its_query_parameter() {
        let now = datetime!(2026-11-25 10:00 UTC);
        let all = EventsArgs {
            event_type: Some("vm.*".into()),
            source: Some("snmp".into()),
            vcenter: Some("vc?".into()),
            entity: Some("web 0[12]".into()),
            alarm: Some("Datastore*".into()),
            status: Some("red".into()),
            route: Some("monitoring".into()),
            held: Some(true),
            duplicate: Some(false),
            since: Some("15m".into()),
            ..args()
        };
        assert_eq!(
            filters(&all, now).unwrap().build(),
            "/api/v1/events?type=vm.*&source=snmp&vcenter=vc%3F&entity=web%200%5B12%5D\
             &alarm=Datastore*&status=red&route=monitoring&held=true&duplicate=false\
             &since=2026-11-25T09%3A45%3A00Z"
        );
        assert_eq!(filters(&args(), now).unwrap().build(), "/api/v1/events");
        let exact = EventsArgs {
            since: Some("2026-11-24T08:00:00+01:00".into()),
            ..args()
        };
        assert!(
            filters(&exact, now)
                .unwrap()
                .build()
                .ends_with("since=2026-11-24T07%3A00%3A00Z")
        );
        let bad = EventsArgs {
            since: Some("yesterday".into()),
            ..args()
        };
        assert!(
            filters(&bad, now)
                .unwrap_err()
                .to_string()
                .contains("--since")
        );
    }

    #[test]
    fn wide_shows_more_columns() {
        let mut e = stored("web01");
        e.event.alarm = Some(Alarm {
            name: Some("VM created".into()),
            new_status: Some(StatusText::parse("Red")),
            ..Alarm::default()
        });
        e.disposition = Some(Disposition {
            duplicate_of: None,
            route: Some(crate::config::RouteTarget::Monitoring),
            rule: None,
            forward_to: Vec::new(),
            subscriptions: Vec::new(),
            held_by: Some("silence:s1".into()),
        });
        let list = EventList {
            events: vec![e],
            next_before: None,
        };
        let normal = COLUMNS.render(&list.events, false);
        let wide = COLUMNS.render(&list.events, true);
        assert!(normal.starts_with("ID "), "{normal}");
        assert!(
            normal.contains("Red") && normal.contains("monitoring"),
            "{normal}"
        );
        assert!(!normal.contains("VM created") && !normal.contains("HELD BY"));
        let header = wide.lines().next().unwrap();
        assert!(
            header.contains("VCENTER") && header.contains("HELD BY"),
            "{wide}"
        );
        assert!(
            wide.contains("VM created") && wide.contains("silence:s1"),
            "{wide}"
        );
        assert!(
            header.split_whitespace().count()
                > normal.lines().next().unwrap().split_whitespace().count()
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "web01\u{1b}]0;pwned\u{7}\u{1b}[2J\nstatus       succeeded\u{9b}31m\u{202e}";
        for wide in [false, true] {
            let view = render_event(&stored(hostile), wide);
            assert!(
                !view
                    .chars()
                    .any(|c| c != '\n' && crate::logging::is_unsafe_char(c)),
                "{view:?}"
            );
            assert!(!view.lines().any(|l| l.starts_with("status ")), "{view}");
            let list = EventList {
                events: vec![stored(hostile)],
                next_before: None,
            };
            let table = COLUMNS.render(&list.events, wide);
            assert_eq!(table.lines().count(), 2, "{table}");
            assert!(
                !table
                    .chars()
                    .any(|c| c != '\n' && crate::logging::is_unsafe_char(c))
            );
        }
        assert_eq!(render_event(&stored(hostile), false).lines().count(), 13);
    }

    #[test]
    fn routes_label_duplicates_and_undecided_events() {
        let mut e = stored("x");
        assert_eq!(route_label(&e), "accepted");
        let first = crate::model::EventId::new();
        e.disposition = Some(Disposition {
            duplicate_of: Some(first),
            route: None,
            rule: None,
            forward_to: Vec::new(),
            subscriptions: Vec::new(),
            held_by: None,
        });
        assert_eq!(
            route_label(&e),
            format!("duplicate of {}", &first.to_string()[..8])
        );
    }
}
