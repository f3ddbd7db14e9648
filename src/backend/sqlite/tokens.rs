//! TokenStore on SQLite (the running store and the `token` command's [`super::sql::AuthFile`]).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::Sql;
use crate::auth::tokens::ApiToken;
use crate::backend::Cause;
use crate::backend::{StoreError, StoreResult, TokenStore};

fn to_json(t: &ApiToken) -> Result<String, StoreError> {
    serde_json::to_string(t).map_err(|e| StoreError::Internal(Cause::from_err(e)))
}

fn by_digest(c: &Connection, sha: &str) -> rusqlite::Result<Option<ApiToken>> {
    let text: Option<String> = c
        .query_row("SELECT record FROM api_tokens WHERE sha256 = ?1", params![sha], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn list(c: &Connection) -> rusqlite::Result<Vec<ApiToken>> {
    let mut s = c.prepare_cached("SELECT record FROM api_tokens ORDER BY id")?;
    let rows = s.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows
        .filter_map(|r| r.ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect())
}

fn touch(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    let text: Option<String> = c
        .query_row("SELECT record FROM api_tokens WHERE id = ?1", params![id], |r| r.get(0))
        .optional()?;
    if let Some(mut t) = text.and_then(|t| serde_json::from_str::<ApiToken>(&t).ok()) {
        t.last_used_at = Some(now);
        if let Ok(json) = serde_json::to_string(&t) {
            c.execute("UPDATE api_tokens SET record = ?2 WHERE id = ?1", params![id, json])?;
        }
    }
    Ok(())
}

#[async_trait]
impl<S: Sql> TokenStore for S {
    async fn put_token(&self, t: &ApiToken) -> StoreResult<()> {
        let (id, sha, json) = (t.id.clone(), t.sha256.clone(), to_json(t)?);
        self.change(move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, sha256, record) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(id) DO UPDATE SET sha256 = ?2, record = ?3",
                params![id, sha, json],
            )
            .map(|_| ())
        })
        .await
    }

    async fn token_by_digest(&self, sha256: &str) -> StoreResult<Option<ApiToken>> {
        let sha = sha256.to_string();
        self.query(move |c| by_digest(c, &sha)).await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.query(list).await
    }

    async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.change(move |c| {
            c.execute("DELETE FROM api_tokens WHERE id = ?1", params![id])
                .map(|n| n > 0)
        })
        .await
    }

    async fn touch_token(&self, id: &str, now: i64) -> StoreResult<()> {
        let id = id.to_string();
        self.change(move |c| touch(c, &id, now)).await
    }
}
