//! The silences aggregate: manual silences in Alertmanager's shape, kept
//! after they end (for audit) until pruned.
//!
//! Owns: [`SilenceStore`], the stored silence and its matchers (the data;
//! `silence::matcher` compiles and evaluates them), and Alertmanager's
//! create-or-update rule ([`upsert`]), which a backend applies inside one
//! transaction so concurrent updates of one silence cannot interleave.
//! Must not: know SQL or evaluate matchers.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;

#[async_trait::async_trait]
pub trait SilenceStore: Send + Sync {
    /// Creates `wanted` (empty id: a new id is assigned) or updates the
    /// silence with its id by Alertmanager's rule ([`upsert`]), atomically.
    /// Returns the silence as stored (its id may be new), or `None` when the
    /// id is unknown.
    async fn upsert_silence(
        &self,
        wanted: Silence,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError>;

    async fn get_silence(&self, id: String) -> Result<Option<Silence>, StoreError>;

    /// Ends a silence now (kept as it is when already over); `None` when
    /// there is no such silence.
    async fn expire_silence(
        &self,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError>;

    /// Silences that end after `since` (active, pending, and recently
    /// expired), by start time.
    async fn list_silences(&self, since: OffsetDateTime) -> Result<Vec<Silence>, StoreError>;

    /// Deletes silences that ended before `before` (audit retention).
    async fn prune_silences(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A manual silence, Alertmanager's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    /// Last change (creation, update, expiry); absent in silences stored before v2.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

fn yes() -> bool {
    true
}

/// One matcher as stored. `glob` marks a v1 value (`*`, `?`); stored
/// silences from before v2 have no such field and are globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
    #[serde(default = "yes")]
    pub glob: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now: OffsetDateTime) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Ends the silence at `now` (not before it starts); `false` when it
    /// had already ended.
    pub fn expire(&mut self, now: OffsetDateTime) -> bool {
        if self.ends_at <= now {
            return false;
        }
        self.ends_at = now.max(self.starts_at);
        self.updated_at = Some(now);
        true
    }
}

/// How a create-or-update by id is applied (Alertmanager's rule): a pending
/// silence, or an active one whose matchers and start are unchanged, is
/// updated in place; any other change expires the old one and creates a new
/// silence with a new id.
#[derive(Debug, Clone, PartialEq)]
pub enum Upsert {
    InPlace(Silence),
    Replace { expire: Silence, new: Silence },
}

pub fn upsert(
    existing: Silence,
    mut wanted: Silence,
    now: OffsetDateTime,
    new_id: String,
) -> Upsert {
    let in_place = match existing.state(now) {
        SilenceState::Pending => true,
        SilenceState::Active => {
            existing.matchers == wanted.matchers && existing.starts_at == wanted.starts_at
        }
        SilenceState::Expired => false,
    };
    wanted.updated_at = Some(now);
    if in_place {
        wanted.id = existing.id;
        return Upsert::InPlace(wanted);
    }
    let mut expire = existing;
    expire.expire(now);
    wanted.id = new_id;
    if wanted.starts_at < now {
        wanted.starts_at = now;
    }
    Upsert::Replace {
        expire,
        new: wanted,
    }
}
