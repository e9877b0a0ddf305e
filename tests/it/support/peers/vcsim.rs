//! Launches the vCenter simulator (`tests/vcsim`, govmomi's VPX model plus
//! vcgate's extensions) for integration tests, and connects vcgate's own
//! vSphere client to it.
//!
//! `Vcsim::start()` builds the Go harness once per test process (via
//! `scripts/build-vcsim.sh`, which is itself a no-op when up to date), starts
//! a private simulator on port 0 and reads its URL from stdout. Each test
//! gets its own simulator, so tests can run in parallel. The child is
//! stopped on drop (and exits by itself if this process dies: it watches its
//! stdin). A missing Go toolchain or govmomi is a test FAILURE with a clear
//! message, never a skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use vcgate::vsphere::soap::Body;
use vcgate::vsphere::{
    Client, ClientConfig, EventFilterSpec, EventRecursion, ManagedObjectRef, PropValue, VcEvent,
};

/// How long a simulator may take to print its URL (the VPX model is built
/// in process; on a loaded 2-core machine this takes a second or two).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running simulator. `url` is the SOAP endpoint, `base` the same server
/// without `/sdk` (control API under `/vcsim/...`).
pub struct Vcsim {
    pub url: String,
    pub base: String,
    /// `127.0.0.1:PORT`, reused by [`Vcsim::restart`].
    pub addr: String,
    /// With [`Vcsim::start_tls`]: the PEM CA that signed the server
    /// certificate (pass it as `ca_file`).
    pub ca_file: Option<PathBuf>,
    options: VcsimOptions,
    child: Option<Child>,
    /// Private temp dir: the log, the CA, and the child's TMPDIR (the
    /// simulator's datastore directories), all removed on drop even if the
    /// child had to be killed before it could clean up.
    dir: tempfile::TempDir,
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the harness once per process; every caller gets the same outcome.
fn binary() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script = repo_root().join("scripts/build-vcsim.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}); the simulator tests need Debian's golang-go and \
                 golang-github-vmware-govmomi-dev:\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let bin = repo_root().join("tests/vcsim/bin/vcsim");
        if !bin.exists() {
            return Err(format!(
                "{} did not produce {}",
                script.display(),
                bin.display()
            ));
        }
        Ok(bin)
    });
    match built {
        Ok(bin) => bin.clone(),
        Err(msg) => panic!("vCenter simulator unavailable: {msg}"),
    }
}

/// How to start a simulator; `Default` is plain HTTP, any credentials.
#[derive(Debug, Clone, Default)]
pub struct VcsimOptions {
    /// Accept only this user name and password.
    pub credentials: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a fresh CA (`Vcsim::ca_file`).
    pub tls: bool,
    /// Cap every RetrievePropertiesEx answer at this many objects, so the
    /// rest must be fetched with ContinueRetrievePropertiesEx.
    pub page_size: Option<u32>,
}

impl Vcsim {
    /// A simulator accepting any non-empty user name and password.
    pub fn start() -> Vcsim {
        Self::start_with(VcsimOptions::default())
    }

    /// A simulator accepting only these credentials.
    pub fn start_with_credentials(user: &str, password: &str) -> Vcsim {
        Self::start_with(VcsimOptions {
            credentials: Some((user.to_owned(), password.to_owned())),
            ..VcsimOptions::default()
        })
    }

    /// A simulator serving HTTPS with a certificate signed by a fresh CA
    /// (`ca_file`), valid for 127.0.0.1.
    pub fn start_tls() -> Vcsim {
        Self::start_with(VcsimOptions {
            tls: true,
            ..VcsimOptions::default()
        })
    }

    pub fn start_with(options: VcsimOptions) -> Vcsim {
        let dir = tempfile::Builder::new()
            .prefix("vcgate-vcsim-")
            .tempdir()
            .expect("temp dir for the simulator");
        let ca_file = options.tls.then(|| dir.path().join("ca.pem"));
        let (child, url) = spawn(
            &binary(),
            &options,
            ca_file.as_deref(),
            "127.0.0.1:0",
            dir.path(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let base = url
            .strip_suffix("/sdk")
            .unwrap_or_else(|| panic!("simulator URL {url} does not end in /sdk"))
            .to_owned();
        let addr = base
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned();
        Vcsim {
            url,
            base,
            addr,
            ca_file,
            options,
            child: Some(child),
            dir,
        }
    }

    /// Stops the simulator ("vCenter down"): closes its stdin so it shuts
    /// down cleanly, and kills it if it has not exited within 5 s. The port
    /// is not reserved meanwhile; [`Vcsim::restart`] rebinds it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take()); // the harness exits on stdin EOF
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts a fresh simulator on the same address ("vCenter back"). Its
    /// inventory is rebuilt from scratch (same MOIDs, since the model is
    /// deterministic), and all sessions are gone.
    pub fn restart(&mut self) {
        self.stop();
        // The gateway's config names this address, so it must be this one.
        // The old process's socket can linger for a moment after kill, and
        // another process may take the free port meanwhile: retry briefly
        // instead of failing on a transient "address in use".
        let mut last_error = String::new();
        for _ in 0..10 {
            match spawn(
                &binary(),
                &self.options,
                self.ca_file.as_deref(),
                &self.addr,
                self.dir.path(),
            ) {
                Ok((child, url)) => {
                    assert_eq!(url, self.url, "restarted simulator moved");
                    self.child = Some(child);
                    return;
                }
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("cannot restart simulator on {}: {last_error}", self.addr);
    }

    /// POST to the control API, returning the JSON answer; panics on non-2xx.
    pub async fn control_post(&self, path_and_query: &str) -> serde_json::Value {
        self.control(reqwest::Method::POST, path_and_query).await
    }

    /// GET from the control API.
    pub async fn control_get(&self, path_and_query: &str) -> serde_json::Value {
        self.control(reqwest::Method::GET, path_and_query).await
    }

    async fn control(&self, method: reqwest::Method, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.base);
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).expect("read simulator CA");
            client = client.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
        }
        let resp = client
            .build()
            .expect("control client")
            .request(method, &url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("control call {url}: {e}"));
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("control call {url}: bad JSON: {e}"));
        assert!(status.is_success(), "control call {url}: {status} {body}");
        body
    }

    /// Open EventHistoryCollector MOIDs, as the simulator's EventManager sees them.
    pub async fn collectors(&self) -> Vec<String> {
        let v = self.control_get("/vcsim/collectors").await;
        v["collectors"]
            .as_array()
            .expect("collectors array")
            .iter()
            .map(|c| c.as_str().expect("collector id").to_owned())
            .collect()
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        self.stop(); // then `dir` (log, CA, datastores) is removed
    }
}

fn spawn(
    bin: &Path,
    options: &VcsimOptions,
    ca_out: Option<&Path>,
    listen: &str,
    dir: &Path,
) -> Result<(Child, String), String> {
    let log = dir.join("vcsim.log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let mut cmd = Command::new(bin);
    // The child exits when its stdin pipe closes, i.e. when this process
    // dies without running Drop (killed test run).
    cmd.arg("-listen")
        .arg(listen)
        .arg("-exit-on-stdin-eof")
        .env("TMPDIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some((user, pass)) = &options.credentials {
        cmd.arg("-username").arg(user).arg("-password").arg(pass);
    }
    if let Some(n) = options.page_size {
        cmd.arg("-page-size").arg(n.to_string());
    }
    if let Some(ca) = ca_out {
        cmd.arg("-tls-ca-out").arg(ca);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("VCSIM_URL=") {
                let _ = tx.send(url.trim().to_owned());
                break;
            }
        }
        // Keep draining so the child never writes into a closed pipe.
        for _ in lines {}
    });
    let started = std::time::Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(url) => return Ok((child, url)),
            Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < START_TIMEOUT => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "simulator {} exited ({status}) before printing VCSIM_URL (listen {listen}); stderr:\n{}",
                        bin.display(),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "simulator {} did not print VCSIM_URL within {START_TIMEOUT:?} (listen {listen}); stderr:\n{}",
                    bin.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        }
    }
}

/// The user vcgate's client logs in as (the simulator accepts any).
pub const USER: &str = "vcgate-it";
/// How long a simulator task may take.
pub const TASK_WAIT: Duration = Duration::from_secs(30);

/// vcgate's vSphere client settings for the simulator at `url`.
pub fn client_config(url: &str, user: &str, password: &str) -> ClientConfig {
    ClientConfig {
        name: "vcsim".into(),
        url: url.into(),
        username: user.into(),
        password: password.into(),
        insecure: false,
        ca_file: None,
        timeout: Duration::from_secs(10),
        max_response: vcgate::vsphere::DEFAULT_MAX_RESPONSE,
    }
}

/// vcgate's vSphere client, logged in to `sim` as [`USER`].
pub async fn connected(sim: &Vcsim) -> Client {
    let client = Client::new(client_config(&sim.url, USER, "any-password")).expect("client");
    client.connect().await.expect("connect");
    client
}

/// The simulator's host named `name` (e.g. `DC0_C0_H0`).
pub async fn host_named(client: &Client, name: &str) -> vcgate::vsphere::HostState {
    client
        .hosts()
        .await
        .expect("hosts")
        .into_iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

/// vCenter events of `class` about `entity` itself.
pub async fn events_of(client: &Client, entity: &ManagedObjectRef, class: &str) -> Vec<VcEvent> {
    client
        .query_events(&EventFilterSpec {
            entity: Some(entity.clone()),
            recursion: EventRecursion::SelfOnly,
            event_type_ids: vec![class.to_owned()],
            ..EventFilterSpec::default()
        })
        .await
        .expect("query_events")
}

/// CreateVM_Task through the low-level `invoke`, as a user would create a VM.
pub async fn create_vm(client: &Client, name: &str) -> ManagedObjectRef {
    let dcs = client
        .list_objects("Datacenter", &["vmFolder"])
        .await
        .unwrap();
    let folder = dcs[0]
        .get("vmFolder")
        .and_then(PropValue::as_moref)
        .expect("vmFolder")
        .clone();
    let pools = client
        .list_objects("ResourcePool", &["name"])
        .await
        .unwrap();
    let pool = pools[0].moref.clone();
    let mut body = Body::new("CreateVM_Task", &folder);
    body.open("config")
        .text("name", name)
        .text("guestId", "otherGuest")
        .open("files")
        .text("vmPathName", "[LocalDS_0]")
        .close("files")
        .text("numCPUs", 1)
        .text("memoryMB", 64)
        .close("config")
        .moref("pool", &pool);
    let res = client.invoke(body).await.unwrap();
    let task = res
        .child("returnval")
        .and_then(|t| t.as_moref())
        .expect("task");
    let result = client.wait_for_task(&task, TASK_WAIT).await.unwrap();
    result
        .as_ref()
        .and_then(PropValue::as_moref)
        .cloned()
        .unwrap_or_else(|| panic!("CreateVM_Task result: {result:?}"))
}
