//! Secret sets (`[[secret]]`): loaded from JSON/TOML files or environment
//! variables, handed to the functions that list them, and redacted from every
//! run record, log line and API answer.

use std::collections::BTreeMap;

use crate::config::SecretSet;

/// Marker that replaces a secret value wherever it would be shown.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not searched for in output (a 1–2 character
/// "secret" would turn every log line into noise); config loading warns.
const MIN_REDACTABLE: usize = 3;

#[derive(Debug, thiserror::Error)]
#[error("secret[{index}] ({name}): {message}")]
pub struct SecretError {
    pub index: usize,
    pub name: String,
    pub message: String,
}

/// All loaded secret sets. Debug never prints values.
#[derive(Clone, Default)]
pub struct Secrets {
    sets: BTreeMap<String, BTreeMap<String, String>>,
    /// Every value, longest first (so a value containing another is replaced whole).
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.sets
                    .iter()
                    .map(|(name, set)| (name, set.keys().collect::<Vec<_>>())),
            )
            .finish()
    }
}

impl Secrets {
    pub fn load(config: &[SecretSet]) -> Result<Self, SecretError> {
        let mut sets = BTreeMap::new();
        for (index, set) in config.iter().enumerate() {
            let err = |message: String| SecretError {
                index,
                name: set.name.clone(),
                message,
            };
            let mut values = BTreeMap::new();
            if let Some(path) = &set.file {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
                let parsed: BTreeMap<String, String> = serde_json::from_str(&text)
                    .or_else(|_| toml::from_str(&text))
                    .map_err(|_| {
                        err(format!(
                            "{} must hold a JSON or TOML object of string values",
                            path.display()
                        ))
                    })?;
                values.extend(parsed);
            }
            for var in &set.env {
                let value = std::env::var(var)
                    .map_err(|_| err(format!("environment variable {var} is not set")))?;
                values.insert(var.clone(), value);
            }
            sets.insert(set.name.clone(), values);
        }
        let mut all: Vec<String> = sets
            .values()
            .flat_map(|s| s.values().cloned())
            .filter(|v| v.len() >= MIN_REDACTABLE)
            .collect();
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        all.dedup();
        Ok(Self { sets, values: all })
    }

    /// The flat key → value map a function receives (`context.secrets`), sets
    /// merged in the order listed (later sets win on equal keys).
    pub fn for_function(&self, names: &[String]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for name in names {
            if let Some(set) = self.sets.get(name) {
                out.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    /// Replaces every known secret value in `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_files_and_env_and_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(&json, r#"{"username": "svc", "password": "hunter2-long"}"#).unwrap();
        let toml_file = dir.path().join("b.toml");
        std::fs::write(&toml_file, "api_key = \"k-123456\"\n").unwrap();
        let secrets = Secrets::load(&[
            SecretSet {
                name: "a".into(),
                file: Some(json),
                env: vec![],
            },
            SecretSet {
                name: "b".into(),
                file: Some(toml_file),
                env: vec!["PATH".into()],
            },
        ])
        .unwrap();
        let for_a = secrets.for_function(&["a".into()]);
        assert_eq!(for_a["password"], "hunter2-long");
        assert!(!for_a.contains_key("api_key"));
        assert_eq!(
            secrets.redact("pw=hunter2-long key=k-123456"),
            "pw=[REDACTED] key=[REDACTED]"
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
        let v = secrets.redact_json(&serde_json::json!({"x": ["hunter2-long"]}));
        assert_eq!(v["x"][0], REDACTED);
    }

    #[test]
    fn missing_env_is_an_error_naming_the_set() {
        let err = Secrets::load(&[SecretSet {
            name: "s".into(),
            file: None,
            env: vec!["VCGATE_SURELY_UNSET_VAR".into()],
        }])
        .unwrap_err();
        assert!(err.to_string().contains("VCGATE_SURELY_UNSET_VAR"));
    }
}
