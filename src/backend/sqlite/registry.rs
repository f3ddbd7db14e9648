//! RegistryStore on SQLite: connector presence survives a restart, so the sweeper can validate
//! connectors known before it (`reason: startup_validation`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::writer::sql_err;
use crate::backend::Cause;
use crate::backend::{RegistryStore, StoreError, StoreResult};
use crate::model::{ConnectorInstanceModel, ConnectorUuid, now_ms};

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn upsert(&self, uuid: &ConnectorUuid, model: &ConnectorInstanceModel, ttl_secs: u64) -> StoreResult<bool> {
        let uuid = uuid.clone();
        let text = serde_json::to_string(model).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        self.writer()
            .exec(None, move |c, _| {
                let now = now_ms();
                let live: Option<i64> = c
                    .query_row(
                        "SELECT expires_ms FROM connectors WHERE uuid = ?1",
                        params![uuid],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                c.execute(
                    "INSERT INTO connectors (uuid, model, expires_ms) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(uuid) DO UPDATE SET model = ?2, expires_ms = ?3",
                    params![uuid, text, now + ttl_secs as i64 * 1000],
                )
                .map_err(sql_err)?;
                Ok(live.is_none_or(|exp| exp <= now))
            })
            .await
    }

    async fn remove(&self, uuid: &ConnectorUuid) -> StoreResult<Option<ConnectorInstanceModel>> {
        let uuid = uuid.clone();
        self.writer()
            .exec(None, move |c, _| {
                let text: Option<String> = c
                    .query_row("SELECT model FROM connectors WHERE uuid = ?1", params![uuid], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(sql_err)?;
                c.execute("DELETE FROM connectors WHERE uuid = ?1", params![uuid])
                    .map_err(sql_err)?;
                Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
            })
            .await
    }

    async fn all(&self) -> StoreResult<Vec<(ConnectorInstanceModel, i64)>> {
        let rows: Vec<(String, i64)> = self
            .read(|c| {
                let mut s = c.prepare_cached("SELECT model, expires_ms FROM connectors")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(t, exp)| serde_json::from_str(&t).ok().map(|m| (m, exp)))
            .collect())
    }

    async fn renew(&self, uuid: &ConnectorUuid, ttl_secs: u64) -> StoreResult<()> {
        let uuid = uuid.clone();
        self.writer()
            .exec(None, move |c, _| {
                c.execute(
                    "UPDATE connectors SET expires_ms = ?2 WHERE uuid = ?1",
                    params![uuid, now_ms() + ttl_secs as i64 * 1000],
                )
                .map(|_| ())
                .map_err(sql_err)
            })
            .await
    }
}
