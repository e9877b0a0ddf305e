//! Hardening at the other edges (issue 13), against the real binary: a
//! vCenter answering absurdly deep or huge SOAP (row 6), functions that print
//! without end or leave processes behind (rows 7, 8), globs (row 9), file
//! modes (row 11), logs and terminals (row 13). Peers are real processes or
//! small servers started here (a fake vCenter, a webhook target).

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{TestApp, TestConfig, alarm_body, vcgate_cli};

/// Reads one HTTP request (head and a `Content-Length` body) and discards it.
async fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    Some(())
}

/// Writes a 200 answer of `len` bytes made of `fill`, after `prefix`;
/// returns how many bytes the client took before it hung up.
async fn write_huge(
    stream: &mut TcpStream,
    content_type: &str,
    prefix: &[u8],
    fill: u8,
    len: usize,
) -> usize {
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(prefix).await.is_err() {
        return 0;
    }
    let chunk = vec![fill; 1 << 20];
    let mut sent = prefix.len();
    while sent < len {
        let n = chunk.len().min(len - sent);
        if stream.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    sent
}

const DEEP: u8 = 0;
const HUGE: u8 = 1;

/// A vCenter that answers every SOAP call 10,000 levels deep (`DEEP`) or
/// with 200 MB (`HUGE`); counts the bytes its clients actually took.
async fn fake_vcenter(mode: Arc<AtomicU8>, taken: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sdk", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (mode, taken) = (mode.clone(), taken.clone());
            tokio::spawn(async move {
                while read_request(&mut stream).await.is_some() {
                    if mode.load(Ordering::Relaxed) == DEEP {
                        let body = format!(
                            "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{}{}</soapenv:Body></soapenv:Envelope>",
                            "<a>".repeat(10_000),
                            "</a>".repeat(10_000)
                        );
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        if stream
                            .write_all(format!("{head}{body}").as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    } else {
                        let prefix = b"<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><x>";
                        let n = write_huge(&mut stream, "text/xml", prefix, b'x', 200 << 20).await;
                        taken.fetch_add(n as u64, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Waits until the guard's reconcile error for vc1 mentions `needle`.
async fn guard_error(app: &TestApp, needle: &str) -> String {
    app.wait_for(needle, Duration::from_secs(30), || async {
        let g = app.get_json("/api/v1/guard").await;
        let error = g["vcenters"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        error.contains(needle).then_some(error)
    })
    .await
}

/// Row 6. Before: a well-formed 10,000-deep answer crashed the process
/// (stack overflow); any man in the middle could kill the gateway.
#[tokio::test]
async fn a_vcenter_answering_too_deep_or_too_much_fails_its_call_not_the_gateway() {
    let mode = Arc::new(AtomicU8::new(DEEP));
    let taken = Arc::new(AtomicU64::new(0));
    let url = fake_vcenter(mode.clone(), taken.clone()).await;
    let mut app = TestApp::spawn_with(&format!(
        "[[vcenter]]\nname = \"vc1\"\nurl = \"{url}\"\nusername = \"u\"\npassword = \"p\"\ntimeout = \"10s\"\nmax_response = \"4MiB\"\n\n[guard]\ninterval = \"1s\"\n"
    ))
    .await;
    guard_error(&app, "deeper than 256 levels").await;
    let before = app.memory_kib("VmHWM");
    mode.store(HUGE, Ordering::Relaxed);
    guard_error(&app, "exceeds 4194304 bytes").await;
    assert!(app.is_running(), "the gateway survived both answers");
    assert!(app.get_json("/readyz").await["status"] == "ready");
    let grown = app.memory_kib("VmHWM").saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB for a 200 MB answer"
    );
    let read = taken.load(Ordering::Relaxed);
    assert!(
        read < 32 << 20,
        "the answer is read incrementally and abandoned at the cap ({read} bytes taken)"
    );
}

fn function_config(function: &str) -> String {
    format!(
        "[[route]]\ntype = \"vm.*\"\nto = \"automation\"\n\n{function}\n\n[[subscription]]\nname = \"s\"\nevent_type = \"vm.*\"\nfunction = \"f\"\n"
    )
}

async fn emit_and_wait_run(app: &TestApp, subject: &str) -> Value {
    let body = json!({"specversion": "1.0", "id": subject, "source": "test", "type": "vm.created", "subject": subject, "data": {}});
    let event = app.post_accepted("/api/v1/events", &body).await;
    let run_id = app
        .wait_for("a finished run", Duration::from_secs(120), || async {
            let runs = app.get_json(&format!("/api/v1/runs?event={event}")).await;
            let run = runs["runs"].get(0)?.clone();
            matches!(
                run["status"].as_str(),
                Some("succeeded" | "failed" | "dead")
            )
            .then(|| run["id"].as_str().unwrap().to_owned())
        })
        .await;
    app.get_json(&format!("/api/v1/runs/{run_id}")).await
}

/// Row 7 (command). Before: one 300 MB stdout line raised RSS by 300 MB.
#[tokio::test]
async fn a_function_printing_300_mb_costs_bounded_memory() {
    let app = TestApp::spawn_with(&function_config(
        "[[function]]\nname = \"f\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"head -c 300000000 /dev/zero | tr '\\\\0' x; echo; echo after\"]\ntimeout = \"120s\"\n",
    ))
    .await;
    let before = app.memory_kib("VmHWM");
    let run = emit_and_wait_run(&app, "big-stdout").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let stdout = run["logs"]["stdout"].as_array().unwrap();
    assert_eq!(
        stdout[0].as_str().unwrap().len(),
        8192,
        "the line is cut at 8 KiB"
    );
    assert_eq!(stdout[1], "after", "reading went on past the long line");
    assert_eq!(run["logs"]["truncated"], true);
    let grown = app.memory_kib("VmHWM").saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB for 300 MB of output"
    );
}

/// Row 7 (webhook). Before: a 300 MB webhook answer peaked at 616 MB.
#[tokio::test]
async fn a_webhook_answering_300_mb_costs_bounded_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let taken = Arc::new(AtomicU64::new(0));
    let counter = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                if read_request(&mut stream).await.is_some() {
                    let n =
                        write_huge(&mut stream, "application/json", b"", b'y', 300_000_000).await;
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let app = TestApp::spawn_with(&function_config(&format!(
        "[[function]]\nname = \"f\"\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"120s\"\n"
    )))
    .await;
    let before = app.memory_kib("VmHWM");
    let run = emit_and_wait_run(&app, "big-answer").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["logs"]["truncated"], true);
    assert!(run["logs"]["stdout"][0].as_str().unwrap().len() <= 64 * 1024);
    let grown = app.memory_kib("VmHWM").saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB for a 300 MB answer"
    );
    assert!(
        taken.load(Ordering::Relaxed) < 64 << 20,
        "the gateway stopped reading at its cap"
    );
}

/// Row 8. Before: a function ending in `sleep 1000 &` was recorded
/// `succeeded` with empty logs (the readers gave up) and its child lived on.
#[tokio::test]
async fn a_function_that_backgrounds_a_sleeper_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleeper.pid");
    let app = TestApp::spawn_with(&function_config(&format!(
        "[[function]]\nname = \"f\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"sleep 1000 & echo $! > {}; echo started; echo done\"]\n",
        pidfile.display()
    )))
    .await;
    let run = emit_and_wait_run(&app, "sleeper").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["logs"]["stdout"], json!(["started", "done"]), "{run}");
    let stderr = run["logs"]["stderr"].to_string();
    assert!(
        stderr.contains("leaving 1 process(es) in its group"),
        "the run says what happened to the straggler: {stderr}"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    app.wait_for("the sleeper gone", Duration::from_secs(10), || async {
        // Gone, or a zombie waiting for its new parent to reap it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().chars().next());
        (stat.is_empty() || state == Some(Some('Z'))).then_some(())
    })
    .await;
}

/// Row 9 (route globs; silence matchers are issue 14). Before: no length
/// limit and O(n·m) globbing stalled the pipeline for every event behind a
/// 200 KB entity name.
#[tokio::test]
async fn long_globs_are_refused_and_long_input_does_not_stall_routing() {
    let slow = format!("*{}b", "a".repeat(1000));
    let mut app = TestApp::spawn_config(TestConfig {
        http: "max_body = \"1MiB\"".into(),
        extra: format!(
            "[[route]]\nentity = \"{slow}\"\nto = \"drop\"\n\n[[route]]\nentity = \"{}\"\nto = \"drop\"\n",
            slow.replace('b', "c")
        ),
        ..TestConfig::default()
    })
    .await;
    let mut hostile = alarm_body("long-1", "A", "vm", "Red");
    hostile["env"]["VMWARE_ALARM_TARGET_NAME"] = json!("a".repeat(200_000));
    assert_eq!(
        app.post_json("/api/v1/alarms", &hostile)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("long-2", "B", "vm-after", "Red"),
        )
        .send()
        .await
        .unwrap();
    let behind = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for(
        "the event behind it routed",
        Duration::from_secs(5),
        || async { (app.event(&behind).await["stage"] == "processed").then_some(()) },
    )
    .await;

    // Over-long globs are refused at load and at reload, naming the limit.
    let config = std::fs::read_to_string(app.config_path()).unwrap();
    let too_long = format!(
        "{config}\n[[route]]\nalarm = \"{}\"\nto = \"drop\"\n",
        "x".repeat(1100)
    );
    std::fs::write(app.config_path(), &too_long).unwrap();
    let checked = vcgate_cli(&["check-config", app.config_path().to_str().unwrap()], &[]);
    assert_eq!(checked.status.code(), Some(2));
    let message = String::from_utf8_lossy(&checked.stderr).to_string();
    assert!(
        message.contains("route[2].alarm") && message.contains("1024"),
        "{message}"
    );
    let r = app
        .admin(reqwest::Method::POST, "/api/v1/reload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("1024"));
    app.kill9();
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Row 11. Before: the database, its WAL and `snmp-engine.json` were 0644
/// in a 0755 directory.
#[tokio::test]
async fn data_files_are_private() {
    let mut app = TestApp::spawn_config(TestConfig {
        snmp: "[[snmp.user]]\nname = \"vigil\"\nauth_protocol = \"sha\"\nauth_password = \"authpass123\"\n".into(),
        extra: "[[monitoring.snmp]]\nname = \"nms\"\ntarget = \"127.0.0.1:9\"\nversion = \"3\"\nuser = \"fwd\"\nauth_protocol = \"sha\"\nauth_password = \"fwdpass123\"\n".into(),
        ..TestConfig::default()
    })
    .await;
    // Move the store to a directory that does not exist yet.
    app.kill9();
    let data = app.dir.path().join("data");
    let db = data.join("state").join("vcgate.db");
    let config = std::fs::read_to_string(app.config_path()).unwrap().replace(
        &format!("path = \"{}\"", app.dir.path().join("vcgate.db").display()),
        &format!("path = \"{}\"", db.display()),
    );
    std::fs::write(app.config_path(), config).unwrap();
    app.restart().await;
    let r = app
        .post_json("/api/v1/alarms", &alarm_body("modes", "A", "vm", "Red"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(mode_of(&data), 0o700);
    assert_eq!(mode_of(&data.join("state")), 0o700);
    // The SNMP engines live beside the store's path on either backend; the
    // database files only on SQLite.
    let mut files = vec!["snmp-engine.json", "snmp-forward-engine-nms.json"];
    if !app.on_postgres() {
        files.extend(["vcgate.db", "vcgate.db-wal", "vcgate.db-shm"]);
    }
    for file in files {
        assert_eq!(mode_of(&data.join("state").join(file)), 0o600, "{file}");
    }
}

/// Row 13. Before: a `createdBy` with a newline forged a log line, and
/// `vcgate get events` printed escape sequences from event fields.
#[tokio::test]
async fn input_cannot_forge_log_lines_or_drive_the_terminal() {
    let app = TestApp::spawn().await;
    let forged = "ops\n2026-11-25T00:00:00.000000Z  INFO vcgate: FORGED-LINE everything is fine";
    let r = app
        .admin(reqwest::Method::POST, "/api/v1/silences")
        .json(&json!({"matchers": [{"name": "alarm", "value": "nothing"}], "endsAt": "2099-01-01T00:00:00Z",
                      "createdBy": forged, "comment": "\u{1b}[2J"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.wait_for("the silence logged", Duration::from_secs(5), || async {
        app.log().contains("FORGED-LINE").then_some(())
    })
    .await;
    for line in app.log().lines().filter(|l| l.contains("FORGED-LINE")) {
        assert!(
            line.contains("silence saved"),
            "a forged log line: {line:?}"
        );
    }
    assert!(
        !app.log().contains("\u{1b}[2J"),
        "a raw escape sequence in the log"
    );

    let hostile = "web\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\nstatus       succeeded";
    let mut body = alarm_body("terminal", "A", hostile, "Red");
    body["env"]["VMWARE_ALARM_EVENTDESCRIPTION"] = json!(hostile);
    let r = app.post_json("/api/v1/alarms", &body).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = [
        ("VCGATE_TOKEN", app.read_token.as_str()),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    for args in [vec!["get", "events"], vec!["get", "event", id.as_str()]] {
        let out = vcgate_cli(&args, &env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("pwned"), "{text}");
        let bad: Vec<char> = text
            .chars()
            .filter(|c| *c != '\n' && (c.is_control() || *c == '\u{202e}'))
            .collect();
        assert!(bad.is_empty(), "{args:?} printed {bad:?}:\n{text}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("status       succeeded")),
            "a value started a line of its own: {text}"
        );
    }
}
