//! The single writer thread of the embedded store, with group commit.
//!
//! Every write is a closure run on the one connection that may write. Closures that arrive
//! together share one transaction (one commit for many items: the embedded store's throughput
//! comes from here), each inside its own savepoint so one failing operation does not undo the
//! others. A caller is answered only after the commit that contains its work, so nothing a
//! caller was told is durable can be lost by a process crash.
//!
//! The thread also owns small write-through caches (job records, statistics, next result id):
//! since nothing else writes, they stay exact, and closures mutate them only after their SQL
//! succeeded. If a commit fails, the caches are rebuilt from the database.
//!
//! A write refused because the disk is full is answered as [`StoreError::CannotWrite`] (to the
//! operation that hit it and to every operation of its transaction) and reported to the
//! store's [`WriteHealth`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::backend::Cause;
use crate::backend::write_health::WriteHealth;
use crate::backend::{StoreError, StoreResult};
use crate::model::job::JobRecord;
use crate::model::stats::StatsState;
use crate::model::{JobId, JobStatus};

/// Operations waiting for the writer; senders wait (backpressure) when it is full.
const QUEUE_BOUND: usize = 4096;
/// Most operations folded into one transaction.
const MAX_BATCH: usize = 1024;

/// State owned by the writer thread.
pub struct WriterState {
    /// Write-through cache of job records touched since start (bounded by live jobs).
    pub jobs: HashMap<JobId, JobRecord>,
    pub stats: StatsState,
    pub stats_dirty: bool,
    pub next_result_id: i64,
    /// Set when an operation added runnable queue entries: waiting claimers are woken.
    pub queue_grew: bool,
    /// Job status changes to publish to the shared status map after the commit.
    pub status_changes: Vec<(JobId, Option<JobStatus>)>,
}

/// Answers the caller once the transaction ended: `Ok` when it committed.
type Reply = Box<dyn FnOnce(&Result<(), StoreError>) + Send>;
/// Runs the operation; returns its error (its savepoint is rolled back) and its reply.
type Run = Box<dyn FnOnce(&Connection, &mut WriterState) -> (Option<StoreError>, Reply) + Send>;

struct Op {
    deadline: Option<Instant>,
    run: Run,
    /// Answers the caller without running the operation (deadline passed, batch aborted).
    timed_out_or_failed: Box<dyn FnOnce(StoreError) + Send>,
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Op>,
    health: Arc<WriteHealth>,
}

/// What the writer publishes after each commit.
pub struct Shared {
    pub statuses: Arc<RwLock<HashMap<JobId, JobStatus>>>,
    pub work: Arc<Notify>,
    pub health: Arc<WriteHealth>,
}

impl Writer {
    /// Starts the writer thread on `conn`. `load` builds the initial state (and is used again
    /// to rebuild it after a failed commit).
    pub fn start(
        conn: Connection,
        shared: Shared,
        load: impl Fn(&Connection) -> rusqlite::Result<WriterState> + Send + 'static,
    ) -> StoreResult<Self> {
        let state = load(&conn).map_err(|e| StoreError::Internal(Cause::with("loading the store", e)))?;
        let (tx, rx) = mpsc::channel(QUEUE_BOUND);
        let health = Arc::clone(&shared.health);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, state, rx, shared, load))
            .map_err(|e| StoreError::Internal(Cause::with("starting the writer thread", e)))?;
        Ok(Self { tx, health })
    }

    /// Runs `f` in the next transaction and returns its result once committed. `f` must change
    /// `WriterState` only after its SQL succeeded; an `Err` rolls back its own savepoint.
    pub async fn exec<T, F>(&self, deadline: Option<Instant>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let tx_timeout = Arc::clone(&tx);
        let op = Op {
            deadline,
            run: Box::new(move |conn, state| {
                let r = f(conn, state);
                let failed = r.as_ref().err().cloned();
                let reply: Reply = Box::new(move |committed| {
                    let out = match committed {
                        Ok(()) => r,
                        Err(e) => Err(e.clone()),
                    };
                    if let Some(tx) = tx.lock().ok().and_then(|mut g| g.take()) {
                        let _ = tx.send(out);
                    }
                });
                (failed, reply)
            }),
            timed_out_or_failed: Box::new(move |e| {
                if let Some(tx) = tx_timeout.lock().ok().and_then(|mut g| g.take()) {
                    let _ = tx.send(Err(e));
                }
            }),
        };
        self.tx
            .send(op)
            .await
            .map_err(|_| StoreError::Unavailable(Cause::msg("the store writer stopped")))?;
        let out = rx
            .await
            .map_err(|_| StoreError::Unavailable(Cause::msg("the store writer stopped")))?;
        self.health.observe(out)
    }
}

fn run(
    mut conn: Connection,
    mut state: WriterState,
    mut rx: mpsc::Receiver<Op>,
    shared: Shared,
    load: impl Fn(&Connection) -> rusqlite::Result<WriterState>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let outcome = run_batch(&mut conn, &mut state, &mut batch, &mut replies);
        if let Err(e) = &outcome {
            // A full disk is reported (once per episode) by the store's write health.
            if !matches!(e, StoreError::CannotWrite(_)) {
                tracing::error!(error = %e, "embedded store commit failed; rebuilding caches");
            }
            match load(&conn) {
                Ok(s) => state = s,
                Err(e) => tracing::error!(error = %e, "embedded store: reloading caches failed"),
            }
        }
        if outcome.is_ok() {
            if !state.status_changes.is_empty()
                && let Ok(mut map) = shared.statuses.write()
            {
                for (job, status) in state.status_changes.drain(..) {
                    match status {
                        Some(s) => map.insert(job, s),
                        None => map.remove(&job),
                    };
                }
            }
            if std::mem::take(&mut state.queue_grew) {
                shared.work.notify_waiters();
            }
        } else {
            state.status_changes.clear();
            state.queue_grew = false;
        }
        for reply in replies {
            reply(&outcome);
        }
    }
    tracing::debug!("embedded store writer stopped");
}

/// Runs a batch in one transaction. Its error is what every operation of the batch is
/// answered when it did not commit.
fn run_batch(
    conn: &mut Connection,
    state: &mut WriterState,
    batch: &mut Vec<Op>,
    replies: &mut Vec<Reply>,
) -> Result<(), StoreError> {
    let mut ops = batch.drain(..);
    let mut txn = match conn.transaction() {
        Ok(t) => t,
        Err(e) => {
            let e = sql_err(e);
            for op in ops {
                (op.timed_out_or_failed)(e.clone());
            }
            return Err(e);
        }
    };
    let now = Instant::now();
    while let Some(op) = ops.next() {
        if op.deadline.is_some_and(|d| d < now) {
            (op.timed_out_or_failed)(StoreError::Timeout);
            continue;
        }
        let sp = match txn.savepoint() {
            Ok(sp) => sp,
            Err(e) => {
                let e = sql_err(e);
                (op.timed_out_or_failed)(e.clone());
                for rest in ops.by_ref() {
                    (rest.timed_out_or_failed)(e.clone());
                }
                return Err(e);
            }
        };
        let (failed, reply) = (op.run)(&sp, state);
        replies.push(reply);
        match &failed {
            None => sp.commit().map_err(sql_err)?,
            Some(_) => drop(sp), // rolls the failed operation back
        }
        // Some errors (busy, I/O, full) make SQLite roll back the whole transaction: stop here
        // rather than run the rest of the batch outside a transaction; every caller is failed,
        // with the cause when it is a full disk (so they wait for room instead of failing).
        if txn.is_autocommit() {
            let e = match failed {
                Some(full @ StoreError::CannotWrite(_)) => full,
                _ => StoreError::Unavailable(Cause::msg("the store transaction was rolled back")),
            };
            for rest in ops.by_ref() {
                (rest.timed_out_or_failed)(e.clone());
            }
            return Err(e);
        }
    }
    if state.stats_dirty {
        save_stats(&txn, &state.stats).map_err(sql_err)?;
        state.stats_dirty = false;
    }
    txn.commit().map_err(sql_err)
}

/// The statistics row (the writer keeps it as a write-through cache; readers load it too).
pub(crate) fn load_stats(c: &Connection) -> rusqlite::Result<StatsState> {
    let text: Option<String> = c
        .query_row("SELECT body FROM stats WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

/// Writes the statistics row, inside the writer's transaction.
pub(crate) fn save_stats(c: &Connection, stats: &StatsState) -> rusqlite::Result<()> {
    let text = serde_json::to_string(stats).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    c.execute(
        "INSERT INTO stats (id, body) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET body = ?1",
        params![text],
    )
    .map(|_| ())
}

/// Maps a SQLite error to a store error (the embedded store is local: nothing is transient
/// except a busy database and a full disk, including a shared-memory index that could not
/// grow).
pub fn sql_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
            StoreError::Unavailable(Cause::from_err(e))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::DiskFull || f.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE =>
        {
            StoreError::CannotWrite(Cause::from_err(e))
        }
        _ => StoreError::Internal(Cause::from_err(e)),
    }
}
