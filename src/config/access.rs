//! Who may call the API and what the config may ask of the matchers: the
//! merged token lists of every scope (`[http] *_tokens`, `*_token_file`,
//! `VCGATE_*_TOKEN`, `[[http.ingest_token]]`), the `[http]` listener checks,
//! and the length and count limits of globs. Part of `config`; split out
//! only to keep that file readable.

use std::path::PathBuf;

use super::{BoundIngestToken, Config, ConfigError, Secret, invalid, resolve_secret};

/// Tokens after merging inline values, files and environment variables.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Ingest tokens that may speak for any vCenter.
    pub ingest: Vec<Secret>,
    /// Ingest tokens bound to the vCenter names they may speak for.
    pub bound_ingest: Vec<(Secret, Vec<String>)>,
    pub read: Vec<Secret>,
    pub admin: Vec<Secret>,
}

impl Tokens {
    /// No token of any scope: the fully open loopback default.
    pub fn is_empty(&self) -> bool {
        self.ingest.is_empty()
            && self.bound_ingest.is_empty()
            && self.read.is_empty()
            && self.admin.is_empty()
    }
}

impl Config {
    pub(super) fn validate_http(&self) -> Result<(), ConfigError> {
        let http = &self.http;
        let tokens = self.tokens()?;
        if !http.listen.ip().is_loopback()
            && ((tokens.ingest.is_empty() && tokens.bound_ingest.is_empty())
                || (tokens.read.is_empty() && tokens.admin.is_empty()))
        {
            return Err(invalid(
                "http.ingest_tokens",
                "a listener on a non-loopback address needs ingest and read tokens \
                 (ingest_tokens/ingest_token_file/VCGATE_INGEST_TOKEN and read_tokens/read_token_file/VCGATE_READ_TOKEN)",
            ));
        }
        for (key, value) in [
            ("http.header_read_timeout", http.header_read_timeout),
            ("http.body_timeout", http.body_timeout),
            ("http.idle_timeout", http.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero"));
            }
        }
        if http.request_timeout() <= http.body_timeout {
            return Err(invalid(
                "http.request_timeout",
                "must be longer than body_timeout (a request's time includes reading its body)",
            ));
        }
        for (key, value) in [
            ("http.max_connections", http.max_connections),
            (
                "http.rate_limit_max_addresses",
                http.rate_limit_max_addresses,
            ),
            ("http.auth_failure_rate", http.auth_failure_rate as usize),
            (
                "snmp.rate_limit_max_addresses",
                self.snmp.rate_limit_max_addresses,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// Every glob the config gives the matchers: within the length limit,
    /// and not too many rules to test each event against.
    pub(super) fn validate_globs(&self) -> Result<(), ConfigError> {
        self.validate_route_globs()?;
        self.validate_subscription_globs()?;
        for (i, glob) in self.guard.exclude.iter().enumerate() {
            check_glob(format!("guard.exclude[{i}]"), &Some(glob.clone()))?;
        }
        for (i, rule) in self.silence.inhibit.iter().enumerate() {
            check_glob(
                format!("silence.inhibit[{i}].source_alarm"),
                &Some(rule.source_alarm.clone()),
            )?;
            check_glob(
                format!("silence.inhibit[{i}].source_status"),
                &Some(rule.source_status.clone()),
            )?;
        }
        Ok(())
    }

    fn validate_route_globs(&self) -> Result<(), ConfigError> {
        use super::MAX_ROUTES;
        if self.route.len() > MAX_ROUTES {
            return Err(invalid(
                "route",
                format!(
                    "{} rules: at most {MAX_ROUTES} [[route]] rules are allowed",
                    self.route.len()
                ),
            ));
        }
        for (i, r) in self.route.iter().enumerate() {
            for (field, pattern) in [
                ("source", &r.source),
                ("type", &r.event_type),
                ("alarm", &r.alarm),
                ("entity", &r.entity),
                ("new_status", &r.new_status),
                ("vcenter", &r.vcenter),
            ] {
                check_glob(format!("route[{i}].{field}"), pattern)?;
            }
        }
        Ok(())
    }

    fn validate_subscription_globs(&self) -> Result<(), ConfigError> {
        use super::MAX_SUBSCRIPTIONS;
        if self.subscription.len() > MAX_SUBSCRIPTIONS {
            return Err(invalid(
                "subscription",
                format!(
                    "{} subscriptions: at most {MAX_SUBSCRIPTIONS} [[subscription]] entries are allowed",
                    self.subscription.len()
                ),
            ));
        }
        for (i, sub) in self.subscription.iter().enumerate() {
            check_glob(
                format!("subscription[{i}].event_type"),
                &Some(sub.event_type.clone()),
            )?;
            for (field, pattern) in [
                ("vcenter", &sub.vcenter),
                ("entity", &sub.entity),
                ("alarm", &sub.alarm),
                ("status", &sub.status),
            ] {
                check_glob(format!("subscription[{i}].{field}"), pattern)?;
            }
        }
        Ok(())
    }

    /// The tokens of every scope: as read when the config was loaded, or
    /// (for a config not made by `Config::parse`) read now.
    pub fn tokens(&self) -> Result<Tokens, ConfigError> {
        match &self.loaded_tokens {
            Some(tokens) => Ok(tokens.clone()),
            None => self.read_tokens(),
        }
    }

    /// Reads the tokens once at load; validation and the API use them.
    pub(super) fn load_tokens(&mut self) -> Result<(), ConfigError> {
        self.loaded_tokens = Some(self.read_tokens()?);
        Ok(())
    }

    /// Merges tokens from the inline lists, the token files (one per line),
    /// the `VCGATE_INGEST_TOKEN` / `VCGATE_READ_TOKEN` / `VCGATE_ADMIN_TOKEN`
    /// environment variables and the `[[http.ingest_token]]` entries.
    fn read_tokens(&self) -> Result<Tokens, ConfigError> {
        let bound_ingest = self
            .http
            .ingest_token
            .iter()
            .enumerate()
            .map(|(i, bound)| bound_ingest_token(&format!("http.ingest_token[{i}]"), bound))
            .collect::<Result<_, _>>()?;
        Ok(Tokens {
            ingest: scope_tokens(
                &self.http.ingest_tokens,
                &self.http.ingest_token_file,
                "VCGATE_INGEST_TOKEN",
                "http.ingest_tokens",
            )?,
            bound_ingest,
            read: scope_tokens(
                &self.http.read_tokens,
                &self.http.read_token_file,
                "VCGATE_READ_TOKEN",
                "http.read_tokens",
            )?,
            admin: scope_tokens(
                &self.http.admin_tokens,
                &self.http.admin_token_file,
                "VCGATE_ADMIN_TOKEN",
                "http.admin_tokens",
            )?,
        })
    }
}

/// A glob at `key`, when given, within the matchers' limits.
fn check_glob(key: String, pattern: &Option<String>) -> Result<(), ConfigError> {
    match pattern {
        Some(p) => crate::filter::check_glob(p).map_err(|message| invalid(key, message)),
        None => Ok(()),
    }
}

fn too_short(key: &str) -> ConfigError {
    invalid(key, "tokens must be at least 8 characters")
}

/// One scope's tokens: inline, then the file's lines, then the variable.
fn scope_tokens(
    inline: &[Secret],
    file: &Option<PathBuf>,
    env: &str,
    key: &str,
) -> Result<Vec<Secret>, ConfigError> {
    let mut all: Vec<Secret> = inline.to_vec();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Secret::new),
        );
    }
    if let Ok(value) = std::env::var(env)
        && !value.trim().is_empty()
    {
        all.push(Secret::new(value.trim()));
    }
    if all.iter().any(|t| t.expose().len() < 8) {
        return Err(too_short(key));
    }
    Ok(all)
}

/// One `[[http.ingest_token]]` (at `key`): exactly one source, a token long
/// enough, and the vCenter names it may speak for.
fn bound_ingest_token(
    key: &str,
    bound: &BoundIngestToken,
) -> Result<(Secret, Vec<String>), ConfigError> {
    let given = [
        bound.token.is_some(),
        bound.token_file.is_some(),
        bound.token_env.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(invalid(
            format!("{key}.token"),
            "give exactly one of token, token_file, token_env",
        ));
    }
    let token = resolve_secret(
        &format!("{key}.token"),
        &bound.token,
        &bound.token_file,
        &bound.token_env,
    )?
    .expect("one source given");
    let token = Secret::new(token.expose().trim());
    if token.expose().len() < 8 {
        return Err(too_short(&format!("{key}.token")));
    }
    if bound.vcenters.is_empty() || bound.vcenters.iter().any(|v| v.trim().is_empty()) {
        return Err(invalid(
            format!("{key}.vcenters"),
            "list the vCenter names this token may speak for (non-empty names)",
        ));
    }
    Ok((token, bound.vcenters.clone()))
}
