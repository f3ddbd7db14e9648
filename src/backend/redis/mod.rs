//! The distributed backend: every store on Redis (the key layout of docs/reference/CORE-API.md,
//! "Redis layout"), shared by any number of API and worker processes.
//!
//! Every multi-key update is one Lua script (`lua/`), so it is atomic on the server whatever the
//! number of processes: intake, outcomes with the completion decision, pause/resume/cancel with
//! their effect on parked items, retries, parking, DLQ moves and result recording. The job rules
//! in the scripts mirror `job_rules.rs`; the same HTTP-level tests run against both backends.
//! The work queue is a Redis stream with one consumer group: entries are acked (and deleted)
//! only after their outcome was recorded, and entries of a consumer that died are reclaimed with
//! XAUTOCLAIM after `DSXCONNECT_WORKERS__CLAIM_IDLE_SECS`.

mod bus;
mod credentials;
mod identity;
mod jobs;
mod queue;
mod registry;
mod results;
mod reuse;
mod schedules;
mod scripts;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::{self, Value};
use deadpool_redis::{Pool, PoolConfig, Runtime};

use super::write_health::WriteHealth;
use super::{Backend, BackendKind, Maintenance, StoreError, StoreResult};
use crate::backend::Cause;
use crate::model::job::{CompletedBy, JobRecord, JobStatus, VerdictCounts};
use crate::model::{ConnectorUuid, JobId};
use scripts::Scripts;

/// What the Redis store needs from the settings.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `DSXCONNECT_APP_ENV`: the `{env}` namespace of keys and channels.
    pub app_env: String,
    pub results_retain: i64,
    pub job_ttl_days: u32,
    pub jobs_retain_finished: u64,
    pub dlq_expire_days: u32,
    /// Unacked entries idle this long are reclaimed from their consumer.
    pub claim_idle_secs: u64,
}

/// The consumer group of the scan-request stream (docs/reference/CORE-API.md, "Redis keys").
pub const GROUP: &str = "dsx-connect-workers";
const IDEMPOTENCY_TTL_SECS: u64 = 86_400;
const TASK_TTL_SECS: u64 = 7 * 86_400;
const BY_JOB_TTL_SECS: u64 = 14 * 86_400;
/// Connections per process: claims block one, every in-flight item needs one briefly.
const POOL_SIZE: usize = 64;
/// Longest wait for any reply; claims block for at most a tenth of it (`MAX_CLAIM_BLOCK`).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest XREADGROUP BLOCK of a claim.
const MAX_CLAIM_BLOCK: Duration = Duration::from_secs(1);

struct Inner {
    pool: Pool,
    client: redis::Client,
    scripts: Scripts,
    opts: RedisOptions,
    /// `{env}:dsx-connect:`.
    prefix: String,
    /// `<hostname>:<pid>`.
    consumer: String,
    /// Earliest due time of a delayed entry known to this process (epoch ms; 0 = check now).
    next_due_ms: AtomicI64,
    /// Last XAUTOCLAIM pass (epoch ms).
    last_reclaim_ms: AtomicI64,
    /// Requests made to Redis by this process (pool checkouts: one command, pipeline or script).
    round_trips: Arc<AtomicU64>,
    /// The consumer group is known to exist (cleared when Redis answers NOGROUP, e.g. after
    /// it restarted without persistence).
    group_ready: AtomicBool,
    /// Scripts refused with `OOM` are reported here (docs/OPERATIONS.md).
    health: Arc<WriteHealth>,
}

/// The Redis store; implements every store trait.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl RedisStore {
    /// Connects (lazily: the pool opens connections on use, so a process starts while Redis is
    /// down) and prepares the consumer group when Redis answers.
    pub fn connect(url: &str, opts: RedisOptions) -> StoreResult<Self> {
        // Every reply may take up to RESPONSE_TIMEOUT: more than the longest claim BLOCK, so a
        // batch Redis hands out at the end of a block is never dropped by the client (it would
        // sit in this consumer's pending list until reclaimed, minutes later).
        let conn_cfg = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(Duration::from_secs(3)));
        let manager = deadpool_redis::Manager::new_with_config(url, conn_cfg)
            .map_err(|e| StoreError::Internal(Cause::with("invalid Redis URL", e)))?;
        let pool = Pool::builder(manager)
            .config(PoolConfig {
                max_size: POOL_SIZE,
                timeouts: deadpool_redis::Timeouts {
                    wait: Some(Duration::from_secs(5)),
                    create: Some(Duration::from_secs(3)),
                    recycle: Some(Duration::from_secs(3)),
                },
                ..PoolConfig::default()
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(Cause::with("invalid Redis configuration", e)))?;
        let client = redis::Client::open(url).map_err(|e| StoreError::Internal(Cause::with("invalid Redis URL", e)))?;
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "host".into());
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                client,
                scripts: Scripts::load(),
                prefix: format!("{}:dsx-connect:", opts.app_env),
                consumer: format!("{host}:{}", std::process::id()),
                opts,
                next_due_ms: AtomicI64::new(0),
                last_reclaim_ms: AtomicI64::new(0),
                group_ready: AtomicBool::new(false),
                round_trips: Arc::new(AtomicU64::new(0)),
                health: Arc::default(),
            }),
        })
    }

    /// All stores on this Redis, and a pub/sub event bus.
    pub fn backend(self) -> Backend {
        let bus = Arc::new(bus::RedisBus::start(
            self.inner.client.clone(),
            &self.inner.prefix,
            Arc::clone(&self.inner.round_trips),
        ));
        let write_health = Arc::clone(&self.inner.health);
        let s = Arc::new(self);
        Backend {
            kind: BackendKind::Redis,
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
            events: bus,
            maintenance: s,
            write_health,
        }
    }

    async fn conn(&self) -> StoreResult<deadpool_redis::Connection> {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_redis::PoolError::Timeout(_) => StoreError::Timeout,
            other => StoreError::Unavailable(Cause::from_err(other)),
        })
    }

    fn opts(&self) -> &RedisOptions {
        &self.inner.opts
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.inner.prefix)
    }

    fn stream(&self) -> String {
        self.key("queue:scan_request")
    }

    fn job_ttl(&self) -> u64 {
        u64::from(self.opts().job_ttl_days) * 86_400
    }

    /// Runs one of the scripts with `args` after the key prefix. Every multi-key write is a
    /// script, so a write refused for memory (`OOM`) is reported to the write health here.
    async fn run(&self, script: &redis::Script, args: Vec<String>) -> StoreResult<Value> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.inner.prefix);
        for a in args {
            inv.arg(a);
        }
        let mut c = self.conn().await?;
        let r = inv
            .invoke_async(&mut c)
            .await
            .map_err(|e| write_err(&e).unwrap_or_else(|| redis_err(e)));
        self.inner.health.observe(r)
    }

    /// Creates the consumer group (from the stream's start, so entries accepted before any
    /// worker existed are delivered) unless it exists.
    async fn ensure_group(&self) -> StoreResult<()> {
        if self.inner.group_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut c = self.conn().await?;
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.stream())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await;
        match r {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(redis_err(e)),
        }
        self.inner.group_ready.store(true, Ordering::Release);
        Ok(())
    }
}

/// A write refused because Redis is at `maxmemory` with a `noeviction` policy. From a script
/// the refusal may come wrapped in the script error, hence the message check.
fn write_err(e: &redis::RedisError) -> Option<StoreError> {
    let refused = e.code() == Some("OOM") || e.to_string().contains("OOM command not allowed");
    refused.then(|| StoreError::CannotWrite(Cause::msg(e.to_string())))
}

/// Maps a client error to the store's classes: connection trouble is transient (503).
fn redis_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        StoreError::Unavailable(Cause::from_err(e))
    } else {
        StoreError::Internal(Cause::from_err(e))
    }
}

fn internal(what: &str) -> StoreError {
    StoreError::Internal(Cause::msg(format!("unexpected Redis answer: {what}")))
}

/// Reply helpers for script results.
fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => &[],
    }
}

/// A flat `[field, value, …]` reply (HGETALL inside a script) as a map.
fn pairs(v: &Value) -> HashMap<String, String> {
    array(v)
        .chunks(2)
        .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
        .collect()
}

/// The job record from its hash ("Job record" fields plus `awaits_enqueue_done`).
fn job_from_hash(h: &HashMap<String, String>) -> StoreResult<JobRecord> {
    let id = h.get("job_id").ok_or_else(|| internal("job hash without job_id"))?;
    let job_id =
        JobId::parse(id).map_err(|e| StoreError::Internal(Cause::with("job hash with an invalid job_id", e)))?;
    let status = h
        .get("status")
        .and_then(|s| JobStatus::parse(s))
        .ok_or_else(|| internal("job hash without a valid status"))?;
    let i = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok());
    let u = |k: &str| h.get(k).and_then(|v| v.parse::<u64>().ok());
    let n = |k: &str| u(k).unwrap_or(0);
    let s = |k: &str| h.get(k).filter(|v| !v.is_empty()).cloned();
    let flag = |k: &str| h.get(k).is_some_and(|v| v == "1");
    let started_at = i("started_at").unwrap_or(0);
    Ok(JobRecord {
        job_id,
        status,
        job_name: s("job_name"),
        connector_uuid: s("connector_uuid").and_then(|u| ConnectorUuid::parse(&u).ok()),
        awaits_enqueue_done: flag("awaits_enqueue_done"),
        started_at,
        last_update: i("last_update").unwrap_or(started_at),
        last_enqueued_at: i("last_enqueued_at"),
        finished_at: i("finished_at"),
        completed_by: h.get("completed_by").and_then(|c| match c.as_str() {
            "enqueue_done" => Some(CompletedBy::EnqueueDone),
            "idle" => Some(CompletedBy::Idle),
            "connector_lost" => Some(CompletedBy::ConnectorLost),
            _ => None,
        }),
        enqueue_done: flag("enqueue_done"),
        enqueue_finished_at: i("enqueue_finished_at"),
        enqueued_total: u("enqueued_total"),
        expected_total: u("expected_total"),
        enqueued_count: n("enqueued_count"),
        processed_count: n("processed_count"),
        failed_count: n("failed_count"),
        skipped_count: n("skipped_count"),
        unreadable_count: n("unreadable_count"),
        verdicts: VerdictCounts {
            benign: n("verdict_benign"),
            malicious: n("verdict_malicious"),
            unknown: n("verdict_unknown"),
            unsupported: n("verdict_unsupported"),
            not_scanned: n("verdict_not_scanned"),
            non_compliant: n("verdict_non_compliant"),
            encrypted: n("verdict_encrypted"),
        },
        actions_taken: n("actions_taken"),
        actions_failed: n("actions_failed"),
        cancel_flag: flag("cancel"),
    })
}

fn now_ms() -> i64 {
    crate::model::now_ms()
}

/// Room below `maxmemory` the write probe asks for before it reports the store writable again.
const PROBE_ROOM: u64 = 1 << 20;

/// Lease of the periodic sweeps; a holder that dies is replaced after this.
const JANITOR_LEASE_MS: u64 = 15_000;

#[async_trait]
impl Maintenance for RedisStore {
    async fn lead(&self) -> StoreResult<bool> {
        let r = self
            .run(
                &self.inner.scripts.lead,
                vec![self.inner.consumer.clone(), JANITOR_LEASE_MS.to_string()],
            )
            .await?;
        Ok(int(&r) == 1)
    }
    fn round_trips(&self) -> Option<u64> {
        Some(self.inner.round_trips.load(Ordering::Relaxed))
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut c).await.map_err(redis_err)?;
        Ok(())
    }

    /// Also refused while less than [`PROBE_ROOM`] is left below `maxmemory`: acks free a few
    /// bytes at a time, and workers resumed on those would only be refused again. `SET` is
    /// refused at `maxmemory` like every write that may add memory.
    async fn probe_write(&self) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
        };
        if let (Some(used), Some(max)) = (field("used_memory"), field("maxmemory"))
            && max > 0
            && used.saturating_add(PROBE_ROOM) > max
        {
            let e = StoreError::CannotWrite(Cause::msg(format!("{used} of maxmemory {max} bytes used")));
            return self.inner.health.observe(Err(e));
        }
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.key("write_probe"))
            .arg(now_ms())
            .arg("PX")
            .arg(60_000)
            .query_async(&mut c)
            .await;
        let r = r.map_err(|e| write_err(&e).unwrap_or_else(|| redis_err(e)));
        self.inner.health.observe(r)
    }

    /// Retention: job records expire by TTL; here the listing index and the active set drop
    /// members whose record is gone, finished jobs beyond the retained count are removed, and
    /// old DLQ entries are dropped. Result lists are trimmed as they grow; by-task records and
    /// idempotency keys carry TTLs.
    async fn purge_expired(&self) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg("dsxconnect:jobs")
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .map_err(redis_err)?;
        let mut finished_kept = 0u64;
        let mut gone = Vec::new();
        for id in ids {
            let status: Option<String> = redis::cmd("HGET")
                .arg(format!("dsxconnect:job:{id}"))
                .arg("status")
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            match status.as_deref().and_then(JobStatus::parse) {
                None => gone.push(id),
                Some(s) if s.is_terminal() => {
                    finished_kept += 1;
                    if finished_kept > self.opts().jobs_retain_finished {
                        let k = format!("dsxconnect:job:{id}");
                        let _: () = redis::pipe()
                            .del(&k)
                            .del(format!("{k}:tasks"))
                            .del(format!("{k}:parked"))
                            .query_async(&mut c)
                            .await
                            .map_err(redis_err)?;
                        gone.push(id);
                    }
                }
                Some(_) => {}
            }
        }
        if !gone.is_empty() {
            let _: () = redis::pipe()
                .zrem("dsxconnect:jobs", &gone)
                .srem("dsxconnect:jobs:active", &gone)
                .query_async(&mut c)
                .await
                .map_err(redis_err)?;
            tracing::info!(jobs = gone.len(), "purged expired job records");
        }
        drop(c);
        for q in crate::model::DlqQueue::ALL {
            self.purge_dlq(q, self.opts().dlq_expire_days).await?;
        }
        Ok(())
    }
}
