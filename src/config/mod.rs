//! Configuration: the TOML file's serde structs, the embedded defaults, and
//! `validate()`. This file holds the whole-file `Config`, the shared value
//! types (`Secret`, `ByteSize`) and secret resolution; each section has its
//! own file (`http.rs`, `snmp.rs`, `store.rs`, …), checks are in `validate.rs`
//! and `access.rs`, secret sets in `secrets.rs`.
//!
//! Owns: every config key (names are part of the product's contract, see
//! `config/vcgate.example.toml`), loading secrets from files or environment
//! variables, and turning config mistakes into errors that name the key.
//! Must not: start anything or log secret values (`Secret`'s Debug redacts).

use std::fmt;

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// Most `[[route]]` rules (each event may be tested against all of them).
pub const MAX_ROUTES: usize = 1000;
/// Most `[[subscription]]`s (each automation event is tested against all).
pub const MAX_SUBSCRIPTIONS: usize = 1000;

// One file per section; every type stays reachable as `crate::config::X`.
mod access;
mod automation;
mod event_stream;
mod guard;
mod http;
mod monitoring;
mod pipeline;
pub mod secrets;
mod snmp;
mod store;
mod validate;
mod vcenter;

pub use access::Tokens;
pub use automation::*;
pub use guard::*;
pub use http::*;
pub use monitoring::*;
pub use pipeline::*;
pub use snmp::*;
pub use store::*;
pub use vcenter::*;

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

/// The whole file; every section is optional and has embedded defaults.
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
    #[serde(default)]
    pub enrich: EnrichConfig,
    #[serde(default)]
    pub secret: Vec<SecretSet>,
    #[serde(default, deserialize_with = "automation::deserialize_functions")]
    pub function: Vec<FunctionConfig>,
    #[serde(default)]
    pub subscription: Vec<SubscriptionConfig>,
    #[serde(default)]
    pub guard: GuardConfig,
    #[serde(default)]
    pub silence: SilenceConfig,
    /// The `[http]` tokens as read at load (files and environment variables
    /// read once); `None` for a config not made by `Config::parse`.
    #[serde(skip)]
    loaded_tokens: Option<Tokens>,
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("embedded defaults parse")
    }
}

fn default_true() -> bool {
    true
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
    use std::time::Duration;

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
    fn postgres_needs_a_url_and_refuses_the_sqlite_cap() {
        let err = Config::parse("[store]\nbackend = \"postgres\"\n").unwrap_err();
        assert!(err.to_string().starts_with("store.url"), "{err}");
        let url = "[store]\nbackend = \"postgres\"\nurl = \"postgres://vcgate@db/vcgate\"\n";
        assert!(Config::parse(url).is_ok());
        let err = Config::parse(&format!("{url}max_size = \"1GiB\"\n")).unwrap_err();
        assert!(err.to_string().starts_with("store.max_size"), "{err}");
        assert!(Config::parse("[store]\nmax_size = \"1GiB\"\n").is_ok());
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
    fn the_request_timeout_must_outlast_the_body_timeout() {
        let err = Config::parse("[http]\nbody_timeout = \"30s\"\nrequest_timeout = \"30s\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("http.request_timeout"), "{err}");
        assert!(Config::parse("[http]\nbody_timeout = \"5s\"\nrequest_timeout = \"6s\"\n").is_ok());
        // A config from before the key, with a long body timeout, still loads.
        let old = Config::parse("[http]\nbody_timeout = \"120s\"\n").unwrap();
        assert_eq!(old.http.request_timeout(), Duration::from_secs(150));
    }

    #[test]
    fn listener_limits_have_sane_defaults() {
        let h = Config::default().http;
        assert_eq!(h.header_read_timeout, Duration::from_secs(10));
        assert_eq!(h.body_timeout, Duration::from_secs(30));
        assert_eq!(h.request_timeout(), Duration::from_secs(60));
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
        let text = include_str!("../../config/vcgate.example.toml");
        Config::parse(text).expect("example config must parse");
    }

    #[test]
    fn snmp_versions_builtins_and_actions_parse_into_types() {
        let c = Config::parse(
            "[[monitoring.snmp]]\ntarget = \"127.0.0.1:162\"\n\
             [[monitoring.snmp]]\ntarget = \"127.0.0.1:163\"\nversion = \"3\"\nuser = \"u\"\n\
             [[function]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"alarm-actions\"\naction = \"disable\"\n\
             [[function]]\nname = \"b\"\nkind = \"builtin\"\nbuiltin = \"set-created-by\"\n",
        )
        .unwrap();
        assert_eq!(c.monitoring.snmp[0].version, SnmpVersion::V2c);
        assert_eq!(c.monitoring.snmp[1].version, SnmpVersion::V3);
        assert_eq!(
            c.function[0].spec,
            FunctionSpec::Builtin(BuiltinSpec::AlarmActions {
                action: AlarmAction::Disable
            })
        );
        let FunctionSpec::Builtin(b) = &c.function[1].spec else {
            panic!("{:?}", c.function[1]);
        };
        assert_eq!(b.builtin().as_str(), "set-created-by");
        assert_eq!(
            *b,
            BuiltinSpec::SetCreatedBy {
                created_by_attribute: "Created By".into(),
                created_on_attribute: "Created On".into(),
            }
        );
        let c: FunctionConfig =
            toml::from_str("name = \"c\"\nkind = \"builtin\"\nbuiltin = \"alarm-actions\"\n")
                .unwrap();
        assert_eq!(
            c.spec,
            FunctionSpec::Builtin(BuiltinSpec::AlarmActions {
                action: AlarmAction::Enable
            })
        );

        let err = |text: &str| Config::parse(text).unwrap_err().to_string();
        let e = err("[[monitoring.snmp]]\ntarget = \"127.0.0.1:162\"\nversion = \"1\"\n");
        assert!(e.contains("version") && e.contains("2c"), "{e}");
        let e = err("[[function]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"reboot\"\n");
        assert!(e.contains("builtin") && e.contains("set-created-by"), "{e}");
        let e = err("[[function]]\nname = \"a\"\nkind = \"builtin\"\n");
        assert!(e.contains("function[0].builtin"), "{e}");
        let e = err(
            "[[function]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"alarm-actions\"\naction = \"toggle\"\n",
        );
        assert!(e.contains("action") && e.contains("enable"), "{e}");
    }

    #[test]
    fn snmp_user_password_files_are_read_once_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth");
        std::fs::write(&file, "authpass123\n").unwrap();
        let text = format!(
            "[[snmp.user]]\nname = \"u\"\nauth_protocol = \"sha\"\nauth_password_file = {:?}\n",
            file.display().to_string()
        );
        let c = Config::parse(&text).unwrap();
        // Gone after load: whoever uses the config later must not need it.
        std::fs::remove_file(&file).unwrap();
        let u = &c.snmp.user[0];
        let again = resolve_secret(
            "k",
            &u.auth_password,
            &u.auth_password_file,
            &u.auth_password_env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(again.expose(), "authpass123");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("snmp.user[0].auth_password") && e.contains("cannot read"),
            "{e}"
        );
    }

    #[test]
    fn token_files_are_read_once_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("read-tokens");
        std::fs::write(&file, "read-token-1\n").unwrap();
        let c = Config::parse(&format!(
            "[http]\nread_token_file = {:?}\n",
            file.display().to_string()
        ))
        .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(c.tokens().unwrap().read[0].expose(), "read-token-1");
    }
}
