//! The machine the tests run on: Debian tools they need (installed by
//! `scripts/test.sh`), the `vcgate` binary as a client, and what `/proc`
//! and a child's log say about a process (memory, bound addresses).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs the `vcgate` binary as a client command.
pub fn vcgate_cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vcgate"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running vcgate")
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

/// The address in `key=ADDR` on the first line of `log` that contains
/// `message`: how a server that bound port 0 says which port it got
/// (vcgate: `HTTP listening addr=…`; Alertmanager: `"Listening on" address=…`).
pub fn logged_addr(log: &str, message: &str, key: &str) -> Option<SocketAddr> {
    // Whole lines only: a line still being written could end mid-port.
    let line = log
        .split_inclusive('\n')
        .find(|l| l.ends_with('\n') && l.contains(message))?;
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&prefix))
        .and_then(|addr| addr.trim_matches('"').parse().ok())
}

/// The local port of the IPv4 UDP socket that process `pid` has bound to
/// 127.0.0.1, from `/proc` (for a peer that binds port 0 and does not say
/// which port it got, such as `snmptrapd`).
pub fn udp_port_of(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    // Lines of /proc/net/udp: sl local_address rem_address st … uid timeout inode
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (ip, port) = fields.get(1)?.split_once(':')?;
        let inode = fields.get(9)?;
        (ip == "0100007F" && inodes.iter().any(|i| i == inode))
            .then(|| u16::from_str_radix(port, 16).ok())
            .flatten()
    })
}

/// A port on which nothing listens, so connections are refused at once:
/// bound (no other process can take it while this lives) but not listening.
pub struct ClosedPort {
    pub url: String,
    _socket: tokio::net::TcpSocket,
}

pub fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    ClosedPort {
        url,
        _socket: socket,
    }
}
