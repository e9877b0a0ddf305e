//! `command` functions: run an executable with the input JSON on stdin, in
//! its own process group, capture stdout/stderr line by line (bounded), and
//! kill the whole group on timeout.
//!
//! The gateway's own environment is not passed on (it may hold tokens): the
//! child gets `PATH`, `HOME`, `LANG`, the function's `env`, and
//! `VCGATE_RUN_ID` / `VCGATE_FUNCTION` / `VCGATE_EVENT_ID`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Attempt, AttemptError};
use crate::config::FunctionConfig;
use crate::store::RunLogs;

/// Lines kept per stream.
const MAX_LINES: usize = 1000;
/// Bytes kept per line.
const MAX_LINE: usize = 8 * 1024;

pub async fn run(
    function: &FunctionConfig,
    run_id: &str,
    event_id: &str,
    input: &Value,
) -> Attempt {
    let mut cmd = tokio::process::Command::new(&function.command[0]);
    cmd.args(&function.command[1..])
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("HOME", std::env::var("HOME").unwrap_or_else(|_| "/".into()))
        .env("LANG", "C.UTF-8")
        .envs(&function.env)
        .env("VCGATE_RUN_ID", run_id)
        .env("VCGATE_FUNCTION", &function.name)
        .env("VCGATE_EVENT_ID", event_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &function.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Attempt::failed(
                AttemptError::Permanent(format!("cannot start {}: {e}", function.command[0])),
                RunLogs::default(),
                None,
            );
        }
    };
    let started_at = std::time::Instant::now();
    let pgid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    let input_bytes = serde_json::to_vec(input).unwrap_or_default();
    let writer = tokio::spawn(async move {
        // A function that never reads stdin must not fail the run.
        let _ = stdin.write_all(&input_bytes).await;
        let _ = stdin.shutdown().await;
    });
    let stdout = tokio::spawn(read_lines(child.stdout.take().expect("piped")));
    let stderr = tokio::spawn(read_lines(child.stderr.take().expect("piped")));

    let waited = tokio::time::timeout(function.timeout, child.wait()).await;
    let timed_out = waited.is_err();
    if timed_out {
        kill_group(pgid);
        let _ = child.wait().await;
    }
    writer.abort();
    // Pipes close when every process of the group is gone; a grandchild that
    // escaped the group could hold them, so bound the wait.
    let grace = Duration::from_secs(2);
    let (out_lines, out_truncated) = tokio::time::timeout(grace, stdout)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let (err_lines, err_truncated) = tokio::time::timeout(grace, stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
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
    if timed_out {
        return Attempt::failed(
            AttemptError::Retryable(format!(
                "timed out after {} (process group killed)",
                humantime::format_duration(function.timeout)
            )),
            logs,
            output,
        );
    }
    match waited {
        Ok(Ok(status)) if status.success() => {
            tracing::debug!(function = %function.name, elapsed_ms = started_at.elapsed().as_millis() as u64, "command succeeded");
            Attempt::succeeded(logs, output)
        }
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            let reason = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                _ => "ended abnormally".to_owned(),
            };
            Attempt::failed(AttemptError::Retryable(reason), logs, output)
        }
        Ok(Err(e)) => Attempt::failed(
            AttemptError::Retryable(format!("waiting for the process: {e}")),
            logs,
            output,
        ),
        Err(_) => unreachable!("timeout handled above"),
    }
}

/// SIGKILL to the whole process group (the child is its leader).
fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Reads lines until EOF, keeping at most `MAX_LINES` of at most `MAX_LINE`
/// bytes each; keeps draining past the cap so the child never blocks on a full pipe.
async fn read_lines<R: tokio::io::AsyncRead + Unpin>(reader: R) -> (Vec<String>, bool) {
    let mut reader = BufReader::new(reader);
    let mut lines = Vec::new();
    let mut truncated = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if lines.len() >= MAX_LINES {
                    truncated = true;
                    continue;
                }
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                if buf.len() > MAX_LINE {
                    buf.truncate(MAX_LINE);
                    truncated = true;
                }
                lines.push(String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    if truncated {
        lines.push(format!(
            "[vcgate: output truncated to {MAX_LINES} lines of {MAX_LINE} bytes]"
        ));
    }
    (lines, truncated)
}
