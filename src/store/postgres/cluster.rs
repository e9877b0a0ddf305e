//! A private PostgreSQL cluster for tests: `initdb` into a temporary
//! directory (owned by the `postgres` user), `pg_ctl start` on a free
//! loopback port with its socket in that directory, trust authentication on
//! loopback; stopped (immediate) and removed on drop. Every failure panics
//! with what went wrong: a test that needs PostgreSQL never silently skips.
//!
//! Shared by the conformance suite (`testing.rs`) and the integration tests
//! (`tests/it/support`, through `#[path]`), so it uses std only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `postgresql-15` puts its server binaries.
/// Debian's server binaries, of the newest installed major version
/// (`/usr/lib/postgresql/<major>/bin`; 15 on bookworm).
pub fn bin_dir() -> String {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|major| Path::new(&format!("/usr/lib/postgresql/{major}/bin/initdb")).exists())
        .max();
    format!("/usr/lib/postgresql/{}/bin", newest.unwrap_or(15))
}

pub struct PgCluster {
    dir: PathBuf,
    pub port: u16,
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("PostgreSQL test cluster: cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL test cluster: {what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn as_postgres(program: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--", &format!("{}/{program}", bin_dir())]);
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A new, empty directory for one cluster. Tests in one process start
/// clusters in parallel, so the name carries a per-process counter (a free
/// port number is no unique name: two threads can be handed the same one),
/// and `create_dir` refuses a name that exists (a leftover of an earlier
/// process with the same pid) so the next number is tried.
fn fresh_directory() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vcgate-pg-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!(
                "PostgreSQL test cluster: cannot create {}: {e}",
                dir.display()
            ),
        }
    }
}

impl PgCluster {
    /// Initializes and starts a fresh cluster (panics if it cannot).
    pub fn start() -> Self {
        assert!(
            Path::new(&bin_dir()).join("initdb").exists(),
            "PostgreSQL test cluster: {}/initdb not found: install the `postgresql` package \
             (scripts/test.sh does)",
            bin_dir()
        );
        let dir = fresh_directory();
        run(
            "chown",
            Command::new("chown").args(["postgres:postgres"]).arg(&dir),
        );
        let data = dir.join("data");
        run(
            "initdb",
            as_postgres("initdb")
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
        );
        // A free port can be handed to a parallel test between our probe and
        // the server's bind; the server then fails with "Address already in
        // use" in its log, and the next port is tried.
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off",
                dir.display()
            );
            let log = dir.join("log");
            let started = as_postgres("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(&data)
                .args(["-l"])
                .arg(&log)
                .args(["-o", &options, "start"])
                .output()
                .unwrap_or_else(|e| panic!("PostgreSQL test cluster: cannot run pg_ctl: {e}"));
            if started.status.success() {
                return Self { dir, port };
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                server_log.contains("Address already in use"),
                "PostgreSQL test cluster: pg_ctl start failed ({}): {}{}\nserver log:\n{server_log}",
                started.status,
                String::from_utf8_lossy(&started.stdout),
                String::from_utf8_lossy(&started.stderr),
            );
        }
        panic!("PostgreSQL test cluster: no free port after five tries");
    }

    /// Creates database `name` and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        run(
            "createdb",
            Command::new(format!("{}/createdb", bin_dir())).args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ]),
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops and removes the cluster once process `pid` has exited, for a
    /// cluster held in a static (never dropped): a detached watchdog shell,
    /// in its own session so a Ctrl-C of the test run does not kill it first,
    /// with its output away from the test's pipes.
    pub fn stop_when_process_exits(&self, pid: u32) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             runuser -u postgres -- {bin}/pg_ctl -m immediate -w -D '{data}' stop; \
             rm -rf '{dir}'",
            bin = bin_dir(),
            data = self.dir.join("data").display(),
            dir = self.dir.display(),
        );
        // `setsid -f` forks the watchdog off and returns at once: nothing
        // is left for this process to reap.
        let started = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("PostgreSQL test cluster: cannot start its watchdog (setsid sh)");
        assert!(
            started.success(),
            "PostgreSQL test cluster: setsid -f failed"
        );
    }

    /// Stops every process of the cluster (SIGSTOP) until the guard is
    /// dropped: the kernel still completes TCP connections and acknowledges
    /// data, but nothing answers, as with a hung server. (A partition that
    /// drops packets looks the same to the application until TCP gives up;
    /// it needs a firewall to reproduce.)
    pub fn freeze(&self) -> Frozen {
        let pid_file = self.dir.join("data").join("postmaster.pid");
        let postmaster = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("PostgreSQL test cluster: {}: {e}", pid_file.display()));
        let postmaster = postmaster
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut pids = children_of(&postmaster);
        pids.push(postmaster);
        run("kill -STOP", Command::new("kill").arg("-STOP").args(&pids));
        Frozen { pids }
    }

    /// The server log (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .args(["-m", "immediate", "-w", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The processes whose parent is `pid` (from `/proc/<pid>/stat`: the field
/// after the parenthesized command name is the state, then the parent).
fn children_of(pid: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (_, after_command) = stat.rsplit_once(')')?;
            let parent = after_command.split_whitespace().nth(1)?;
            (parent == pid).then_some(name)
        })
        .collect()
}

/// A frozen cluster ([`PgCluster::freeze`]); thawed (SIGCONT) on drop.
pub struct Frozen {
    pids: Vec<String>,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").args(&self.pids).status();
    }
}
