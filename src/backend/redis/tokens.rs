//! TokenStore on Redis: `{env}:dsx-connect:auth:token:{sha256}` holds the record (expiring
//! with the token) and `{env}:dsx-connect:auth:tokens` maps ids to digests.

use async_trait::async_trait;
use deadpool_redis::redis;

use super::{RedisStore, redis_err};
use crate::auth::tokens::ApiToken;
use crate::backend::Cause;
use crate::backend::{StoreError, StoreResult, TokenStore};

impl RedisStore {
    fn token_key(&self, sha: &str) -> String {
        self.key(&format!("auth:token:{sha}"))
    }

    fn token_ids(&self) -> String {
        self.key("auth:tokens")
    }

    /// The digest a token id maps to.
    async fn token_digest(&self, c: &mut deadpool_redis::Connection, id: &str) -> StoreResult<Option<String>> {
        redis::cmd("HGET")
            .arg(self.token_ids())
            .arg(id)
            .query_async(c)
            .await
            .map_err(redis_err)
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn put_token(&self, t: &ApiToken) -> StoreResult<()> {
        let json = serde_json::to_string(t).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let mut c = self.conn().await?;
        let mut p = redis::pipe();
        p.atomic()
            .hset(self.token_key(&t.sha256), "record", &json)
            .ignore()
            .hset(self.token_ids(), &t.id, &t.sha256)
            .ignore();
        if let Some(exp) = t.expires_at {
            p.cmd("EXPIREAT").arg(self.token_key(&t.sha256)).arg(exp).ignore();
        }
        p.query_async::<()>(&mut c).await.map_err(redis_err)
    }

    async fn token_by_digest(&self, sha256: &str) -> StoreResult<Option<ApiToken>> {
        let mut c = self.conn().await?;
        let text: Option<String> = redis::cmd("HGET")
            .arg(self.token_key(sha256))
            .arg("record")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let mut c = self.conn().await?;
        let ids: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.token_ids())
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut out = Vec::new();
        for (_, sha) in ids {
            let text: Option<String> = redis::cmd("HGET")
                .arg(self.token_key(&sha))
                .arg("record")
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            if let Some(t) = text.and_then(|t| serde_json::from_str::<ApiToken>(&t).ok()) {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let mut c = self.conn().await?;
        let sha = self.token_digest(&mut c, id).await?;
        let Some(sha) = sha else { return Ok(false) };
        redis::pipe()
            .atomic()
            .del(self.token_key(&sha))
            .ignore()
            .hdel(self.token_ids(), id)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(true)
    }

    async fn touch_token(&self, id: &str, now: i64) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let sha = self.token_digest(&mut c, id).await?;
        let Some(sha) = sha else { return Ok(()) };
        let key = self.token_key(&sha);
        let text: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("record")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        if let Some(mut t) = text.and_then(|t| serde_json::from_str::<ApiToken>(&t).ok()) {
            t.last_used_at = Some(now);
            let json = serde_json::to_string(&t).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
            // Only while the token still exists (a revocation in between wins).
            let _: () = redis::cmd("HSET")
                .arg(&key)
                .arg("record")
                .arg(json)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
        }
        Ok(())
    }
}
