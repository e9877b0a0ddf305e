//! Client commands (`vcgate get …`, `vcgate emit …`) that talk to a running
//! gateway over its HTTP API. Tables for people, `--json` for scripts.
//!
//! The token comes from `VCGATE_TOKEN` (never a flag, so it stays out of
//! shell history and `ps`); admin verbs (`silence add|expire`, `retry`)
//! use `VCGATE_ADMIN_TOKEN` when set. Everything printed for people has its
//! control characters replaced ([`printable`]): event fields come from
//! senders and must not drive the terminal.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Gateway base URL.
    #[arg(
        long,
        env = "VCGATE_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum GetCommand {
    /// Gateway status: version, uptime, store, per-source counters.
    Status,
    /// Recent events, newest first.
    Events {
        /// Only this event type (glob, e.g. `vm.*`).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only this source (alarm-hook, snmp, vcenter-events, api, guard).
        #[arg(long)]
        source: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One event with everything known about it.
    Event {
        /// Event id.
        id: String,
    },
    /// Automation runs, newest first (optionally of one function).
    Runs {
        /// Only runs of this function.
        function: Option<String>,
        /// Only runs in this status (queued, running, succeeded, failed, dead).
        #[arg(long)]
        status: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: input, output, logs.
    Run {
        /// Run id.
        id: String,
    },
    /// Configured functions.
    Functions,
    /// Configured subscriptions.
    Subscriptions,
    /// Alarm-action guard: reconcile status per vCenter, hosts in
    /// maintenance, guarded hosts, recent actions.
    Guard {
        /// At most this many recent actions.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building HTTP client")
}

fn with_token(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match std::env::var("VCGATE_TOKEN") {
        Ok(token) if !token.is_empty() => request.bearer_auth(token),
        _ => request,
    }
}

/// For admin verbs: `VCGATE_ADMIN_TOKEN`, else `VCGATE_TOKEN`.
fn with_admin_token(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match std::env::var("VCGATE_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => request.bearer_auth(token),
        _ => with_token(request),
    }
}

/// `text` with every control character (C0, DEL, C1) and bidirectional
/// override replaced: line breaks and tabs by a space, the rest by U+FFFD.
/// One value can then neither start a new line nor send an escape sequence.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if crate::logging::is_unsafe_char(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Prints a rendered view, keeping only its own line breaks: a last guard
/// for anything that reached the text without going through [`text`].
fn show(rendered: &str) {
    let safe: String = rendered
        .chars()
        .map(|c| {
            if c != '\n' && crate::logging::is_unsafe_char(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    print!("{safe}");
}

async fn get_json(args: &ClientArgs, path_and_query: &str) -> anyhow::Result<Value> {
    let url = format!("{}{}", args.server.trim_end_matches('/'), path_and_query);
    let response = with_token(client()?.get(&url))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    decode(response).await
}

async fn decode(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let detail = printable(body["detail"].as_str().unwrap_or(""));
        let error = printable(body["error"].as_str().unwrap_or("request failed"));
        bail!(
            "{status}: {error}{}{detail}",
            if detail.is_empty() { "" } else { ": " }
        );
    }
    Ok(body)
}

pub async fn get(args: &ClientArgs, what: GetCommand) -> anyhow::Result<ExitCode> {
    let body = match &what {
        GetCommand::Status => get_json(args, "/api/v1/status").await?,
        GetCommand::Events {
            event_type,
            source,
            limit,
        } => {
            let query = with_params(
                &format!("/api/v1/events?limit={limit}"),
                &[("type", event_type), ("source", source)],
            );
            get_json(args, &query).await?
        }
        GetCommand::Event { id } => {
            get_json(args, &format!("/api/v1/events/{}", encode(id))).await?
        }
        GetCommand::Runs {
            function,
            status,
            limit,
        } => {
            let query = with_params(
                &format!("/api/v1/runs?limit={limit}"),
                &[("function", function), ("status", status)],
            );
            get_json(args, &query).await?
        }
        GetCommand::Run { id } => get_json(args, &format!("/api/v1/runs/{}", encode(id))).await?,
        GetCommand::Functions => get_json(args, "/api/v1/functions").await?,
        GetCommand::Subscriptions => get_json(args, "/api/v1/subscriptions").await?,
        GetCommand::Guard { limit } => {
            get_json(args, &format!("/api/v1/guard?limit={limit}")).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    match what {
        GetCommand::Status => print_status(&body),
        GetCommand::Events { .. } => {
            print_events(body["events"].as_array().map(Vec::as_slice).unwrap_or(&[]))
        }
        GetCommand::Event { .. } => show(&render_event(&body)),
        GetCommand::Runs { .. } => {
            print_runs(body["runs"].as_array().map(Vec::as_slice).unwrap_or(&[]))
        }
        GetCommand::Run { .. } => show(&render_run(&body)),
        GetCommand::Functions => print_functions(
            body["functions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        ),
        GetCommand::Subscriptions => print_subscriptions(
            body["subscriptions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        ),
        GetCommand::Guard { .. } => show(&render_guard(&body)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn emit(
    args: &ClientArgs,
    event_type: &str,
    data: &str,
    subject: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let data: Value = serde_json::from_str(data).context("--data must be a JSON object")?;
    if !data.is_object() {
        bail!("--data must be a JSON object");
    }
    let mut event = serde_json::json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7().to_string(),
        "source": "vcgate-cli",
        "type": event_type,
        "datacontenttype": "application/json",
        "data": data,
    });
    if let Some(s) = subject {
        event["subject"] = Value::String(s.to_owned());
    }
    let url = format!("{}/api/v1/events", args.server.trim_end_matches('/'));
    let response = with_token(client()?.post(&url).json(&event))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body = decode(response).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("accepted event {}", text(&body["id"]));
    }
    Ok(ExitCode::SUCCESS)
}

/// `vcgate retry ID`: re-queues a dead run (needs an admin token).
pub async fn retry(args: &ClientArgs, id: &str) -> anyhow::Result<ExitCode> {
    let url = format!(
        "{}/api/v1/runs/{}/retry",
        args.server.trim_end_matches('/'),
        encode(id)
    );
    let response = with_admin_token(client()?.post(&url))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body = decode(response).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("run {} queued again", printable(id));
    }
    Ok(ExitCode::SUCCESS)
}

/// `vcgate silence …`
#[derive(Subcommand, Debug, Clone)]
pub enum SilenceCommand {
    /// Create a silence: `vcgate silence add alertname='alarm.Datastore*' 'entity!~esx0[12]' --duration 2h`.
    Add {
        /// Matchers NAME=VALUE (a value with * or ? is a glob), NAME!=VALUE,
        /// NAME=~REGEX, NAME!~REGEX. Names: alertname (alias alarm), vcenter,
        /// entity, entity_type, severity, status, type, source.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long from now (humantime: 30m, 2h, 1d).
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Why (shown with the silence).
        #[arg(long, default_value = "")]
        comment: String,
        /// Who creates it.
        #[arg(long, env = "USER", default_value = "vcgate-cli")]
        created_by: String,
    },
    /// List silences (active, pending, and expired ones kept for audit).
    List,
    /// End a silence now.
    Expire {
        /// Silence id.
        id: String,
    },
}

pub async fn silence(args: &ClientArgs, command: SilenceCommand) -> anyhow::Result<ExitCode> {
    let base = args.server.trim_end_matches('/').to_owned();
    let body = match command {
        SilenceCommand::Add {
            matchers,
            duration,
            comment,
            created_by,
        } => {
            let duration =
                humantime::parse_duration(&duration).context("--duration: e.g. 30m, 2h, 1d")?;
            let matchers: Vec<Value> = matchers
                .iter()
                .map(|m| cli_matcher(m))
                .collect::<anyhow::Result<_>>()?;
            let now = time::OffsetDateTime::now_utc();
            let ends = now + time::Duration::try_from(duration)?;
            let fmt = &time::format_description::well_known::Rfc3339;
            let request = serde_json::json!({
                "matchers": matchers,
                "startsAt": now.format(fmt)?,
                "endsAt": ends.format(fmt)?,
                "createdBy": created_by,
                "comment": comment,
            });
            let response = with_admin_token(
                client()?
                    .post(format!("{base}/api/v2/silences"))
                    .json(&request),
            )
            .send()
            .await?;
            let body = decode(response).await?;
            if !args.json {
                show(&format!(
                    "silence {} active until {}\n",
                    text(&body["silenceID"]),
                    ends.format(fmt)?
                ));
                return Ok(ExitCode::SUCCESS);
            }
            body
        }
        SilenceCommand::List => {
            let body = get_json(args, "/api/v2/silences").await?;
            if !args.json {
                let rows: Vec<Vec<String>> = body
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .map(|s| {
                        let matchers: Vec<String> = s["matchers"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or(&[])
                            .iter()
                            .map(|m| {
                                let op = match (m["isRegex"].as_bool(), m["isEqual"].as_bool()) {
                                    (Some(true), Some(false)) => "!~",
                                    (Some(true), _) => "=~",
                                    (_, Some(false)) => "!=",
                                    _ => "=",
                                };
                                format!("{}{op}{}", text(&m["name"]), text(&m["value"]))
                            })
                            .collect();
                        vec![
                            text(&s["id"]),
                            text(&s["status"]["state"]),
                            matchers.join(","),
                            text(&s["endsAt"]),
                            text(&s["createdBy"]),
                            text(&s["comment"]),
                        ]
                    })
                    .collect();
                show(&table(
                    &["ID", "STATE", "MATCHERS", "ENDS", "CREATED BY", "COMMENT"],
                    &rows,
                ));
                return Ok(ExitCode::SUCCESS);
            }
            body
        }
        SilenceCommand::Expire { id } => {
            let response = with_admin_token(
                client()?.delete(format!("{base}/api/v2/silence/{}", encode(&id))),
            )
            .send()
            .await?;
            let body = decode(response).await?;
            if !args.json {
                println!("silence {} expired", printable(&id));
                return Ok(ExitCode::SUCCESS);
            }
            body
        }
    };
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(ExitCode::SUCCESS)
}

/// One CLI matcher as a v2 matcher. `=` and `!=` values holding `*` or `?`
/// are globs (the CLI's syntax before v2), sent as the equivalent regex.
fn cli_matcher(text: &str) -> anyhow::Result<Value> {
    use crate::silence::matcher::{Expression, Op, glob_to_regex};
    let e = Expression::parse(text).map_err(|e| anyhow::anyhow!("matcher {text:?}: {e}"))?;
    let glob = matches!(e.op, Op::Equal | Op::NotEqual) && e.value.contains(['*', '?']);
    let (value, is_regex) = if glob {
        (glob_to_regex(&e.value), true)
    } else {
        (e.value.clone(), matches!(e.op, Op::Regex | Op::NotRegex))
    };
    let is_equal = matches!(e.op, Op::Equal | Op::Regex);
    Ok(
        serde_json::json!({"name": e.name, "value": value, "isRegex": is_regex, "isEqual": is_equal}),
    )
}

fn print_runs(runs: &[Value]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                text(&r["id"]),
                text(&r["function"]),
                text(&r["status"]),
                text(&r["attempt"]),
                text(&r["queued"]),
                text(&r["finished"]),
                r["reason"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    show(&table(
        &[
            "ID",
            "FUNCTION",
            "STATUS",
            "ATTEMPT",
            "CREATED DATE",
            "FINISHED",
            "REASON",
        ],
        &rows,
    ));
}

fn render_run(r: &Value) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<13} {}\n", printable(&v)));
    field("id", text(&r["id"]));
    field("function", text(&r["function"]));
    field("subscription", text(&r["subscription"]));
    field(
        "event",
        format!("{} {}", text(&r["event"]["id"]), text(&r["event"]["type"])),
    );
    field("status", text(&r["status"]));
    field("reason", text(&r["reason"]));
    field("attempt", text(&r["attempt"]));
    field("queued", text(&r["queued"]));
    field("started", text(&r["started"]));
    field("finished", text(&r["finished"]));
    field("secrets", r["secrets"].to_string());
    field("output", r["output"].to_string());
    for line in r["logs"]["stdout"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        field("stdout", text(line));
    }
    for line in r["logs"]["stderr"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        field("stderr", text(line));
    }
    out
}

fn print_functions(functions: &[Value]) {
    let rows: Vec<Vec<String>> = functions
        .iter()
        .map(|f| {
            let target = match f["kind"].as_str() {
                Some("command") => f["command"]
                    .as_array()
                    .map(|a| a.iter().map(text).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
                Some("webhook") => text(&f["url"]),
                _ => text(&f["builtin"]),
            };
            vec![
                text(&f["name"]),
                text(&f["kind"]),
                target,
                f["secrets"].to_string(),
                text(&f["timeout"]),
                text(&f["max_attempts"]),
            ]
        })
        .collect();
    show(&table(
        &["NAME", "KIND", "EXECUTES", "SECRETS", "TIMEOUT", "ATTEMPTS"],
        &rows,
    ));
}

fn print_subscriptions(subscriptions: &[Value]) {
    let rows: Vec<Vec<String>> = subscriptions
        .iter()
        .map(|s| {
            let filters: Vec<String> = ["vcenter", "entity", "alarm", "status"]
                .iter()
                .filter_map(|k| s[*k].as_str().map(|v| format!("{k}={v}")))
                .collect();
            vec![
                text(&s["name"]),
                text(&s["event_type"]),
                text(&s["function"]),
                if filters.is_empty() {
                    "-".into()
                } else {
                    filters.join(",")
                },
            ]
        })
        .collect();
    show(&table(
        &["NAME", "EVENT TYPE", "FUNCTION", "FILTERS"],
        &rows,
    ));
}

/// `vcgate get guard`: one table per part of `GET /api/v1/guard`.
fn render_guard(body: &Value) -> String {
    let list = |key: &str| body[key].as_array().cloned().unwrap_or_default();
    let s = &body["settings"];
    let mut out = format!(
        "guard enabled={} interval={}s disable_on_enter={} reenable={} dry_run={} exclude={}\n\n",
        text(&s["enabled"]),
        text(&s["interval_seconds"]),
        text(&s["disable_on_enter"]),
        text(&s["reenable"]),
        text(&s["dry_run"]),
        s["exclude"],
    );
    let rows: Vec<Vec<String>> = list("vcenters")
        .iter()
        .map(|v| {
            vec![
                text(&v["name"]),
                text(&v["status"]),
                text(&v["last_reconcile"]),
                text(&v["hosts"]),
                text(&v["error"]),
            ]
        })
        .collect();
    out.push_str(&table(
        &["VCENTER", "STATUS", "LAST RECONCILE", "HOSTS", "ERROR"],
        &rows,
    ));
    let hosts = |key: &str, last: &str| -> Vec<Vec<String>> {
        list(key)
            .iter()
            .map(|h| {
                vec![
                    text(&h["vcenter"]),
                    text(&h["name"]),
                    text(&h["moref"]),
                    text(&h["alarm_actions_enabled"]),
                    text(&h[last]),
                ]
            })
            .collect()
    };
    out.push_str("\nIN MAINTENANCE\n");
    out.push_str(&table(
        &["VCENTER", "HOST", "MOREF", "ACTIONS ENABLED", "GUARDED"],
        &hosts("in_maintenance", "guarded"),
    ));
    out.push_str("\nGUARDED (re-enabled once out of maintenance)\n");
    out.push_str(&table(
        &["VCENTER", "HOST", "MOREF", "ACTIONS ENABLED", "REASON"],
        &hosts("guarded", "reason"),
    ));
    let actions: Vec<Vec<String>> = list("actions")
        .iter()
        .map(|a| {
            vec![
                text(&a["time"]),
                text(&a["vcenter"]),
                text(&a["host"]),
                text(&a["action"]),
                text(&a["outcome"]),
                a["error"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| text(&a["reason"])),
            ]
        })
        .collect();
    out.push_str("\nRECENT ACTIONS\n");
    out.push_str(&table(
        &["TIME", "VCENTER", "HOST", "ACTION", "OUTCOME", "REASON"],
        &actions,
    ));
    out
}

/// Appends `&name=value` (encoded) for every parameter that is set.
fn with_params(path: &str, params: &[(&str, &Option<String>)]) -> String {
    let mut out = path.to_owned();
    for (name, value) in params {
        if let Some(v) = value {
            out.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    out
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A JSON value as one printable cell or field (see [`printable`]).
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => printable(s),
        other => printable(&other.to_string()),
    }
}

/// Renders rows as aligned columns, cells cut at 40 characters.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cut = |s: &str| {
        let one_line = printable(s);
        if one_line.chars().count() > 40 {
            format!("{}…", one_line.chars().take(39).collect::<String>())
        } else {
            one_line
        }
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cut(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn print_status(body: &Value) {
    show(&format!(
        "vcgate {}  up {}s  store: {} events, {} pending, {} bytes, writable={}\n",
        text(&body["version"]),
        text(&body["uptime_seconds"]),
        text(&body["store"]["events"]),
        text(&body["store"]["pending_pipeline"]),
        text(&body["store"]["size_bytes"]),
        text(&body["store"]["writable"]),
    ));
    let mut rows = Vec::new();
    if let Some(sources) = body["sources"].as_object() {
        for (name, c) in sources {
            let rejected: Vec<String> = c["rejected"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            rows.push(vec![
                name.clone(),
                text(&c["received"]),
                text(&c["accepted"]),
                text(&c["duplicate"]),
                if rejected.is_empty() {
                    "-".into()
                } else {
                    rejected.join(",")
                },
                text(&c["last_at"]),
            ]);
        }
    }
    show(&table(
        &[
            "SOURCE",
            "RECEIVED",
            "ACCEPTED",
            "DUPLICATE",
            "REJECTED",
            "LAST",
        ],
        &rows,
    ));
    if let Some(pipeline) = body["pipeline"].as_object().filter(|p| !p.is_empty()) {
        let parts: Vec<String> = pipeline.iter().map(|(k, v)| format!("{k}={v}")).collect();
        show(&format!("pipeline: {}\n", parts.join(" ")));
    }
    for (name, s) in body["event_streams"].as_object().into_iter().flatten() {
        show(&format!(
            "event stream {}: connected={} last_key={} last_time={} lag={}s delivered={} errors={}{}\n",
            printable(name),
            text(&s["connected"]),
            text(&s["last_event_key"]),
            text(&s["last_event_time"]),
            s["lag_seconds"]
                .as_f64()
                .map_or_else(|| "-".into(), |l| format!("{l:.1}")),
            text(&s["delivered"]),
            text(&s["errors"]),
            s["last_error"]
                .as_str()
                .map(|e| format!(" last_error={}", printable(e)))
                .unwrap_or_default(),
        ));
    }
}

fn print_events(events: &[Value]) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                text(&e["id"]),
                text(&e["type"]),
                text(&e["source"]),
                e["entity"]["name"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "-".into()),
                e["alarm"]["new_status"]["raw"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "-".into()),
                route_label(e),
                text(&e["received_at"]),
            ]
        })
        .collect();
    show(&table(
        &[
            "ID", "TYPE", "SOURCE", "ENTITY", "STATUS", "ROUTE", "RECEIVED",
        ],
        &rows,
    ));
}

fn route_label(e: &Value) -> String {
    let d = &e["disposition"];
    if let Some(original) = d["duplicate_of"].as_str() {
        return format!("duplicate of {}", &original[..original.len().min(8)]);
    }
    d["route"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| text(&e["stage"]))
}

fn render_event(e: &Value) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<12} {}\n", printable(&v)));
    field("id", text(&e["id"]));
    field("type", text(&e["type"]));
    field("source", text(&e["source"]));
    field("vcenter", text(&e["vcenter"]));
    field("time", text(&e["time"]));
    field("received", text(&e["received_at"]));
    field(
        "entity",
        format!(
            "{} {} {}",
            text(&e["entity"]["type"]),
            text(&e["entity"]["moref"]),
            text(&e["entity"]["name"])
        ),
    );
    if !e["alarm"].is_null() {
        field(
            "alarm",
            format!(
                "{} ({}) {} -> {}",
                text(&e["alarm"]["name"]),
                text(&e["alarm"]["moref"]),
                text(&e["alarm"]["old_status"]["raw"]),
                text(&e["alarm"]["new_status"]["raw"])
            ),
        );
    }
    field("message", text(&e["message"]));
    field("user", text(&e["user"]));
    field("stage", text(&e["stage"]));
    field("route", route_label(e));
    field("duplicates", text(&e["duplicates"]));
    field("metadata", e["metadata"].to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_view_lists_every_part() {
        let body = serde_json::json!({
            "settings": {"enabled": true, "interval_seconds": 60.0, "disable_on_enter": true,
                         "reenable": "guarded", "dry_run": false, "exclude": []},
            "vcenters": [{"name": "vc1", "status": "stale", "last_reconcile": null, "hosts": 0,
                          "error": "cannot reach vCenter"}],
            "in_maintenance": [{"vcenter": "vc1", "name": "esx01", "moref": "host-1",
                                "alarm_actions_enabled": false, "guarded": true}],
            "guarded": [{"vcenter": "vc1", "name": "esx01", "moref": "host-1",
                         "alarm_actions_enabled": false, "reason": "disabled by the guard"}],
            "actions": [{"time": "t", "vcenter": "vc1", "host": "esx01", "action": "disable",
                         "outcome": "failed", "error": "permission denied", "reason": "r"}],
        });
        let out = render_guard(&body);
        assert!(out.contains("vc1      stale"), "{out}");
        assert!(out.contains("disabled by the guard"), "{out}");
        assert!(out.contains("failed   permission denied"), "{out}");
        assert_eq!(out.matches("esx01").count(), 3, "{out}");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "web01\u{1b}]0;pwned\u{7}\u{1b}[2J\nstatus       succeeded\u{9b}31m\u{202e}";
        let event = serde_json::json!({
            "id": "e1", "type": "vm.created", "message": hostile, "user": hostile,
            "entity": {"name": hostile, "type": "VirtualMachine"}, "metadata": {"x": hostile},
        });
        let view = render_event(&event);
        assert!(
            !view
                .chars()
                .any(|c| c != '\n' && crate::logging::is_unsafe_char(c)),
            "{view:?}"
        );
        assert_eq!(view.lines().count(), 13, "one line per field: {view}");
        let t = table(&["ENTITY"], &[vec![hostile.to_owned()]]);
        assert!(
            !t.chars()
                .any(|c| c != '\n' && crate::logging::is_unsafe_char(c)),
            "{t:?}"
        );
        assert_eq!(t.lines().count(), 2);
        assert_eq!(printable("a\u{1b}b\tc"), "a\u{FFFD}b c");
    }

    proptest::proptest! {
        #[test]
        fn printable_text_has_no_control_characters(s in "\\PC*|[\\x00-\\x{9f}a-z]{0,30}") {
            proptest::prop_assert!(!printable(&s).chars().any(crate::logging::is_unsafe_char));
        }
    }

    #[test]
    fn tables_align_and_cut() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["x".into(), "y".into()],
                vec!["a\nb".into(), "z".repeat(50)],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "A    LONGER");
        assert_eq!(lines[1], "x    y");
        assert!(lines[2].starts_with("a b  zzz"));
        assert!(lines[2].ends_with('…'));
    }
}
