//! PostgreSQL side of the active-alert table: the transition rules of
//! `store::alerts` applied inside the decision's transaction, the rows of
//! one entity read `FOR UPDATE` so a concurrent writer waits; versions from
//! a sequence (increasing across the table, as the senders need).

use tokio_postgres::{GenericClient, Transaction};

use super::decisions::queue_delivery;
use super::{PgStore, pg};
use crate::store::alerts::{self, Step};
use crate::store::sqlite::ms;
use crate::store::{AlertInput, AlertRelease, AlertRow, AlertStore, StoreError};

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("alert row: {e}"))
}

fn decode_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<AlertRow>, StoreError> {
    rows.iter()
        .map(|r| serde_json::from_str(r.get(0)).map_err(corrupt))
        .collect()
}

async fn write_row(txn: &Transaction<'_>, row: &mut AlertRow) -> Result<(), StoreError> {
    row.version = txn
        .query_one("SELECT nextval('alerts_version')", &[])
        .await
        .map_err(pg)?
        .get(0);
    let body = serde_json::to_string(row).map_err(corrupt)?;
    txn.execute(
        "INSERT INTO alerts (target, key, vcenter, entity_lc, entity_moref, state, held, version, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (target, key) DO UPDATE SET vcenter = excluded.vcenter, entity_lc = excluded.entity_lc, \
         entity_moref = excluded.entity_moref, state = excluded.state, held = excluded.held, \
         version = excluded.version, body = excluded.body",
        &[
            &row.target,
            &row.key,
            &row.identity.vcenter,
            &row.identity.entity_name.to_lowercase(),
            &row.identity.entity_moref,
            &row.state.as_str(),
            &row.held_by.is_some(),
            &row.version,
            &body,
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

/// Applies one event's observation to each target's rows; returns the
/// targets that hear of it (see `sqlite/alerts.rs`, the same rules).
pub(super) async fn apply_input(
    txn: &Transaction<'_>,
    input: &AlertInput,
    new_key: &str,
) -> Result<Vec<String>, StoreError> {
    let obs = &input.observation;
    let id = &obs.identity;
    let mut told = Vec::new();
    for (target, kind) in &input.targets {
        let rows = txn
            .query(
                "SELECT body FROM alerts WHERE target = $1 AND vcenter = $2 AND (entity_lc = $3 OR entity_moref = $4) FOR UPDATE",
                &[target, &id.vcenter, &id.entity_name.to_lowercase(), &id.entity_moref],
            )
            .await
            .map_err(pg)?;
        let rows = decode_rows(&rows)?;
        let chosen = alerts::rows_to_apply(&rows, obs);
        let mut tell = false;
        for existing in chosen {
            let applied = alerts::apply(*kind, target, existing, obs, new_key);
            tell |= applied.tell;
            match applied.step {
                Step::Upsert(mut row) => write_row(txn, &mut row).await?,
                Step::Delete => {
                    if let Some(r) = existing {
                        delete_row(txn, &r.target, &r.key).await?;
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

async fn delete_row(
    client: &impl GenericClient,
    target: &str,
    key: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "DELETE FROM alerts WHERE target = $1 AND key = $2",
            &[&target, &key],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

#[async_trait::async_trait]
impl AlertStore for PgStore {
    async fn target_alerts(&self, target: String) -> Result<Vec<AlertRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT body FROM alerts WHERE target = $1 ORDER BY key",
                &[&target],
            )
            .await
            .map_err(pg)?;
        decode_rows(&rows)
    }

    async fn list_alerts(&self, held_only: bool) -> Result<Vec<AlertRow>, StoreError> {
        let client = self.client().await?;
        let sql = if held_only {
            "SELECT body FROM alerts WHERE held ORDER BY target, key"
        } else {
            "SELECT body FROM alerts ORDER BY target, key"
        };
        let rows = client.query(sql, &[]).await.map_err(pg)?;
        decode_rows(&rows)
    }

    async fn release_alerts(&self, releases: Vec<AlertRelease>) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(pg)?;
        let now = ms(time::OffsetDateTime::now_utc());
        let mut done = 0;
        for r in &releases {
            let found = txn
                .query_opt(
                    "SELECT body FROM alerts WHERE target = $1 AND key = $2 AND version = $3 FOR UPDATE",
                    &[&r.target, &r.key, &r.version],
                )
                .await
                .map_err(pg)?;
            let Some(found) = found else { continue };
            let row: AlertRow = serde_json::from_str(found.get(0)).map_err(corrupt)?;
            let (mut next, queue) = alerts::release(&row, r.send);
            write_row(&txn, &mut next).await?;
            if queue && r.queue_delivery {
                queue_delivery(&txn, &row.event_id.to_string(), &r.target, now).await?;
            }
            done += 1;
        }
        txn.commit().await.map_err(pg)?;
        Ok(done)
    }

    async fn forget_resolved(
        &self,
        target: String,
        rows: Vec<(String, i64)>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        for (key, version) in &rows {
            client
                .execute(
                    "DELETE FROM alerts WHERE target = $1 AND key = $2 AND state = 'resolved' AND version <= $3",
                    &[&target, key, version],
                )
                .await
                .map_err(pg)?;
        }
        Ok(())
    }

    async fn forget_alerts_except(&self, targets: Vec<String>) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM alerts WHERE NOT (target = ANY($1))",
                &[&targets],
            )
            .await
            .map_err(pg)?;
        Ok(n as usize)
    }
}
