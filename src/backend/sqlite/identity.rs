//! Users, sessions, pending OIDC logins, login failures and the audit trail on SQLite (the
//! running store and [`super::sql::AuthFile`]).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sql::Sql;
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

fn one(c: &Connection, sql: &str, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(sql, params![key], |r| r.get(0)).optional()
}

#[async_trait]
impl<S: Sql> UserStore for S {
    async fn add_user(&self, u: &User) -> StoreResult<bool> {
        let (name, rec) = (u.username.clone(), json(u)?);
        self.change(move |c| {
            c.execute(
                "INSERT INTO users (username, record) VALUES (?1, ?2) ON CONFLICT(username) DO NOTHING",
                params![name, rec],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn update_user(&self, u: &User) -> StoreResult<bool> {
        let (name, rec) = (u.username.clone(), json(u)?);
        self.change(move |c| {
            c.execute("UPDATE users SET record = ?2 WHERE username = ?1", params![name, rec])
                .map(|n| n > 0)
        })
        .await
    }

    async fn user(&self, name: &str) -> StoreResult<Option<User>> {
        let name = name.to_string();
        let text = self
            .query(move |c| one(c, "SELECT record FROM users WHERE username = ?1", &name))
            .await?;
        Ok(parse(text))
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.query(|c| {
            let mut s = c.prepare_cached("SELECT record FROM users ORDER BY username")?;
            let rows = s.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.filter_map(|r| parse(r.ok())).collect())
        })
        .await
    }

    async fn delete_user(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_string();
        self.change(move |c| {
            c.execute("DELETE FROM users WHERE username = ?1", params![name])
                .map(|n| n > 0)
        })
        .await
    }
}

#[async_trait]
impl<S: Sql> SessionStore for S {
    async fn put_session(&self, s: &Session, expires_at: i64) -> StoreResult<()> {
        let (sha, user, rec) = (s.sha256.clone(), s.user.clone(), json(s)?);
        self.change(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO sessions (sha256, user, expires_at, record) VALUES (?1, ?2, ?3, ?4)",
                params![sha, user, expires_at, rec],
            )
            .map(|_| ())
        })
        .await
    }

    async fn session(&self, sha256: &str) -> StoreResult<Option<Session>> {
        let sha = sha256.to_string();
        let now = crate::auth::hmac::now_secs();
        let text = self
            .query(move |c| {
                c.query_row(
                    "SELECT record FROM sessions WHERE sha256 = ?1 AND expires_at > ?2",
                    params![sha, now],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        Ok(parse(text))
    }

    async fn touch_session(&self, sha256: &str, now: i64, expires_at: i64) -> StoreResult<()> {
        let sha = sha256.to_string();
        self.change(move |c| {
            let text = one(c, "SELECT record FROM sessions WHERE sha256 = ?1", &sha)?;
            if let Some(mut s) = parse::<Session>(text) {
                s.last_seen_at = now;
                if let Ok(rec) = serde_json::to_string(&s) {
                    c.execute(
                        "UPDATE sessions SET record = ?2, expires_at = ?3 WHERE sha256 = ?1",
                        params![sha, rec, expires_at],
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, sha256: &str) -> StoreResult<()> {
        let sha = sha256.to_string();
        self.change(move |c| {
            c.execute("DELETE FROM sessions WHERE sha256 = ?1", params![sha])
                .map(|_| ())
        })
        .await
    }

    async fn delete_user_sessions(&self, user: &str) -> StoreResult<u64> {
        let user = user.to_string();
        self.change(move |c| {
            c.execute("DELETE FROM sessions WHERE user = ?1", params![user])
                .map(|n| n as u64)
        })
        .await
    }

    async fn put_oidc_pending(&self, state_sha: &str, p: &OidcPending, ttl_secs: i64) -> StoreResult<()> {
        let (sha, rec) = (state_sha.to_string(), json(p)?);
        let expires_at = p.created_at + ttl_secs;
        self.change(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO oidc_pending (state_sha, expires_at, record) VALUES (?1, ?2, ?3)",
                params![sha, expires_at, rec],
            )
            .map(|_| ())
        })
        .await
    }

    async fn take_oidc_pending(&self, state_sha: &str) -> StoreResult<Option<OidcPending>> {
        let sha = state_sha.to_string();
        let now = crate::auth::hmac::now_secs();
        let text = self
            .change(move |c| {
                let text: Option<String> = c
                    .query_row(
                        "SELECT record FROM oidc_pending WHERE state_sha = ?1 AND expires_at > ?2",
                        params![sha, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                c.execute("DELETE FROM oidc_pending WHERE state_sha = ?1", params![sha])?;
                Ok(text)
            })
            .await?;
        Ok(parse(text))
    }
}

#[async_trait]
impl<S: Sql> AttemptStore for S {
    async fn count_failure(&self, key: &str, now: i64, window_secs: i64) -> StoreResult<u32> {
        let key = key.to_string();
        self.change(move |c| {
            c.execute(
                "INSERT INTO login_failures (key, count, window_end) VALUES (?1, 1, ?2 + ?3) \
                 ON CONFLICT(key) DO UPDATE SET \
                   count = CASE WHEN window_end > ?2 THEN count + 1 ELSE 1 END, \
                   window_end = CASE WHEN window_end > ?2 THEN window_end ELSE ?2 + ?3 END",
                params![key, now, window_secs],
            )?;
            c.query_row("SELECT count FROM login_failures WHERE key = ?1", params![key], |r| {
                r.get::<_, u32>(0)
            })
        })
        .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.change(move |c| {
            c.execute("UPDATE login_failures SET count = 0 WHERE key = ?1", params![key])
                .map(|_| ())
        })
        .await
    }

    async fn lock(&self, key: &str, now: i64, secs: i64) -> StoreResult<()> {
        let key = key.to_string();
        self.change(move |c| {
            c.execute(
                "INSERT INTO login_failures (key, count, window_end, locked_until) VALUES (?1, 0, ?2, ?3) \
                 ON CONFLICT(key) DO UPDATE SET locked_until = ?3",
                params![key, now, now + secs],
            )
            .map(|_| ())
        })
        .await
    }

    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        let key = key.to_string();
        let until: Option<Option<i64>> = self
            .query(move |c| {
                c.query_row(
                    "SELECT locked_until FROM login_failures WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        Ok(until.flatten().filter(|u| *u > now).map(|u| u - now))
    }
}

#[async_trait]
impl<S: Sql> AuditStore for S {
    async fn append_audit(&self, rec: &AuditRecord, retain: usize) -> StoreResult<i64> {
        let mut rec = rec.clone();
        let retain = retain.max(1) as i64;
        self.change(move |c| {
            c.execute(
                "INSERT INTO audit (at_ms, actor_id, actor_name, action, result, record) \
                 VALUES (?1, ?2, ?3, ?4, ?5, '')",
                params![
                    rec.epoch_ms(),
                    rec.actor.id,
                    rec.actor.name,
                    rec.action,
                    rec.result.as_str()
                ],
            )?;
            let id = c.last_insert_rowid();
            rec.id = id;
            let text = serde_json::to_string(&rec).unwrap_or_default();
            c.execute("UPDATE audit SET record = ?2 WHERE id = ?1", params![id, text])?;
            c.execute("DELETE FROM audit WHERE id <= ?1", params![id - retain])?;
            Ok(id)
        })
        .await
    }

    async fn audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let q = q.clone();
        self.query(move |c| {
            let prefix = q
                .action
                .as_deref()
                .filter(|a| a.ends_with('.'))
                .map(|a| format!("{a}%"));
            let exact = q.action.clone().filter(|a| !a.ends_with('.'));
            let mut s = c.prepare_cached(
                "SELECT record FROM audit WHERE (?1 IS NULL OR id < ?1) \
                 AND (?2 IS NULL OR actor_id = ?2 OR actor_name = ?2) \
                 AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR action LIKE ?4 ESCAPE '\\') \
                 AND (?5 IS NULL OR result = ?5) ORDER BY id DESC LIMIT ?6",
            )?;
            let prefix = prefix.map(|p| p.replace('_', "\\_"));
            let rows = s.query_map(
                params![
                    q.before_id,
                    q.actor,
                    exact,
                    prefix,
                    q.result.map(|r| r.as_str()),
                    q.limit as i64
                ],
                |r| r.get::<_, String>(0),
            )?;
            Ok(rows.filter_map(|r| parse(r.ok())).collect())
        })
        .await
    }

    async fn purge_audit(&self, before_ms: i64) -> StoreResult<u64> {
        self.change(move |c| {
            c.execute("DELETE FROM audit WHERE at_ms < ?1", params![before_ms])
                .map(|n| n as u64)
        })
        .await
    }
}
