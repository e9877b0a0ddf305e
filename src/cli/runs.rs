//! Automation: `vcgate get runs` (`--follow`), `get run ID`, `get functions`,
//! `get subscriptions`, and `vcgate retry ID`.

use std::process::ExitCode;

use reqwest::Method;

use super::args::{ClientArgs, OutputFormat, RunsArgs};
use super::client::{Client, PathQuery, Scope, encode};
use super::follow::{self, Columns};
use super::output::{self, Fields, Table, name_of, opt_time, or_dash, time};
use crate::api::wire::{FunctionList, RunList, RunQueued, RunView, SubscriptionList};
use crate::config::FunctionKind;
use crate::store::RunRecord;

/// `vcgate get runs [FUNCTION]`.
pub async fn list(client: &Client, args: &RunsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let query = filters(args);
    follow::list::<RunList>(
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

/// `GET /api/v1/runs` with the filters given.
pub fn filters(args: &RunsArgs) -> PathQuery {
    PathQuery::new("/api/v1/runs")
        .param("function", args.function.as_ref())
        .param("status", args.status.as_ref())
        .param("event", args.event.as_ref())
}

/// `vcgate get run ID`.
pub async fn one(client: &Client, id: &str, format: OutputFormat) -> anyhow::Result<()> {
    let path = format!("/api/v1/runs/{}", encode(id));
    super::show(client, &path, format, render_run).await
}

/// `vcgate retry ID`: re-queues a dead or failed run (admin token).
pub async fn retry(args: &ClientArgs, id: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(args, Scope::Admin)?;
    let path = format!("/api/v1/runs/{}/retry", encode(id));
    let done = async {
        let body = client.send::<()>(Method::POST, &path, None).await?;
        let queued: RunQueued = client.decode(&path, &body)?;
        let text = match args.format() {
            OutputFormat::Json | OutputFormat::Yaml => {
                output::document(args.format(), &queued, false)?
            }
            _ => format!(
                "run {} {} again\n",
                output::printable(&queued.id),
                name_of(&queued.status)
            ),
        };
        output::print(&text)?;
        Ok(())
    };
    super::finish(done.await)
}

fn headers(wide: bool) -> &'static [&'static str] {
    if wide {
        &[
            "ID",
            "FUNCTION",
            "SUBSCRIPTION",
            "EVENT",
            "STATUS",
            "ATTEMPT",
            "CREATED DATE",
            "STARTED",
            "FINISHED",
            "NEXT ATTEMPT",
            "SECRETS",
            "REASON",
        ]
    } else {
        &[
            "ID",
            "FUNCTION",
            "STATUS",
            "ATTEMPT",
            "CREATED DATE",
            "FINISHED",
            "REASON",
        ]
    }
}

/// The table of `get runs`.
pub const COLUMNS: Columns<RunRecord> = Columns { headers, row };

fn row(r: &RunRecord, wide: bool) -> Vec<String> {
    let reason = r.reason.clone().unwrap_or_default();
    if !wide {
        return vec![
            r.id.clone(),
            r.function.clone(),
            name_of(&r.status),
            r.attempt.to_string(),
            time(r.queued),
            opt_time(r.finished),
            reason,
        ];
    }
    vec![
        r.id.clone(),
        r.function.clone(),
        r.subscription.clone(),
        r.event_id.to_string(),
        name_of(&r.status),
        r.attempt.to_string(),
        time(r.queued),
        opt_time(r.started),
        opt_time(r.finished),
        opt_time(r.next_attempt),
        or_dash((!r.secrets.is_empty()).then(|| r.secrets.join(","))),
        reason,
    ]
}

/// JSON text of a value for a one-line field.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn render_run(view: &RunView, wide: bool) -> String {
    let r = &view.run;
    let event = view
        .event_head()
        .map(|h| format!("{} {}", h.id, h.event_type))
        .unwrap_or_else(|| format!("{} -", r.event_id));
    let mut f = Fields::new(13);
    f.add("id", &r.id)
        .add("function", &r.function)
        .add("subscription", &r.subscription)
        .add("event", event)
        .add("status", name_of(&r.status))
        .add("reason", or_dash(r.reason.as_ref()))
        .add("attempt", r.attempt.to_string())
        .add("queued", time(r.queued))
        .add("started", opt_time(r.started))
        .add("finished", opt_time(r.finished));
    if wide {
        f.add("next attempt", opt_time(r.next_attempt))
            .add("truncated", r.logs.truncated.to_string())
            .add("input", json_text(&r.input));
    }
    f.add("secrets", json_text(&r.secrets))
        .add("output", json_text(&r.output));
    for line in &r.logs.stdout {
        f.add("stdout", line);
    }
    for line in &r.logs.stderr {
        f.add("stderr", line);
    }
    f.finish()
}

pub fn render_functions(list: &FunctionList, wide: bool) -> String {
    let rows: Vec<Vec<String>> = list
        .functions
        .iter()
        .map(|f| {
            let executes = match f.kind {
                FunctionKind::Command => f.command.clone().unwrap_or_default().join(" "),
                FunctionKind::Webhook => or_dash(f.url.as_ref()),
                FunctionKind::Builtin => or_dash(f.builtin.as_ref()),
            };
            let mut row = vec![
                f.name.clone(),
                name_of(&f.kind),
                executes,
                json_text(&f.secrets),
                f.timeout.clone(),
                f.max_attempts.to_string(),
            ];
            if wide {
                row.extend([
                    f.concurrency.to_string(),
                    f.signed.to_string(),
                    or_dash((!f.env.is_empty()).then(|| f.env.join(","))),
                    or_dash((!f.subscriptions.is_empty()).then(|| f.subscriptions.join(","))),
                ]);
            }
            row
        })
        .collect();
    let mut headers = vec!["NAME", "KIND", "EXECUTES", "SECRETS", "TIMEOUT", "ATTEMPTS"];
    if wide {
        headers.extend(["CONCURRENCY", "SIGNED", "ENV", "SUBSCRIPTIONS"]);
    }
    Table::new(&headers).render(&rows)
}

pub fn render_subscriptions(list: &SubscriptionList, wide: bool) -> String {
    let rows: Vec<Vec<String>> = list
        .subscriptions
        .iter()
        .map(|s| {
            let filters = [
                ("vcenter", &s.vcenter),
                ("entity", &s.entity),
                ("alarm", &s.alarm),
                ("status", &s.status),
            ];
            let mut row = vec![s.name.clone(), s.event_type.clone(), s.function.clone()];
            if wide {
                row.extend(filters.iter().map(|(_, v)| or_dash(v.as_ref())));
            } else {
                let set = filters
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)));
                row.push(output::pairs(set, ","));
            }
            row
        })
        .collect();
    let headers: &[&'static str] = if wide {
        &[
            "NAME",
            "EVENT TYPE",
            "FUNCTION",
            "VCENTER",
            "ENTITY",
            "ALARM",
            "STATUS",
        ]
    } else {
        &["NAME", "EVENT TYPE", "FUNCTION", "FILTERS"]
    };
    Table::new(headers).render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::{FunctionView, SubscriptionView};
    use crate::store::{RunLogs, RunStatus};

    fn run() -> RunRecord {
        RunRecord {
            id: "r1".into(),
            function: "f".into(),
            subscription: "s".into(),
            event_id: crate::model::EventId::new(),
            status: RunStatus::Dead,
            attempt: 3,
            reason: Some("exit status 1".into()),
            input: None,
            output: None,
            logs: RunLogs {
                stdout: vec!["line\u{1b}[2J".into()],
                stderr: vec!["oops".into()],
                truncated: false,
            },
            queued: time::macros::datetime!(2026-11-25 10:00 UTC),
            started: None,
            finished: None,
            next_attempt: None,
            secrets: vec!["vsphere".into()],
            seq: 1,
        }
    }

    #[test]
    fn filters_map_to_query_parameters() {
        let args = RunsArgs {
            function: Some("set vm".into()),
            status: Some("dead".into()),
            event: Some("e1".into()),
            ..RunsArgs::default()
        };
        assert_eq!(
            filters(&args).set("limit", 5).build(),
            "/api/v1/runs?function=set%20vm&status=dead&event=e1&limit=5"
        );
    }

    #[test]
    fn run_views() {
        let list = RunList { runs: vec![run()] };
        let normal = COLUMNS.render(&list.runs, false);
        assert!(normal.starts_with("ID  FUNCTION  STATUS"), "{normal}");
        assert!(normal.contains("dead") && normal.contains("exit status 1"));
        let wide = COLUMNS.render(&list.runs, true);
        assert!(
            wide.contains("SUBSCRIPTION") && wide.contains("vsphere"),
            "{wide}"
        );
        let view = RunView {
            run: run(),
            event: serde_json::json!({"id": "e1", "type": "vm.created"}),
        };
        let text = render_run(&view, false);
        assert!(text.contains("event         e1 vm.created\n"), "{text}");
        assert!(text.contains("stdout        line\u{FFFD}[2J\n"), "{text}");
        assert!(text.contains("secrets       [\"vsphere\"]\n"), "{text}");
        assert!(!text.contains("next attempt"));
        assert!(render_run(&view, true).contains("next attempt  -\n"));
    }

    #[test]
    fn functions_and_subscriptions() {
        let function = FunctionView {
            name: "hook".into(),
            kind: FunctionKind::Webhook,
            command: None,
            url: Some("http://h/fn".into()),
            builtin: None,
            env: Vec::new(),
            secrets: Vec::new(),
            timeout: "1m".into(),
            max_attempts: 5,
            concurrency: 4,
            signed: true,
            event_format: crate::cloudevents::EventFormat::Vcgate,
            encoding: Some(crate::cloudevents::Encoding::default()),
            subscriptions: vec!["all".into()],
        };
        let list = FunctionList {
            functions: vec![function],
        };
        let normal = render_functions(&list, false);
        assert!(
            normal.contains("hook  webhook  http://h/fn  []"),
            "{normal}"
        );
        let wide = render_functions(&list, true);
        assert!(
            wide.contains("CONCURRENCY") && wide.contains("true"),
            "{wide}"
        );
        let subscriptions = SubscriptionList {
            subscriptions: vec![SubscriptionView {
                name: "s".into(),
                event_type: "vm.*".into(),
                function: "hook".into(),
                vcenter: None,
                entity: Some("web*".into()),
                alarm: None,
                status: Some("red".into()),
                event_format: None,
            }],
        };
        let normal = render_subscriptions(&subscriptions, false);
        assert!(normal.contains("entity=web*,status=red"), "{normal}");
        let wide = render_subscriptions(&subscriptions, true);
        let cells: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cells,
            ["s", "vm.*", "hook", "-", "web*", "-", "red"],
            "{wide}"
        );
    }
}
