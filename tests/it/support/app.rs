//! Test harness: starts the real `vcgate` binary (and real peers such as
//! net-snmp's `snmptrapd`) as child processes on free loopback ports.
//!
//! A peer that cannot be started fails the test loudly; nothing is skipped.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const INGEST_TOKEN: &str = "test-ingest-token-0123456789";
pub const READ_TOKEN: &str = "test-read-token-0123456789";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Extra config for a test gateway: lines appended inside `[http]`, `[snmp]`,
/// `[store]`, and whole sections appended at the end.
#[derive(Default, Clone)]
pub struct TestConfig {
    pub store: String,
    pub http: String,
    pub snmp: String,
    pub extra: String,
    /// Serve HTTPS with a fresh CA and certificate (made with the `openssl` CLI).
    pub tls: bool,
    /// `RUST_LOG` for the server (default: info, vcgate at debug, async_snmp at error).
    pub log_filter: Option<String>,
}

/// Makes a CA and a server certificate for 127.0.0.1 in `dir`; returns
/// (ca.pem, cert.pem, key.pem).
pub fn make_tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = require_tool("openssl", "openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=vcgate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub snmp_port: u16,
    pub ingest_token: String,
    pub read_token: String,
    pub admin_token: String,
    /// Data directory: database, config file (`vcgate.toml`), server log.
    pub dir: tempfile::TempDir,
    /// CA that signed the server certificate, when serving HTTPS.
    pub ca_file: Option<PathBuf>,
    child: Option<Child>,
    client: reqwest::Client,
    log_filter: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_config(TestConfig::default()).await
    }

    /// Appends `extra_toml` (whole sections) to the test config.
    pub async fn spawn_with(extra_toml: &str) -> TestApp {
        Self::spawn_config(TestConfig {
            extra: extra_toml.to_owned(),
            ..TestConfig::default()
        })
        .await
    }

    pub async fn spawn_config(cfg: TestConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let http_port = free_tcp_port();
        let mut http_extra = cfg.http.clone();
        let mut ca_file = None;
        if cfg.tls {
            let (ca, cert, key) = make_tls_files(dir.path());
            http_extra.push_str(&format!(
                "\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                cert.display(),
                key.display()
            ));
            ca_file = Some(ca);
        }
        let snmp_port = free_udp_port();
        let config = format!(
            "[store]\npath = \"{db}\"\n{store}\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\ningest_tokens = [\"{INGEST_TOKEN}\"]\nread_tokens = [\"{READ_TOKEN}\"]\nadmin_tokens = [\"{ADMIN_TOKEN}\"]\n{http}\n\n[snmp]\nlisten = \"127.0.0.1:{snmp_port}\"\ncommunities = [\"public\"]\ndefault_vcenter = \"vc1\"\n{snmp}\n\n{extra}\n",
            db = dir.path().join("vcgate.db").display(),
            store = cfg.store,
            http = http_extra,
            snmp = cfg.snmp,
            extra = cfg.extra,
        );
        std::fs::write(dir.path().join("vcgate.toml"), config).unwrap();
        let scheme = if cfg.tls { "https" } else { "http" };
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &ca_file {
            let pem = std::fs::read(ca).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        let mut app = TestApp {
            base_url: format!("{scheme}://127.0.0.1:{http_port}"),
            ca_file,
            snmp_port,
            ingest_token: INGEST_TOKEN.to_owned(),
            read_token: READ_TOKEN.to_owned(),
            admin_token: ADMIN_TOKEN.to_owned(),
            dir,
            child: None,
            client: client.build().unwrap(),
            log_filter: cfg
                .log_filter
                .clone()
                .unwrap_or_else(|| "info,vcgate=debug,async_snmp=error".into()),
        };
        app.start().await;
        app
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("vcgate.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server logged so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn snmp_target(&self) -> String {
        format!("127.0.0.1:{}", self.snmp_port)
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vcgate"))
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env("RUST_LOG", &self.log_filter)
            .env_remove("VCGATE_INGEST_TOKEN")
            .env_remove("VCGATE_READ_TOKEN")
            .env_remove("VCGATE_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting vcgate serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("vcgate exited early ({status}); log:\n{}", self.log());
            }
            if let Ok(r) = self
                .client
                .get(format!("{}/readyz", self.base_url))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "vcgate not ready within 30 s; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The SNMP socket binds before HTTP; give the receive task a moment anyway.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> u64 {
        proc_status_kib(self.pid(), field)
    }

    /// Sends a signal (e.g. "HUP") to the running server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// SIGKILL: no shutdown work at all.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("vcgate did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same ports and data directory.
    pub async fn restart(&mut self) {
        self.kill9();
        self.start().await;
    }

    pub fn read(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.read_token)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.ingest_token)
            .json(body)
    }

    /// An admin-scope request (silences, reload, retry).
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.read(path).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// GET /api/v1/events/{id}; panics unless 200.
    pub async fn event(&self, id: &str) -> Value {
        self.get_json(&format!("/api/v1/events/{id}")).await
    }

    /// GET /api/v1/events?<query>
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let body = self.get_json(&format!("/api/v1/events?{query}")).await;
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Every item of a paged list endpoint (`/api/v1/events` under "events",
    /// `/api/v1/runs` under "runs"), newest first, following `before` cursors.
    pub async fn all_pages(&self, path: &str, key: &str) -> Vec<Value> {
        const PAGE: usize = 1000;
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let q = match before {
                Some(b) => format!("{path}?limit={PAGE}&before={b}"),
                None => format!("{path}?limit={PAGE}"),
            };
            let page = self.get_json(&q).await[key].as_array().cloned().unwrap();
            let n = page.len();
            before = page.last().and_then(|item| item["seq"].as_i64());
            all.extend(page);
            if n < PAGE {
                return all;
            }
        }
    }

    pub async fn status(&self) -> Value {
        self.get_json("/api/v1/status").await
    }

    /// A rejection counter from the status endpoint (0 when absent).
    pub async fn rejected(&self, source: &str, reason: &str) -> u64 {
        self.status().await["sources"][source]["rejected"][reason]
            .as_u64()
            .unwrap_or(0)
    }

    /// A pipeline counter from the status endpoint (0 when absent).
    pub async fn pipeline_counter(&self, name: &str) -> u64 {
        self.status().await["pipeline"][name].as_u64().unwrap_or(0)
    }

    /// Polls `check` until it returns Some or `timeout` passes (then panics with `what`).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; server log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every accepted event has been through the pipeline.
    pub async fn wait_processed(&self) {
        self.wait_for("pipeline to drain", Duration::from_secs(20), || async {
            let s = self.status().await;
            (s["store"]["pending_pipeline"].as_u64() == Some(0)).then_some(())
        })
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Runs the `vcgate` binary as a client command.
pub fn vcgate_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vcgate"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running vcgate")
}

/// Asserts a Debian tool is installed (scripts/test.sh installs them).
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return p;
        }
    }
    panic!("`{tool}` not found: install Debian package `{package}` (scripts/test.sh does this)");
}

/// A real net-snmp `snmptrapd` logging every notification it accepts to a file.
pub struct Snmptrapd {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Snmptrapd {
    /// Accepts v2c traps with community `public`.
    pub fn start() -> Snmptrapd {
        Self::start_with_conf("authCommunity log public\n")
    }

    pub fn start_with_conf(conf: &str) -> Snmptrapd {
        let bin = require_tool("snmptrapd", "snmptrapd");
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let log = dir.path().join("traps.log");
        let conf_path = dir.path().join("snmptrapd.conf");
        let mut f = std::fs::File::create(&conf_path).unwrap();
        writeln!(f, "{conf}\ndoNotRetainNotificationLogs yes").unwrap();
        let child = Command::new(bin)
            .args(["-f", "-n", "-On", "-Lf"])
            .arg(&log)
            .arg("-C")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path().join("pid"))
            .arg(format!("127.0.0.1:{port}"))
            .env("SNMP_PERSISTENT_DIR", dir.path())
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting snmptrapd");
        let trapd = Snmptrapd {
            port,
            log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !trapd.contents().contains("NET-SNMP version") {
            assert!(
                Instant::now() < deadline,
                "snmptrapd did not start; log: {}",
                trapd.contents()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        trapd
    }

    pub fn contents(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Snmptrapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
