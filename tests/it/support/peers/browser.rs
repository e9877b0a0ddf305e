//! [`Browser`]: a real headless Chromium driven over the DevTools protocol.
//!
//! Chromium talks CDP over a pipe (`--remote-debugging-pipe`: it reads
//! NUL-terminated JSON commands on fd 3 and writes answers and events on fd
//! 4), so no debugging port is opened and no websocket client is needed: a
//! shell `exec` maps the child's stdin/stdout onto fds 3/4. One page (tab),
//! attached in flat mode; every call waits for its own answer with a
//! deadline, and events are kept so a test can assert that no script threw
//! and no policy was violated.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::require_tool;

/// How long one protocol call may take (a page load on a loaded machine).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
pub const WIDTH: u32 = 1366;
pub const HEIGHT: u32 = 860;

pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Every event received so far (`Runtime.exceptionThrown`, `Log.entryAdded`, …).
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a fresh profile and opens one blank page.
    pub fn launch() -> Browser {
        let chromium = require_tool("chromium", "chromium");
        let profile = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(profile.path().join("chromium.log")).unwrap();
        let mut args = vec![
            "--headless".to_owned(),
            "--remote-debugging-pipe".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--mute-audio".to_owned(),
            "--force-color-profile=srgb".to_owned(),
        ];
        // Chromium's sandbox refuses to run as root (CI containers).
        if is_root() {
            args.push("--no-sandbox".to_owned());
        }
        // fd 3 ← our commands (stdin), fd 4 → its answers (stdout).
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(&chromium)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting chromium");
        let commands = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        buf.pop_if(|b| *b == 0);
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                            && tx.send(v).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            commands,
            messages,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// One command on the page's session; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(session))
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = Value::String(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("writing to chromium");
        self.commands.flush().unwrap();
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if m["id"].as_u64() == Some(id) => {
                    if let Some(e) = m.get("error") {
                        panic!("chromium: {method} failed: {e}");
                    }
                    return m["result"].clone();
                }
                Ok(m) => self.events.push(m),
                Err(RecvTimeoutError::Timeout) => panic!("chromium: no answer to {method}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("chromium exited (its log: {})", self.log())
                }
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._profile.path().join("chromium.log")).unwrap_or_default()
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("page script `{expression}` threw: {e}"))
    }

    /// [`Browser::eval`], with what the script threw as the error.
    fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Polls `expression` until it is truthy (then returns its value), or
    /// fails; a script that throws (a page still loading) counts as not yet.
    pub fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let v = self.try_eval(expression).unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!("browser: gave up waiting for {what}; page says: {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the whole page (up to 2.5 viewports high) written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let height = self
            .eval("document.documentElement.scrollHeight")
            .as_u64()
            .unwrap_or(u64::from(HEIGHT))
            .clamp(u64::from(HEIGHT), u64::from(HEIGHT) * 5 / 2);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}}),
        );
        let png = base64_decode(shot["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Script errors and policy violations the page reported so far.
    pub fn problems(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => Some(e["params"].to_string()),
                Some("Log.entryAdded") => {
                    let text = e["params"]["entry"]["text"].as_str().unwrap_or("");
                    let bad = ["Content Security Policy", "Trusted Type", "TrustedHTML"];
                    bad.iter()
                        .any(|b| text.contains(b))
                        .then(|| text.to_owned())
                }
                _ => None,
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Standard base64 (CDP's screenshot data).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
