//! A real net-snmp `snmptrapd` as the NMS: it logs every notification it
//! accepts to a file the tests read.
//!
//! snmptrapd takes its address on the command line and prints no port, so
//! it is started on port 0 and the port it bound is read from `/proc` (the
//! one UDP socket the process holds on 127.0.0.1).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::tools::{require_tool, udp_port_of};
use crate::support::waits::wait_for_blocking;

pub struct Snmptrapd {
    /// Where it listens (a port the kernel picked).
    pub addr: SocketAddr,
    /// The notifications it accepted, one header line and one varbind line each.
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
            .arg("127.0.0.1:0")
            .env("SNMP_PERSISTENT_DIR", dir.path())
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting snmptrapd");
        // Owned from here, so a failed start still kills the child (Drop).
        let mut trapd = Snmptrapd {
            addr: ([127, 0, 0, 1], 0).into(),
            log,
            child,
            _dir: dir,
        };
        let port = wait_for_blocking(
            "snmptrapd to start and bind a port",
            Duration::from_secs(10),
            || {
                if let Some(status) = trapd.child.try_wait().unwrap() {
                    panic!("snmptrapd exited ({status}); log: {}", read(&trapd.log));
                }
                read(&trapd.log)
                    .contains("NET-SNMP version")
                    .then(|| udp_port_of(trapd.child.id()))
                    .flatten()
            },
            || format!("log: {}", read(&trapd.log)),
        );
        trapd.addr.set_port(port);
        trapd
    }

    pub fn contents(&self) -> String {
        read(&self.log)
    }

    /// `127.0.0.1:PORT`, for a `[[monitoring.snmp]] target`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Snmptrapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}
