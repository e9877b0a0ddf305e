//! Loading and validating a config: cross-field rules serde cannot check,
//! secret sources that must be readable, errors that name the key.

use std::collections::HashSet;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use super::{Config, ConfigError, StoreBackend, WebhookFormat, invalid, resolve_secret};

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
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        config.resolve_snmp_user_secrets()?;
        config.load_tokens()?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the SNMPv3 users' password files and variables once, at load,
    /// into the inline fields: validation and the listener then use those
    /// (`resolve_secret` prefers an inline value) and never read again.
    /// Only what the user's protocols need is read, as validation checks.
    fn resolve_snmp_user_secrets(&mut self) -> Result<(), ConfigError> {
        for (i, user) in self.snmp.user.iter_mut().enumerate() {
            let key = format!("snmp.user[{i}]");
            if user.auth_protocol.is_some() {
                user.auth_password = resolve_secret(
                    &format!("{key}.auth_password"),
                    &user.auth_password,
                    &user.auth_password_file,
                    &user.auth_password_env,
                )?;
            }
            if user.priv_protocol.is_some() {
                user.priv_password = resolve_secret(
                    &format!("{key}.priv_password"),
                    &user.priv_password,
                    &user.priv_password_file,
                    &user.priv_password_env,
                )?;
            }
        }
        Ok(())
    }

    /// Checks what serde cannot: cross-field rules, readable secret files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_listeners()?;
        self.validate_store()?;
        self.validate_vcenters()?;
        self.validate_snmp_users()?;
        self.validate_routes()?;
        self.validate_globs()?;
        self.validate_automation()?;
        if self.guard.interval.is_zero() {
            return Err(invalid("guard.interval", "must be greater than zero"));
        }
        self.validate_monitoring_webhooks()
    }

    /// `[http]` and the listeners' rate limits.
    fn validate_listeners(&self) -> Result<(), ConfigError> {
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
        self.validate_http()
    }

    fn validate_store(&self) -> Result<(), ConfigError> {
        if self.store.backend == StoreBackend::Postgres && self.store.url.is_none() {
            return Err(invalid("store.url", "backend = \"postgres\" needs a url"));
        }
        // A cap the backend would silently ignore is worse than none.
        if self.store.backend == StoreBackend::Postgres && self.store.max_size.is_some() {
            return Err(invalid(
                "store.max_size",
                "applies to the SQLite store; cap a PostgreSQL database with PostgreSQL's own means (disk quota, monitoring)",
            ));
        }
        if self.store.pool_size == 0 {
            return Err(invalid("store.pool_size", "must be greater than zero"));
        }
        Ok(())
    }

    fn validate_vcenters(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
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
            super::event_stream::validate(i, vc)?;
        }
        Ok(())
    }

    /// SNMPv3 users authenticate, and their passwords are at hand.
    fn validate_snmp_users(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    fn validate_routes(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    fn validate_monitoring_webhooks(&self) -> Result<(), ConfigError> {
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
            if target.format != WebhookFormat::Cloudevents {
                if target.event_format != crate::cloudevents::EventFormat::Vcgate {
                    return Err(invalid(
                        key("event_format"),
                        "applies to format = \"cloudevents\" only",
                    ));
                }
                if target.encoding != crate::cloudevents::Encoding::Structured {
                    return Err(invalid(
                        key("encoding"),
                        "applies to format = \"cloudevents\" only",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Secret sets, functions and subscriptions: names unique, references
    /// resolved. A function's own keys were checked when it was parsed.
    fn validate_automation(&self) -> Result<(), ConfigError> {
        for (i, set) in self.secret.iter().enumerate() {
            if set.file.is_none() && set.env.is_empty() {
                return Err(invalid(
                    format!("secret[{i}].file"),
                    "a secret set needs `file` or `env`",
                ));
            }
        }
        let function_names = self.validate_functions()?;
        self.validate_subscriptions(&function_names)
    }

    /// The functions' names, once each is checked.
    fn validate_functions(&self) -> Result<HashSet<&str>, ConfigError> {
        let secret_names: HashSet<&str> = self.secret.iter().map(|s| s.name.as_str()).collect();
        let mut function_names = HashSet::new();
        for (i, f) in self.function.iter().enumerate() {
            let key = |k: &str| format!("function[{i}].{k}");
            if !function_names.insert(f.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate function name {:?}", f.name),
                ));
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
        Ok(function_names)
    }

    fn validate_subscriptions(&self, function_names: &HashSet<&str>) -> Result<(), ConfigError> {
        let mut subscription_names = HashSet::new();
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
