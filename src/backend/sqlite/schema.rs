//! Tables of the embedded store, start-up recovery and retention.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreOptions;
use super::writer::WriterState;
use crate::model::{JobId, JobStatus, now_ms, now_secs};

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS schedules (
    id             TEXT PRIMARY KEY,
    created_at_ms  INTEGER NOT NULL,
    definition     TEXT NOT NULL,
    next_run_ms    INTEGER,
    pending_due    INTEGER,
    pending_holder TEXT,
    pending_until  INTEGER,
    pending_missed INTEGER,
    last_run       TEXT,
    last_job_id    TEXT
);
CREATE TABLE IF NOT EXISTS schedule_runs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id TEXT NOT NULL,
    run         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_runs_by_schedule ON schedule_runs(schedule_id, seq);
CREATE TABLE IF NOT EXISTS verdict_memory (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    key    TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    last_update INTEGER NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_start ON jobs(started_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);

CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    item       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS delayed (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    due_ms  INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    job_id  TEXT NOT NULL,
    item    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delayed_by_due ON delayed(due_ms);

CREATE TABLE IF NOT EXISTS parked (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT NOT NULL,
    task_id TEXT NOT NULL,
    item    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS parked_by_job ON parked(job_id, seq);

CREATE TABLE IF NOT EXISTS tasks (
    task_id    TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    state      TEXT NOT NULL,
    outcome    TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    error      TEXT,
    verdict    TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_update ON tasks(updated_at);

CREATE TABLE IF NOT EXISTS results (
    id         INTEGER PRIMARY KEY,
    task_id    TEXT NOT NULL UNIQUE,
    job_id     TEXT,
    verdict    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_job ON results(job_id, id);
CREATE INDEX IF NOT EXISTS results_by_verdict ON results(verdict, id);
CREATE INDEX IF NOT EXISTS results_by_time ON results(created_ms);

CREATE TABLE IF NOT EXISTS stats (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);

-- One row the write probe overwrites while the disk was full (docs/OPERATIONS.md).
CREATE TABLE IF NOT EXISTS write_probe (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS dlq (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue        TEXT NOT NULL,
    failed_at_ms INTEGER NOT NULL,
    task_id      TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dlq_by_queue ON dlq(queue, id);

CREATE TABLE IF NOT EXISTS idempotency (
    key        TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    answer     TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS connectors (
    uuid       TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS connector_credentials (
    uuid        TEXT PRIMARY KEY,
    key_id      TEXT,
    prev_key_id TEXT,
    version     INTEGER NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_by_key ON connector_credentials(key_id);
CREATE INDEX IF NOT EXISTS credentials_by_prev_key ON connector_credentials(prev_key_id);
"#;

/// Operator identity: API tokens, users, sessions, pending OIDC logins, login failures and the
/// audit trail (also created by the `token` and `user` commands, which open the file on their own).
pub const AUTH_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS api_tokens (
    id     TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    record   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    sha256     TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS oidc_pending (
    state_sha  TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    record     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    key          TEXT PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms      INTEGER NOT NULL,
    actor_id   TEXT,
    actor_name TEXT,
    action     TEXT NOT NULL,
    result     TEXT NOT NULL,
    record     TEXT NOT NULL
);
"#;

/// Pragmas and tables. WAL with `synchronous=NORMAL`: a commit is safe from process crashes
/// (the data is in the OS) without an fsync per commit; a power cut may lose the last commits.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints run on their own thread (see `spawn_checkpointer`), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(DDL)?;
    conn.execute_batch(AUTH_DDL)
}

/// The WAL size the store keeps to: `journal_size_limit` trims the file to it after a reset, and
/// the checkpointer forces a reset once the file grew past it.
pub const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// Copies the WAL back into the database every second from a separate connection, so the
/// writer's commits never wait for a checkpoint (and its fsync). PASSIVE checkpoints never block
/// writers or readers.
///
/// Under sustained load PASSIVE alone lets the WAL grow without end: the file only restarts from
/// its beginning when a writer finds it fully copied with no reader on it, which a busy store never
/// offers (a 20,000-file scan left a 680 MB WAL beside a 50 MB database). So once the file is
/// past [`WAL_LIMIT`] the checkpointer asks for RESTART, which waits (up to its busy timeout) for
/// the readers of older snapshots to finish, copies everything and makes the next write start the
/// file over; `journal_size_limit` then trims it.
pub fn spawn_checkpointer(path: std::path::PathBuf) {
    let wal = {
        let mut p = path.clone().into_os_string();
        p.push("-wal");
        std::path::PathBuf::from(p)
    };
    let run = move || {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "embedded store: the checkpoint thread cannot open the database");
                return;
            }
        };
        let _ = conn.busy_timeout(std::time::Duration::from_millis(100));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let oversized = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT);
            let mode = if oversized { "RESTART" } else { "PASSIVE" };
            // PASSIVE never takes the write lock; once it has copied everything, the next
            // writer restarts the WAL from its beginning (and journal_size_limit trims it).
            if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
                tracing::debug!(error = %e, mode, "checkpoint skipped");
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(run) {
        tracing::error!(error = %e, "embedded store: cannot start the checkpoint thread");
    }
}

/// After a restart, every queue entry may have been in flight: count the delivery, so a
/// crash loop is detected (`max_deliveries_exceeded`).
pub fn recover(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("UPDATE queue SET deliveries = deliveries + 1", [])?;
    // Tasks that were running are queued again.
    conn.execute(
        "UPDATE tasks SET state = 'queued' WHERE state IN ('running') AND outcome IS NULL",
        [],
    )?;
    Ok(())
}

pub fn load_statuses(conn: &Connection) -> rusqlite::Result<HashMap<JobId, JobStatus>> {
    let mut stmt = conn.prepare("SELECT job_id, status FROM jobs")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, s) = row?;
        if let (Ok(id), Some(s)) = (JobId::parse(&id), JobStatus::parse(&s)) {
            out.insert(id, s);
        }
    }
    Ok(out)
}

pub fn next_due(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT MIN(due_ms) FROM delayed", [], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

const DAY_MS: i64 = 86_400_000;

/// Retention (docs/reference/CORE-API.md, "Retention"): job records after their TTL, tasks and
/// results after 7/14 days, DLQ entries after their expiry, idempotency answers after 24 h.
pub fn purge(conn: &Connection, st: &mut WriterState, opts: &StoreOptions) -> rusqlite::Result<()> {
    let now_s = now_secs();
    let now = now_ms();
    let job_cutoff = now_s - i64::from(opts.job_ttl_days) * 86_400;
    // Jobs past their TTL, and finished jobs beyond the retained count (oldest first).
    let mut stmt = conn.prepare(
        "SELECT job_id FROM jobs WHERE last_update < ?1 UNION \
         SELECT job_id FROM (SELECT job_id FROM jobs WHERE status IN ('completed', 'cancelled') \
         ORDER BY started_at DESC LIMIT -1 OFFSET ?2)",
    )?;
    let expired: Vec<String> = stmt
        .query_map(params![job_cutoff, opts.jobs_retain_finished as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for job in &expired {
        conn.execute("DELETE FROM jobs WHERE job_id = ?1", params![job])?;
        conn.execute("DELETE FROM parked WHERE job_id = ?1", params![job])?;
        if let Ok(id) = JobId::parse(job) {
            st.jobs.remove(&id);
            st.status_changes.push((id, None));
        }
    }
    conn.execute(
        "DELETE FROM tasks WHERE updated_at < ?1 AND outcome IS NOT NULL",
        params![now_s - 7 * 86_400],
    )?;
    conn.execute("DELETE FROM results WHERE created_ms < ?1", params![now - 14 * DAY_MS])?;
    conn.execute(
        "DELETE FROM dlq WHERE failed_at_ms < ?1",
        params![now - i64::from(opts.dlq_expire_days) * DAY_MS],
    )?;
    conn.execute("DELETE FROM idempotency WHERE created_ms < ?1", params![now - DAY_MS])?;
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now_s])?;
    conn.execute("DELETE FROM oidc_pending WHERE expires_at <= ?1", params![now_s])?;
    conn.execute(
        "DELETE FROM login_failures WHERE window_end <= ?1 AND (locked_until IS NULL OR locked_until <= ?1)",
        params![now_s],
    )?;
    if !expired.is_empty() {
        tracing::info!(jobs = expired.len(), "purged expired job records");
    }
    Ok(())
}
