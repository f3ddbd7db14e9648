//! One way to run SQL for the identity tables, whether through the running store (its writer
//! and read pool) or through [`AuthFile`], the database file opened on its own by the `token`
//! and `user` commands while a core may be running (SQLite's locking keeps them apart). The
//! identity stores are written once over this trait, for both.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use super::writer::sql_err;
use crate::backend::Cause;
use crate::backend::{StoreError, StoreResult};

#[async_trait]
pub trait Sql: Send + Sync {
    /// Runs a read.
    async fn query<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static;

    /// Runs a change (one transaction).
    async fn change<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static;
}

#[async_trait]
impl Sql for SqliteStore {
    async fn query<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.read(f).await
    }

    async fn change<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer().exec(None, move |c, _| f(c).map_err(sql_err)).await
    }
}

/// The identity tables of an embedded store's database file, opened on its own.
pub struct AuthFile {
    conn: Arc<Mutex<Connection>>,
}

impl AuthFile {
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        super::private_dir(data_dir)?;
        let path = data_dir.join("dsx-connect.db");
        let c = Connection::open(&path)
            .map_err(|e| StoreError::Internal(Cause::with(format!("cannot open {}", path.display()), e)))?;
        c.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql_err)?;
        c.pragma_update(None, "journal_mode", "WAL").map_err(sql_err)?;
        c.execute_batch(super::schema::AUTH_DDL).map_err(sql_err)?;
        super::private_files(&path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(c)),
        })
    }

    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| StoreError::Internal(Cause::msg("database file lock poisoned")))?;
            let tx = c.transaction().map_err(sql_err)?;
            let out = f(&tx).map_err(sql_err)?;
            tx.commit().map_err(sql_err)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Internal(Cause::from_err(e)))?
    }
}

#[async_trait]
impl Sql for AuthFile {
    async fn query<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.with(f).await
    }

    async fn change<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.with(f).await
    }
}
