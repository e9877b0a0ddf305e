//! SQLite side of the active-alert table (schema migration 8): one row per
//! (monitoring target, alert), the row itself as JSON beside the columns
//! used to find it.
//!
//! Why inside `record_processed`: an event's effect on the table is decided
//! here, in the writer, by the pure `store::alerts::apply`, in the same
//! transaction as the event's disposition and the deliveries it queues. The
//! writer is the only one changing rows, so read-decide-write cannot race; a
//! crash loses the event's decision and its table change together, and the
//! pipeline redoes both.

use rusqlite::{Connection, params};

use super::{SqliteStore, now_ms, unavailable};
use crate::store::alerts::{self, Step};
use crate::store::{AlertInput, AlertRelease, AlertRow, AlertStore, StoreError};

/// Migration 8: the active-alert table.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS alerts (
    target       TEXT NOT NULL,
    key          TEXT NOT NULL,
    vcenter      TEXT NOT NULL,
    entity_lc    TEXT NOT NULL,
    entity_moref TEXT,
    state        TEXT NOT NULL,
    held         INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (target, key)
);
CREATE INDEX IF NOT EXISTS alerts_entity ON alerts(vcenter, entity_lc);
CREATE INDEX IF NOT EXISTS alerts_moref ON alerts(vcenter, entity_moref) WHERE entity_moref IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerts_held ON alerts(held) WHERE held = 1;
"#;

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("alert row: {e}"))
}

/// The next table-wide version (kept in `kv`, bumped in the writer).
fn next_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row(
        "INSERT INTO kv (key, value) VALUES ('alerts.version', '1') \
         ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )
    .map_err(unavailable)
}

fn write_row(conn: &Connection, row: &mut AlertRow) -> Result<(), StoreError> {
    row.version = next_version(conn)?;
    let body = serde_json::to_string(row).map_err(corrupt)?;
    conn.prepare_cached(
        "INSERT INTO alerts (target, key, vcenter, entity_lc, entity_moref, state, held, version, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(target, key) DO UPDATE SET vcenter = excluded.vcenter, entity_lc = excluded.entity_lc, \
         entity_moref = excluded.entity_moref, state = excluded.state, held = excluded.held, \
         version = excluded.version, body = excluded.body",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            row.target,
            row.key,
            row.identity.vcenter,
            row.identity.entity_name.to_lowercase(),
            row.identity.entity_moref,
            row.state.as_str(),
            row.held_by.is_some(),
            row.version,
            body,
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}

fn delete_row(conn: &Connection, target: &str, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM alerts WHERE target = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![target, key]))
        .map_err(unavailable)?;
    Ok(())
}

fn decode_rows(bodies: Vec<String>) -> Result<Vec<AlertRow>, StoreError> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(corrupt))
        .collect()
}

/// Rows of `target` on the observation's entity (by name or moref).
fn rows_on_entity(
    conn: &Connection,
    target: &str,
    input: &AlertInput,
) -> Result<Vec<AlertRow>, StoreError> {
    let id = &input.observation.identity;
    let bodies = conn
        .prepare_cached(
            "SELECT body FROM alerts WHERE target = ?1 AND vcenter = ?2 AND (entity_lc = ?3 OR entity_moref = ?4)",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![target, id.vcenter, id.entity_name.to_lowercase(), id.entity_moref],
                |r| r.get::<_, String>(0),
            )?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(unavailable)?;
    decode_rows(bodies)
}

/// Applies one event's observation to every target's rows; returns the
/// targets the event is queued to (event-by-event) or must be sent to
/// (Alertmanager), for `disposition.forward_to`.
pub(super) fn apply_input(
    conn: &Connection,
    input: &AlertInput,
    new_key: &str,
) -> Result<Vec<String>, StoreError> {
    let obs = &input.observation;
    let mut told = Vec::new();
    for (target, kind) in &input.targets {
        let rows = rows_on_entity(conn, target, input)?;
        let chosen = alerts::rows_to_apply(&rows, obs);
        let mut tell = false;
        for existing in chosen {
            let applied = alerts::apply(*kind, target, existing, obs, new_key);
            tell |= applied.tell;
            match applied.step {
                Step::Upsert(mut row) => write_row(conn, &mut row)?,
                Step::Delete => {
                    if let Some(r) = existing {
                        delete_row(conn, &r.target, &r.key)?;
                    }
                }
                Step::Nothing => {}
            }
        }
        if tell {
            told.push(target.clone());
        }
    }
    Ok(told)
}

#[async_trait::async_trait]
impl AlertStore for SqliteStore {
    /// Every row of one target (what its Alertmanager sender sends).
    async fn target_alerts(&self, target: String) -> Result<Vec<AlertRow>, StoreError> {
        let bodies = self
            .read(move |conn| {
                conn.prepare_cached("SELECT body FROM alerts WHERE target = ?1 ORDER BY key")?
                    .query_map([target], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        decode_rows(bodies)
    }

    /// Every row (for `GET /api/v1/alerts`), or only held ones.
    async fn list_alerts(&self, held_only: bool) -> Result<Vec<AlertRow>, StoreError> {
        let bodies = self
            .read(move |conn| {
                let sql = if held_only {
                    "SELECT body FROM alerts WHERE held = 1"
                } else {
                    "SELECT body FROM alerts ORDER BY target, key"
                };
                conn.prepare_cached(sql)?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        decode_rows(bodies)
    }

    /// Stops holding alerts whose rows did not change since they were read;
    /// queues the deliveries asked for. Returns how many were released.
    async fn release_alerts(&self, releases: Vec<AlertRelease>) -> Result<usize, StoreError> {
        self.write(move |conn| {
            let mut done = 0;
            for r in &releases {
                let body: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
                    "SELECT body FROM alerts WHERE target = ?1 AND key = ?2 AND version = ?3",
                    params![r.target, r.key, r.version],
                    |row| row.get(0),
                ))
                .map_err(unavailable)?;
                let Some(body) = body else { continue };
                let row: AlertRow = serde_json::from_str(&body).map_err(corrupt)?;
                let (mut next, queue) = alerts::release(&row, r.send);
                write_row(conn, &mut next)?;
                if queue && r.queue_delivery {
                    conn.execute(
                        "INSERT OR IGNORE INTO deliveries (event_id, target, state, attempts, next_ms, updated_ms) VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
                        params![row.event_id.to_string(), r.target, now_ms()],
                    )
                    .map_err(unavailable)?;
                }
                done += 1;
            }
            Ok(done)
        })
        .await
    }

    /// Deletes resolved rows of `target` still at the given versions (their
    /// resolve reached every URL, or their last `endsAt` passed).
    async fn forget_resolved(
        &self,
        target: String,
        rows: Vec<(String, i64)>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            for (key, version) in &rows {
                conn.execute(
                    "DELETE FROM alerts WHERE target = ?1 AND key = ?2 AND state = 'resolved' AND version <= ?3",
                    params![target, key, version],
                )
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes rows of targets no longer configured; returns how many.
    async fn forget_alerts_except(&self, targets: Vec<String>) -> Result<usize, StoreError> {
        self.write(move |conn| {
            let known: std::collections::HashSet<&str> =
                targets.iter().map(String::as_str).collect();
            let all: Vec<String> = conn
                .prepare("SELECT DISTINCT target FROM alerts")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(unavailable)?;
            let mut n = 0;
            for t in all.iter().filter(|t| !known.contains(t.as_str())) {
                n += conn
                    .execute("DELETE FROM alerts WHERE target = ?1", [t])
                    .map_err(unavailable)?;
            }
            Ok(n)
        })
        .await
    }
}
