//! [`TestApp`]: the real `vcgate serve` binary as a child process, with a
//! client for its API.
//!
//! The gateway listens on port 0 for HTTP and SNMP and the test reads the
//! addresses it bound from its log (`SNMP listening addr=…`, then `HTTP
//! listening addr=…` once every stage is up), as zero2prod's TestApp asks
//! its listener for the port: nothing picks a "free" port that another test
//! or another engineer's suite could take before the child binds it.
//!
//! After the first start the config file names the bound addresses, so a
//! restart comes back where hooks, NMS senders and the tests expect it (as a
//! real gateway does). The port was ours a moment ago but is free meanwhile:
//! a restart that finds it taken retries for a while, then fails loudly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::peers::postgres;
use super::tools::{logged_addr, proc_status_kib, require_tool};
use super::waits;

pub const INGEST_TOKEN: &str = "test-ingest-token-0123456789";
pub const READ_TOKEN: &str = "test-read-token-0123456789";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The listen lines of a fresh test config: the kernel picks both ports.
const HTTP_ANY_PORT: &str = "[http]\nlisten = \"127.0.0.1:0\"\n";
const SNMP_ANY_PORT: &str = "[snmp]\nlisten = \"127.0.0.1:0\"\n";
/// How long a start may take (store migration, SNMP engine, TLS setup on a
/// loaded 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restart keeps trying to take its previous addresses again.
const REBIND_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// `RUST_LOG` for the server (default: info, vcgate at debug, async_snmp
    /// at error). Keep vcgate's info lines: the harness reads the listening
    /// addresses from them.
    pub log_filter: Option<String>,
}

pub struct TestApp {
    /// `http(s)://127.0.0.1:PORT`: the address the gateway bound.
    pub base_url: String,
    /// The HTTP address the gateway bound.
    pub http_addr: SocketAddr,
    pub ingest_token: String,
    pub read_token: String,
    pub admin_token: String,
    /// Data directory: database, config file (`vcgate.toml`), server log.
    pub dir: tempfile::TempDir,
    /// CA that signed the server certificate, when serving HTTPS.
    pub ca_file: Option<PathBuf>,
    /// The SNMP address the gateway bound (`None` with SNMP off).
    snmp_addr: Option<SocketAddr>,
    /// `http` or `https`.
    scheme: &'static str,
    /// The database of a gateway the backend matrix put on PostgreSQL.
    postgres_url: Option<String>,
    child: Option<Child>,
    client: reqwest::Client,
    log_filter: String,
}

/// What [`TestApp::block_event_commits`] holds; dropping it lets commits go on.
pub enum StoreWriteLock {
    /// A connection in a `BEGIN IMMEDIATE` transaction (dropping rolls back).
    Sqlite {
        _held: rusqlite::Connection,
    },
    Postgres {
        _held: postgres::EventsLock,
    },
}

/// Why a start failed.
enum StartError {
    /// An address the config names is taken (worth retrying on a restart).
    AddressInUse(String),
    /// Anything else: the log of this start.
    Exited(String),
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

    pub async fn spawn_config(mut cfg: TestConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        // The backend matrix (see `peers::postgres`): a test that did not
        // choose a backend runs on the one `VCGATE_TEST_STORE` names.
        let mut postgres_url = None;
        if !cfg.store.contains("backend") && postgres::matrix_is_postgres() {
            let (url, lines) = postgres::matrix_database();
            cfg.store.push_str(&lines);
            postgres_url = Some(url);
        }
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
        let config = format!(
            "[store]\npath = \"{db}\"\n{store}\n\n{HTTP_ANY_PORT}ingest_tokens = [\"{INGEST_TOKEN}\"]\nread_tokens = [\"{READ_TOKEN}\"]\nadmin_tokens = [\"{ADMIN_TOKEN}\"]\n{http}\n\n{SNMP_ANY_PORT}communities = [\"public\"]\ndefault_vcenter = \"vc1\"\n{snmp}\n\n{extra}\n",
            db = dir.path().join("vcgate.db").display(),
            store = cfg.store,
            http = http_extra,
            snmp = cfg.snmp,
            extra = cfg.extra,
        );
        std::fs::write(dir.path().join("vcgate.toml"), config).unwrap();
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &ca_file {
            let pem = std::fs::read(ca).unwrap();
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        let mut app = TestApp {
            base_url: String::new(),
            http_addr: ([127, 0, 0, 1], 0).into(),
            ca_file,
            snmp_addr: None,
            scheme: if cfg.tls { "https" } else { "http" },
            postgres_url,
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
        app.pin_addresses();
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

    /// `127.0.0.1:PORT` of the SNMP receiver.
    pub fn snmp_target(&self) -> String {
        self.snmp_addr
            .expect("SNMP is off in this test's config")
            .to_string()
    }

    /// Starts the server and waits until it answers `/readyz`.
    async fn start(&mut self) {
        self.launch_rebinding().await;
        self.wait_started().await;
    }

    /// Spawns the server until it listens. A restart (the addresses are
    /// known) retries while they are taken.
    async fn launch_rebinding(&mut self) {
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            match self.launch().await {
                Ok(()) => break,
                Err(StartError::AddressInUse(_))
                    if self.http_addr.port() != 0 && Instant::now() < deadline =>
                {
                    tokio::time::sleep(waits::POLL).await;
                }
                Err(StartError::AddressInUse(log) | StartError::Exited(log)) => {
                    panic!("vcgate exited early; log of this start:\n{log}")
                }
            }
        }
    }

    /// Waits until the server answers `/readyz` with a success.
    async fn wait_started(&mut self) {
        let url = format!("{}/readyz", self.base_url);
        let log_path = self.log_path();
        let (client, child) = (&self.client, self.child.as_mut().unwrap());
        waits::wait_for(
            "vcgate to answer /readyz",
            START_TIMEOUT,
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("vcgate exited ({status}); log:\n{}", read_log(&log_path));
                }
                let request = client.get(&url).send();
                async move {
                    let ready = request.await.ok()?.status().is_success();
                    ready.then_some(())
                }
            },
            || format!("log:\n{}", read_log(&log_path)),
        )
        .await;
    }

    /// Spawns the child and reads the addresses it bound from this start's
    /// log lines. `HTTP listening` is logged after everything else is up.
    async fn launch(&mut self) -> Result<(), StartError> {
        let log_path = self.log_path();
        let offset = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
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
        // Owned by `self` from here, so a failed wait still kills it (Drop).
        self.child = Some(child);
        let this_start = || read_log(&log_path).get(offset..).unwrap_or("").to_owned();
        let (listening, log) = waits::wait_for(
            "vcgate to log `HTTP listening addr=…`",
            START_TIMEOUT,
            || {
                let exited = self.child.as_mut().unwrap().try_wait().unwrap().is_some();
                let log = this_start();
                let listening = logged_addr(&log, "HTTP listening", "addr").is_some();
                std::future::ready((listening || exited).then_some((listening, log)))
            },
            || format!("log of this start:\n{}", this_start()),
        )
        .await;
        if !listening {
            self.kill9();
            return Err(if log.to_lowercase().contains("address already in use") {
                StartError::AddressInUse(log)
            } else {
                StartError::Exited(log)
            });
        }
        self.http_addr = logged_addr(&log, "HTTP listening", "addr").expect("checked above");
        self.snmp_addr = logged_addr(&log, "SNMP listening", "addr");
        self.base_url = format!("{}://{}", self.scheme, self.http_addr);
        Ok(())
    }

    /// Writes the bound addresses into the config in place of port 0, so a
    /// restart binds them again.
    fn pin_addresses(&self) {
        let config = std::fs::read_to_string(self.config_path()).unwrap();
        let mut pinned = config.replace(
            HTTP_ANY_PORT,
            &format!("[http]\nlisten = \"{}\"\n", self.http_addr),
        );
        if let Some(snmp) = self.snmp_addr {
            pinned = pinned.replace(SNMP_ANY_PORT, &format!("[snmp]\nlisten = \"{snmp}\"\n"));
        }
        std::fs::write(self.config_path(), pinned).unwrap();
    }

    /// Whether this gateway's store is PostgreSQL (the backend matrix).
    pub fn on_postgres(&self) -> bool {
        self.postgres_url.is_some()
    }

    /// Every byte the store holds: the SQLite database and its WAL, or a
    /// dump of the PostgreSQL database (for what must never be stored).
    pub fn store_bytes(&self) -> Vec<u8> {
        if let Some(url) = &self.postgres_url {
            return postgres::dump(url);
        }
        let mut bytes = std::fs::read(self.dir.path().join("vcgate.db")).unwrap();
        bytes.extend(std::fs::read(self.dir.path().join("vcgate.db-wal")).unwrap_or_default());
        bytes
    }

    /// Blocks every event commit until the returned guard is dropped (another
    /// SQLite connection holding the write lock; on PostgreSQL, an exclusive
    /// lock on the events table); readers go on.
    pub async fn block_event_commits(&self) -> StoreWriteLock {
        match &self.postgres_url {
            Some(url) => StoreWriteLock::Postgres {
                _held: postgres::lock_events(url),
            },
            None => {
                let lock = rusqlite::Connection::open(self.dir.path().join("vcgate.db")).unwrap();
                lock.execute_batch("BEGIN IMMEDIATE").unwrap();
                StoreWriteLock::Sqlite { _held: lock }
            }
        }
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
        let pid = self.child.as_ref()?.id();
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        // On a timeout the panic drops `self`, which kills the child.
        let status = waits::wait_for_blocking(
            "vcgate to stop after SIGTERM",
            Duration::from_secs(20),
            || self.child.as_mut().unwrap().try_wait().unwrap(),
            String::new,
        );
        self.child = None;
        status.code()
    }

    /// Starts the server again on the same addresses and data directory.
    pub async fn restart(&mut self) {
        self.kill9();
        self.start().await;
    }

    /// Like [`restart`](Self::restart), returning once the server listens,
    /// before it is ready.
    pub async fn restart_listening(&mut self) {
        self.kill9();
        self.launch_rebinding().await;
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

    /// Posts `body` to `path` with the ingest token, asserts `202 Accepted`
    /// and returns the new event's id.
    pub async fn post_accepted(&self, path: &str, body: &Value) -> String {
        let r = self.post_json(path, body).send().await.unwrap();
        assert_eq!(r.status(), 202, "POST {path}");
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .expect("the answer names the event id")
            .to_owned()
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

    /// The hosts the status lists as in maintenance (their names).
    pub async fn hosts_in_maintenance(&self) -> Vec<String> {
        self.status().await["silences"]["hosts_in_maintenance"]
            .as_array()
            .expect("status.silences.hosts_in_maintenance")
            .iter()
            .map(|h| h["host"].as_str().unwrap().to_owned())
            .collect()
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

    /// Polls `check` until it returns Some or `timeout` passes (then panics
    /// with `what` and the server log).
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        waits::wait_for(what, timeout, check, || {
            format!("server log:\n{}", self.log())
        })
        .await
    }

    /// Waits (30 s at most) until `/readyz` answers `status`.
    pub async fn wait_readyz(&self, status: u16) {
        self.wait_for(
            &format!("/readyz {status}"),
            Duration::from_secs(30),
            || async {
                let r = self.read("/readyz").send().await.ok()?;
                (r.status() == status).then_some(())
            },
        )
        .await
    }

    /// Waits until every accepted event has been through the pipeline.
    pub async fn wait_processed(&self) {
        self.wait_for("pipeline to drain", Duration::from_secs(20), || async {
            let s = self.status().await;
            (s["store"]["pending_pipeline"].as_u64() == Some(0)).then_some(())
        })
        .await
    }

    /// Waits until an event about `entity` (by name) has been through the
    /// pipeline; returns it.
    pub async fn processed(&self, entity: &str) -> Value {
        self.wait_for(
            &format!("{entity} processed"),
            Duration::from_secs(20),
            || async {
                self.events("limit=200")
                    .await
                    .into_iter()
                    .find(|e| e["entity"]["name"] == entity && e["stage"] == "processed")
            },
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Makes a CA and a server certificate for 127.0.0.1 in `dir`; returns
/// (ca.pem, cert.pem, key.pem).
fn make_tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
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
