//! `[snmp]`: the trap/inform listener, communities and SNMPv3 users.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::http::default_rate_limit_max_addresses;
use super::{ByteSize, Secret, default_true};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_snmp_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_communities")]
    pub communities: Vec<Secret>,
    /// When non-empty, only these networks may send notifications.
    #[serde(default)]
    pub allowed_sources: Vec<IpNet>,
    /// Notifications per second accepted from one source address.
    #[serde(default = "default_snmp_rate")]
    pub rate_limit: u32,
    #[serde(default = "default_snmp_burst")]
    pub rate_burst: u32,
    /// Most source addresses the per-source rate limit remembers at once.
    #[serde(default = "default_rate_limit_max_addresses")]
    pub rate_limit_max_addresses: usize,
    /// vCenter name for traps whose source matches no `[[vcenter]] snmp_sources`.
    #[serde(default = "default_vcenter_name")]
    pub default_vcenter: String,
    /// Requested socket receive buffer (`SO_RCVBUF`). Bursts beyond what the
    /// buffer holds are dropped by the kernel before vcgate sees them; the
    /// kernel caps the request at `net.core.rmem_max` (see README).
    #[serde(default = "default_snmp_recv_buffer")]
    pub recv_buffer: ByteSize,
    /// Local SNMPv3 engine id (hex) used for informs; generated and persisted when absent.
    pub engine_id: Option<String>,
    #[serde(default)]
    pub user: Vec<SnmpUser>,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_snmp_listen() -> SocketAddr {
    "127.0.0.1:1162".parse().expect("literal")
}

fn default_communities() -> Vec<Secret> {
    vec![Secret::new("public")]
}

fn default_snmp_recv_buffer() -> ByteSize {
    ByteSize(8 << 20)
}

fn default_snmp_rate() -> u32 {
    50_000
}

fn default_snmp_burst() -> u32 {
    100_000
}

fn default_vcenter_name() -> String {
    "default".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpUser {
    pub name: String,
    pub auth_protocol: Option<AuthProtocol>,
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<PathBuf>,
    pub auth_password_env: Option<String>,
    pub priv_protocol: Option<PrivProtocol>,
    pub priv_password: Option<Secret>,
    pub priv_password_file: Option<PathBuf>,
    pub priv_password_env: Option<String>,
}
