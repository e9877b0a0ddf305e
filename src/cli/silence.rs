//! `vcgate silence add|list|expire` over Alertmanager's v2 silences API
//! (add and expire need an admin token, list a read token).

use std::process::ExitCode;

use anyhow::Context;
use reqwest::Method;
use time::OffsetDateTime;

use super::args::{ClientArgs, OutputFormat, SilenceCommand};
use super::client::{Client, Scope, encode};
use super::output::{self, Table, name_of, printable, time};
use crate::api::wire::{GettableSilence, PostableSilence, SilenceCreated, SilenceMatcher};

pub async fn silence(args: &ClientArgs, command: SilenceCommand) -> anyhow::Result<ExitCode> {
    let format = args.format();
    let done = match command {
        SilenceCommand::Add {
            matchers,
            duration,
            comment,
            created_by,
        } => {
            let client = Client::new(args, Scope::Admin)?;
            add(&client, format, &matchers, &duration, comment, created_by).await
        }
        SilenceCommand::List => {
            let client = Client::new(args, Scope::Read)?;
            super::show(&client, "/api/v2/silences", format, render_list).await
        }
        SilenceCommand::Expire { id } => {
            let client = Client::new(args, Scope::Admin)?;
            expire(&client, format, &id).await
        }
    };
    super::finish(done)
}

async fn add(
    client: &Client,
    format: OutputFormat,
    matchers: &[String],
    duration: &str,
    comment: String,
    created_by: String,
) -> anyhow::Result<()> {
    let duration = humantime::parse_duration(duration).context("--duration: e.g. 30m, 2h, 1d")?;
    let now = OffsetDateTime::now_utc();
    let request = PostableSilence {
        id: None,
        matchers: matchers
            .iter()
            .map(|m| cli_matcher(m))
            .collect::<anyhow::Result<_>>()?,
        starts_at: Some(now),
        ends_at: now + time::Duration::try_from(duration)?,
        created_by,
        comment,
    };
    let path = "/api/v2/silences";
    let body = client.send(Method::POST, path, Some(&request)).await?;
    let created: SilenceCreated = client.decode(path, &body)?;
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => output::document(format, &created, false)?,
        _ => format!(
            "silence {} active until {}\n",
            printable(&created.silence_id),
            time(request.ends_at)
        ),
    };
    output::print(&text)?;
    Ok(())
}

async fn expire(client: &Client, format: OutputFormat, id: &str) -> anyhow::Result<()> {
    let path = format!("/api/v2/silence/{}", encode(id));
    // Answered 200 with an empty body (Alertmanager's behaviour).
    client.send::<()>(Method::DELETE, &path, None).await?;
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => {
            output::document(format, &serde_json::Value::Null, false)?
        }
        _ => format!("silence {} expired\n", printable(id)),
    };
    output::print(&text)?;
    Ok(())
}

/// One CLI matcher as a v2 matcher. `=` and `!=` values holding `*` or `?`
/// are globs (the CLI's syntax before v2), sent as the equivalent regex.
fn cli_matcher(text: &str) -> anyhow::Result<SilenceMatcher> {
    use crate::silence::matcher::{Expression, Op, glob_to_regex};
    let e = Expression::parse(text).map_err(|e| anyhow::anyhow!("matcher {text:?}: {e}"))?;
    let glob = matches!(e.op, Op::Equal | Op::NotEqual) && e.value.contains(['*', '?']);
    let (value, is_regex) = if glob {
        (glob_to_regex(&e.value), true)
    } else {
        (e.value.clone(), matches!(e.op, Op::Regex | Op::NotRegex))
    };
    Ok(SilenceMatcher {
        name: e.name,
        value,
        is_regex,
        is_equal: matches!(e.op, Op::Equal | Op::Regex),
    })
}

/// `name=value`, `name!~regex`, … as in the matcher syntax.
fn matcher_text(m: &SilenceMatcher) -> String {
    let op = match (m.is_regex, m.is_equal) {
        (true, false) => "!~",
        (true, true) => "=~",
        (false, false) => "!=",
        (false, true) => "=",
    };
    format!("{}{op}{}", m.name, m.value)
}

// `&Vec`: `show` renders the type the answer is read into (a bare array).
#[allow(clippy::ptr_arg)]
fn render_list(silences: &Vec<GettableSilence>, wide: bool) -> String {
    let rows: Vec<Vec<String>> = silences
        .iter()
        .map(|s| {
            let matchers: Vec<String> = s.matchers.iter().map(matcher_text).collect();
            let mut row = vec![
                s.id.clone(),
                name_of(&s.status.state),
                matchers.join(","),
                time(s.ends_at),
                s.created_by.clone(),
                s.comment.clone(),
            ];
            if wide {
                row.extend([time(s.starts_at), time(s.updated_at)]);
            }
            row
        })
        .collect();
    let mut headers = vec!["ID", "STATE", "MATCHERS", "ENDS", "CREATED BY", "COMMENT"];
    if wide {
        headers.extend(["STARTS", "UPDATED"]);
    }
    Table::new(&headers).render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_matchers_become_v2_matchers() {
        let m = cli_matcher("alertname=alarm.Datastore*").unwrap();
        assert_eq!(
            (m.value.as_str(), m.is_regex, m.is_equal),
            ("alarm\\.Datastore.*", true, true)
        );
        let m = cli_matcher("entity!~ds-(a|b)").unwrap();
        assert_eq!(
            (m.value.as_str(), m.is_regex, m.is_equal),
            ("ds-(a|b)", true, false)
        );
        let m = cli_matcher("vcenter!=vc1").unwrap();
        assert_eq!(matcher_text(&m), "vcenter!=vc1");
        assert!(cli_matcher("nonsense").is_err());
    }

    #[test]
    fn silence_table() {
        let silence: GettableSilence = serde_json::from_value(serde_json::json!({
            "id": "s1", "status": {"state": "active"}, "updatedAt": "2026-11-25T10:00:00Z",
            "matchers": [{"name": "alertname", "value": "Datastore.*", "isRegex": true, "isEqual": true}],
            "startsAt": "2026-11-25T10:00:00Z", "endsAt": "2026-11-25T12:00:00Z",
            "createdBy": "alice", "comment": "storage",
        }))
        .unwrap();
        let normal = render_list(&vec![silence.clone()], false);
        assert!(
            normal.contains("s1  active  alertname=~Datastore.*  2026-11-25T12:00:00Z  alice"),
            "{normal}"
        );
        assert!(render_list(&vec![silence], true).contains("STARTS"));
    }
}
