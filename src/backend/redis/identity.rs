//! Users, sessions, pending OIDC logins, login failures and the audit trail on Redis:
//! `{env}:dsx-connect:auth:user:{name}` (+ the `auth:users` set), `auth:session:{sha256}` (+
//! `auth:user_sessions:{name}`), `auth:oidc:{sha256(state)}`, `auth:fail:{key}` /
//! `auth:lock:{key}`, and the `audit` list (newest first) with its `audit:seq` counter.

use async_trait::async_trait;
use deadpool_redis::redis;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RedisStore, redis_err};
use crate::auth::audit::{AuditQuery, AuditRecord};
use crate::auth::sessions::Session;
use crate::auth::users::User;
use crate::backend::Cause;
use crate::backend::identity::{AttemptStore, AuditStore, OidcPending, SessionStore, UserStore};
use crate::backend::{StoreError, StoreResult};

fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(Cause::from_err(e)))
}

fn parse<T: DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Audit entries read per round trip while filtering.
const AUDIT_PAGE: isize = 500;

impl RedisStore {
    fn user_key(&self, name: &str) -> String {
        self.key(&format!("auth:user:{name}"))
    }

    fn session_key(&self, sha: &str) -> String {
        self.key(&format!("auth:session:{sha}"))
    }

    fn user_sessions_key(&self, user: &str) -> String {
        self.key(&format!("auth:user_sessions:{user}"))
    }

    async fn get_record<T: DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        let mut c = self.conn().await?;
        let text: Option<String> = redis::cmd("HGET")
            .arg(key)
            .arg("record")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(parse(text))
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn add_user(&self, u: &User) -> StoreResult<bool> {
        let rec = json(u)?;
        let mut c = self.conn().await?;
        let created: bool = redis::cmd("HSETNX")
            .arg(self.user_key(&u.username))
            .arg("record")
            .arg(rec)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        if created {
            let _: () = redis::cmd("SADD")
                .arg(self.key("auth:users"))
                .arg(&u.username)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
        }
        Ok(created)
    }

    async fn update_user(&self, u: &User) -> StoreResult<bool> {
        let rec = json(u)?;
        let mut c = self.conn().await?;
        // HSET only when the record exists (a concurrent delete wins).
        let script = redis::Script::new(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'record', ARGV[1]) return 1 end return 0",
        );
        let n: i64 = script
            .key(self.user_key(&u.username))
            .arg(rec)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(n == 1)
    }

    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        self.get_record(&self.user_key(name)).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let mut c = self.conn().await?;
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("auth:users"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        names.sort();
        drop(c);
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(u) = self.user(&n).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    async fn delete_user(&self, name: &str) -> StoreResult<bool> {
        let mut c = self.conn().await?;
        let (n, _): (i64, i64) = redis::pipe()
            .atomic()
            .del(self.user_key(name))
            .srem(self.key("auth:users"), name)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, s: &Session, expires_at: i64) -> StoreResult<()> {
        let rec = json(s)?;
        let mut c = self.conn().await?;
        let key = self.session_key(&s.sha256);
        let set = self.user_sessions_key(&s.user);
        redis::pipe()
            .atomic()
            .hset(&key, "record", rec)
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(expires_at)
            .ignore()
            .sadd(&set, &s.sha256)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)
    }

    async fn session(&self, sha256: &str) -> StoreResult<Option<Session>> {
        self.get_record(&self.session_key(sha256)).await
    }

    async fn touch_session(&self, sha256: &str, now: i64, expires_at: i64) -> StoreResult<()> {
        let Some(mut s) = self.session(sha256).await? else {
            return Ok(());
        };
        s.last_seen_at = now;
        let rec = json(&s)?;
        let mut c = self.conn().await?;
        // Only while the session still exists (a logout in between wins).
        let script = redis::Script::new(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'record', ARGV[1]) \
             redis.call('EXPIREAT', KEYS[1], ARGV[2]) end return 0",
        );
        let _: i64 = script
            .key(self.session_key(sha256))
            .arg(rec)
            .arg(expires_at)
            .invoke_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn delete_session(&self, sha256: &str) -> StoreResult<()> {
        let s = self.session(sha256).await?;
        let mut c = self.conn().await?;
        let mut p = redis::pipe();
        p.atomic().del(self.session_key(sha256)).ignore();
        if let Some(s) = s {
            p.srem(self.user_sessions_key(&s.user), sha256).ignore();
        }
        p.query_async::<()>(&mut c).await.map_err(redis_err)
    }

    async fn delete_user_sessions(&self, user: &str) -> StoreResult<u64> {
        let mut c = self.conn().await?;
        let set = self.user_sessions_key(user);
        let shas: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&set)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut p = redis::pipe();
        p.atomic();
        for sha in &shas {
            p.del(self.session_key(sha));
        }
        p.del(&set).ignore();
        let gone: Vec<i64> = p.query_async(&mut c).await.map_err(redis_err)?;
        Ok(gone.iter().sum::<i64>() as u64)
    }

    async fn put_oidc_pending(&self, state_sha: &str, p: &OidcPending, ttl_secs: i64) -> StoreResult<()> {
        let rec = json(p)?;
        let key = self.key(&format!("auth:oidc:{state_sha}"));
        let mut c = self.conn().await?;
        redis::pipe()
            .atomic()
            .hset(&key, "record", rec)
            .ignore()
            .expire(&key, ttl_secs)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)
    }

    async fn take_oidc_pending(&self, state_sha: &str) -> StoreResult<Option<OidcPending>> {
        let key = self.key(&format!("auth:oidc:{state_sha}"));
        let mut c = self.conn().await?;
        let (text, _): (Option<String>, i64) = redis::pipe()
            .atomic()
            .hget(&key, "record")
            .del(&key)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(parse(text))
    }
}

#[async_trait]
impl AttemptStore for RedisStore {
    async fn count_failure(&self, key: &str, _now: i64, window_secs: i64) -> StoreResult<u32> {
        let k = self.key(&format!("auth:fail:{key}"));
        let mut c = self.conn().await?;
        let (n, _): (u32, i64) = redis::pipe()
            .atomic()
            .incr(&k, 1)
            .cmd("EXPIRE")
            .arg(&k)
            .arg(window_secs)
            .arg("NX")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(n)
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("DEL")
            .arg(self.key(&format!("auth:fail:{key}")))
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)
    }

    async fn lock(&self, key: &str, _now: i64, secs: i64) -> StoreResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("SET")
            .arg(self.key(&format!("auth:lock:{key}")))
            .arg(1)
            .arg("EX")
            .arg(secs.max(1))
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)
    }

    async fn locked_for(&self, key: &str, _now: i64) -> StoreResult<Option<i64>> {
        let mut c = self.conn().await?;
        let ttl: i64 = redis::cmd("TTL")
            .arg(self.key(&format!("auth:lock:{key}")))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        Ok((ttl > 0).then_some(ttl))
    }
}

#[async_trait]
impl AuditStore for RedisStore {
    async fn append_audit(&self, rec: &AuditRecord, retain: usize) -> StoreResult<i64> {
        let mut c = self.conn().await?;
        let id: i64 = redis::cmd("INCR")
            .arg(self.key("audit:seq"))
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut rec = rec.clone();
        rec.id = id;
        let list = self.key("audit");
        redis::pipe()
            .atomic()
            .lpush(&list, json(&rec)?)
            .ignore()
            .ltrim(&list, 0, retain.max(1) as isize - 1)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(redis_err)?;
        Ok(id)
    }

    async fn audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut c = self.conn().await?;
        let list = self.key("audit");
        let mut out = Vec::new();
        let mut start: isize = 0;
        // Concurrent appends push at the head and shift positions: ids already passed are skipped.
        let mut below = q.before_id.unwrap_or(i64::MAX);
        loop {
            let page: Vec<String> = redis::cmd("LRANGE")
                .arg(&list)
                .arg(start)
                .arg(start + AUDIT_PAGE - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            for text in &page {
                let Ok(r) = serde_json::from_str::<AuditRecord>(text) else {
                    continue;
                };
                if r.id >= below {
                    continue;
                }
                below = r.id;
                if q.matches(&r) {
                    out.push(r);
                    if out.len() >= q.limit {
                        return Ok(out);
                    }
                }
            }
            if (page.len() as isize) < AUDIT_PAGE {
                return Ok(out);
            }
            start += AUDIT_PAGE;
        }
    }

    async fn purge_audit(&self, before_ms: i64) -> StoreResult<u64> {
        let mut c = self.conn().await?;
        let list = self.key("audit");
        let mut purged = 0u64;
        loop {
            // The oldest entries are at the tail.
            let tail: Vec<String> = redis::cmd("LRANGE")
                .arg(&list)
                .arg(-AUDIT_PAGE)
                .arg(-1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            let old = tail
                .iter()
                .rev()
                .take_while(|t| parse::<AuditRecord>(Some((*t).clone())).is_none_or(|r| r.epoch_ms() < before_ms))
                .count();
            if old == 0 {
                return Ok(purged);
            }
            // Negative indices: appends at the head meanwhile do not move the tail.
            let _: () = redis::cmd("LTRIM")
                .arg(&list)
                .arg(0)
                .arg(-(old as isize) - 1)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            purged += old as u64;
            if old < tail.len() {
                return Ok(purged);
            }
        }
    }
}
