//! `[[secret]]`, `[[function]]` and `[[subscription]]`.
//!
//! A `[[function]]` is parsed once into [`FunctionConfig`], whose
//! [`FunctionSpec`] holds its kind's keys; a missing key of the kind is a
//! parse error that names it. Cross-function checks (names, secret sets) are
//! `validate.rs`'s.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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

/// What a function runs: the plain tag of [`FunctionSpec`] (the `kind` key,
/// and `kind` in the API's function view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Command,
    Webhook,
    Builtin,
}

/// Which built-in a `builtin` function runs (the `builtin` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    SetCreatedBy,
    AlarmActions,
}

impl Builtin {
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::SetCreatedBy => "set-created-by",
            Builtin::AlarmActions => "alarm-actions",
        }
    }
}

/// What `builtin = "alarm-actions"` does to the entity's alarm actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmAction {
    #[default]
    Enable,
    Disable,
}

/// One `[[function]]`: what every kind shares, and in `spec` what it runs
/// with the keys of its kind (parsed once; nothing reads a kind's keys
/// from an `Option` at run time).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawFunctionConfig")]
pub struct FunctionConfig {
    pub name: String,
    pub spec: FunctionSpec,
    /// Names of `[[secret]]` sets handed to the function.
    pub secrets: Vec<String>,
    pub timeout: Duration,
    /// Attempts before a run is `dead`.
    pub max_attempts: u32,
    /// Runs of this function at the same time.
    pub concurrency: usize,
    /// First retry delay; doubles per attempt (with jitter) up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The event shape the function gets: `vcgate` (default) or `veba`
    /// (VMware Event Broker Appliance CloudEvents); a subscription may
    /// override it.
    pub event_format: crate::cloudevents::EventFormat,
}

impl FunctionConfig {
    /// The plain kind (`command`, `webhook`, `builtin`).
    pub fn kind(&self) -> FunctionKind {
        match self.spec {
            FunctionSpec::Command(_) => FunctionKind::Command,
            FunctionSpec::Webhook(_) => FunctionKind::Webhook,
            FunctionSpec::Builtin(_) => FunctionKind::Builtin,
        }
    }
}

/// What a function runs, by `kind`, with that kind's keys.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionSpec {
    Command(CommandSpec),
    Webhook(WebhookSpec),
    Builtin(BuiltinSpec),
}

/// `kind = "command"`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// argv (never empty); the input JSON arrives on stdin.
    pub argv: Vec<String>,
    pub working_dir: Option<PathBuf>,
    /// Extra environment (the gateway's own environment is not passed on).
    pub env: BTreeMap<String, String>,
}

impl CommandSpec {
    /// The executable (`argv[0]`).
    pub fn program(&self) -> &str {
        &self.argv[0]
    }
}

/// `kind = "webhook"`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSpec {
    /// Where to POST the CloudEvent.
    pub url: String,
    /// HMAC-SHA256 signing key, from a file or an environment variable.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_env: Option<String>,
    /// CloudEvents content mode, `structured` (default) or `binary`.
    pub encoding: crate::cloudevents::Encoding,
}

impl WebhookSpec {
    /// A signing key is configured.
    pub fn signed(&self) -> bool {
        self.signing_key_file.is_some() || self.signing_key_env.is_some()
    }
}

/// `kind = "builtin"`: which built-in, with its keys (defaults applied).
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltinSpec {
    /// `set-created-by`: the custom attribute names to write.
    SetCreatedBy {
        created_by_attribute: String,
        created_on_attribute: String,
    },
    /// `alarm-actions`: enable (default) or disable.
    AlarmActions { action: AlarmAction },
}

impl BuiltinSpec {
    pub fn builtin(&self) -> Builtin {
        match self {
            BuiltinSpec::SetCreatedBy { .. } => Builtin::SetCreatedBy,
            BuiltinSpec::AlarmActions { .. } => Builtin::AlarmActions,
        }
    }
}

/// A `[[function]]` key that does not fit the function's kind; `key` is
/// relative to the function (`function[i].` is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct FunctionKeyError {
    pub key: &'static str,
    pub message: &'static str,
}

/// `[[function]]` as written: every kind's keys optional. Only
/// [`FunctionConfig`]'s conversion sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunctionConfig {
    name: String,
    kind: FunctionKind,
    #[serde(default)]
    command: Vec<String>,
    working_dir: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    url: Option<String>,
    signing_key_file: Option<PathBuf>,
    signing_key_env: Option<String>,
    builtin: Option<Builtin>,
    created_by_attribute: Option<String>,
    created_on_attribute: Option<String>,
    action: Option<AlarmAction>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default = "default_function_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default = "default_backoff", with = "humantime_serde")]
    backoff: Duration,
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    max_backoff: Duration,
    #[serde(default)]
    event_format: crate::cloudevents::EventFormat,
    #[serde(default)]
    encoding: crate::cloudevents::Encoding,
}

impl RawFunctionConfig {
    /// The kind's keys as a [`FunctionSpec`]. Keys of another kind are
    /// ignored, as they always were, except `encoding`: it changes what a
    /// receiver gets, so setting it where it does nothing is refused.
    fn spec(&mut self) -> Result<FunctionSpec, FunctionKeyError> {
        let spec = match self.kind {
            FunctionKind::Command => FunctionSpec::Command(self.command_spec()?),
            FunctionKind::Webhook => FunctionSpec::Webhook(self.webhook_spec()?),
            FunctionKind::Builtin => FunctionSpec::Builtin(self.builtin_spec()?),
        };
        if self.kind != FunctionKind::Webhook
            && self.encoding != crate::cloudevents::Encoding::Structured
        {
            return Err(FunctionKeyError {
                key: "encoding",
                message: "applies to webhook functions only (command functions read JSON on stdin)",
            });
        }
        Ok(spec)
    }

    fn command_spec(&mut self) -> Result<CommandSpec, FunctionKeyError> {
        if self.command.is_empty() {
            return Err(FunctionKeyError {
                key: "command",
                message: "a command function needs `command` (argv)",
            });
        }
        Ok(CommandSpec {
            argv: std::mem::take(&mut self.command),
            working_dir: self.working_dir.take(),
            env: std::mem::take(&mut self.env),
        })
    }

    fn webhook_spec(&mut self) -> Result<WebhookSpec, FunctionKeyError> {
        let url = self.url.take().ok_or(FunctionKeyError {
            key: "url",
            message: "a webhook function needs `url`",
        })?;
        Ok(WebhookSpec {
            url,
            signing_key_file: self.signing_key_file.take(),
            signing_key_env: self.signing_key_env.take(),
            encoding: self.encoding,
        })
    }

    fn builtin_spec(&mut self) -> Result<BuiltinSpec, FunctionKeyError> {
        match self.builtin {
            Some(Builtin::SetCreatedBy) => Ok(BuiltinSpec::SetCreatedBy {
                created_by_attribute: self
                    .created_by_attribute
                    .take()
                    .unwrap_or_else(|| "Created By".to_owned()),
                created_on_attribute: self
                    .created_on_attribute
                    .take()
                    .unwrap_or_else(|| "Created On".to_owned()),
            }),
            Some(Builtin::AlarmActions) => Ok(BuiltinSpec::AlarmActions {
                action: self.action.unwrap_or_default(),
            }),
            None => Err(FunctionKeyError {
                key: "builtin",
                message: "a builtin function needs `builtin` (set-created-by, alarm-actions)",
            }),
        }
    }
}

impl TryFrom<RawFunctionConfig> for FunctionConfig {
    type Error = FunctionKeyError;

    fn try_from(mut raw: RawFunctionConfig) -> Result<Self, Self::Error> {
        let spec = raw.spec()?;
        Ok(Self {
            name: raw.name,
            spec,
            secrets: raw.secrets,
            timeout: raw.timeout,
            max_attempts: raw.max_attempts,
            concurrency: raw.concurrency,
            backoff: raw.backoff,
            max_backoff: raw.max_backoff,
            event_format: raw.event_format,
        })
    }
}

/// `[[function]]` tables of the whole file: each converted like
/// [`FunctionConfig`]'s own `Deserialize`, with a misfit key named by its
/// place (`function[2].url`).
pub(super) fn deserialize_functions<'de, D>(
    deserializer: D,
) -> Result<Vec<FunctionConfig>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer.deserialize_seq(Functions)
}

struct Functions;

impl<'de> serde::de::Visitor<'de> for Functions {
    type Value = Vec<FunctionConfig>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("[[function]] tables")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut functions = Vec::new();
        while let Some(function) = seq.next_element_seed(NthFunction(functions.len()))? {
            functions.push(function);
        }
        Ok(functions)
    }
}

/// The `[[function]]` at index `.0`.
struct NthFunction(usize);

impl<'de> serde::de::DeserializeSeed<'de> for NthFunction {
    type Value = FunctionConfig;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<FunctionConfig, D::Error> {
        // Converted inside the table's own visit, so a parse error points
        // at this table, not at the first `[[function]]`.
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NthFunction {
    type Value = FunctionConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a [[function]] table")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<FunctionConfig, A::Error> {
        let raw =
            RawFunctionConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        FunctionConfig::try_from(raw)
            .map_err(|e| serde::de::Error::custom(format!("function[{}].{e}", self.0)))
    }
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
    /// The event shape for runs of this subscription (default: the function's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_format: Option<crate::cloudevents::EventFormat>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn each_kind_gets_its_own_keys_and_a_missing_one_is_named_by_place() {
        let c = Config::parse(
            "[[function]]\nname = \"c\"\nkind = \"command\"\ncommand = [\"/bin/f\", \"-v\"]\n\
             env = { MODE = \"x\" }\nurl = \"http://ignored\"\n\
             [[function]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"http://h/fn\"\n\
             signing_key_env = \"KEY\"\nencoding = \"binary\"\n",
        )
        .unwrap();
        // A key of another kind is ignored, as before the typed config.
        let FunctionSpec::Command(command) = &c.function[0].spec else {
            panic!("{:?}", c.function[0]);
        };
        assert_eq!((command.program(), command.argv.len()), ("/bin/f", 2));
        assert_eq!(command.env["MODE"], "x");
        assert_eq!(c.function[1].kind(), FunctionKind::Webhook);
        let FunctionSpec::Webhook(webhook) = &c.function[1].spec else {
            panic!("{:?}", c.function[1]);
        };
        assert!(webhook.signed());
        assert_eq!(webhook.encoding, crate::cloudevents::Encoding::Binary);

        let err = |text: &str| Config::parse(text).unwrap_err().to_string();
        let e = err(
            "[[function]]\nname = \"a\"\nkind = \"command\"\ncommand = [\"x\"]\n\
                     [[function]]\nname = \"b\"\nkind = \"webhook\"\n",
        );
        assert!(
            e.contains("function[1].url: a webhook function needs `url`") && e.contains("line 5"),
            "{e}"
        );
        let e = err("[[function]]\nname = \"a\"\nkind = \"command\"\n");
        assert!(e.contains("function[0].command"), "{e}");
        let e = err(
            "[[function]]\nname = \"a\"\nkind = \"command\"\ncommand = [\"x\"]\nencoding = \"binary\"\n",
        );
        assert!(
            e.contains("function[0].encoding: applies to webhook functions only"),
            "{e}"
        );
    }
}
