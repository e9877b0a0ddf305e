//! The web console (`/ui/`): the static shell's headers and openness, and a
//! real headless Chromium run against a gateway holding events from the
//! hook, an SNMP trap and a CloudEvent with a function run and a forward —
//! log in, compare the overview with `/api/v1/status`, follow an event to
//! its run and forward, render a hostile entity name as text, create and
//! expire a silence (admin) and be refused (read), retry a dead run.
//! Screenshots of each page go to a scratch directory, or to the directory
//! `VCGATE_SCREENSHOTS` names (`VCGATE_SCREENSHOTS=docs/screenshots` renews
//! the README's: a test run leaves the tree clean). Fixture renders of
//! every page (hostile values in every field) are in `render.rs`.

mod render;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::peers::browser::Browser;
use crate::support::{TestApp, TestConfig, WebhookReceiver, alarm_body, alarm_trap};

const HOSTILE: &str = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";

#[tokio::test]
async fn the_shell_is_open_strict_and_holds_no_data() {
    let app = TestApp::spawn().await;
    let secret_name = "vm-console-shell-7731";
    let body = alarm_body("shell-1", "VM CPU", secret_name, "Red");
    accept(&app, "/api/v1/alarms", &body).await;
    app.processed(secret_name).await;

    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", app.base_url)).send();
    for (path, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
    ] {
        // No token: the shell is open.
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], content_type, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, vcgate::ui::CONTENT_SECURITY_POLICY, "{path}");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        // Nothing stored reaches the shell.
        let body = r.text().await.unwrap();
        assert!(!body.contains(secret_name), "{path} carries data");
    }
    let r = get("/ui/events").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("content-security-policy"));
    let r = client
        .get(format!("{}/ui", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(r.url().path() == "/ui/", "redirected to /ui/: {}", r.url());
    // The data stays behind the API's tokens.
    for path in ["/api/v1/status", "/api/v1/events", "/api/v1/silences"] {
        assert_eq!(get(path).await.unwrap().status(), 401, "{path}");
    }
}

/// The gateway the browser test looks at: a command function on `vm.deployed`
/// (routed to both), a failing one on `vm.removed` (one attempt: dead), and
/// a CloudEvents forwarder to a real receiver.
async fn gateway(receiver: &WebhookReceiver, dir: &std::path::Path) -> TestApp {
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/bash\ncat >/dev/null\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    };
    let tagger = script(
        "tagger.sh",
        "echo 'tagging the VM'\necho '{\"tagged\":true}'",
    );
    let broken = script("broken.sh", "echo 'cannot reach the CMDB' >&2\nexit 3");
    TestApp::spawn_config(TestConfig {
        extra: format!(
            r#"
[[route]]
type = "vm.*"
to = "both"

[[function]]
name = "tagger"
kind = "command"
command = ["{tagger}"]

[[function]]
name = "cmdb-sync"
kind = "command"
command = ["{broken}"]
max_attempts = 1

[[subscription]]
name = "tag-deployed"
event_type = "vm.deployed"
function = "tagger"

[[subscription]]
name = "cmdb-removed"
event_type = "vm.removed"
function = "cmdb-sync"

[[monitoring.webhook]]
url = "{url}"
format = "cloudevents"
"#,
            url = receiver.url
        ),
        ..TestConfig::default()
    })
    .await
}

async fn emit(app: &TestApp, id: &str, event_type: &str, subject: &str) -> String {
    let body = json!({"specversion": "1.0", "id": id, "source": "console-test", "type": event_type,
        "subject": subject, "data": {"message": format!("{event_type} {subject}"), "metadata": {"vm_name": subject}}});
    accept(app, "/api/v1/events", &body).await
}

/// Posts `body` with the ingest token; the id of the accepted event.
async fn accept(app: &TestApp, path: &str, body: &Value) -> String {
    let r = app.post_json(path, body).send().await.unwrap();
    assert_eq!(r.status(), 202, "POST {path}");
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("VCGATE_SCREENSHOTS")
        .map(|d| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(d))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Signs in through the login form with `token`; waits for the overview.
fn sign_in(b: &mut Browser, base: &str, token: &str) {
    b.navigate(&format!("{base}/ui/#/"));
    b.wait_for(
        "the login form",
        "!document.getElementById('login').hidden && document.readyState === 'complete'",
    );
    b.eval(&format!(
        "document.getElementById('token').value = {t}; \
         document.getElementById('login-form').requestSubmit(); true",
        t = json!(token)
    ));
    b.wait_for(
        "the overview after signing in",
        "document.getElementById('main').dataset.page === 'overview'",
    );
}

/// Opens a page by its fragment and waits until it has rendered.
fn open(b: &mut Browser, hash: &str, page: &str) {
    b.eval(&format!(
        "document.getElementById('main').dataset.page = ''; location.hash = {h}; true",
        h = json!(hash)
    ));
    b.wait_for(
        &format!("page {page} ({hash})"),
        &format!(
            "document.getElementById('main').dataset.page === {p} && \
             document.getElementById('main').dataset.hash === location.hash",
            p = json!(page)
        ),
    );
}

fn text(b: &mut Browser, selector: &str) -> String {
    let v = b.eval(&format!(
        "(document.querySelector({s}) || {{}}).textContent",
        s = json!(selector)
    ));
    v.as_str()
        .unwrap_or_else(|| panic!("nothing matches {selector}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let receiver = WebhookReceiver::start("/hook").await;
    let dir = tempfile::tempdir().unwrap();
    let app = gateway(&receiver, dir.path()).await;
    // Hook alarm with a hostile entity name, an SNMP trap, a CloudEvent with
    // a run and a forward, one with a dead run.
    let body = alarm_body("console-1", "VM CPU usage", HOSTILE, "Red");
    accept(&app, "/api/v1/alarms", &body).await;
    alarm_trap(
        &app,
        2,
        "Yellow",
        "alarm.HostMemoryUsageAlarm - Metric Usage = 92%",
        "esx-console-01",
    );
    let deployed = emit(&app, "console-deployed-1", "vm.deployed", "web-console-01").await;
    emit(&app, "console-removed-1", "vm.removed", "web-console-02").await;
    app.processed("esx-console-01").await;
    app.wait_for(
        "the run and the forward",
        Duration::from_secs(30),
        || async {
            let e = app.event(&deployed).await;
            let runs = app.get_json("/api/v1/runs?status=succeeded").await;
            let dead = app.get_json("/api/v1/runs?status=dead").await;
            (e["deliveries"][0]["state"] == "sent"
                && runs["runs"].as_array().is_some_and(|r| !r.is_empty())
                && dead["runs"].as_array().is_some_and(|r| !r.is_empty()))
            .then_some(())
        },
    )
    .await;
    app.wait_processed().await;
    let status = app.status().await;
    let shots = screenshots();

    let mut b = Browser::launch();
    let base = app.base_url.clone();

    // Nothing but the login form without a token.
    b.navigate(&format!("{base}/ui/#/events"));
    b.wait_for("the login form", "!document.getElementById('login').hidden");
    assert_eq!(b.eval("document.getElementById('main').children.length"), 0);
    b.screenshot(&shots.join("login.png"));

    // Overview, signed in with the read token: its numbers are status's.
    sign_in(&mut b, &base, &app.read_token);
    for (stat, want) in [
        ("store.events", &status["store"]["events"]),
        (
            "source.alarm-hook.accepted",
            &status["sources"]["alarm-hook"]["accepted"],
        ),
        (
            "source.snmp.accepted",
            &status["sources"]["snmp"]["accepted"],
        ),
        ("source.api.accepted", &status["sources"]["api"]["accepted"]),
        ("source.api.received", &status["sources"]["api"]["received"]),
        ("runs.succeeded", &status["runs"]["succeeded"]),
        ("runs.dead", &status["runs"]["dead"]),
    ] {
        let shown = text(&mut b, &format!("[data-stat='{stat}']"));
        assert_eq!(shown, want.as_u64().unwrap().to_string(), "overview {stat}");
    }
    assert!(text(&mut b, "main").contains(&status["version"].as_str().unwrap().to_owned()));
    b.screenshot(&shots.join("overview.png"));

    // Events: the posted alarms, the hostile name as text, no script run.
    open(&mut b, "#/events", "events");
    let page = text(&mut b, "main");
    for shown in [
        "VM CPU usage",
        "alarm.HostMemoryUsageAlarm",
        "web-console-01",
        "vm.deployed",
    ] {
        assert!(page.contains(shown), "events list lacks {shown}: {page}");
    }
    let names = b.eval("[...document.querySelectorAll('td.entity')].map(td => td.textContent)");
    assert!(
        names.as_array().unwrap().iter().any(|n| n == HOSTILE),
        "hostile name not shown as text: {names}"
    );
    assert_eq!(b.eval("typeof window.pwned"), "undefined");
    assert_eq!(
        b.eval("document.querySelectorAll('img, main script').length"),
        0
    );
    b.screenshot(&shots.join("events.png"));
    // A filter narrows the list server-side.
    open(&mut b, "#/events?source=snmp", "events");
    let rows = b.eval("document.querySelectorAll('tr[data-event]').length");
    assert_eq!(rows, 1, "one SNMP event");

    // Event detail: its run and its forward on one timeline.
    open(&mut b, &format!("#/events/{deployed}"), "events-detail");
    let run_line = text(&mut b, "[data-run]");
    assert!(
        run_line.contains("tagger") && run_line.contains("succeeded"),
        "{run_line}"
    );
    let forward = text(&mut b, "[data-forward='webhook[0]']");
    assert!(forward.contains("sent"), "{forward}");
    b.screenshot(&shots.join("event-detail.png"));

    // Runs, and the dead run's detail: retry refused with the read token.
    open(&mut b, "#/runs", "runs");
    b.screenshot(&shots.join("runs.png"));
    let dead_id = app.get_json("/api/v1/runs?status=dead").await["runs"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    open(&mut b, &format!("#/runs/{dead_id}"), "runs-detail");
    assert!(text(&mut b, "#stderr").contains("cannot reach the CMDB"));
    b.eval("document.getElementById('retry').click(); true");
    let refused = b.wait_for(
        "the retry refusal",
        "(document.querySelector('main .notice') || {}).textContent",
    );
    assert!(refused.as_str().unwrap().contains("401"), "{refused}");
    b.screenshot(&shots.join("run-detail.png"));

    // Silences with the read token: refused, nothing created.
    open(&mut b, "#/silences", "silences");
    let submit = "(() => { const f = document.getElementById('silence-form'); \
         f.matchers.value = 'entity=esx-console-*'; f.duration.value = '1h'; \
         f.comment.value = 'patching <b>esx</b>'; f.requestSubmit(); return true; })()";
    b.eval(submit);
    let refused = b.wait_for(
        "the silence refusal",
        "(document.querySelector('#silence-result .notice') || {}).textContent",
    );
    assert!(refused.as_str().unwrap().contains("401"), "{refused}");
    let silences = app.get_json("/api/v1/silences").await;
    assert_eq!(silences["silences"], json!([]));

    // Guard page (no vCenter here: it says so).
    open(&mut b, "#/guard", "guard");
    assert!(text(&mut b, "main").contains("The guard watches no vCenter."));
    b.screenshot(&shots.join("guard.png"));

    // Admin: create, see, expire; retry the dead run.
    b.eval("document.getElementById('logout').click(); true");
    b.wait_for("signed out", "!document.getElementById('login').hidden");
    sign_in(&mut b, &base, &app.admin_token);
    open(&mut b, "#/silences", "silences");
    b.eval(submit);
    let id = app
        .wait_for("the silence", Duration::from_secs(10), || async {
            let s = app.get_json("/api/v1/silences").await;
            s["silences"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
    let row = format!("tr[data-silence='{id}']");
    b.wait_for(
        "the new silence listed",
        &format!("!!document.querySelector({})", json!(row)),
    );
    assert!(text(&mut b, &row).contains("patching <b>esx</b>"));
    assert!(text(&mut b, &row).contains("active"));
    assert!(text(&mut b, "#silence-result").contains(&format!("Silence {id} created")));
    b.screenshot(&shots.join("silences.png"));
    b.eval(&format!(
        "document.querySelector({}).click(); true",
        json!(format!("[data-expire='{id}']"))
    ));
    app.wait_for("the silence expired", Duration::from_secs(10), || async {
        let s = app.get_json("/api/v1/silences").await;
        (s["silences"][0]["status"]["state"] == "expired").then_some(())
    })
    .await;
    b.wait_for(
        "the expired silence listed",
        &format!(
            "(document.querySelector({}) || {{}}).textContent.includes('expired')",
            json!(row)
        ),
    );
    open(&mut b, &format!("#/runs/{dead_id}"), "runs-detail");
    b.eval("document.getElementById('retry').click(); true");
    let queued = b.wait_for(
        "the retry",
        "(document.querySelector('main .notice.ok') || {}).textContent",
    );
    assert!(
        queued.as_str().unwrap().contains("Queued again"),
        "{queued}"
    );

    // Dark mode reads too.
    b.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    );
    open(&mut b, "#/", "overview");
    let bg = b.eval("getComputedStyle(document.body).backgroundColor");
    assert_eq!(bg, "rgb(17, 20, 24)", "dark background");
    b.screenshot(&shots.join("overview-dark.png"));

    assert_eq!(b.eval("typeof window.pwned"), "undefined");
    let problems = b.problems();
    assert!(problems.is_empty(), "the page reported: {problems:#?}");
}
