//! `vcgate` binary: parses the command line and hands over to `app` (serve)
//! or `cli` (client commands against a running server).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vcgate::cli::{ClientArgs, GetCommand};
use vcgate::config::Config;

#[derive(Parser)]
#[command(
    name = "vcgate",
    version,
    propagate_version = true,
    about = "Event-driven automation gateway for VMware vCenter",
    long_about = "Event-driven automation gateway for VMware vCenter.\n\n\
        `vcgate serve` receives vCenter alarm actions (HTTP, from a hook script on the VCSA) \
        and SNMP traps and informs, stores each as one normalized event, removes duplicates and \
        routes it to automation (functions) or monitoring (the NMS, Alertmanager). `get`, \
        `silence`, `retry`, `reload` and `emit` talk to a running gateway; `backup`, `restore` \
        and `check-store` work on its store."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults when no --config is given).
    Serve {
        /// Config file (TOML; every key is in vcgate.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Validate a config file; errors name the offending key.
    CheckConfig {
        /// Config file to check (exit code 2 when invalid).
        path: PathBuf,
    },
    /// Run the store's schema migrations and exit (PostgreSQL: once, under an
    /// advisory lock, however many nodes start; SQLite: on open).
    Migrate {
        /// Config file naming the store ([store]); default: embedded defaults.
        #[arg(long, short, env = "VCGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Copy the store and the SNMP engine files into DEST while the gateway runs.
    ///
    /// One consistent snapshot (SQLite's online backup API): every event
    /// acknowledged before the backup started is in it. The copy is checked
    /// before it gets its name.
    Backup {
        /// Config file naming the store ([store] path); default: embedded defaults.
        #[arg(long, short, env = "VCGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Backup directory: created, must not hold a backup already.
        dest: PathBuf,
    },
    /// Replace the store with a backup (stop the gateway first).
    ///
    /// Refuses while a gateway holds the store and when the backup fails its
    /// check. The replaced files are kept in pre-restore-<time>/ beside the store.
    Restore {
        /// Config file naming the store ([store] path); default: embedded defaults.
        #[arg(long, short, env = "VCGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Backup directory written by `vcgate backup` (or a database file).
        src: PathBuf,
    },
    /// Check a store's integrity and schema version (exit code 2 on problems).
    CheckStore {
        /// Config file naming the store ([store] path); default: embedded defaults.
        #[arg(long, short, env = "VCGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Database file or backup directory to check instead of the store.
        file: Option<PathBuf>,
    },
    /// Print a shell completion script (for packaging).
    #[command(hide = true)]
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (vcgate.1, vcgate-*.1) into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// Directory to write the pages into (created).
        dir: PathBuf,
    },
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
        /// Run id (from `vcgate get runs`).
        id: String,
    },
    /// Reload routes, functions, subscriptions and secrets of a running
    /// gateway (like SIGHUP).
    Reload {
        #[command(flatten)]
        client: ClientArgs,
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
        Command::Reload { client } => vcgate::cli::reload(&client).await,
        Command::Silence { client, command } => vcgate::cli::silence(&client, command).await,
        Command::Emit {
            client,
            event_type,
            data,
            subject,
        } => vcgate::cli::emit(&client, &event_type, &data, subject.as_deref()).await,
        Command::Migrate { config } => vcgate::ops::migrate(config.as_deref()).await,
        Command::Backup { config, dest } => vcgate::ops::backup(config.as_deref(), &dest),
        Command::Restore { config, src } => vcgate::ops::restore(config.as_deref(), &src),
        Command::CheckStore { config, file } => vcgate::ops::check_store(config.as_deref(), file),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vcgate", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            write_man_pages(&dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What the top page says beyond the clap definitions: files, environment,
/// exit codes, signals.
const MAN_EXTRA: &str = r#".SH FILES
.TP
\fI/etc/vcgate/vcgate.toml\fR
The packaged configuration (every key: \fI/usr/share/vcgate/vcgate.example.toml\fR).
.TP
\fI/etc/vcgate/ingest.token\fR, \fI/etc/vcgate/read.token\fR, \fI/etc/vcgate/admin.token\fR
API tokens generated at installation (0640 root:vcgate).
.TP
\fI/var/lib/vcgate/\fR
The store (\fIvcgate.db\fR, SQLite in WAL mode) and the SNMP engine files.
.TP
\fI/usr/share/vcgate/\fR
The VCSA hook script, its installer, example configuration and functions.
.SH ENVIRONMENT
.TP
\fBVCGATE_SERVER\fR
Gateway URL for the client commands (default http://127.0.0.1:8080).
.TP
\fBVCGATE_READ_TOKEN\fR, \fBVCGATE_INGEST_TOKEN\fR, \fBVCGATE_ADMIN_TOKEN\fR
Client commands: the bearer token per scope (\fBget\fR and \fBsilence list\fR read, \fBemit\fR ingests,
\fBsilence add\fR/\fBexpire\fR, \fBretry\fR and \fBreload\fR administer); \fB\-\-token\-file\fR overrides them.
The gateway accepts each as an extra token of its scope (besides the configured ones).
.TP
\fBVCGATE_TOKEN\fR
Client commands: the token for any scope whose own variable is unset.
.TP
\fBVCGATE_CONFIG\fR
Config file for backup, restore and check-store.
.TP
\fBRUST_LOG\fR
Log filter (default info).
.TP
\fBNOTIFY_SOCKET\fR
Set by systemd: the gateway reports READY=1 once its listeners are bound.
.SH SIGNALS
SIGTERM and SIGINT stop the gateway gracefully (requests in flight are answered after their commit).
SIGHUP reloads routes, functions, subscriptions and secrets.
.SH EXIT STATUS
0 on success, 1 on errors, 2 when check-config or check-store finds a problem.
.SH SEE ALSO
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fI/usr/share/doc/vcgate/operations.md\fR
"#;

/// `vcgate.1` (with `MAN_EXTRA`) and one page per visible subcommand,
/// `vcgate-get-events.1` style, as git and cargo do.
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let write = |name: &str, render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut page = Vec::new();
        render(&mut page)?;
        let path = dir.join(name);
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))
    };
    let top = clap_mangen::Man::new(cmd.clone());
    write("vcgate.1", &|w| {
        top.render_title(w)?;
        top.render_name_section(w)?;
        top.render_synopsis_section(w)?;
        top.render_description_section(w)?;
        top.render_options_section(w)?;
        top.render_subcommands_section(w)?;
        w.extend_from_slice(MAN_EXTRA.as_bytes());
        top.render_version_section(w)
    })?;
    let mut stack: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    while let Some(sub) = stack.pop() {
        if sub.is_hide_set() {
            continue;
        }
        stack.extend(sub.get_subcommands().cloned());
        let man = clap_mangen::Man::new(sub);
        write(&man.get_filename(), &|w| man.render(w))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help`, the man pages and the completions are only as good as the
    /// help strings: every command and argument must have one.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        Cli::command().debug_assert();
        let mut missing = Vec::new();
        walk(&Cli::command(), "vcgate", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
