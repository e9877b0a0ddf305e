//! A real Alertmanager (Debian `prometheus-alertmanager`) on loopback with a
//! short `resolve_timeout`, notifying a webhook receiver.
//!
//! The first start binds port 0 and reads the port from Alertmanager's own
//! log (`msg="Listening on" address=…`). A restart must come back on that
//! port (vcgate's config names it), so it retries while the port is taken.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::tools::{logged_addr, require_tool};
use crate::support::waits;

/// Alertmanager ends an alert sent without `endsAt` after this long.
pub const RESOLVE_TIMEOUT_SECS: u64 = 2;
/// How long a start may take, and a restart may retry its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Alertmanager {
    /// Where it listens; port 0 until the first start.
    addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
    client: reqwest::Client,
}

impl Alertmanager {
    /// Starts Alertmanager sending every notification to `receiver` (a URL).
    pub async fn start(receiver: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("am.yml"),
            format!(
                "global:\n  resolve_timeout: {RESOLVE_TIMEOUT_SECS}s\nroute:\n  receiver: test\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: {receiver}\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let mut am = Alertmanager {
            addr: ([127, 0, 0, 1], 0).into(),
            dir,
            child: None,
            client: reqwest::Client::new(),
        };
        am.run().await;
        am
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("am.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Starts (again) with an empty alert set: Alertmanager keeps alerts in
    /// memory. Again means on the same port.
    pub async fn run(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch().await {
                Ok(addr) => {
                    self.addr = addr;
                    break;
                }
                Err(log)
                    if self.addr.port() != 0
                        && log.contains("address already in use")
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(waits::POLL).await;
                }
                Err(log) => panic!("alertmanager did not start on {}: {log}", self.addr),
            }
        }
        let url = format!("{}/-/ready", self.url());
        let client = &self.client;
        waits::wait_for(
            "alertmanager ready",
            START_TIMEOUT,
            || {
                let request = client.get(&url).send();
                async move { request.await.ok()?.status().is_success().then_some(()) }
            },
            || self.log_text(),
        )
        .await;
    }

    /// One start: the address it listens on, or its log when it exited.
    async fn launch(&mut self) -> Result<SocketAddr, String> {
        let bin = require_tool("prometheus-alertmanager", "prometheus-alertmanager");
        let storage = self.dir.path().join(format!("data-{}", uuid_like()));
        let log = std::fs::File::create(self.log()).unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("am.yml").display()
            ))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address={}", self.addr))
            .arg("--cluster.listen-address=")
            // Info, for the "Listening on" line.
            .arg("--log.level=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus-alertmanager");
        // Owned by `self` from here, so a failed wait still kills it (Drop).
        self.child = Some(child);
        let log_path = self.log();
        let listening = waits::wait_for(
            "alertmanager to log its address",
            START_TIMEOUT,
            || {
                let exited = self.child.as_mut().unwrap().try_wait().unwrap().is_some();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let addr = logged_addr(&log, "msg=\"Listening on\"", "address");
                std::future::ready(match (addr, exited) {
                    (Some(addr), false) => Some(Ok(addr)),
                    (_, true) => Some(Err(log)),
                    (None, false) => None,
                })
            },
            || std::fs::read_to_string(&log_path).unwrap_or_default(),
        )
        .await;
        if listening.is_err() {
            self.stop();
        }
        listening
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Alerts Alertmanager holds as active (not resolved).
    pub async fn active(&self) -> Vec<Value> {
        let r = self
            .client
            .get(format!(
                "{}/api/v2/alerts?active=true&silenced=true&inhibited=true",
                self.url()
            ))
            .send()
            .await
            .unwrap();
        // Alertmanager lists only alerts that have not ended.
        r.json().await.unwrap()
    }

    pub async fn active_named(&self, alertname: &str) -> Vec<Value> {
        self.active()
            .await
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == alertname)
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop();
    }
}

fn uuid_like() -> String {
    format!("{:?}", Instant::now()).replace(|c: char| !c.is_ascii_alphanumeric(), "")
}
