//! RegistryStore on Redis: the presence key of the original (`…:connectors:presence:{uuid}`,
//! model JSON with the presence TTL) plus a hash of known models and a sorted set of logical
//! expiry times, so the sweeper of any API process still sees a connector whose presence lapsed
//! and can check it before evicting it (as with the embedded store).

use async_trait::async_trait;
use deadpool_redis::redis;

use super::{RedisStore, redis_err};
use crate::backend::Cause;
use crate::backend::{RegistryStore, StoreError, StoreResult};
use crate::model::{ConnectorInstanceModel, ConnectorUuid, now_ms};

impl RedisStore {
    fn presence(&self, uuid: &ConnectorUuid) -> String {
        self.key(&format!("connectors:presence:{uuid}"))
    }

    fn known(&self) -> String {
        self.key("connectors:known")
    }

    fn expiry(&self) -> String {
        self.key("connectors:expiry")
    }
}

#[async_trait]
impl RegistryStore for RedisStore {
    async fn upsert(&self, uuid: &ConnectorUuid, model: &ConnectorInstanceModel, ttl_secs: u64) -> StoreResult<bool> {
        let text = serde_json::to_string(model).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let mut c = self.conn().await?;
        let (previous, (), ()): (Option<String>, (), ()) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.presence(uuid))
            .arg(&text)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .arg("GET")
            .hset(self.known(), uuid.as_str(), &text)
            .zadd(self.expiry(), uuid.as_str(), now_ms() + ttl_secs as i64 * 1000)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(previous.is_none())
    }

    async fn remove(&self, uuid: &ConnectorUuid) -> StoreResult<Option<ConnectorInstanceModel>> {
        let mut c = self.conn().await?;
        let (model, (), (), ()): (Option<String>, (), (), ()) = redis::pipe()
            .atomic()
            .hget(self.known(), uuid.as_str())
            .hdel(self.known(), uuid.as_str())
            .zrem(self.expiry(), uuid.as_str())
            .del(self.presence(uuid))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(model.and_then(|m| serde_json::from_str(&m).ok()))
    }

    async fn all(&self) -> StoreResult<Vec<(ConnectorInstanceModel, i64)>> {
        let mut c = self.conn().await?;
        let (models, expiry): (Vec<(String, String)>, Vec<(String, i64)>) = redis::pipe()
            .hgetall(self.known())
            .cmd("ZRANGE")
            .arg(self.expiry())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let expiry: std::collections::HashMap<String, i64> = expiry.into_iter().collect();
        Ok(models
            .into_iter()
            .filter_map(|(uuid, m)| {
                let model = serde_json::from_str(&m).ok()?;
                Some((model, expiry.get(&uuid).copied().unwrap_or(0)))
            })
            .collect())
    }

    async fn renew(&self, uuid: &ConnectorUuid, ttl_secs: u64) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let model: Option<String> = redis::cmd("HGET")
            .arg(self.known())
            .arg(uuid.as_str())
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let Some(model) = model else { return Ok(()) };
        let _: () = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.presence(uuid))
            .arg(model)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .ignore()
            .zadd(self.expiry(), uuid.as_str(), now_ms() + ttl_secs as i64 * 1000)
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}
