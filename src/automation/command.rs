//! `command` functions: run an executable with the input JSON on stdin, in
//! its own process group, capture stdout/stderr line by line (bounded while
//! reading, see `output`), and end the whole group when the function ends.
//!
//! The process group is ended in both cases: on timeout (SIGKILL at once,
//! the run fails), and when the leader exits while others of its group still
//! run (`cmd &`, a daemonizing helper): those stragglers get SIGTERM, then
//! SIGKILL after `STRAGGLER_GRACE`, and the run's stderr log says how many
//! there were. Lines already read are always kept: a reader that waits for a
//! pipe held by a process that left the group is abandoned after
//! `PIPE_GRACE`, not its lines.
//!
//! The gateway's own environment is not passed on (it may hold tokens): the
//! child gets `PATH`, `HOME`, `LANG`, the function's `env`, and
//! `VCGATE_RUN_ID` / `VCGATE_FUNCTION` / `VCGATE_EVENT_ID`.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::output::{self, Capture};
use super::{Attempt, AttemptError};
use crate::config::{CommandSpec, FunctionConfig};
use crate::store::RunLogs;

/// How long stragglers get between SIGTERM and SIGKILL.
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);
/// How long the readers may wait for the pipes to close once the group is gone.
const PIPE_GRACE: Duration = Duration::from_secs(2);

pub async fn run(
    function: &FunctionConfig,
    spec: &CommandSpec,
    run_id: &str,
    event_id: &str,
    input: &Value,
) -> Attempt {
    let mut child = match command(function, spec, run_id, event_id).spawn() {
        Ok(child) => child,
        Err(e) => {
            return Attempt::failed(
                AttemptError::Permanent(format!("cannot start {}: {e}", spec.program())),
                RunLogs::default(),
                None,
            );
        }
    };
    let started_at = std::time::Instant::now();
    let pipes = Pipes::attach(&mut child, input);
    let (waited, ended) = wait_and_end_group(&mut child, function.timeout).await;
    let (logs, output) = pipes.collect(&function.name, ended).await;
    let Ok(exit) = waited else {
        return Attempt::failed(
            AttemptError::Retryable(format!(
                "timed out after {} (process group killed)",
                humantime::format_duration(function.timeout)
            )),
            logs,
            output,
        );
    };
    match exit_reason(exit) {
        None => {
            tracing::debug!(function = %function.name, elapsed_ms = started_at.elapsed().as_millis() as u64, "command succeeded");
            Attempt::succeeded(logs, output)
        }
        Some(reason) => Attempt::failed(AttemptError::Retryable(reason), logs, output),
    }
}

/// The child process as configured: argv, a cleared environment with only
/// what the function should see, piped stdio, its own process group.
fn command(
    function: &FunctionConfig,
    spec: &CommandSpec,
    run_id: &str,
    event_id: &str,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(spec.program());
    cmd.args(&spec.argv[1..])
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
        .env("LANG", "C.UTF-8")
        .envs(&spec.env)
        .env("VCGATE_RUN_ID", run_id)
        .env("VCGATE_FUNCTION", &function.name)
        .env("VCGATE_EVENT_ID", event_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    cmd
}

/// Why a finished process failed; `None` when it succeeded.
fn exit_reason(exit: std::io::Result<std::process::ExitStatus>) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    match exit {
        Ok(status) if status.success() => None,
        Ok(status) => Some(match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => "ended abnormally".to_owned(),
        }),
        Err(e) => Some(format!("waiting for the process: {e}")),
    }
}

/// Waits for the leader up to `timeout`, then ends its process group:
/// SIGKILL on timeout (`Err`), stragglers otherwise (see [`end_stragglers`]).
async fn wait_and_end_group(
    child: &mut tokio::process::Child,
    timeout: Duration,
) -> (
    Result<std::io::Result<std::process::ExitStatus>, tokio::time::error::Elapsed>,
    Option<Stragglers>,
) {
    let group = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let mut ended = None;
    if waited.is_err() {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = child.wait().await;
    } else if let Some(group) = group {
        ended = end_stragglers(group).await;
    }
    (waited, ended)
}

/// The child's stdin writer and stdout/stderr readers.
struct Pipes {
    writer: tokio::task::JoinHandle<()>,
    stdout: tokio::task::JoinHandle<()>,
    stderr: tokio::task::JoinHandle<()>,
    out_capture: Arc<Mutex<Capture>>,
    err_capture: Arc<Mutex<Capture>>,
}

impl Pipes {
    /// Starts writing `input` to stdin and reading stdout and stderr.
    fn attach(child: &mut tokio::process::Child, input: &Value) -> Self {
        let mut stdin = child.stdin.take().expect("piped");
        let input_bytes = serde_json::to_vec(input).unwrap_or_default();
        let writer = tokio::spawn(async move {
            // A function that never reads stdin must not fail the run.
            let _ = stdin.write_all(&input_bytes).await;
            let _ = stdin.shutdown().await;
        });
        let out_capture = Arc::new(Mutex::new(Capture::default()));
        let err_capture = Arc::new(Mutex::new(Capture::default()));
        let stdout = tokio::spawn(output::read_into(
            child.stdout.take().expect("piped"),
            out_capture.clone(),
        ));
        let stderr = tokio::spawn(output::read_into(
            child.stderr.take().expect("piped"),
            err_capture.clone(),
        ));
        Self {
            writer,
            stdout,
            stderr,
            out_capture,
            err_capture,
        }
    }

    /// Once the group has ended: the lines read (with notes on stragglers
    /// and pipes left open) and the output (the last non-empty stdout line,
    /// when it is JSON).
    async fn collect(self, function: &str, ended: Option<Stragglers>) -> (RunLogs, Option<Value>) {
        let Self {
            writer,
            mut stdout,
            mut stderr,
            out_capture,
            err_capture,
        } = self;
        writer.abort();
        // Pipes close when every process of the group is gone; one that left the
        // group could hold them, so bound the wait and keep what was read.
        let pipes = tokio::time::timeout(PIPE_GRACE, async {
            let _ = (&mut stdout).await;
            let _ = (&mut stderr).await;
        })
        .await;
        stdout.abort();
        stderr.abort();
        let (out_lines, out_truncated) = output::take(&out_capture);
        let (mut err_lines, err_truncated) = output::take(&err_capture);
        if let Some(ended) = ended {
            tracing::info!(function = %function, stragglers = ended.count, killed = ended.killed, "ended processes the function left behind");
            err_lines.push(ended.describe());
        }
        if pipes.is_err() {
            err_lines.push(format!(
                "[vcgate: output still open {} after the function ended (a process left its group); lines read so far are kept]",
                humantime::format_duration(PIPE_GRACE)
            ));
        }
        let output = out_lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<Value>(l).ok());
        let logs = RunLogs {
            stdout: out_lines,
            stderr: err_lines,
            truncated: out_truncated || err_truncated,
        };
        (logs, output)
    }
}

/// What happened to the processes a function left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stragglers {
    /// Processes still in the group when the leader exited.
    count: usize,
    /// Some needed SIGKILL after the grace.
    killed: bool,
}

impl Stragglers {
    fn describe(&self) -> String {
        format!(
            "[vcgate: the function exited leaving {} process(es) in its group; ended them with {}]",
            self.count,
            if self.killed {
                format!(
                    "SIGTERM, then SIGKILL after {}",
                    humantime::format_duration(STRAGGLER_GRACE)
                )
            } else {
                "SIGTERM".to_owned()
            }
        )
    }
}

/// After the leader exited: ends whatever is left of its process group
/// (SIGTERM, SIGKILL after the grace). `None` when nothing was left.
async fn end_stragglers(group: Pid) -> Option<Stragglers> {
    let count = group_members(group);
    if count == 0 {
        return None;
    }
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + STRAGGLER_GRACE;
    while group_members(group) > 0 {
        if tokio::time::Instant::now() >= deadline {
            let _ = killpg(group, Signal::SIGKILL);
            return Some(Stragglers {
                count,
                killed: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(Stragglers {
        count,
        killed: false,
    })
}

/// Live (not zombie) processes in process group `group`, from `/proc`; where
/// `/proc` cannot be read, whether the group has any member at all.
fn group_members(group: Pid) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return usize::from(killpg(group, None).is_ok());
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and
            // parentheses, so split after its last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
            state != Some("Z") && pgrp == Some(group.as_raw())
        })
        .count()
}
