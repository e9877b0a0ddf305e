//! SQLite side of manual silences (schema migration 5): stored as JSON in
//! Alertmanager's shape, indexed by end time so expired ones can be kept for
//! audit and pruned later.

use rusqlite::params;
use time::OffsetDateTime;

use super::{SqliteStore, ms, now_ms, unavailable};
use crate::store::silences::{Upsert, upsert};
use crate::store::{Silence, SilenceStore, StoreError};

fn put(conn: &rusqlite::Connection, silence: &Silence) -> Result<(), StoreError> {
    let body =
        serde_json::to_string(silence).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    conn.execute(
        "INSERT INTO silences (id, body, starts_ms, ends_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(id) DO UPDATE SET body = excluded.body, starts_ms = excluded.starts_ms, ends_ms = excluded.ends_ms",
        params![silence.id, body, ms(silence.starts_at), ms(silence.ends_at), now_ms()],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn get(conn: &rusqlite::Connection, id: &str) -> Result<Option<Silence>, StoreError> {
    let body: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT body FROM silences WHERE id = ?1",
        [id],
        |r| r.get(0),
    ))
    .map_err(unavailable)?;
    body.map(|b| {
        serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(format!("silence {id}: {e}")))
    })
    .transpose()
}

#[async_trait::async_trait]
impl SilenceStore for SqliteStore {
    /// Creates `wanted` (no id) or updates the silence with its id by
    /// Alertmanager's rule (`silence::upsert`), atomically. Returns the
    /// silence as stored (its id may be new), or `None` when the id is unknown.
    async fn upsert_silence(
        &self,
        wanted: Silence,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError> {
        self.write(move |conn| {
            let new_id = uuid::Uuid::now_v7().to_string();
            if wanted.id.is_empty() {
                let mut new = wanted;
                new.id = new_id;
                new.updated_at = Some(now);
                put(conn, &new)?;
                return Ok(Some(new));
            }
            let Some(existing) = get(conn, &wanted.id)? else {
                return Ok(None);
            };
            match upsert(existing, wanted, now, new_id) {
                Upsert::InPlace(s) => {
                    put(conn, &s)?;
                    Ok(Some(s))
                }
                Upsert::Replace { expire, new } => {
                    put(conn, &expire)?;
                    put(conn, &new)?;
                    Ok(Some(new))
                }
            }
        })
        .await
    }

    async fn get_silence(&self, id: String) -> Result<Option<Silence>, StoreError> {
        self.read(move |conn| {
            let body: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
                "SELECT body FROM silences WHERE id = ?1",
                [&id],
                |r| r.get(0),
            ))?;
            Ok(body)
        })
        .await?
        .map(|b| serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(format!("silence: {e}"))))
        .transpose()
    }

    /// Ends a silence now; `Ok(None)` when there is no such silence.
    async fn expire_silence(
        &self,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Option<Silence>, StoreError> {
        self.write(move |conn| {
            let Some(mut silence) = get(conn, &id)? else {
                return Ok(None);
            };
            if silence.expire(now) {
                put(conn, &silence)?;
            }
            Ok(Some(silence))
        })
        .await
    }

    /// Silences that end after `since` (active, pending, and recently expired).
    async fn list_silences(&self, since: OffsetDateTime) -> Result<Vec<Silence>, StoreError> {
        let since = ms(since);
        let bodies = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT body FROM silences WHERE ends_ms > ?1 ORDER BY starts_ms",
                )?;
                let rows = stmt.query_map([since], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        bodies
            .into_iter()
            .map(|b| {
                serde_json::from_str(&b).map_err(|e| StoreError::Corrupt(format!("silence: {e}")))
            })
            .collect()
    }

    /// Deletes silences that ended before `before` (audit retention).
    async fn prune_silences(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = ms(before);
        self.write(move |conn| {
            Ok(conn
                .execute("DELETE FROM silences WHERE ends_ms < ?1", [before])
                .map_err(unavailable)? as u64)
        })
        .await
    }
}
