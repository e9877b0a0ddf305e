//! Client commands (`vcgate get …`, `emit`, `silence …`, `retry`, `reload`)
//! that talk to a running gateway over its HTTP API.
//!
//! Layout, one job a file:
//! - `args.rs`: the clap definitions (flags, help texts);
//! - `client.rs`: the HTTP client, which token a command sends, query
//!   strings, error answers;
//! - `output.rs`, `yaml.rs`: tables, `key value` views, JSON and YAML, all
//!   safe to print to a terminal;
//! - `follow.rs`: `--follow` (poll with the cursor, bounded memory);
//! - one file per command group: `events.rs`, `runs.rs` (runs, functions,
//!   subscriptions, retry), `status.rs`, `guard.rs`, `alerts.rs`,
//!   `silence.rs`, `emit.rs`, `reload.rs`.
//!
//! Answers are read into the API's own types (`api::wire`): a field the
//! gateway renamed is an error naming it, never a silent `-`. `-o json` and
//! `-o yaml` print the document as the gateway sent it.
//!
//! Must not: print a value from an event without `output::printable`
//! (tables, views) or the JSON/YAML escapes.

mod alerts;
mod args;
mod client;
mod emit;
mod events;
mod follow;
mod guard;
mod output;
mod reload;
mod runs;
mod silence;
mod status;
pub mod yaml;

use std::process::ExitCode;

use serde::de::DeserializeOwned;

pub use args::{ClientArgs, EventsArgs, GetCommand, OutputFormat, RunsArgs, SilenceCommand};
pub use client::{Scope, choose_token};
pub use emit::emit;
pub use reload::reload;
pub use runs::retry;
pub use silence::silence;

use client::Client;

/// `vcgate get …`
pub async fn get(args: &ClientArgs, what: GetCommand) -> anyhow::Result<ExitCode> {
    let client = Client::new(args, Scope::Read)?;
    let format = args.format();
    let done = match what {
        GetCommand::Status => show(&client, "/api/v1/status", format, status::render).await,
        GetCommand::Events(filter) => events::list(&client, &filter, format).await,
        GetCommand::Event { id } => events::one(&client, &id, format).await,
        GetCommand::Runs(filter) => runs::list(&client, &filter, format).await,
        GetCommand::Run { id } => runs::one(&client, &id, format).await,
        GetCommand::Functions => {
            show(&client, "/api/v1/functions", format, runs::render_functions).await
        }
        GetCommand::Subscriptions => {
            show(
                &client,
                "/api/v1/subscriptions",
                format,
                runs::render_subscriptions,
            )
            .await
        }
        GetCommand::Guard { limit } => {
            let path = format!("/api/v1/guard?limit={limit}");
            show(&client, &path, format, guard::render).await
        }
        GetCommand::Alerts => show(&client, "/api/v1/alerts", format, alerts::render).await,
    };
    finish(done)
}

/// Fetches `path` and prints it: `-o json|yaml` the document as sent,
/// `table`/`wide` read as `T` and rendered (`wide`: the second argument).
async fn show<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    format: OutputFormat,
    render: impl Fn(&T, bool) -> String,
) -> anyhow::Result<()> {
    let body = client.get(path).await?;
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => {
            let document: serde_json::Value = client.decode(path, &body)?;
            output::document(format, &document, false)?
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let typed: T = client.decode(path, &body)?;
            render(&typed, format == OutputFormat::Wide)
        }
    };
    output::print(&text)?;
    Ok(())
}

/// A command's result as an exit code; stdout closed by the reader (`| head`)
/// is a normal end, not an error.
fn finish(result: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
    }
}
