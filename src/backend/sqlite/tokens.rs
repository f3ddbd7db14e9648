//! TokenStore on SQLite. The SQL is in plain functions over a connection, so the `token`
//! command can manage tokens in the database file of a running `serve` (through SQLite's own
//! locking) without opening the whole store and its recovery.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::writer::sql_err;
use crate::auth::tokens::ApiToken;
use crate::backend::{StoreError, StoreResult, TokenStore};

fn to_json(t: &ApiToken) -> Result<String, StoreError> {
    serde_json::to_string(t).map_err(|e| StoreError::Internal(e.to_string()))
}

fn insert(c: &Connection, id: &str, sha: &str, json: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO api_tokens (id, sha256, record) VALUES (?1, ?2, ?3) \
         ON CONFLICT(id) DO UPDATE SET sha256 = ?2, record = ?3",
        params![id, sha, json],
    )
    .map(|_| ())
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

fn delete(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.execute("DELETE FROM api_tokens WHERE id = ?1", params![id])
        .map(|n| n > 0)
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
impl TokenStore for SqliteStore {
    async fn put_token(&self, t: &ApiToken) -> StoreResult<()> {
        let (id, sha, json) = (t.id.clone(), t.sha256.clone(), to_json(t)?);
        self.writer()
            .exec(None, move |c, _| insert(c, &id, &sha, &json).map_err(sql_err))
            .await
    }

    async fn token_by_digest(&self, sha256: &str) -> StoreResult<Option<ApiToken>> {
        let sha = sha256.to_string();
        self.read(move |c| by_digest(c, &sha)).await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.read(list).await
    }

    async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.writer()
            .exec(None, move |c, _| delete(c, &id).map_err(sql_err))
            .await
    }

    async fn touch_token(&self, id: &str, now: i64) -> StoreResult<()> {
        let id = id.to_string();
        self.writer()
            .exec(None, move |c, _| touch(c, &id, now).map_err(sql_err))
            .await
    }
}

/// The token table of an embedded store's database file, opened on its own (the `token`
/// command; the core may be running).
pub struct TokenFile {
    conn: Arc<Mutex<Connection>>,
}

impl TokenFile {
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        super::private_dir(data_dir)?;
        let path = data_dir.join("dsx-connect.db");
        let c = Connection::open(&path)
            .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
        c.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql_err)?;
        c.pragma_update(None, "journal_mode", "WAL").map_err(sql_err)?;
        c.execute_batch(super::schema::TOKENS_DDL).map_err(sql_err)?;
        super::private_files(&path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(c)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let c = conn
                .lock()
                .map_err(|_| StoreError::Internal("token file lock poisoned".into()))?;
            f(&c).map_err(sql_err)
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }
}

#[async_trait]
impl TokenStore for TokenFile {
    async fn put_token(&self, t: &ApiToken) -> StoreResult<()> {
        let (id, sha, json) = (t.id.clone(), t.sha256.clone(), to_json(t)?);
        self.with(move |c| insert(c, &id, &sha, &json)).await
    }

    async fn token_by_digest(&self, sha256: &str) -> StoreResult<Option<ApiToken>> {
        let sha = sha256.to_string();
        self.with(move |c| by_digest(c, &sha)).await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.with(list).await
    }

    async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.with(move |c| delete(c, &id)).await
    }

    async fn touch_token(&self, id: &str, now: i64) -> StoreResult<()> {
        let id = id.to_string();
        self.with(move |c| touch(c, &id, now)).await
    }
}
