//! The embedded backend: one SQLite database (WAL) in the data dir.
//!
//! Writes go through the single [`writer::Writer`] thread (group commit); reads use a small pool
//! of read-only connections on the blocking thread pool. Accepted work is in the database before
//! the request that brought it is answered, so a restart (even after SIGKILL) loses nothing:
//! entries that were claimed but not acknowledged are delivered again.

mod credentials;
mod id_params;
mod identity;
mod jobs;
mod queue;
mod registry;
pub(crate) mod results;
mod reuse;
mod schedules;
mod schema;
pub mod sql;
mod tokens;
pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Notify;

use super::events::LocalBus;
use super::write_health::WriteHealth;
use super::{Backend, BackendKind, Maintenance, StoreError, StoreResult};
use crate::backend::Cause;
use crate::model::result::TaskState;
use crate::model::{JobId, JobStatus, TaskId};
use writer::{Shared, Writer, WriterState, sql_err};

/// Retention settings the store applies.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `{env}` of queue names reported in DLQ answers.
    pub app_env: String,
    pub results_retain: i64,
    pub job_ttl_days: u32,
    /// Finished jobs kept (the oldest beyond this are purged).
    pub jobs_retain_finished: u64,
    pub dlq_expire_days: u32,
    /// Whether results other than findings (`Malicious`) keep their body. Off only for the
    /// one-shot `scan`, whose summary lists findings: each other result then leaves only its
    /// once-guard row (task id, job, verdict), a few dozen bytes instead of ~2 KB.
    pub keep_clean_results: bool,
}

/// In-memory state of tasks that are being worked on (running is not persisted: after a
/// restart such a task is queued again, which is what it is).
#[derive(Debug, Clone)]
pub(crate) struct LiveTask {
    pub state: TaskState,
    pub attempts: u32,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    statuses: Arc<RwLock<HashMap<JobId, JobStatus>>>,
    work: Arc<Notify>,
    /// Highest queue sequence handed out in this process; claims read above it.
    claim_cursor: AtomicI64,
    /// Earliest due time of a delayed entry (epoch ms), `i64::MAX` when none.
    next_due_ms: AtomicI64,
    live: Mutex<HashMap<TaskId, LiveTask>>,
    /// Entries given back without an outcome; claimed again before anything new.
    released: Mutex<Vec<i64>>,
    opts: StoreOptions,
    health: Arc<WriteHealth>,
}

/// The embedded store; implements every store trait.
/// Creates the data dir with mode 0700, narrowing a wider one (it holds connector keys and
/// token digests; docs/AUTH.md, "Secrets at rest").
fn private_dir(dir: &Path) -> StoreResult<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let fail = |e: std::io::Error| StoreError::Internal(Cause::with(format!("data dir {}", dir.display()), e));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "narrowing the data dir to mode 700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// The database and its WAL and shared-memory files get mode 0600.
fn private_files(db: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let f = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(meta) = std::fs::metadata(&f) else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if mode != 0o600 {
            if suffix.is_empty() && mode & 0o077 != 0 {
                tracing::warn!(file = %f.display(), mode = format!("{mode:o}"), "narrowing the database file to mode 600");
            }
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::Internal(Cause::with(format!("{}", f.display()), e)))?;
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

const READERS: usize = 3;

impl SqliteStore {
    /// Opens (or creates) `<data_dir>/dsx-connect.db` and recovers in-flight work.
    pub fn open(data_dir: &Path, opts: StoreOptions) -> StoreResult<Self> {
        private_dir(data_dir)?;
        let path = data_dir.join("dsx-connect.db");
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Internal(Cause::with(format!("cannot open {}", path.display()), e)))?;
        schema::prepare(&conn).map_err(sql_err)?;
        private_files(&path)?;
        schema::recover(&conn).map_err(sql_err)?;
        let statuses = Arc::new(RwLock::new(schema::load_statuses(&conn).map_err(sql_err)?));
        let next_due = schema::next_due(&conn).map_err(sql_err)?;
        schema::spawn_checkpointer(path.clone());
        let work = Arc::new(Notify::new());
        let health = Arc::new(WriteHealth::default());
        let writer = Writer::start(
            conn,
            Shared {
                statuses: Arc::clone(&statuses),
                work: Arc::clone(&work),
                health: Arc::clone(&health),
            },
            load_state,
        )?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql_err)?;
            c.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql_err)?;
            readers.push(Mutex::new(c));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer,
                readers,
                next_reader: AtomicUsize::new(0),
                statuses,
                work,
                claim_cursor: AtomicI64::new(0),
                next_due_ms: AtomicI64::new(next_due.unwrap_or(i64::MAX)),
                live: Mutex::new(HashMap::new()),
                released: Mutex::new(Vec::new()),
                opts,
                health,
            }),
        })
    }

    /// All four stores (plus registry and health) on this database and an in-process bus.
    pub fn backend(self) -> Backend {
        let write_health = Arc::clone(&self.inner.health);
        let s = Arc::new(self);
        Backend {
            kind: BackendKind::Embedded,
            queue: s.clone(),
            jobs: s.clone(),
            results: s.clone(),
            registry: s.clone(),
            credentials: s.clone(),
            tokens: s.clone(),
            users: s.clone(),
            sessions: s.clone(),
            attempts: s.clone(),
            audit: s.clone(),
            schedules: s.clone(),
            memory: s.clone(),
            events: Arc::new(LocalBus::new()),
            maintenance: s,
            write_health,
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    fn opts(&self) -> &StoreOptions {
        &self.inner.opts
    }

    /// Runs a read on a pooled read-only connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[i]
                .lock()
                .map_err(|_| StoreError::Internal(Cause::msg("reader lock poisoned")))?;
            f(&conn).map_err(sql_err)
        })
        .await
        .map_err(|e| StoreError::Internal(Cause::with("reader task failed", e)))?
    }
}

/// Free space the write probe asks for before it reports the store writable again.
const PROBE_ROOM: u64 = 1 << 20;

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn load_state(conn: &Connection) -> rusqlite::Result<WriterState> {
    Ok(WriterState {
        jobs: HashMap::new(),
        stats: writer::load_stats(conn)?,
        stats_dirty: false,
        next_result_id: results::next_result_id(conn)?,
        queue_grew: false,
        status_changes: Vec::new(),
    })
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }

    /// Also refused while the data dir's file system has less than [`PROBE_ROOM`] free: in WAL
    /// mode a write can succeed on a full disk by reusing log space, and workers resumed on that
    /// would only fail again.
    async fn probe_write(&self) -> StoreResult<()> {
        let dir = self.inner.path.parent().unwrap_or(Path::new("."));
        let room =
            free_bytes(dir).map_err(|e| StoreError::Internal(Cause::with(format!("statvfs {}", dir.display()), e)))?;
        if room < PROBE_ROOM {
            let e = StoreError::CannotWrite(Cause::msg(format!("{room} bytes free in {}", dir.display())));
            return self.inner.health.observe(Err(e));
        }
        self.writer()
            .exec(None, |c, _| {
                c.execute(
                    "INSERT INTO write_probe (id, at_ms) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
                    [crate::model::now_ms()],
                )
                .map(|_| ())
                .map_err(sql_err)
            })
            .await
    }

    async fn purge_expired(&self) -> StoreResult<()> {
        let opts = self.opts().clone();
        self.writer()
            .exec(None, move |c, st| schema::purge(c, st, &opts).map_err(sql_err))
            .await
    }
}
