//! CredentialStore on SQLite: one row per connector with its record as JSON, indexed by the
//! current and previous key id. The replay cache of the embedded backend is the caller's (in
//! memory): one process serves every request.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::writer::sql_err;
use crate::auth::credentials::CredentialRecord;
use crate::backend::Cause;
use crate::backend::{CredentialStore, StoreError, StoreResult};
use crate::model::ConnectorUuid;

fn parse(text: String, version: i64) -> Option<CredentialRecord> {
    let mut r: CredentialRecord = serde_json::from_str(&text).ok()?;
    r.version = u64::try_from(version).unwrap_or(0);
    Some(r)
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn credential(&self, uuid: &ConnectorUuid) -> StoreResult<Option<CredentialRecord>> {
        let uuid = uuid.clone();
        let row: Option<(String, i64)> = self
            .read(move |c| {
                c.query_row(
                    "SELECT record, version FROM connector_credentials WHERE uuid = ?1",
                    params![uuid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        Ok(row.and_then(|(t, v)| parse(t, v)))
    }

    async fn credential_by_key(&self, key_id: &str) -> StoreResult<Option<CredentialRecord>> {
        let kid = key_id.to_string();
        let row: Option<(String, i64)> = self
            .read(move |c| {
                c.query_row(
                    "SELECT record, version FROM connector_credentials WHERE key_id = ?1 OR prev_key_id = ?1 LIMIT 1",
                    params![kid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        Ok(row.and_then(|(t, v)| parse(t, v)))
    }

    async fn put_credential(&self, rec: &CredentialRecord, read: Option<u64>) -> StoreResult<bool> {
        let text = serde_json::to_string(rec).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let (uuid, kid, prev) = (rec.uuid.clone(), rec.hmac_key_id.clone(), rec.prev_key_id.clone());
        self.writer()
            .exec(None, move |c, _| {
                let stored: Option<i64> = c
                    .query_row(
                        "SELECT version FROM connector_credentials WHERE uuid = ?1",
                        params![uuid],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                let expected = read.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
                if stored != expected {
                    return Ok(false);
                }
                let next = expected.map_or(1, |v| v + 1);
                c.execute(
                    "INSERT INTO connector_credentials (uuid, key_id, prev_key_id, version, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(uuid) DO UPDATE SET \
                     key_id = ?2, prev_key_id = ?3, version = ?4, record = ?5",
                    params![uuid, kid, prev, next, text],
                )
                .map_err(sql_err)?;
                Ok(true)
            })
            .await
    }

    async fn delete_credential(&self, uuid: &ConnectorUuid) -> StoreResult<()> {
        let uuid = uuid.clone();
        self.writer()
            .exec(None, move |c, _| {
                c.execute("DELETE FROM connector_credentials WHERE uuid = ?1", params![uuid])
                    .map(|_| ())
                    .map_err(sql_err)
            })
            .await
    }

    async fn credentials(&self) -> StoreResult<Vec<CredentialRecord>> {
        let rows: Vec<(String, i64)> = self
            .read(|c| {
                let mut s = c.prepare_cached("SELECT record, version FROM connector_credentials ORDER BY uuid")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        Ok(rows.into_iter().filter_map(|(t, v)| parse(t, v)).collect())
    }

    async fn first_use(&self, _key_id: &str, _nonce: &str, _ttl_secs: u64) -> StoreResult<Option<bool>> {
        Ok(None)
    }
}
