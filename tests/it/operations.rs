//! Operating the gateway as a service: backup under ingest load and restore,
//! systemd readiness (`Type=notify`), shell completions and man pages.
//! The package itself (dpkg, the unit) is tested by `scripts/test-package.sh`.

use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::tools::logged_addr;
use crate::support::waits::wait_for_blocking;
use crate::support::{TestApp, TestConfig, alarm_body, require_tool};

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `vcgate ARGS` without a `VCGATE_CONFIG` from the caller's environment.
fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vcgate"))
        .args(args)
        .env_remove("VCGATE_CONFIG")
        .output()
        .expect("running vcgate")
}

/// Acknowledged event ids, each with the moment its 202 arrived.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Posts hook alarms from `writers` concurrent clients until `stop`, recording
/// each acknowledged (202) event.
fn start_load(
    app: &TestApp,
    writers: usize,
    stop: Arc<AtomicBool>,
) -> (Acked, Vec<tokio::task::JoinHandle<()>>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (acked, stop) = (acked.clone(), stop.clone());
        let url = format!("{}/api/v1/alarms", app.base_url);
        let token = app.ingest_token.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            // Bounded: stops by itself even if the test forgets to.
            for i in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let body = alarm_body(
                    &format!("backup-load-{w}-{i}"),
                    "VM created",
                    &format!("vm-{w}-{i}"),
                    "Red",
                );
                let Ok(r) = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                else {
                    continue;
                };
                if r.status() == 202 {
                    let id = r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    acked.lock().unwrap().push((id, Instant::now()));
                }
            }
        }));
    }
    (acked, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_ingest_load_holds_every_event_acknowledged_before_it_and_restores() {
    let mut app = TestApp::spawn_config(TestConfig {
        // `vcgate backup`/`restore` work on the SQLite store (a PostgreSQL
        // store is backed up with pg_dump): pinned to SQLite.
        store: "backend = \"sqlite\"".into(),
        http: "rate_limit = 1000000\nrate_burst = 1000000\n".into(),
        // A v3 user makes the gateway persist its SNMP engine beside the store.
        extra: "[[snmp.user]]\nname = \"backup-test\"\nauth_protocol = \"sha\"\nauth_password = \"backup-test-auth\"\n".into(),
        ..TestConfig::default()
    })
    .await;
    let config = app.config_path();
    let config = config.to_str().unwrap();
    let engine = app.dir.path().join("snmp-engine.json");
    assert!(engine.exists(), "the gateway persisted its SNMP engine");

    let stop = Arc::new(AtomicBool::new(false));
    let (acked, load) = start_load(&app, 16, stop.clone());
    app.wait_for(
        "300 acknowledged alarms",
        Duration::from_secs(60),
        || async { (acked.lock().unwrap().len() >= 300).then_some(()) },
    )
    .await;

    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("backup-1");
    let before: HashSet<String> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let started = Instant::now();
    let dest_arg = dest.to_str().unwrap().to_owned();
    let config_arg = config.to_owned();
    let out =
        tokio::task::spawn_blocking(move || cli(&["backup", "--config", &config_arg, &dest_arg]))
            .await
            .unwrap();
    let finished = Instant::now();
    // The load goes on until something is acknowledged after the backup
    // (so after its snapshot), for the last check below: on a loaded
    // machine the writers can otherwise be stopped before that.
    app.wait_for(
        "an acknowledgement after the backup",
        Duration::from_secs(30),
        || async {
            let acked = acked.lock().unwrap();
            acked.iter().any(|(_, at)| *at > finished).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(out.status.success(), "backup: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("integrity ok"),
        "{}",
        text(&out)
    );
    let acked = acked.lock().unwrap().clone();
    let during = acked
        .iter()
        .filter(|(_, at)| *at > started && *at < finished)
        .count();
    assert!(
        during > 0,
        "the gateway kept acknowledging while the backup ran"
    );

    assert_eq!(
        std::fs::read(dest.join("snmp-engine.json")).unwrap(),
        std::fs::read(&engine).unwrap(),
        "the engine file is in the backup"
    );
    let check = cli(&["check-store", dest.to_str().unwrap()]);
    assert!(check.status.success(), "check-store: {}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains(": ok ("),
        "{}",
        text(&check)
    );

    // Under a running gateway a restore refuses and changes nothing.
    let refused = cli(&["restore", "--config", config, dest.to_str().unwrap()]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop it first"),
        "{}",
        text(&refused)
    );

    assert_eq!(app.terminate(), Some(0));
    let restored = cli(&["restore", "--config", config, dest.to_str().unwrap()]);
    assert!(restored.status.success(), "restore: {}", text(&restored));
    let kept = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("pre-restore-"))
        .expect("the replaced store is kept in pre-restore-<time>/");
    assert!(kept.path().join("vcgate.db").exists());

    app.restart().await;
    let events = app.all_pages("/api/v1/events", "events").await;
    let present: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = before.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "{} of {} events acknowledged before the backup are missing, e.g. {:?}",
        lost.len(),
        before.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    let all: HashSet<&String> = acked.iter().map(|(id, _)| id).collect();
    assert!(
        present.iter().all(|id| all.contains(id)),
        "the restored store holds only events the gateway acknowledged"
    );
    assert!(
        present.len() < acked.len(),
        "events acknowledged after the snapshot are not in it"
    );
}

/// A config for a gateway in `dir` on ports the kernel picks (written as
/// `name`).
fn write_minimal_config(dir: &Path, name: &str) -> std::path::PathBuf {
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[snmp]\nlisten = \"127.0.0.1:0\"\n",
            dir.join("vcgate.db").display(),
        ),
    )
    .unwrap();
    config
}

/// `vcgate serve` on a minimal config in `dir` with `NOTIFY_SOCKET` set,
/// `env` added and the default log filter (it logs `HTTP listening`);
/// stderr goes to `dir/server.log`. Returns the child and the socket,
/// which reads with a 30 s timeout.
fn serve_notifying(dir: &Path, env: &[(&str, &str)]) -> (std::process::Child, UnixDatagram) {
    let config = write_minimal_config(dir, "vcgate.toml");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vcgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (child, socket)
}

fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A long-lived stage that panics (the SNMP receive loop here, by a fault
/// that debug builds inject on request) stops the gateway: STOPPING=1 to
/// systemd, the stage and the panic in the log, exit status 1, so the
/// unit's `Restart=on-failure` starts it again. Before, the process stayed
/// up and ready, and deaf to every trap.
#[test]
fn a_stage_that_panics_stops_the_gateway_with_status_1_for_systemd_to_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, socket) = serve_notifying(
        dir.path(),
        &[
            ("VCGATE_FAULT_PANIC_STAGE", "SNMP receiver"),
            ("NO_COLOR", "1"),
        ],
    );
    let log_path = dir.path().join("server.log");
    // READY=1 may come first: the stage can fail after the listeners answer.
    let mut notes = vec![receive(&socket)];
    if notes[0] == "READY=1" {
        notes.push(receive(&socket));
    }
    assert_eq!(
        notes.last().map(String::as_str),
        Some("STOPPING=1"),
        "{notes:?}"
    );
    let status = wait_for_blocking(
        "the exit after the stage stopped",
        Duration::from_secs(20),
        || child.try_wait().unwrap(),
        String::new,
    );
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{status}; log:\n{log}");
    assert!(
        log.contains("stage `SNMP receiver` panicked: injected fault (VCGATE_FAULT_PANIC_STAGE)"),
        "the stage and its panic are logged:\n{log}"
    );
    assert!(
        log.contains("error: stage `SNMP receiver` panicked"),
        "the exit names the stage:\n{log}"
    );
}

#[test]
fn the_gateway_tells_systemd_it_is_ready_only_once_it_answers_and_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, socket) = serve_notifying(dir.path(), &[]);
    let ready = receive(&socket);
    assert_eq!(ready, "READY=1");
    // Logged before READY=1: the address the kernel picked.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let http =
        logged_addr(&log, "HTTP listening", "addr").expect("HTTP listening addr= in the log");
    // No polling: READY=1 means the listeners answer now.
    let readyz = Command::new(require_tool("curl", "curl"))
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{http}/readyz"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&readyz.stdout), "200");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(receive(&socket), "STOPPING=1");
    let status = wait_for_blocking(
        "the exit after SIGTERM",
        Duration::from_secs(20),
        || child.try_wait().unwrap(),
        String::new,
    );
    assert!(
        status.success(),
        "{status}; log:\n{}",
        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
    );
}

#[test]
fn a_second_gateway_on_the_same_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_minimal_config(dir.path(), "vcgate.toml");
    let first = Command::new(env!("CARGO_BIN_EXE_vcgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let first = Kill(first);
    let lock = dir.path().join("vcgate.db.lock");
    let pid = first.0.id().to_string();
    wait_for_blocking(
        "the first gateway to take the store",
        Duration::from_secs(30),
        || (std::fs::read_to_string(&lock).unwrap_or_default().trim() == pid).then_some(()),
        String::new,
    );
    let other = write_minimal_config(dir.path(), "other.toml");
    let second = Command::new(env!("CARGO_BIN_EXE_vcgate"))
        .args(["serve", "--config"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("in use by process {}", first.0.id())),
        "{}",
        text(&second)
    );
}

#[test]
fn completions_and_man_pages_generate_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, file, checker) in [
        ("bash", "vcgate.bash", vec!["bash", "-n"]),
        ("zsh", "_vcgate", vec!["zsh", "-n"]),
        ("fish", "vcgate.fish", vec!["fish", "--no-execute"]),
    ] {
        let out = cli(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout).into_owned();
        for sub in ["serve", "backup", "restore", "check-store", "get"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        let path = dir.path().join(file);
        std::fs::write(&path, &script).unwrap();
        let tool = require_tool(checker[0], checker[0]);
        let parsed = Command::new(tool)
            .args(&checker[1..])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            parsed.status.success(),
            "{shell} rejects its completion: {}",
            text(&parsed)
        );
    }
    // bash completes for real: `vcgate check-s<TAB>` and `vcgate get ev<TAB>`.
    let probe = format!(
        "source {}; for line in 'vcgate check-s' 'vcgate get ev'; do COMP_WORDS=($line); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); COMP_LINE=\"$line\"; COMPREPLY=(); _vcgate vcgate \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[*]}}\"; done",
        dir.path().join("vcgate.bash").display()
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let replies: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| {
            let mut words: Vec<&str> = l.split_whitespace().collect();
            words.sort();
            words
        })
        .collect();
    assert_eq!(
        replies,
        vec![vec!["check-store"], vec!["event", "events"]],
        "{}",
        text(&out)
    );

    let man_dir = dir.path().join("man");
    let out = cli(&["man", man_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let top = std::fs::read_to_string(man_dir.join("vcgate.1")).unwrap();
    for section in [
        ".SH SYNOPSIS",
        ".SH FILES",
        ".SH ENVIRONMENT",
        "vcgate\\-backup(1)",
    ] {
        assert!(top.contains(section), "vcgate.1 lacks {section}");
    }
    let groff = require_tool("groff", "groff-base");
    for page in [
        "vcgate.1",
        "vcgate-backup.1",
        "vcgate-restore.1",
        "vcgate-check-store.1",
        "vcgate-get-events.1",
        "vcgate-serve.1",
    ] {
        let out = Command::new(&groff)
            .args(["-man", "-ww", "-z"])
            .arg(man_dir.join(page))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{page}: {}",
            text(&out)
        );
    }
}
