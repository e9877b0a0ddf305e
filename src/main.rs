//! `vcgate` binary: parses the command line and hands over to `app` (serve)
//! or `cli` (client commands against a running server).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vcgate::cli::{ClientArgs, GetCommand};
use vcgate::config::Config;

#[derive(Parser)]
#[command(
    name = "vcgate",
    version,
    about = "Event-driven automation gateway for VMware vCenter"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults when no --config is given).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Validate a config file; errors name the offending key.
    CheckConfig { path: PathBuf },
    /// Show resources of a running gateway.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        what: GetCommand,
    },
    /// Manage silences (monitoring only; automation is never silenced).
    Silence {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: vcgate::cli::SilenceCommand,
    },
    /// Queue a dead (or failed) run again.
    Retry {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Send a CloudEvent of TYPE to a running gateway (like `dispatch emit`).
    Emit {
        #[command(flatten)]
        client: ClientArgs,
        /// Event type, e.g. vm.created
        event_type: String,
        /// JSON object for the event's data.
        #[arg(long, default_value = "{}")]
        data: String,
        /// Subject (entity name) of the event.
        #[arg(long)]
        subject: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, log_json } => {
            vcgate::telemetry::init_logging("info,async_snmp=warn", log_json);
            let config_path = config.clone();
            let config = match &config {
                Some(path) => Config::load(path)?,
                None => {
                    tracing::info!("no --config given: running on embedded defaults");
                    Config::default()
                }
            };
            let shutdown = CancellationToken::new();
            vcgate::app::cancel_on_signals(shutdown.clone());
            vcgate::app::run(config, config_path, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { path } => match Config::load(&path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Get { client, what } => vcgate::cli::get(&client, what).await,
        Command::Retry { client, id } => vcgate::cli::retry(&client, &id).await,
        Command::Silence { client, command } => vcgate::cli::silence(&client, command).await,
        Command::Emit {
            client,
            event_type,
            data,
            subject,
        } => vcgate::cli::emit(&client, &event_type, &data, subject.as_deref()).await,
    }
}
