//! The VCSA alarm hook (`scripts/vcsa-alarm-hook.sh`) and its installer
//! (`scripts/install-vcsa-hook.sh`), run as real processes the way vCenter
//! runs them (clean environment plus `VMWARE_ALARM_*`) against the real
//! gateway: byte-exact values, spool and replay across a gateway outage,
//! idempotent replays, a refused token, and an install under a temp prefix.
//!
//! These tests need bash, python3, curl and flock, as the VCSA has; they fail
//! (never skip) when one is missing.

use crate::support::peers::webhook::BlackHole;
use crate::support::{TestApp, closed_port};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A system PATH like vpxd's: the hook must not depend on the test's PATH.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Per-POST limit written into test configs; outage tests check it is honoured.
const HOOK_TIMEOUT_SECS: u64 = 2;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn require_vcsa_tools() {
    for tool in ["bash", "python3", "curl", "flock"] {
        let found = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("command -v {tool}")])
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is not on PATH={SYSTEM_PATH}; the hook tests need bash, python3, curl and flock"
        );
    }
}

/// What one run of the hook did.
struct HookRun {
    /// Exit code (None: killed by a signal).
    code: Option<i32>,
    /// Status lines: `replayed ...`, then `delivered|spooled|rejected ...`.
    stdout: String,
    /// Log lines (the test configs log to stderr, not syslog).
    stderr: String,
    /// Wall time, to check the hook never holds vpxd for long.
    elapsed: Duration,
}

impl HookRun {
    /// `key=value` from the last stdout line starting with `verb`.
    fn field(&self, verb: &str, key: &str) -> Option<String> {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| l.split(' ').next() == Some(verb))?;
        let prefix = format!("{key}=");
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&prefix))
            .map(str::to_owned)
    }

    fn lines_starting(&self, verb: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.split(' ').next() == Some(verb))
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A hook installation in a temp dir: config, token file and spool.
struct Hook {
    /// Holds hook.conf, the token file and the spool; removed on drop.
    dir: tempfile::TempDir,
    /// Extra `KEY=value` lines appended to every config this writes.
    extra_conf: String,
}

impl Hook {
    fn new(url: &str, token: &str) -> Hook {
        Self::with_conf(url, token, "")
    }

    fn with_conf(url: &str, token: &str, extra_conf: &str) -> Hook {
        require_vcsa_tools();
        let hook = Hook {
            dir: tempfile::tempdir().expect("temp dir"),
            extra_conf: extra_conf.to_owned(),
        };
        let token_file = hook.dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).expect("write token");
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        hook.point_at(url);
        hook
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join("hook.conf")
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// (Re)writes the config so the next run talks to `url`.
    fn point_at(&self, url: &str) {
        let d = self.dir.path().display();
        let conf = format!(
            "# written by tests/it/hook.rs\n\
             VCGATE_URL={url}\n\
             VCGATE_TOKEN_FILE=\"{d}/token\"\n\
             VCGATE_VCENTER='vc-it.example'\n\
             VCGATE_SPOOL_DIR={d}/spool\n\
             VCGATE_TIMEOUT={HOOK_TIMEOUT_SECS}\n\
             VCGATE_LOG=stderr\n{}",
            self.extra_conf
        );
        std::fs::write(self.conf_path(), conf).expect("write hook.conf");
    }

    /// Spooled alarms, oldest first.
    fn spooled(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.spool()) else {
            return vec![];
        };
        let mut files: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("json")))
            .collect();
        files.sort();
        files
    }

    /// Runs the hook as vCenter does: `bash <script>`, a clean environment
    /// with PATH, the alarm variables and the config location.
    async fn run<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &self,
        alarm: &[(K, V)],
        args: &[&str],
    ) -> HookRun {
        let mut cmd = Command::new("bash");
        cmd.arg(script("vcsa-alarm-hook.sh"))
            .args(args)
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("VCGATE_HOOK_CONF", self.conf_path())
            .envs(alarm.iter().map(|(k, v)| (k, v)));
        run_process(cmd, None).await
    }

    /// Runs the hook for a plain alarm that is identified by its name.
    async fn alarm(&self, name: &str) -> HookRun {
        self.run(&basic_alarm(name), &[]).await
    }
}

async fn run_process(mut cmd: Command, stdin: Option<&str>) -> HookRun {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn bash");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("hook still running after 60 s: it must never hang vpxd")
        .expect("wait for bash");
    HookRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

fn basic_alarm(name: &str) -> Vec<(String, String)> {
    [
        ("VMWARE_ALARM_NAME", name),
        ("VMWARE_ALARM_ID", "alarm-7"),
        ("VMWARE_ALARM_TARGET_NAME", "vm-web-01"),
        ("VMWARE_ALARM_TARGET_ID", "vm-319"),
        ("VMWARE_ALARM_OLDSTATUS", "Green"),
        ("VMWARE_ALARM_NEWSTATUS", "Red"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The posted `env` object as the gateway stored it (`raw` is the whole body).
fn stored_env(event: &Value) -> &serde_json::Map<String, Value> {
    event["raw"]["env"].as_object().unwrap_or_else(|| {
        panic!("event has no `raw.env` object holding the posted env: {event:#}")
    })
}

/// Stored events whose posted env has this VMWARE_ALARM_NAME.
async fn events_named(app: &TestApp, name: &str) -> Vec<Value> {
    app.events("limit=100")
        .await
        .into_iter()
        .filter(|e| e["raw"]["env"]["VMWARE_ALARM_NAME"] == name)
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn hook_delivers_every_alarm_value_byte_exact() {
    let app = TestApp::spawn().await;
    let hook = Hook::new(&app.base_url, &app.ingest_token);
    let canary = hook.dir.path().join("pwned");
    let c = canary.display();
    let piece = "0123456789 \"quoted\" \\ 红色 🚨\n";
    let long = piece.repeat(8192 / piece.len() + 1); // a bit over 8 KiB

    let texts: Vec<(&str, String)> = vec![
        (
            "VMWARE_ALARM_NAME",
            r#"it "exact" 'single' \back\slash \n \u0000"#.into(),
        ),
        ("VMWARE_ALARM_ID", "alarm-7".into()),
        (
            "VMWARE_ALARM_TARGET_NAME",
            format!("$(touch {c}) `touch {c}` ; touch {c}"),
        ),
        ("VMWARE_ALARM_TARGET_ID", "vm-319".into()),
        ("VMWARE_ALARM_OLDSTATUS", "Green".into()),
        ("VMWARE_ALARM_NEWSTATUS", "Red".into()),
        (
            "VMWARE_ALARM_TRIGGERINGSUMMARY",
            "Event: VM created (12345)\nline two\twith a tab\r\nthird line\n".into(),
        ),
        (
            "VMWARE_ALARM_DECLARINGSUMMARY",
            "([Yellow metric Is above 61%; Red metric Is above 85%])".into(),
        ),
        ("VMWARE_ALARM_ALARMVALUE", long),
        (
            "VMWARE_ALARM_EVENTDESCRIPTION",
            "状态 红色 → Ünïcödé 🔥🧯 ${HOME} %s %n".into(),
        ),
        (
            "VMWARE_ALARM_EVENT_USERNAME",
            r"VSPHERE.LOCAL\Administrator".into(),
        ),
        (
            "VMWARE_ALARM_EVENT_DATACENTER",
            "dc \"west\" <&> {json}: [1,2]".into(),
        ),
        (
            "VMWARE_ALARM_EVENT_COMPUTERESOURCE",
            "\u{1b}[31mcluster\u{7f}\u{1}".into(),
        ),
        (
            "VMWARE_ALARM_EVENT_HOST",
            " leading and trailing spaces ".into(),
        ),
        ("VMWARE_ALARM_EVENT_VM", "".into()),
        ("VMWARE_ALARM_EVENT_DATASTORE", "ds' OR 1=1 --".into()),
        ("VMWARE_ALARM_EVENT_DVS", "=value=with=equals".into()),
    ];
    let mut env: Vec<(OsString, OsString)> = texts
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    // vCenter sends UTF-8; an invalid byte must still give valid JSON (U+FFFD).
    env.push((
        "VMWARE_ALARM_EVENT_NETWORK".into(),
        OsStr::from_bytes(b"caf\xe9 net").into(),
    ));
    // Not alarm variables: must not be sent.
    env.push(("NOT_VMWARE_ALARM_X".into(), "no".into()));
    env.push(("vmware_alarm_name".into(), "no".into()));

    let run = hook.run(&env, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let id = run
        .field("delivered", "event_id")
        .unwrap_or_else(|| panic!("not delivered: {}", run.describe()));
    let delivery_id = run.field("delivered", "delivery_id").unwrap();
    // Time-ordered (UUIDv7, this run's millisecond first), so the store's
    // unique index on it grows at its end.
    let uuid = uuid::Uuid::parse_str(&delivery_id).expect("delivery_id is a UUID");
    assert_eq!(uuid.get_version_num(), 7, "{delivery_id}");
    let (secs, _) = uuid.get_timestamp().expect("v7 has a timestamp").to_unix();
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - secs as i64;
    assert!((0..300).contains(&age), "{delivery_id} is {age} s old");
    assert!(
        !canary.exists(),
        "an alarm value was executed as shell code"
    );

    let event = app.event(&id).await;
    assert_eq!(event["delivery_id"], delivery_id.as_str(), "{event:#}");
    assert_eq!(event["vcenter"], "vc-it.example", "{event:#}");
    assert!(
        event["raw"]["sent_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{event:#}"
    );
    let stored = stored_env(&event);
    let mut expected: serde_json::Map<String, Value> = texts
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
        .collect();
    expected.insert(
        "VMWARE_ALARM_EVENT_NETWORK".into(),
        "caf\u{FFFD} net".into(),
    );
    for (key, want) in &expected {
        assert_eq!(stored.get(key), Some(want), "{key} not stored byte-exact");
    }
    let mut stored_keys: Vec<&String> = stored.keys().collect();
    let mut expected_keys: Vec<&String> = expected.keys().collect();
    stored_keys.sort();
    expected_keys.sort();
    assert_eq!(
        stored_keys, expected_keys,
        "exactly the VMWARE_ALARM_* variables are sent"
    );
    assert!(
        hook.spooled().is_empty(),
        "a delivered alarm must not stay spooled"
    );
}

#[tokio::test]
async fn token_stays_off_command_lines_environment_and_logs() {
    let app = TestApp::spawn().await;
    let hook = Hook::new(&app.base_url, &app.ingest_token);
    // A curl wrapper first on PATH records the argv and environment it gets.
    let bin = hook.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let seen = hook.dir.path().join("curl-seen");
    let curl = std::process::Command::new("/bin/sh")
        .args(["-c", "command -v curl"])
        .env("PATH", SYSTEM_PATH)
        .output()
        .unwrap();
    let real_curl = String::from_utf8(curl.stdout).unwrap();
    let wrapper = bin.join("curl");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nprintf '%s\\n' \"$@\" >>'{s}'\nenv >>'{s}'\nexec {} \"$@\"\n",
            real_curl.trim(),
            s = seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut cmd = Command::new("bash");
    cmd.arg(script("vcsa-alarm-hook.sh"))
        .env_clear()
        .env("PATH", format!("{}:{SYSTEM_PATH}", bin.display()))
        .env("VCGATE_HOOK_CONF", hook.conf_path())
        .envs(basic_alarm("it-token-secrecy"));
    let run = run_process(cmd, None).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    let seen = std::fs::read_to_string(&seen).expect("the hook did not call curl from PATH");
    assert!(
        seen.contains("/api/v1/alarms"),
        "wrapper saw no POST: {seen}"
    );
    assert!(
        !seen.contains(&app.ingest_token),
        "token on curl's argv or environment"
    );
    assert!(!run.stdout.contains(&app.ingest_token) && !run.stderr.contains(&app.ingest_token));
}

#[tokio::test]
async fn gateway_outage_spools_and_next_run_replays_exactly_once() {
    let mut app = TestApp::spawn().await;
    let hook = Hook::new(&app.base_url, &app.ingest_token);

    app.kill9();
    let down = hook.alarm("it-outage-first").await;
    assert_eq!(
        down.code,
        Some(0),
        "gateway down must not fail vpxd's action: {}",
        down.describe()
    );
    assert!(
        down.elapsed < Duration::from_secs(HOOK_TIMEOUT_SECS + 3),
        "{}",
        down.describe()
    );
    let spooled = hook.spooled();
    assert_eq!(spooled.len(), 1, "{}", down.describe());
    let file = &spooled[0];
    let delivery_id = down.field("spooled", "delivery_id").unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let (ns, rest) = name.split_once('-').unwrap();
    assert!(
        ns.len() == 20 && ns.bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(rest, format!("{delivery_id}.json"));
    assert_eq!(mode(file), 0o600, "spool files are root-only");
    let saved = std::fs::read(file).unwrap();
    let payload: Value = serde_json::from_slice(&saved).expect("spool file is the JSON payload");
    assert_eq!(payload["delivery_id"], delivery_id.as_str());
    assert_eq!(payload["env"]["VMWARE_ALARM_NAME"], "it-outage-first");

    app.restart().await;
    let up = hook.alarm("it-outage-second").await;
    assert_eq!(up.code, Some(0), "{}", up.describe());
    let replayed = up.lines_starting("replayed");
    assert_eq!(replayed.len(), 1, "{}", up.describe());
    assert!(replayed[0].contains(name), "{}", up.describe());
    let (replay_at, deliver_at) = (
        up.stdout.find("replayed").unwrap(),
        up.stdout.find("delivered").unwrap(),
    );
    assert!(
        replay_at < deliver_at,
        "the spool is replayed before the new alarm: {}",
        up.describe()
    );
    assert!(hook.spooled().is_empty(), "{}", up.describe());

    let first = events_named(&app, "it-outage-first").await;
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0]["delivery_id"], delivery_id.as_str());
    assert_eq!(events_named(&app, "it-outage-second").await.len(), 1);

    // A crash after the POST but before the file was removed: the same
    // delivery_id is replayed again and must still be stored once.
    std::fs::write(file, &saved).unwrap();
    let again = hook.run::<&str, &str>(&[], &["--replay"]).await;
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert_eq!(
        again.field("replayed", "duplicate").as_deref(),
        Some("true"),
        "{}",
        again.describe()
    );
    assert_eq!(
        again.field("replayed", "event_id"),
        first[0]["id"].as_str().map(str::to_owned)
    );
    assert!(hook.spooled().is_empty(), "{}", again.describe());
    assert_eq!(events_named(&app, "it-outage-first").await.len(), 1);
}

#[tokio::test]
async fn unresponsive_gateway_times_out_promptly_and_spools() {
    let app = TestApp::spawn().await;
    // Accepts connections and never answers: only curl's --max-time ends it.
    let hole = BlackHole::start().await;
    let hook = Hook::new(&hole.url, &app.ingest_token);

    let run = hook.alarm("it-blackhole").await;
    drop(hole);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("spooled", "delivery_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(run.elapsed >= Duration::from_secs(HOOK_TIMEOUT_SECS) - Duration::from_millis(200));
    assert!(
        run.elapsed < Duration::from_secs(HOOK_TIMEOUT_SECS + 3),
        "{}",
        run.describe()
    );
    assert_eq!(hook.spooled().len(), 1);

    // Spooled while the gateway hung; flushed by a cron-style --replay run.
    hook.point_at(&app.base_url);
    let replay = hook.run::<&str, &str>(&[], &["--replay"]).await;
    assert_eq!(replay.code, Some(0), "{}", replay.describe());
    assert!(
        replay.stdout.lines().all(|l| l.starts_with("replayed ")),
        "{}",
        replay.describe()
    );
    assert!(hook.spooled().is_empty());
    assert_eq!(events_named(&app, "it-blackhole").await.len(), 1);
}

#[tokio::test]
async fn spool_keeps_the_newest_and_replays_oldest_first() {
    let app = TestApp::spawn().await;
    let closed = closed_port();
    let hook = Hook::with_conf(&closed.url, &app.ingest_token, "VCGATE_SPOOL_MAX=2\n");
    for name in ["it-max-1", "it-max-2", "it-max-3"] {
        let run = hook.alarm(name).await;
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    assert_eq!(
        hook.spooled().len(),
        2,
        "oldest dropped beyond VCGATE_SPOOL_MAX"
    );

    hook.point_at(&app.base_url);
    let run = hook.alarm("it-max-4").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let replayed: Vec<String> = run
        .lines_starting("replayed")
        .iter()
        .map(|l| {
            l.split(' ')
                .find_map(|kv| kv.strip_prefix("event_id="))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(replayed.len(), 2, "{}", run.describe());
    let names: Vec<String> = names_of_events(&app, &replayed).await;
    assert_eq!(names, ["it-max-2", "it-max-3"], "replay is oldest first");
    assert!(
        events_named(&app, "it-max-1").await.is_empty(),
        "the dropped alarm is gone"
    );
    assert_eq!(events_named(&app, "it-max-4").await.len(), 1);
}

async fn names_of_events(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for id in ids {
        let event = app.event(id).await;
        names.push(
            stored_env(&event)["VMWARE_ALARM_NAME"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    names
}

#[tokio::test]
async fn replay_is_skipped_while_another_run_holds_the_lock() {
    let app = TestApp::spawn().await;
    let closed = closed_port();
    let hook = Hook::new(&closed.url, &app.ingest_token);
    assert_eq!(hook.alarm("it-lock-spooled").await.code, Some(0));
    assert_eq!(hook.spooled().len(), 1);
    hook.point_at(&app.base_url);

    let mut holder = tokio::process::Command::new("flock")
        .arg(hook.spool().join(".lock"))
        .args(["-c", "echo locked; exec sleep 60"])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn flock");
    let mut line = String::new();
    let mut out = tokio::io::BufReader::new(holder.stdout.take().unwrap());
    tokio::io::AsyncBufReadExt::read_line(&mut out, &mut line)
        .await
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let run = hook.alarm("it-lock-current").await;
    holder.kill().await.unwrap();
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.lines_starting("replayed").is_empty(),
        "{}",
        run.describe()
    );
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(
        run.elapsed < Duration::from_secs(HOOK_TIMEOUT_SECS + 3),
        "lock never waited for"
    );
    assert_eq!(hook.spooled().len(), 1, "the locked spool is left alone");
    assert!(events_named(&app, "it-lock-spooled").await.is_empty());
}

#[tokio::test]
async fn refused_token_exits_nonzero_and_spools_nothing() {
    let mut app = TestApp::spawn().await;
    let wrong = "not-the-ingest-token-0123456789";
    let hook = Hook::new(&app.base_url, wrong);

    let run = hook.alarm("it-bad-token").await;
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(
        run.field("rejected", "http").as_deref(),
        Some("401"),
        "{}",
        run.describe()
    );
    assert!(
        hook.spooled().is_empty(),
        "a refused token would never succeed: not spooled"
    );
    assert!(!hook.spool().join("rejected").exists());
    assert!(
        !run.stderr.contains(wrong) && !run.stdout.contains(wrong),
        "token logged"
    );
    assert!(events_named(&app, "it-bad-token").await.is_empty());

    // Alarms spooled during an outage survive a token problem found on
    // replay, and the refused token still fails (and does not spool) the new one.
    app.kill9();
    assert_eq!(hook.alarm("it-bad-token-spooled").await.code, Some(0));
    app.restart().await;
    let run = hook.alarm("it-bad-token-after").await;
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.lines_starting("replayed").is_empty(),
        "{}",
        run.describe()
    );
    assert_eq!(hook.spooled().len(), 1, "{}", run.describe());
    let run = hook.run::<&str, &str>(&[], &["--replay"]).await;
    assert_eq!(
        run.code,
        Some(1),
        "--replay reports the refused token: {}",
        run.describe()
    );
    assert_eq!(hook.spooled().len(), 1, "{}", run.describe());
}

#[tokio::test]
async fn spooled_alarm_the_gateway_rejects_is_set_aside() {
    let app = TestApp::spawn().await;
    let hook = Hook::new(&app.base_url, &app.ingest_token);
    std::fs::create_dir(hook.spool()).unwrap();
    // Oldest in the spool, and not a valid payload: the gateway answers 400.
    let bad = "00000000000000000001-0c0ffee0-0000-4000-8000-000000000000.json";
    std::fs::write(
        hook.spool().join(bad),
        "{\"delivery_id\": \"x\", \"env\": [",
    )
    .unwrap();

    let run = hook.alarm("it-after-poison").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(hook.spooled().is_empty(), "{}", run.describe());
    assert!(
        hook.spool().join("rejected").join(bad).exists(),
        "{}",
        run.describe()
    );
    assert_eq!(events_named(&app, "it-after-poison").await.len(), 1);
}

#[tokio::test]
async fn installer_sets_permissions_and_its_test_alarm_reaches_the_gateway() {
    require_vcsa_tools();
    let mut app = TestApp::spawn().await;
    let root = tempfile::tempdir().unwrap();
    let prefix = root.path();
    let install = |args: &[&str]| {
        let mut cmd = Command::new("bash");
        cmd.arg(script("install-vcsa-hook.sh"))
            .arg("--prefix")
            .arg(prefix)
            .args(args)
            .env_clear()
            .env("PATH", SYSTEM_PATH);
        cmd
    };

    let token_line = format!("{}\n", app.ingest_token);
    let args = [
        "--url",
        &app.base_url,
        "--vcenter",
        "vc-install.example",
        "--test",
    ];
    let run = run_process(install(&args), Some(&token_line)).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains("OK: the gateway stored the test alarm"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("\"Run script\"")
            && run.stdout.contains("/root/alarmscripts/vcgate-hook.sh")
    );
    assert!(!run.stdout.contains(&app.ingest_token) && !run.stderr.contains(&app.ingest_token));

    let hook = prefix.join("root/alarmscripts/vcgate-hook.sh");
    let conf = prefix.join("etc/vcgate/hook.conf");
    let token = prefix.join("etc/vcgate/token");
    assert_eq!(mode(&hook), 0o700);
    assert_eq!(mode(&conf), 0o600);
    assert_eq!(mode(&token), 0o600);
    assert_eq!(mode(&prefix.join("etc/vcgate")), 0o700);
    assert_eq!(std::fs::read_to_string(&token).unwrap(), token_line);
    let conf_text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        !conf_text.contains(&app.ingest_token),
        "token copied into hook.conf"
    );
    assert!(
        conf_text.contains("VCGATE_VCENTER=\"vc-install.example\""),
        "{conf_text}"
    );

    let stored = events_named(&app, "vcgate.test").await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(stored_env(&stored[0])["VMWARE_ALARM_TARGET_ID"], "vm-0");

    // --test on its own checks an existing install, and reports a dead gateway
    // without leaving the test alarm spooled for later.
    app.kill9();
    let run = run_process(install(&["--test"]), None).await;
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(run.stderr.contains("FAILED"), "{}", run.describe());
    let spool = prefix.join("var/spool/vcgate");
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.as_bytes().ends_with(b".json"))
        .collect();
    assert!(left.is_empty(), "test alarm left in the spool: {left:?}");
}

#[tokio::test]
async fn hook_verifies_the_gateway_certificate() {
    let app = TestApp::spawn_config(crate::support::TestConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    let ca = app.ca_file.clone().expect("TLS test app has a CA");
    // Trusting the gateway's CA: delivered over HTTPS.
    let hook = Hook::with_conf(
        &app.base_url,
        &app.ingest_token,
        &format!("VCGATE_CA_FILE={}\n", ca.display()),
    );
    let run = hook.alarm("tls-trusted").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.field("delivered", "http").as_deref(),
        Some("202"),
        "{}",
        run.describe()
    );
    assert_eq!(events_named(&app, "tls-trusted").await.len(), 1);
    // Without the CA the certificate is refused: spooled, nothing stored.
    let untrusting = Hook::new(&app.base_url, &app.ingest_token);
    let run = untrusting.alarm("tls-untrusted").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(untrusting.spooled().len(), 1, "{}", run.describe());
    assert!(events_named(&app, "tls-untrusted").await.is_empty());
}

/// A tiny tmpfs mounted for one test and filled to the last byte.
struct FullDisk {
    path: PathBuf,
}

impl FullDisk {
    fn mount(path: PathBuf) -> FullDisk {
        std::fs::create_dir_all(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs"])
            .arg(&path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs for the full-disk test (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let disk = FullDisk { path };
        // Fill it: write until the filesystem refuses.
        let mut filler = std::fs::File::create(disk.path.join("filler")).unwrap();
        let block = [0u8; 4096];
        while std::io::Write::write_all(&mut filler, &block).is_ok() {}
        disk
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// Row 12 of issue 13. Before: the payload was written to the spool before
/// the first POST, so with a full disk the alarm was lost (exit 2) although
/// the gateway was up.
#[tokio::test]
async fn a_full_or_unwritable_spool_does_not_stop_a_delivery() {
    let app = TestApp::spawn().await;
    let base = tempfile::tempdir().unwrap();
    let full = FullDisk::mount(base.path().join("full"));
    for (name, spool) in [
        ("it-full-disk", full.path.join("spool")),
        ("it-full-disk-existing", full.path.clone()),
        (
            "it-unwritable-spool",
            PathBuf::from("/proc/vcgate-no-spool"),
        ),
    ] {
        let hook = Hook::with_conf(
            &app.base_url,
            &app.ingest_token,
            &format!("VCGATE_SPOOL_DIR={}\n", spool.display()),
        );
        let run = hook.alarm(name).await;
        assert_eq!(run.code, Some(0), "{name}: {}", run.describe());
        assert!(
            run.field("delivered", "event_id").is_some(),
            "{name}: {}",
            run.describe()
        );
        assert_eq!(events_named(&app, name).await.len(), 1, "{name}");
    }
}

/// Several gateways (a high-availability pair): the hook tries the URLs in
/// order, delivers through the first that answers, spools only when every one
/// fails, and replays through whichever is up.
#[tokio::test]
async fn hook_fails_over_to_the_next_url_and_spools_only_when_all_fail() {
    let app = TestApp::spawn().await;
    let down = closed_port();
    let also_down = closed_port();
    let hook = Hook::new(
        &format!("\"{} {}\"", down.url, app.base_url),
        &app.ingest_token,
    );

    let run = hook.alarm("it-failover-space").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr
            .contains(&format!("gateway {} unavailable", down.url))
            && run.stderr.contains("trying the next URL"),
        "{}",
        run.describe()
    );
    assert!(hook.spooled().is_empty(), "{}", run.describe());
    assert_eq!(events_named(&app, "it-failover-space").await.len(), 1);

    // Commas work as separators too.
    hook.point_at(&format!("{},{}/", down.url, app.base_url));
    let run = hook.alarm("it-failover-comma").await;
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    assert_eq!(events_named(&app, "it-failover-comma").await.len(), 1);

    // Every URL down: spooled, and the reason names each one.
    hook.point_at(&format!("\"{} {}\"", down.url, also_down.url));
    let run = hook.alarm("it-failover-all-down").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("spooled", "delivery_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains(&down.url) && run.stderr.contains(&also_down.url),
        "{}",
        run.describe()
    );
    assert_eq!(hook.spooled().len(), 1);

    // The replay fails over like a send: the first URL is still down.
    hook.point_at(&format!("\"{} {}\"", down.url, app.base_url));
    let replay = hook.run::<&str, &str>(&[], &["--replay"]).await;
    assert_eq!(replay.code, Some(0), "{}", replay.describe());
    assert_eq!(
        replay.lines_starting("replayed").len(),
        1,
        "{}",
        replay.describe()
    );
    assert!(hook.spooled().is_empty(), "{}", replay.describe());
    assert_eq!(events_named(&app, "it-failover-all-down").await.len(), 1);

    // A refusal is final: the next URL is not asked (it would refuse too).
    hook.point_at(&format!("\"{} {}\"", app.base_url, also_down.url));
    std::fs::write(hook.dir.path().join("token"), "not-the-token\n").unwrap();
    let run = hook.alarm("it-failover-refused").await;
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.field("rejected", "http").as_deref(), Some("401"));
    assert!(
        !run.stderr.contains("trying the next URL"),
        "{}",
        run.describe()
    );
    assert!(hook.spooled().is_empty());
}

/// An unresponsive first gateway costs at most its timeout; the alarm still
/// reaches the second within the send budget.
#[tokio::test]
async fn hook_fails_over_past_an_unresponsive_gateway_within_its_budget() {
    let app = TestApp::spawn().await;
    let hole = BlackHole::start().await;
    let hook = Hook::with_conf(
        &format!("\"{} {}\"", hole.url, app.base_url),
        &app.ingest_token,
        &format!("VCGATE_SEND_BUDGET={}\n", HOOK_TIMEOUT_SECS * 2 + 2),
    );
    let run = hook.alarm("it-failover-hole").await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.field("delivered", "event_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(run.elapsed >= Duration::from_secs(HOOK_TIMEOUT_SECS) - Duration::from_millis(200));
    assert_eq!(events_named(&app, "it-failover-hole").await.len(), 1);

    // A budget spent on the first URL leaves nothing for the second: spooled.
    let tight = Hook::with_conf(
        &format!("\"{} {}\"", hole.url, app.base_url),
        &app.ingest_token,
        &format!("VCGATE_SEND_BUDGET={HOOK_TIMEOUT_SECS}\n"),
    );
    let run = tight.alarm("it-failover-budget").await;
    assert!(
        run.field("spooled", "delivery_id").is_some(),
        "{}",
        run.describe()
    );
    assert!(run.stderr.contains("send budget"), "{}", run.describe());
    assert!(
        run.elapsed < Duration::from_secs(HOOK_TIMEOUT_SECS + 3),
        "{}",
        run.describe()
    );
}

/// `--url` given twice writes both, in order, into hook.conf.
#[tokio::test]
async fn installer_takes_several_urls() {
    require_vcsa_tools();
    let app = TestApp::spawn().await;
    let down = closed_port();
    let root = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(script("install-vcsa-hook.sh"))
        .arg("--prefix")
        .arg(root.path())
        .args(["--url", &down.url, "--url", &app.base_url, "--test"])
        .env_clear()
        .env("PATH", SYSTEM_PATH);
    let run = run_process(cmd, Some(&format!("{}\n", app.ingest_token))).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let conf = std::fs::read_to_string(root.path().join("etc/vcgate/hook.conf")).unwrap();
    assert!(
        conf.contains(&format!("VCGATE_URL=\"{} {}\"", down.url, app.base_url)),
        "{conf}"
    );
    assert_eq!(events_named(&app, "vcgate.test").await.len(), 1);
}
