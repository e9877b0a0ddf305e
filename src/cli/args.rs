//! The client commands' arguments (clap): where the gateway is, which token,
//! how to print, and each command's own flags. Definitions only; the
//! commands live beside this file. Every argument has help text (the test
//! `every_command_and_argument_has_help` in `main.rs` checks it): it becomes
//! `--help`, the man pages and the shell completions.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand, ValueEnum};

/// Options every client command takes (`--server`, `-o`, `--token-file`).
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
    /// Output format: table, wide (a table with more columns), json or yaml
    /// (the API's document).
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = OutputFormat::Table,
        global = true
    )]
    pub output: OutputFormat,
    /// Same as `-o json` (kept for scripts).
    #[arg(long, global = true, conflicts_with = "output")]
    pub json: bool,
    /// Read the bearer token from this file instead of the environment
    /// (VCGATE_READ_TOKEN, VCGATE_INGEST_TOKEN or VCGATE_ADMIN_TOKEN by
    /// command, else VCGATE_TOKEN).
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

impl ClientArgs {
    /// The format asked for (`--json` is `-o json`).
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.output
        }
    }
}

/// How a client command prints its answer.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns or `key value` lines for people.
    Table,
    /// Like table, with more columns (or more fields).
    Wide,
    /// The API's JSON document (with --follow: one object per line).
    Json,
    /// The API's document as YAML (with --follow: one document per row).
    Yaml,
}

#[derive(Subcommand, Debug, Clone)]
pub enum GetCommand {
    /// Gateway status: version, uptime, store, per-source counters.
    Status,
    /// Recent events, newest first (with --follow: as they arrive).
    Events(EventsArgs),
    /// One event with everything known about it.
    Event {
        /// Event id.
        id: String,
    },
    /// Automation runs, newest first (optionally of one function).
    Runs(RunsArgs),
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
    /// Active alerts: what each monitoring target is told is firing.
    Alerts,
}

/// `vcgate get events`: filters map to `GET /api/v1/events` query
/// parameters of the same names.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct EventsArgs {
    /// Only events of this type (glob, e.g. `vm.*`).
    #[arg(long = "type", value_name = "GLOB")]
    pub event_type: Option<String>,
    /// Only events from this source.
    #[arg(long, value_parser = PossibleValuesParser::new(SOURCES))]
    pub source: Option<String>,
    /// Only events of this vCenter (glob over the configured name).
    #[arg(long, value_name = "GLOB")]
    pub vcenter: Option<String>,
    /// Only events about this entity (glob over its name).
    #[arg(long, value_name = "GLOB")]
    pub entity: Option<String>,
    /// Only events of this alarm (glob over its name).
    #[arg(long, value_name = "GLOB")]
    pub alarm: Option<String>,
    /// Only events whose new alarm status is this: a colour (gray, green,
    /// yellow, red) or vCenter's text.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only events routed this way.
    #[arg(long, value_parser = PossibleValuesParser::new(ROUTES))]
    pub route: Option<String>,
    /// Only events held back from monitoring (`--held`, `--held true`) or
    /// only events not held (`--held false`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub held: Option<bool>,
    /// Only duplicates merged into an earlier event (`--duplicate`,
    /// `--duplicate true`) or only first occurrences (`--duplicate false`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub duplicate: Option<bool>,
    /// Only events received since then: RFC 3339 (2026-11-25T10:00:00Z) or
    /// an age (90s, 15m, 2h, 1d).
    #[arg(long, value_name = "TIME|AGE")]
    pub since: Option<String>,
    /// At most this many events (the gateway answers at most 1000 a page).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Page back: only events older than this cursor (`next_before` of the
    /// previous page in `-o json`).
    #[arg(long, value_name = "CURSOR")]
    pub before: Option<i64>,
    /// Keep printing events as they arrive, and again when their route is
    /// decided (polls every second; Ctrl-C stops).
    #[arg(long, short)]
    pub follow: bool,
}

/// `vcgate get runs`.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct RunsArgs {
    /// Only runs of this function.
    pub function: Option<String>,
    /// Only runs in this status.
    #[arg(long, value_parser = PossibleValuesParser::new(RUN_STATUSES))]
    pub status: Option<String>,
    /// Only runs of this event (event id).
    #[arg(long, value_name = "ID")]
    pub event: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Page back: only runs older than this sequence number (`seq`).
    #[arg(long, value_name = "SEQ")]
    pub before: Option<i64>,
    /// Keep printing runs as they are queued, and again when their status
    /// changes (polls every second; Ctrl-C stops).
    #[arg(long, short)]
    pub follow: bool,
}

/// Event sources, as the API names them.
pub const SOURCES: [&str; 5] = ["alarm-hook", "snmp", "vcenter-events", "api", "guard"];
/// Routing decisions.
pub const ROUTES: [&str; 4] = ["automation", "monitoring", "both", "drop"];
/// Run statuses.
pub const RUN_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "dead"];

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Events {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        events: EventsArgs,
    }

    fn parse(args: &[&str]) -> Result<Events, clap::Error> {
        Events::try_parse_from([&["events"], args].concat())
    }

    #[test]
    fn flags_parse_as_documented() {
        let e = parse(&["--held", "--limit", "5", "--duplicate", "false"]).unwrap();
        assert_eq!(e.events.held, Some(true), "a bare --held means true");
        assert_eq!(e.events.duplicate, Some(false));
        assert_eq!(e.events.limit, 5);
        assert_eq!(e.client.format(), OutputFormat::Table);
        assert_eq!(
            parse(&["--json"]).unwrap().client.format(),
            OutputFormat::Json
        );
        assert_eq!(
            parse(&["-o", "wide"]).unwrap().client.format(),
            OutputFormat::Wide
        );
        assert!(
            parse(&["--json", "-o", "yaml"]).is_err(),
            "--json is -o json"
        );
        assert!(parse(&["--route", "sideways"]).is_err());
        assert!(parse(&["--source", "smtp"]).is_err());
        assert!(parse(&["--held", "maybe"]).is_err());
        let f = parse(&["-f", "--type", "vm.*"]).unwrap();
        assert!(f.events.follow);
        assert_eq!(f.events.event_type.as_deref(), Some("vm.*"));
    }
}
