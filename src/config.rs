//! Configuration: the TOML file's serde structs, the embedded defaults, and
//! `validate()`.
//!
//! Owns: every config key (names are part of the product's contract, see
//! `config/vcgate.example.toml`), loading secrets from files or environment
//! variables, and turning config mistakes into errors that name the key.
//! Must not: start anything or log secret values (`Secret`'s Debug redacts).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

mod access;
pub use access::Tokens;

/// Errors loading or validating the configuration; each names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A secret value (token, password). Never printed by Debug or Display.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A byte size written as `65536`, `"64KiB"`, `"1MiB"` or `"2MB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("invalid size {text:?}"))?;
        let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => return Err(format!("unknown size unit {other:?} in {text:?}")),
        };
        number
            .checked_mul(multiplier)
            .map(Self)
            .ok_or_else(|| format!("size {text:?} too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The whole file. Sections for capabilities this build does not implement yet
/// are accepted (so one config serves several versions) and reported at startup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub snmp: SnmpConfig,
    #[serde(default)]
    pub vcenter: Vec<VcenterConfig>,
    #[serde(default)]
    pub dedup: DedupConfig,
    #[serde(default)]
    pub route: Vec<RouteRule>,
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    /// Sections of later capabilities (automation, guard, silences, enrichment):
    /// accepted and reported as not yet active.
    #[serde(default)]
    pub enrich: EnrichConfig,
    #[serde(default)]
    pub secret: Vec<SecretSet>,
    #[serde(default)]
    pub function: Vec<FunctionConfig>,
    #[serde(default)]
    pub subscription: Vec<SubscriptionConfig>,
    #[serde(default)]
    pub guard: GuardConfig,
    #[serde(default)]
    pub silence: SilenceConfig,
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("embedded defaults parse")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Events older than this are pruned in the background.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// At most this many events are kept (oldest pruned first).
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// `full` fsyncs every group commit (an acknowledged event survives power
    /// loss); `normal` survives a process crash but not a power cut.
    #[serde(default)]
    pub sync: SyncMode,
    /// Hard cap on the database size; beyond it writes fail and ingest answers 503.
    pub max_size: Option<ByteSize>,
    /// How many writes one group commit may take.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// `sqlite` (embedded, `path`) or `postgres` (`url`; active/active HA).
    #[serde(default)]
    pub backend: StoreBackend,
    /// PostgreSQL connection URL, `postgres://user@host:port/db`; TLS with
    /// `?sslmode=require` (rustls; `tls_ca_file` or the system roots).
    pub url: Option<String>,
    /// File holding the PostgreSQL password (else `password_env`, else
    /// `VCGATE_PG_PASSWORD`, else the URL's).
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the PostgreSQL server's certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// Connections in the PostgreSQL pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// This gateway's name among the nodes sharing a PostgreSQL store
    /// (default: host name and process id).
    pub node_id: Option<String>,
    /// A node silent (no heartbeat) this long is dead: its claimed runs,
    /// deliveries and singletons are taken over.
    #[serde(default = "default_node_timeout", with = "humantime_serde")]
    pub node_timeout: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

fn default_pool_size() -> usize {
    16
}
fn default_node_timeout() -> Duration {
    Duration::from_secs(15)
}

impl Default for StoreConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Normal,
}

fn default_store_path() -> PathBuf {
    PathBuf::from("./vcgate-data/vcgate.db")
}
fn default_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_max_events() -> u64 {
    10_000_000
}
fn default_max_batch() -> usize {
    1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// Ingest scope: hook alarms and CloudEvent emit, for any vCenter.
    #[serde(default)]
    pub ingest_tokens: Vec<Secret>,
    pub ingest_token_file: Option<PathBuf>,
    /// Ingest tokens bound to the vCenters they may speak for.
    #[serde(default)]
    pub ingest_token: Vec<BoundIngestToken>,
    /// Read scope: every GET of the API.
    #[serde(default)]
    pub read_tokens: Vec<Secret>,
    pub read_token_file: Option<PathBuf>,
    /// Admin scope: silences, reload, retry — anything that changes
    /// behaviour (and every read).
    #[serde(default)]
    pub admin_tokens: Vec<Secret>,
    pub admin_token_file: Option<PathBuf>,
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// Requests per second allowed from one client address (sustained).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    /// Burst above `rate_limit` tolerated from one client address.
    #[serde(default = "default_rate_burst")]
    pub rate_burst: u32,
    /// Refused authentications per second allowed from one address (their
    /// own budget: they never use up the address's `rate_limit`).
    #[serde(default = "default_auth_failure_rate")]
    pub auth_failure_rate: u32,
    #[serde(default = "default_auth_failure_burst")]
    pub auth_failure_burst: u32,
    /// Most client addresses each per-address limit remembers at once.
    #[serde(default = "default_rate_limit_max_addresses")]
    pub rate_limit_max_addresses: usize,
    /// Longest a client may take to send a request's headers (from the
    /// connection's start, or the first byte of a later request).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest a client may take to send a request body after its headers.
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    pub body_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most open client connections; beyond it new ones wait in the kernel's
    /// accept queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// `/metrics` and `/healthz` without a token.
    #[serde(default = "default_true")]
    pub open_metrics: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The URL people reach vcgate at (like Alertmanager's
    /// `--web.external-url`); links such as an alert's `generatorURL` start
    /// with it. Default: `http(s)://<listen>/`.
    pub external_url: Option<String>,
}

impl HttpConfig {
    /// `external_url`, or one made from `listen`; always ends with `/`.
    pub fn external_url(&self) -> String {
        let url = self.external_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}/", self.listen)
        });
        if url.ends_with('/') {
            url
        } else {
            format!("{url}/")
        }
    }
}

/// One `[[http.ingest_token]]`: an ingest token that may only speak for the
/// listed vCenters (an alarm or CloudEvent for another one gets 403).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundIngestToken {
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub vcenters: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_http_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("literal")
}
fn default_max_body() -> ByteSize {
    ByteSize(64 * 1024)
}
fn default_rate_limit() -> u32 {
    2_000
}
fn default_rate_burst() -> u32 {
    4_000
}
fn default_auth_failure_rate() -> u32 {
    10
}
fn default_auth_failure_burst() -> u32 {
    100
}
fn default_rate_limit_max_addresses() -> usize {
    100_000
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_connections() -> usize {
    1024
}
fn default_true() -> bool {
    true
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterConfig {
    pub name: String,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default = "default_vc_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest SOAP answer read from this vCenter; a bigger one fails that
    /// call (the body is read incrementally and never held beyond this).
    #[serde(default = "default_vc_max_response")]
    pub max_response: ByteSize,
    /// Source addresses whose traps belong to this vCenter.
    #[serde(default)]
    pub snmp_sources: Vec<IpAddr>,
    /// Tail this vCenter's event history (event-stream source).
    #[serde(default)]
    pub events: bool,
    /// Event-stream: only these classes (sent to vCenter as `eventTypeId`;
    /// base classes such as `VmEvent` match their subclasses). Empty = all.
    #[serde(default)]
    pub events_include: Vec<String>,
    /// Event-stream: drop these classes (exact class or EventEx `eventTypeId`).
    #[serde(default)]
    pub events_exclude: Vec<String>,
    /// Event-stream poll interval (grows up to 4x while idle).
    #[serde(default = "default_events_poll", with = "humantime_serde")]
    pub events_poll: Duration,
    /// Event-stream look-back when there is no checkpoint or it is older.
    #[serde(default = "default_events_lookback", with = "humantime_serde")]
    pub events_lookback: Duration,
}

fn default_events_poll() -> Duration {
    Duration::from_secs(5)
}

fn default_events_lookback() -> Duration {
    Duration::from_secs(3600)
}

fn default_vc_max_response() -> ByteSize {
    ByteSize(crate::vsphere::DEFAULT_MAX_RESPONSE)
}

fn default_vc_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `[guard]`: the maintenance-mode alarm-action reconciler (see `crate::guard`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Default: on when some `[[vcenter]]` has a `url` (see `GuardConfig::active`).
    pub enabled: Option<bool>,
    /// Full reconcile period; maintenance events trigger one at once in between.
    #[serde(default = "default_guard_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Disable a host's alarm actions when it is seen entering maintenance.
    #[serde(default)]
    pub disable_on_enter: bool,
    /// Which hosts out of maintenance get their actions re-enabled.
    #[serde(default)]
    pub reenable: Reenable,
    /// Host name globs the guard never touches.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Log and record decisions without calling vCenter.
    #[serde(default)]
    pub dry_run: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl GuardConfig {
    /// Whether the guard runs for `vcenters` (explicit `enabled`, else on
    /// when at least one vCenter has an API `url`).
    pub fn active(&self, vcenters: &[VcenterConfig]) -> bool {
        let any_api = vcenters.iter().any(|vc| vc.url.is_some());
        self.enabled.unwrap_or(any_api) && any_api
    }
}

/// `[guard] reenable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reenable {
    /// Only hosts whose actions the guard disabled (or saw disabled during maintenance).
    #[default]
    Guarded,
    /// Every host out of maintenance.
    All,
}

fn default_guard_interval() -> Duration {
    Duration::from_secs(60)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    #[serde(default = "default_dedup_window", with = "humantime_serde")]
    pub window: Duration,
    /// A still-active condition is notified again after this long.
    #[serde(default = "default_repeat_interval", with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Most identities remembered at once (about 200 bytes each); beyond it
    /// the least recently seen are forgotten early (counted).
    #[serde(default = "default_dedup_max_entries")]
    pub max_entries: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_dedup_window() -> Duration {
    Duration::from_secs(300)
}
fn default_dedup_max_entries() -> usize {
    100_000
}
fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

/// Where a routing rule sends matching events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteTarget {
    Automation,
    Monitoring,
    Both,
    Drop,
}

/// One `[[route]]` rule; every given matcher must match (globs with `*`/`?`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub name: Option<String>,
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub alarm: Option<String>,
    pub entity: Option<String>,
    pub new_status: Option<String>,
    pub vcenter: Option<String>,
    pub to: RouteTarget,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    #[serde(default)]
    pub snmp: Vec<SnmpForwardTarget>,
    #[serde(default)]
    pub webhook: Vec<WebhookForwardTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpForwardTarget {
    pub name: Option<String>,
    pub target: String,
    #[serde(default = "default_forward_version")]
    pub version: String,
    pub community: Option<Secret>,
    pub user: Option<String>,
    /// Our SNMPv3 engine id (hex) as trap sender; generated and persisted when absent.
    /// The NMS needs it to localize the user's keys (`createUser -e <id>`).
    pub engine_id: Option<String>,
    pub auth_protocol: Option<AuthProtocol>,
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<PathBuf>,
    pub priv_protocol: Option<PrivProtocol>,
    pub priv_password: Option<Secret>,
    pub priv_password_file: Option<PathBuf>,
}

fn default_forward_version() -> String {
    "2c".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookForwardTarget {
    pub name: Option<String>,
    /// One receiver (kept for configs written before `urls`).
    pub url: Option<String>,
    /// Every receiver of this target (e.g. an Alertmanager HA pair): each
    /// gets every alert, each one's failures are retried on their own.
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default = "default_webhook_format")]
    pub format: WebhookFormat,
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Alertmanager: every firing alert is re-sent this often, with
    /// `endsAt = now + 4 × resend_interval`.
    #[serde(default = "default_resend_interval", with = "humantime_serde")]
    pub resend_interval: Duration,
}

impl WebhookForwardTarget {
    /// `url` and `urls` together, in order, without repeats.
    pub fn all_urls(&self) -> Vec<String> {
        let mut all: Vec<String> = self.url.iter().cloned().collect();
        for u in &self.urls {
            if !all.contains(u) {
                all.push(u.clone());
            }
        }
        all
    }
}

fn default_resend_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_webhook_format() -> WebhookFormat {
    WebhookFormat::Alertmanager
}
fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Alertmanager,
    Cloudevents,
}

/// `[enrich]`: looking up the vCenter event behind an alarm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// On when a `[[vcenter]]` has a `url`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How far before the alarm to look for its triggering event.
    #[serde(default = "default_enrich_window", with = "humantime_serde")]
    pub window: Duration,
    /// Longest one lookup may take; the event then goes on unenriched.
    #[serde(default = "default_enrich_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// After vCenter failed, skip lookups for this long (events say why).
    #[serde(default = "default_enrich_cooldown", with = "humantime_serde")]
    pub retry_after: Duration,
    /// How long VM-name lookups are cached.
    #[serde(default = "default_enrich_cache", with = "humantime_serde")]
    pub cache_ttl: Duration,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_enrich_window() -> Duration {
    Duration::from_secs(600)
}
fn default_enrich_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_enrich_cooldown() -> Duration {
    Duration::from_secs(10)
}
fn default_enrich_cache() -> Duration {
    Duration::from_secs(300)
}

/// `[silence]`: holding monitoring traffic back (never automation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Hold monitoring traffic for hosts in maintenance and what runs or is
    /// stored on them. Default: on when a `[[vcenter]]` has a `url`.
    pub maintenance: Option<bool>,
    /// How often vCenter's maintenance state (and VM/datastore placement) is read.
    #[serde(default = "default_silence_poll", with = "humantime_serde")]
    pub poll: Duration,
    /// Expired silences are kept this long for audit.
    #[serde(default = "default_silence_retention", with = "humantime_serde")]
    pub expired_retention: Duration,
    /// Inhibition rules: while a source alert fires on a host, alerts on its VMs are held.
    #[serde(default)]
    pub inhibit: Vec<InhibitRule>,
    /// When a host leaves maintenance, alarms still firing on it and its VMs
    /// that maintenance held are sent to the monitoring targets then.
    /// (Alerts held by a silence or an inhibition that ends are always sent,
    /// as Alertmanager does.)
    #[serde(default = "default_true")]
    pub resolve_on_exit: bool,
}

impl Default for SilenceConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn default_silence_poll() -> Duration {
    Duration::from_secs(30)
}
fn default_silence_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

/// `[[silence.inhibit]]`: while an alert matching `source_alarm` with a status
/// matching `source_status` fires on a host, alerts on the VMs on that host are
/// held from monitoring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    pub name: String,
    pub source_alarm: String,
    #[serde(default = "default_inhibit_status")]
    pub source_status: String,
}

fn default_inhibit_status() -> String {
    "red".to_owned()
}

/// A named set of secrets (`[[secret]]`), given to the functions that list it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSet {
    pub name: String,
    /// JSON or TOML file holding an object of string values.
    pub file: Option<PathBuf>,
    /// Environment variables whose values join the set (key = variable name).
    #[serde(default)]
    pub env: Vec<String>,
}

/// What a function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Command,
    Webhook,
    Builtin,
}

/// One `[[function]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    pub kind: FunctionKind,
    /// `command`: argv; the input JSON arrives on stdin.
    #[serde(default)]
    pub command: Vec<String>,
    /// `command`: working directory.
    pub working_dir: Option<PathBuf>,
    /// `command`: extra environment (the gateway's own environment is not passed on).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// `webhook`: where to POST the CloudEvent.
    pub url: Option<String>,
    /// `webhook`: HMAC-SHA256 signing key, from a file or an environment variable.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_env: Option<String>,
    /// `builtin`: `set-created-by` or `alarm-actions`.
    pub builtin: Option<String>,
    /// `builtin = "set-created-by"`: attribute names.
    pub created_by_attribute: Option<String>,
    pub created_on_attribute: Option<String>,
    /// `builtin = "alarm-actions"`: `enable` (default) or `disable`.
    pub action: Option<String>,
    /// Names of `[[secret]]` sets handed to the function.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default = "default_function_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a run is `dead`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Runs of this function at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// First retry delay; doubles per attempt (with jitter) up to `max_backoff`.
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

fn default_function_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_attempts() -> u32 {
    5
}
fn default_concurrency() -> usize {
    4
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(300)
}

/// One `[[subscription]]`: events of a type (glob) and filters → a function.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    pub name: String,
    pub event_type: String,
    pub function: String,
    pub vcenter: Option<String>,
    pub entity: Option<String>,
    pub alarm: Option<String>,
    /// New alarm status (`red`, or the raw text).
    pub status: Option<String>,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: cross-field rules, readable secret files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            return Err(invalid(
                "http.tls_cert",
                "tls_cert and tls_key must be given together",
            ));
        }
        if self.http.max_body.0 == 0 {
            return Err(invalid("http.max_body", "must be greater than zero"));
        }
        if self.http.rate_limit == 0 || self.snmp.rate_limit == 0 {
            return Err(invalid("rate_limit", "must be greater than zero"));
        }
        self.validate_http()?;
        if self.store.backend == StoreBackend::Postgres && self.store.url.is_none() {
            return Err(invalid("store.url", "backend = \"postgres\" needs a url"));
        }
        if self.store.pool_size == 0 {
            return Err(invalid("store.pool_size", "must be greater than zero"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, vc) in self.vcenter.iter().enumerate() {
            if vc.name.trim().is_empty() {
                return Err(invalid(format!("vcenter[{i}].name"), "must not be empty"));
            }
            if !names.insert(vc.name.as_str()) {
                return Err(invalid(
                    format!("vcenter[{i}].name"),
                    format!("duplicate vCenter name {:?}", vc.name),
                ));
            }
            if vc.max_response.0 == 0 {
                return Err(invalid(
                    format!("vcenter[{i}].max_response"),
                    "must be greater than zero",
                ));
            }
            if vc.url.is_some()
                && vc.password.is_none()
                && vc.password_file.is_none()
                && vc.password_env.is_none()
            {
                return Err(invalid(
                    format!("vcenter[{i}].password_file"),
                    "a vCenter with a url needs password_file or password_env",
                ));
            }
            crate::ingest::vcenter_events::validate(i, vc)?;
        }
        for (i, user) in self.snmp.user.iter().enumerate() {
            let key = format!("snmp.user[{i}]");
            if user.auth_protocol.is_none() {
                return Err(invalid(
                    format!("{key}.auth_protocol"),
                    "SNMPv3 users must authenticate (noAuthNoPriv is not accepted)",
                ));
            }
            resolve_secret(
                &format!("{key}.auth_password"),
                &user.auth_password,
                &user.auth_password_file,
                &user.auth_password_env,
            )?
            .ok_or_else(|| {
                invalid(
                    format!("{key}.auth_password"),
                    "missing (auth_password, auth_password_file or auth_password_env)",
                )
            })?;
            if user.priv_protocol.is_some() {
                resolve_secret(
                    &format!("{key}.priv_password"),
                    &user.priv_password,
                    &user.priv_password_file,
                    &user.priv_password_env,
                )?
                .ok_or_else(|| {
                    invalid(
                        format!("{key}.priv_password"),
                        "missing (priv_password, priv_password_file or priv_password_env)",
                    )
                })?;
            }
        }
        for (i, rule) in self.route.iter().enumerate() {
            if let Some(source) = &rule.source
                && !source.contains(['*', '?'])
                && crate::model::Source::parse(source).is_none()
            {
                return Err(invalid(
                    format!("route[{i}].source"),
                    format!(
                        "unknown source {source:?} (alarm-hook, snmp, vcenter-events, api, guard)"
                    ),
                ));
            }
        }
        self.validate_globs()?;
        self.validate_automation()?;
        if self.guard.interval.is_zero() {
            return Err(invalid("guard.interval", "must be greater than zero"));
        }
        for (i, target) in self.monitoring.webhook.iter().enumerate() {
            let key = |k: &str| format!("monitoring.webhook[{i}].{k}");
            if target.all_urls().is_empty() {
                return Err(invalid(
                    key("urls"),
                    "a webhook target needs `url` or `urls`",
                ));
            }
            if let Some(bad) = target
                .all_urls()
                .iter()
                .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return Err(invalid(
                    key("urls"),
                    format!("{bad:?} is not an http(s) URL"),
                ));
            }
            if target.resend_interval < Duration::from_secs(1) {
                return Err(invalid(key("resend_interval"), "must be at least 1s"));
            }
        }
        for (i, target) in self.monitoring.snmp.iter().enumerate() {
            if !matches!(target.version.as_str(), "2c" | "3") {
                return Err(invalid(
                    format!("monitoring.snmp[{i}].version"),
                    "must be \"2c\" or \"3\"",
                ));
            }
        }
        Ok(())
    }

    fn validate_automation(&self) -> Result<(), ConfigError> {
        let secret_names: std::collections::HashSet<&str> =
            self.secret.iter().map(|s| s.name.as_str()).collect();
        for (i, set) in self.secret.iter().enumerate() {
            if set.file.is_none() && set.env.is_empty() {
                return Err(invalid(
                    format!("secret[{i}].file"),
                    "a secret set needs `file` or `env`",
                ));
            }
        }
        let mut function_names = std::collections::HashSet::new();
        for (i, f) in self.function.iter().enumerate() {
            let key = |k: &str| format!("function[{i}].{k}");
            if !function_names.insert(f.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate function name {:?}", f.name),
                ));
            }
            match f.kind {
                FunctionKind::Command if f.command.is_empty() => {
                    return Err(invalid(
                        key("command"),
                        "a command function needs `command` (argv)",
                    ));
                }
                FunctionKind::Webhook if f.url.is_none() => {
                    return Err(invalid(key("url"), "a webhook function needs `url`"));
                }
                FunctionKind::Builtin => match f.builtin.as_deref() {
                    Some("set-created-by") | Some("alarm-actions") => {}
                    other => {
                        return Err(invalid(
                            key("builtin"),
                            format!("unknown builtin {other:?} (set-created-by, alarm-actions)"),
                        ));
                    }
                },
                _ => {}
            }
            if let Some(action) = &f.action
                && !matches!(action.as_str(), "enable" | "disable")
            {
                return Err(invalid(key("action"), "must be \"enable\" or \"disable\""));
            }
            if f.max_attempts == 0 || f.concurrency == 0 {
                return Err(invalid(
                    key("max_attempts"),
                    "max_attempts and concurrency must be at least 1",
                ));
            }
            if let Some(missing) = f
                .secrets
                .iter()
                .find(|s| !secret_names.contains(s.as_str()))
            {
                return Err(invalid(
                    key("secrets"),
                    format!("unknown secret set {missing:?}"),
                ));
            }
        }
        let mut subscription_names = std::collections::HashSet::new();
        for (i, sub) in self.subscription.iter().enumerate() {
            if !subscription_names.insert(sub.name.as_str()) {
                return Err(invalid(
                    format!("subscription[{i}].name"),
                    format!("duplicate subscription name {:?}", sub.name),
                ));
            }
            if !function_names.contains(sub.function.as_str()) {
                return Err(invalid(
                    format!("subscription[{i}].function"),
                    format!("unknown function {:?}", sub.function),
                ));
            }
        }
        Ok(())
    }
}

/// A secret given inline, in a file (trailing newline trimmed) or in an env var.
pub fn resolve_secret(
    key: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
    env: &Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(secret) = inline {
        return Ok(Some(secret.clone()));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
        return Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r']))));
    }
    if let Some(var) = env {
        let value = std::env::var(var)
            .map_err(|_| invalid(key, format!("environment variable {var} is not set")))?;
        return Ok(Some(Secret::new(value)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.store.path, PathBuf::from("./vcgate-data/vcgate.db"));
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.snmp.listen, "127.0.0.1:1162".parse().unwrap());
        assert_eq!(c.snmp.communities, vec![Secret::new("public")]);
        assert_eq!(c.http.max_body, ByteSize(65536));
        assert_eq!(c.dedup.window, Duration::from_secs(300));
        assert!(c.vcenter.is_empty());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::parse("[http]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(ByteSize::parse("64KiB").unwrap(), ByteSize(65536));
        assert_eq!(ByteSize::parse("1MiB").unwrap(), ByteSize(1 << 20));
        assert_eq!(ByteSize::parse("100").unwrap(), ByteSize(100));
        assert!(ByteSize::parse("12 parsecs").is_err());
    }

    #[test]
    fn public_listener_requires_tokens() {
        let err = Config::parse("[http]\nlisten = \"0.0.0.0:8443\"\n").unwrap_err();
        assert!(err.to_string().starts_with("http.ingest_tokens"), "{err}");
        let ok = Config::parse(
            "[http]\nlisten = \"0.0.0.0:8443\"\ningest_tokens = [\"aaaaaaaaaa\"]\nread_tokens = [\"bbbbbbbbbb\"]\n",
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::parse("[http]\ningest_tokens = [\"supersecret-token\"]\n").unwrap();
        assert!(!format!("{c:?}").contains("supersecret-token"));
    }

    #[test]
    fn listener_limits_have_sane_defaults() {
        let h = Config::default().http;
        assert_eq!(h.header_read_timeout, Duration::from_secs(10));
        assert_eq!(h.body_timeout, Duration::from_secs(30));
        assert_eq!(h.idle_timeout, Duration::from_secs(60));
        assert_eq!(h.max_connections, 1024);
        assert_eq!((h.auth_failure_rate, h.auth_failure_burst), (10, 100));
        assert_eq!(h.rate_limit_max_addresses, 100_000);
        assert_eq!(Config::default().snmp.rate_limit_max_addresses, 100_000);
        let err = Config::parse(
            "[http]
max_connections = 0
",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("http.max_connections"), "{err}");
    }

    #[test]
    fn bound_ingest_tokens_name_their_vcenters() {
        let ok = Config::parse(
            "[[http.ingest_token]]\ntoken = \"vc1-hook-token\"\nvcenters = [\"vc1\"]\n",
        )
        .unwrap();
        let tokens = ok.tokens().unwrap();
        assert_eq!(tokens.bound_ingest[0].1, vec!["vc1".to_owned()]);
        let err =
            Config::parse("[[http.ingest_token]]\ntoken = \"vc1-hook-token\"\nvcenters = []\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("ingest_token[0].vcenters"),
            "{err}"
        );
        let err = Config::parse("[[http.ingest_token]]\nvcenters = [\"vc1\"]\n").unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }

    #[test]
    fn over_long_globs_are_refused_naming_key_and_limit() {
        let err = Config::parse(&format!(
            "[[route]]\nalarm = \"{}\"\nto = \"drop\"\n",
            "x".repeat(1025)
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("route[0].alarm") && err.contains("1024"),
            "{err}"
        );
        let err = Config::parse(&format!("[guard]\nexclude = [\"{}\"]\n", "x".repeat(2000)))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("guard.exclude[0]"), "{err}");
    }

    #[test]
    fn design_sketch_sections_parse() {
        let text = include_str!("../config/vcgate.example.toml");
        Config::parse(text).expect("example config must parse");
    }
}
