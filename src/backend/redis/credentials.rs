//! CredentialStore on Redis: the original's layout — the hash
//! `{env}:dsx-connect:connectors:config:{uuid}` (with `hmac_key_id` / `hmac_secret` as the
//! original names them, plus our full record) and the index `dsxconnect:hmac:kid:{kid}` → uuid —
//! and the shared replay cache `{env}:dsx-connect:hmac:nonce:{kid}:{nonce}` (SET NX EX), so a
//! request replayed to another API process is refused too.

use async_trait::async_trait;
use deadpool_redis::redis;

use super::{RedisStore, redis_err};
use crate::auth::credentials::CredentialRecord;
use crate::backend::Cause;
use crate::backend::{CredentialStore, StoreError, StoreResult};
use crate::model::ConnectorUuid;

impl RedisStore {
    fn credential_key(&self, uuid: &ConnectorUuid) -> String {
        self.key(&format!("connectors:config:{uuid}"))
    }

    async fn read_credential(
        &self,
        c: &mut deadpool_redis::Connection,
        uuid: &ConnectorUuid,
    ) -> StoreResult<Option<CredentialRecord>> {
        let (record, version): (Option<String>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.credential_key(uuid))
            .arg("record")
            .arg("version")
            .query_async(c)
            .await
            .map_err(redis_err)?;
        Ok(record.and_then(|t| {
            let mut r: CredentialRecord = serde_json::from_str(&t).ok()?;
            r.version = version.unwrap_or(0);
            Some(r)
        }))
    }
}

#[async_trait]
impl CredentialStore for RedisStore {
    async fn credential(&self, uuid: &ConnectorUuid) -> StoreResult<Option<CredentialRecord>> {
        let mut c = self.conn().await?;
        self.read_credential(&mut c, uuid).await
    }

    async fn credential_by_key(&self, key_id: &str) -> StoreResult<Option<CredentialRecord>> {
        let mut c = self.conn().await?;
        let uuid: Option<String> = redis::cmd("GET")
            .arg(format!("dsxconnect:hmac:kid:{key_id}"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        // The index holds only uuids the core stored; anything else names no record.
        let Some(uuid) = uuid.and_then(|u| ConnectorUuid::parse(&u).ok()) else {
            return Ok(None);
        };
        let rec = self.read_credential(&mut c, &uuid).await?;
        // The index may briefly outlive a rotation; the record decides.
        Ok(rec.filter(|r| r.hmac_key_id.as_deref() == Some(key_id) || r.prev_key_id.as_deref() == Some(key_id)))
    }

    async fn put_credential(&self, rec: &CredentialRecord, read: Option<u64>) -> StoreResult<bool> {
        let text = serde_json::to_string(rec).map_err(|e| StoreError::Internal(Cause::from_err(e)))?;
        let args = vec![
            rec.uuid.to_string(),
            read.map(|v| v.to_string()).unwrap_or_default(),
            text,
            rec.hmac_key_id.clone().unwrap_or_default(),
            rec.hmac_secret.clone().unwrap_or_default(),
            rec.state.as_str().to_string(),
            rec.prev_key_id.clone().unwrap_or_default(),
            rec.prev_valid_until.map(|t| t.to_string()).unwrap_or_default(),
        ];
        let v = self.run(&self.inner.scripts.put_credential, args).await?;
        Ok(matches!(v, redis::Value::Int(1)))
    }

    async fn delete_credential(&self, uuid: &ConnectorUuid) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let (kid, prev): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.credential_key(uuid))
            .arg("hmac_key_id")
            .arg("prev_key_id")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut p = redis::pipe();
        p.atomic()
            .del(self.credential_key(uuid))
            .ignore()
            .srem(self.key("connectors:credentials"), uuid.as_str())
            .ignore();
        for k in [kid, prev].into_iter().flatten().filter(|k| !k.is_empty()) {
            p.del(format!("dsxconnect:hmac:kid:{k}")).ignore();
        }
        p.query_async::<()>(&mut c).await.map_err(redis_err)
    }

    async fn credentials(&self) -> StoreResult<Vec<CredentialRecord>> {
        let mut c = self.conn().await?;
        let mut uuids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("connectors:credentials"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        uuids.sort();
        let mut out = Vec::with_capacity(uuids.len());
        for u in uuids.iter().filter_map(|u| ConnectorUuid::parse(u).ok()) {
            if let Some(r) = self.read_credential(&mut c, &u).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn first_use(&self, key_id: &str, nonce: &str, ttl_secs: u64) -> StoreResult<Option<bool>> {
        let mut c = self.conn().await?;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(&format!("hmac:nonce:{key_id}:{nonce}")))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl_secs.max(1))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(Some(set.is_some()))
    }
}
