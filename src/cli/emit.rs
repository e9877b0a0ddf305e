//! `vcgate emit TYPE --data JSON`: send one CloudEvent (like `dispatch
//! emit`), with the ingest token.

use std::process::ExitCode;

use anyhow::Context;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::args::{ClientArgs, OutputFormat};
use super::client::{Client, Scope};
use super::output;
use crate::api::wire::Accepted;

/// The CloudEvent the CLI sends (structured mode).
#[derive(Debug, Serialize)]
struct Emitted<'a> {
    specversion: &'static str,
    /// A fresh UUIDv7: sending the same command twice makes two events.
    id: String,
    source: &'static str,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    datacontenttype: &'static str,
    data: Map<String, Value>,
}

pub async fn emit(
    args: &ClientArgs,
    event_type: &str,
    data: &str,
    subject: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let data: Map<String, Value> =
        serde_json::from_str(data).context("--data must be a JSON object")?;
    let event = Emitted {
        specversion: "1.0",
        id: uuid::Uuid::now_v7().to_string(),
        source: "vcgate-cli",
        event_type,
        subject,
        datacontenttype: "application/json",
        data,
    };
    let client = Client::new(args, Scope::Ingest)?;
    let done = async {
        let path = "/api/v1/events";
        let body = client.send(Method::POST, path, Some(&event)).await?;
        let accepted: Accepted = client.decode(path, &body)?;
        let text = match args.format() {
            OutputFormat::Json | OutputFormat::Yaml => {
                output::document(args.format(), &accepted, false)?
            }
            _ => format!("accepted event {}\n", accepted.id),
        };
        output::print(&text)?;
        Ok(())
    };
    super::finish(done.await)
}
