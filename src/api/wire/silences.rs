//! Silence bodies: Alertmanager's v2 shapes (`postableSilence`,
//! `gettableSilence`, `{"silenceID"}`, `/api/v2/status`) for amtool and
//! Grafana, and the v1 alias (values as given, globs kept).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::silence::{Matcher, Silence, SilenceState};

/// A matcher as Alertmanager's v2 API shows and takes it. Posted bodies may
/// leave out `isRegex` (false) and `isEqual` (true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    /// The v2 view: a glob value shown as the equivalent regex.
    pub fn v2(m: &Matcher) -> Self {
        let (value, is_regex) = match m.regex_source() {
            Some(re) => (re, true),
            None => (m.value.clone(), false),
        };
        Self {
            name: m.name.clone(),
            value,
            is_regex,
            is_equal: m.is_equal,
        }
    }

    /// The v1 view: the value as given.
    pub fn v1(m: &Matcher) -> Self {
        Self {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.is_regex,
            is_equal: m.is_equal,
        }
    }
}

/// `POST /api/v2/silences`: create, or update by `id` (unknown fields are
/// ignored, as Alertmanager does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub matchers: Vec<SilenceMatcher>,
    /// Default: now.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/silences` (unknown fields refused, as before; values are
/// globs unless `isRegex`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSilenceV1 {
    pub matchers: Vec<SilenceMatcher>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// Answer to a create or update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceCreated {
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}

/// A silence as listed: Alertmanager's `gettableSilence` (v2), or the v1
/// view (same fields, matcher values as given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub matchers: Vec<SilenceMatcher>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

impl GettableSilence {
    /// Alertmanager's v2 view at `now`.
    pub fn v2(s: &Silence, now: OffsetDateTime) -> Self {
        Self::with_matchers(s, now, s.matchers.iter().map(SilenceMatcher::v2).collect())
    }

    /// The v1 view at `now` (values as given).
    pub fn v1(s: &Silence, now: OffsetDateTime) -> Self {
        Self::with_matchers(s, now, s.matchers.iter().map(SilenceMatcher::v1).collect())
    }

    fn with_matchers(s: &Silence, now: OffsetDateTime, matchers: Vec<SilenceMatcher>) -> Self {
        Self {
            id: s.id.clone(),
            status: SilenceStatus {
                state: s.state(now),
            },
            updated_at: s.updated_at.unwrap_or(s.starts_at),
            matchers,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        }
    }
}

/// `GET /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceList {
    pub silences: Vec<GettableSilence>,
}

/// `GET /api/v2/status`: what amtool and Grafana read from an Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerStatus {
    pub cluster: ClusterStatus,
    pub version_info: VersionInfo,
    pub config: AlertmanagerConfig,
    /// When the gateway started (RFC 3339).
    pub uptime: String,
}

/// vcgate is no cluster: `disabled`, no peers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub status: String,
    pub peers: Vec<ClusterPeer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterPeer {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

/// vcgate has no Alertmanager config: `original` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertmanagerConfig {
    pub original: String,
}

impl AlertmanagerStatus {
    pub fn of_vcgate(started_at: OffsetDateTime) -> Self {
        Self {
            cluster: ClusterStatus {
                status: "disabled".into(),
                peers: Vec::new(),
            },
            version_info: VersionInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                revision: String::new(),
                branch: String::new(),
                build_user: "vcgate".into(),
                build_date: String::new(),
                go_version: "none (vcgate is written in Rust)".into(),
            },
            config: AlertmanagerConfig {
                original: String::new(),
            },
            uptime: crate::model::format_rfc3339(started_at),
        }
    }
}
