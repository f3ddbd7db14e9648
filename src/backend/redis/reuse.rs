//! VerdictMemory on Redis: `{env}:dsx-connect:reuse:entries` (a hash of records by key) and
//! `reuse:order` (keys by insertion number); remembering and evicting is one script.

use async_trait::async_trait;
use deadpool_redis::redis;

use super::{RedisStore, redis_err};
use crate::backend::reuse::{MemoryKey, Remembered, VerdictMemory};
use crate::backend::{Cause, StoreError, StoreResult};

#[async_trait]
impl VerdictMemory for RedisStore {
    async fn recall(&self, key: &MemoryKey) -> StoreResult<Option<Remembered>> {
        let mut c = self.conn().await?;
        let text: Option<String> = redis::cmd("HGET")
            .arg(self.key("reuse:entries"))
            .arg(key.as_str())
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Internal(Cause::with("a remembered verdict", e))))
            .transpose()
    }

    async fn remember(&self, key: &MemoryKey, entry: &Remembered, bound: u64) -> StoreResult<()> {
        let record = serde_json::to_string(entry).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        self.run(
            &self.inner.scripts.reuse_remember,
            vec![key.as_str().to_string(), record, bound.to_string()],
        )
        .await
        .map(|_| ())
    }
}
