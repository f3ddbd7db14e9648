//! VerdictMemory on SQLite: one row per remembered verdict, numbered in insertion order without
//! gaps above the evicted ones, so the oldest beyond the bound are one range delete on the
//! primary key.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::writer::sql_err;
use crate::backend::reuse::{MemoryKey, Remembered, VerdictMemory};
use crate::backend::{Cause, StoreError, StoreResult};

#[async_trait]
impl VerdictMemory for SqliteStore {
    async fn recall(&self, key: &MemoryKey) -> StoreResult<Option<Remembered>> {
        let key = key.as_str().to_string();
        let text: Option<String> = self
            .read(move |c| {
                c.prepare_cached("SELECT record FROM verdict_memory WHERE key = ?1")?
                    .query_row(params![key], |r| r.get(0))
                    .optional()
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Internal(Cause::with("a remembered verdict", e))))
            .transpose()
    }

    async fn remember(&self, key: &MemoryKey, entry: &Remembered, bound: u64) -> StoreResult<()> {
        let record = serde_json::to_string(entry).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let key = key.as_str().to_string();
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        self.writer()
            .exec(None, move |c, _| {
                // Replaced in place, or inserted with the next number: numbers are only ever
                // taken by inserts (an upsert would take one even when it updates), so the rows
                // above max - bound are exactly the newest `bound`.
                let updated = c
                    .prepare_cached("UPDATE verdict_memory SET record = ?2 WHERE key = ?1")
                    .and_then(|mut s| s.execute(params![key, record]))
                    .map_err(sql_err)?;
                if updated > 0 {
                    return Ok(());
                }
                c.prepare_cached("INSERT INTO verdict_memory (key, record) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![key, record]))
                    .and_then(|_| {
                        c.prepare_cached(
                            "DELETE FROM verdict_memory \
                             WHERE seq <= (SELECT MAX(seq) FROM verdict_memory) - ?1",
                        )?
                        .execute(params![bound])
                    })
                    .map(|_| ())
                    .map_err(sql_err)
            })
            .await
    }
}
