//! The backend conformance suite: the store traits exercised directly, each case on both engines
//! (the embedded SQLite store and Redis on a private `redis-server`): exactly-once recording
//! under concurrency, queue claims, retries, parking, reclaiming a dead consumer's entries,
//! retention of finished jobs and expiry of dead letters. (The HTTP-level suites run on both
//! engines too: `DSX_TEST_BACKEND=redis`, see scripts/test.sh.)

use crate::common;

use std::time::Duration;

use deadpool_redis::redis;
use dsx_connect::backend::redis::{RedisOptions, RedisStore};
use dsx_connect::backend::sqlite::{SqliteStore, StoreOptions};
use dsx_connect::backend::{
    AcceptRequest, Backend, Control, ItemOutcome, NewItem, Outcome, OutcomeRecord, ParkOutcome,
};
use dsx_connect::model::result::{ScanResultModel, TaskState};
use dsx_connect::model::{
    ConnectorUuid, DlqEntry, Engine, ItemActionStatusResponse, JobId, JobStatus, Pin, ScanRequestModel, Stage, TaskId,
    Verdict, VerdictKind, WorkItem,
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Embedded,
    Redis,
}

/// One engine's store plus what the tests need to age records behind its back.
struct Store {
    b: Backend,
    sqlite: Option<std::path::PathBuf>,
    redis: Option<String>,
    _dir: tempfile::TempDir,
}

fn open(kind: Kind, retain_finished: u64) -> Store {
    open_with(kind, retain_finished, 120)
}

fn open_with(kind: Kind, retain_finished: u64, claim_idle_secs: u64) -> Store {
    let dir = tempfile::tempdir().unwrap();
    match kind {
        Kind::Embedded => {
            let s = SqliteStore::open(
                dir.path(),
                StoreOptions {
                    app_env: "dev".into(),
                    results_retain: 1000,
                    job_ttl_days: 7,
                    jobs_retain_finished: retain_finished,
                    dlq_expire_days: 7,
                    keep_clean_results: true,
                },
            )
            .unwrap();
            let path = s.path().to_path_buf();
            Store {
                b: s.backend(),
                sqlite: Some(path),
                redis: None,
                _dir: dir,
            }
        }
        Kind::Redis => {
            let url = common::redis::url_for(dir.path());
            Store {
                b: redis_backend(&url, retain_finished, claim_idle_secs),
                sqlite: None,
                redis: Some(url),
                _dir: dir,
            }
        }
    }
}

fn redis_backend(url: &str, retain_finished: u64, claim_idle_secs: u64) -> Backend {
    RedisStore::connect(
        url,
        RedisOptions {
            app_env: "dev".into(),
            results_retain: 1000,
            job_ttl_days: 7,
            jobs_retain_finished: retain_finished,
            dlq_expire_days: 7,
            claim_idle_secs,
        },
    )
    .unwrap()
    .backend()
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

impl Store {
    /// Moves a job's start `secs` into the past.
    async fn age_job(&self, job: &str, secs: i64) {
        if let Some(path) = &self.sqlite {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute(
                "UPDATE jobs SET started_at = started_at - ?1 WHERE job_id = ?2",
                rusqlite::params![secs, job],
            )
            .unwrap();
        }
        if let Some(url) = &self.redis {
            let mut c = redis_conn(url).await;
            let started: i64 = redis::cmd("HINCRBY")
                .arg(format!("dsxconnect:job:{job}"))
                .arg("started_at")
                .arg(-secs)
                .query_async(&mut c)
                .await
                .unwrap();
            let _: i64 = redis::cmd("ZADD")
                .arg("dsxconnect:jobs")
                .arg(started)
                .arg(job)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    }

    /// Moves the dead letter of `task` `days` into the past.
    async fn age_dead_letter(&self, task: &str, days: i64) {
        if let Some(path) = &self.sqlite {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute(
                "UPDATE dlq SET failed_at_ms = failed_at_ms - ?1 WHERE task_id = ?2",
                rusqlite::params![days * 86_400_000, tid(task).to_string()],
            )
            .unwrap();
        }
        if let Some(url) = &self.redis {
            let mut c = redis_conn(url).await;
            let key = "dev:dsx-connect:dlq:scan_request";
            let all: Vec<String> = redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap();
            for (i, text) in all.iter().enumerate() {
                let mut e: DlqEntry = serde_json::from_str(text).unwrap();
                if tid(task) == e.meta.task_id {
                    let at = chrono::DateTime::parse_from_rfc3339(&e.meta.failed_at).unwrap();
                    e.meta.failed_at = (at - chrono::Duration::days(days)).to_rfc3339();
                    let _: () = redis::cmd("LSET")
                        .arg(key)
                        .arg(i)
                        .arg(serde_json::to_string(&e).unwrap())
                        .query_async(&mut c)
                        .await
                        .unwrap();
                }
            }
        }
    }
}

/// Runs one case on both engines as two tests.
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$case(super::Kind::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$case(super::Kind::Redis).await
            }
        }
    };
}

/// A job id the test names.
fn jid(name: &str) -> JobId {
    JobId::parse(name).unwrap()
}

/// The UUID a test names `name`: the same name gives the same UUID, and a UUID is kept as it is.
fn named_uuid(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    if uuid::Uuid::parse_str(name).is_ok() {
        return name.to_string();
    }
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, name).hash(&mut h);
        h.finish() as u128
    };
    uuid::Uuid::from_u128((half(0) << 64) | half(1)).to_string()
}

/// The task id a test names `name`.
fn tid(name: &str) -> TaskId {
    TaskId::parse(&named_uuid(name)).unwrap()
}

/// The connector uuid a test names `name`.
fn cu(name: &str) -> ConnectorUuid {
    ConnectorUuid::parse(&named_uuid(name)).unwrap()
}

fn processed(task: &str, job: &str) -> OutcomeRecord {
    processed_with(result(task, job, 10))
}

fn processed_with(mut result: ScanResultModel) -> OutcomeRecord {
    let task_id = tid(&result.scan_request_task_id);
    result.scan_request_task_id = task_id.to_string();
    OutcomeRecord {
        task_id,
        job_id: jid(result.scan_job_id.as_deref().unwrap_or("j")),
        outcome: Outcome::Processed(Box::new(result)),
        attempts: 1,
        requeued: false,
    }
}

fn result(task: &str, job: &str, size: i64) -> ScanResultModel {
    let mut r = ScanRequestModel::new(format!("/{task}"), task);
    r.scan_job_id = Some(job.into());
    let mut v = Verdict::bare(VerdictKind::Benign, Engine::Embedded);
    v.file_info = Some(dsx_connect::model::verdict::FileInfo {
        file_size_in_bytes: Some(size),
        ..Default::default()
    });
    ScanResultModel::new(task, r, v, ItemActionStatusResponse::no_action(), chrono::Utc::now())
}

both!(concurrent_and_repeated_outcomes_count_exactly_once);
async fn concurrent_and_repeated_outcomes_count_exactly_once(kind: Kind) {
    let st = open(kind, 1000);
    let b = st.b.clone();
    b.jobs.enqueue_done(&jid("j"), Some(100), 0).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..100 {
        let b = b.clone();
        handles.push(tokio::spawn(async move {
            let task = format!("t{i}");
            // Every item is delivered twice (a redelivery after a crash).
            for delivery in 0..2 {
                let rec = b.jobs.record_outcome(processed(&task, "j")).await.unwrap();
                let stored = rec.result.expect("a processed outcome returns its stored result");
                assert_eq!(stored.inserted, delivery == 0, "the result is recorded once per task");
                assert!(stored.result.id > 0);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let stats = b.results.stats().await.unwrap();
    assert_eq!(stats.files_scanned, 100);
    assert_eq!(stats.total_file_size, 1000);
    let job = b.jobs.get(&jid("j")).await.unwrap().unwrap();
    assert_eq!(job.processed_count, 100);
    assert_eq!(job.verdicts.benign, 100);
    // enqueue_done announced 100: the job completed when the 100th distinct outcome arrived.
    assert_eq!(job.status, dsx_connect::model::JobStatus::Completed);
}

both!(unreadable_counts_are_summed_and_shown_in_every_view);
async fn unreadable_counts_are_summed_and_shown_in_every_view(kind: Kind) {
    let st = open(kind, 1000);
    let b = st.b.clone();
    let change = b.jobs.enqueue_done(&jid("u"), Some(0), 2).await.unwrap();
    assert_eq!(change.job.status, JobStatus::Completed);
    assert_eq!(change.job.unreadable_count, 2);
    b.jobs.enqueue_done(&jid("u"), None, 3).await.unwrap();
    let job = b.jobs.get(&jid("u")).await.unwrap().unwrap();
    assert_eq!(job.unreadable_count, 5);
    let (_, raw) = b.jobs.raw(&jid("u")).await.unwrap();
    assert_eq!(raw["unreadable_count"], "5");
    assert_eq!(job.summary(0)["unreadable_count"], 5);
    // A report without unreadable entries leaves the count at zero.
    b.jobs.enqueue_done(&jid("clean"), Some(0), 0).await.unwrap();
    assert_eq!(b.jobs.get(&jid("clean")).await.unwrap().unwrap().unreadable_count, 0);
}

both!(finished_jobs_beyond_the_retained_count_are_purged_oldest_first);
async fn finished_jobs_beyond_the_retained_count_are_purged_oldest_first(kind: Kind) {
    let st = open(kind, 2);
    let b = st.b.clone();
    for i in 0..5 {
        b.jobs
            .enqueue_done(&jid(&format!("done{i}")), Some(0), 0)
            .await
            .unwrap();
    }
    b.jobs.create(&jid("active"), Default::default()).await.unwrap();
    // Spread their start times so "oldest" is well defined.
    for i in 0..5 {
        st.age_job(&format!("done{i}"), 100 - i).await;
    }
    b.maintenance.purge_expired().await.unwrap();
    let left: Vec<String> = b
        .jobs
        .list(None, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.job_id.to_string())
        .collect();
    assert_eq!(left, ["active", "done4", "done3"]);
}

both!(dead_letters_expire_after_the_configured_days);
async fn dead_letters_expire_after_the_configured_days(kind: Kind) {
    let st = open(kind, 1000);
    let b = st.b.clone();
    let item = WorkItem {
        task_id: tid("t"),
        job_id: jid("j"),
        stage: Stage::Scan,
        attempt: 0,
        max_attempts: 1,
        enqueued_at: 0,
        scan_request: ScanRequestModel::new("/x", "x"),
        verdict: None,
        item_action: None,
        requeued: false,
        pin: None,
        request_id: None,
        reused_from: None,
    };
    for task in ["old", "new"] {
        let mut it = item.clone();
        it.task_id = tid(task);
        let e = DlqEntry::for_item(
            &it,
            "connector_client_no_retry",
            "connector_client",
            "HTTP 404",
            1,
            chrono::Utc::now(),
        );
        b.jobs
            .record_outcome(OutcomeRecord {
                task_id: tid(task),
                job_id: jid("j"),
                outcome: Outcome::Failed(Box::new(e)),
                attempts: 1,
                requeued: false,
            })
            .await
            .unwrap();
    }
    st.age_dead_letter("old", 8).await;
    b.maintenance.purge_expired().await.unwrap();
    let left = b
        .results
        .dlq_items(dsx_connect::model::DlqQueue::ScanRequest, 0, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].meta.task_id, tid("new").to_string());
    let job = b.jobs.get(&jid("j")).await.unwrap().unwrap();
    assert_eq!(job.failed_count, 2, "expiry removes the entries, not the job's figures");
}

fn accept_req(job: &str, tasks: &[&str], idempotency: Option<&str>) -> AcceptRequest {
    AcceptRequest {
        items: tasks
            .iter()
            .map(|t| {
                let mut r = ScanRequestModel::new(format!("/{t}"), *t);
                r.scan_job_id = Some(job.into());
                NewItem {
                    task_id: tid(t),
                    job_id: jid(job),
                    request: r,
                    connector_uuid: None,
                    pin: pin_of(t),
                    awaits_enqueue_done: false,
                }
            })
            .collect(),
        idempotency: idempotency.map(|k| (dsx_connect::backend::IdemScope::Batch, k.to_string())),
        job_name: None,
        max_attempts: 3,
        deadline: std::time::Instant::now() + Duration::from_secs(10),
        request_id: Some("req-accept".into()),
    }
}

/// Each test item is pinned to its own connector url.
fn pin_of(task: &str) -> Pin {
    Pin {
        connector_uuid: Some(cu(&format!("conn-{task}"))),
        url: format!("http://127.0.0.1:9/{task}"),
    }
}

async fn claim_all(b: &Backend, n: usize) -> Vec<dsx_connect::backend::Claimed> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        assert!(std::time::Instant::now() < deadline, "claimed {} of {n}", out.len());
        out.extend(b.queue.claim(n - out.len(), Duration::from_millis(200)).await.unwrap());
    }
    out
}

both!(claims_deliver_in_order_retries_wait_and_acks_empty_the_queue);
async fn claims_deliver_in_order_retries_wait_and_acks_empty_the_queue(kind: Kind) {
    let st = open(kind, 1000);
    let b = &st.b;
    let a = b.queue.accept(accept_req("q", &["a", "b", "c"], None)).await.unwrap();
    assert!(a.items().iter().all(|i| i.outcome == ItemOutcome::Queued));
    assert_eq!(b.queue.depth().await.unwrap(), 3);
    let claimed = claim_all(b, 3).await;
    let order: Vec<&TaskId> = claimed.iter().map(|c| &c.item.task_id).collect();
    assert_eq!(order, [&tid("a"), &tid("b"), &tid("c")]);
    assert!(claimed.iter().all(|c| c.deliveries == 0), "first handouts");
    for (c, name) in claimed.iter().zip(["a", "b", "c"]) {
        assert_eq!(
            c.item.pin,
            Some(pin_of(name)),
            "the pin fixed at acceptance travels with the item"
        );
        assert_eq!(
            c.item.request_id.as_deref(),
            Some("req-accept"),
            "so does the accepting request's id"
        );
    }
    b.queue.task_started(&tid("a"), 1).await.unwrap();
    assert_eq!(
        b.queue.task(&tid("a")).await.unwrap().unwrap().state,
        TaskState::Running
    );
    // A retry due in 300 ms is not handed out before it is due, and then it is.
    let mut retry = claimed[0].item.clone();
    retry.attempt = 1;
    let due = dsx_connect::model::now_ms() + 300;
    b.queue
        .retry_later(&claimed[0].receipt, retry, due, "scanner_unavailable")
        .await
        .unwrap();
    assert_eq!(
        b.queue.task(&tid("a")).await.unwrap().unwrap().state,
        TaskState::Retrying
    );
    for c in &claimed[1..] {
        b.queue.ack(&c.receipt).await.unwrap();
    }
    let again = claim_all(b, 1).await;
    assert!(
        dsx_connect::model::now_ms() >= due,
        "a retry came back before it was due"
    );
    assert_eq!(again[0].item.task_id, tid("a"));
    assert_eq!(again[0].item.attempt, 1);
    b.queue.ack(&again[0].receipt).await.unwrap();
    assert_eq!(b.queue.depth().await.unwrap(), 0);
    assert!(b.queue.claim(10, Duration::from_millis(100)).await.unwrap().is_empty());
}

both!(an_idempotency_key_replays_the_first_answer_without_enqueuing_again);
async fn an_idempotency_key_replays_the_first_answer_without_enqueuing_again(kind: Kind) {
    let st = open(kind, 1000);
    let b = &st.b;
    let first = b.queue.accept(accept_req("i", &["x", "y"], Some("k1"))).await.unwrap();
    let again = b.queue.accept(accept_req("i", &["x", "y"], Some("k1"))).await.unwrap();
    assert!(matches!(again, dsx_connect::backend::AcceptAnswer::Replay(_)));
    assert_eq!(first.items(), again.items());
    assert_eq!(b.queue.depth().await.unwrap(), 2);
    assert_eq!(b.jobs.get(&jid("i")).await.unwrap().unwrap().enqueued_count, 2);
}

both!(a_trigger_completes_the_job_record_an_early_scan_request_created);
/// The connector may enqueue before the trigger records its job: the trigger's name, connector,
/// expected total and `enqueue_done` promise are filled in, and the early counts stay.
async fn a_trigger_completes_the_job_record_an_early_scan_request_created(kind: Kind) {
    let st = open(kind, 1000);
    let b = &st.b;
    b.queue.accept(accept_req("early", &["e1", "e2"], None)).await.unwrap();
    let early = b.jobs.get(&jid("early")).await.unwrap().unwrap();
    assert_eq!((early.job_name.as_deref(), early.awaits_enqueue_done), (None, false));
    let init = dsx_connect::backend::JobInit {
        connector_uuid: Some(cu("trigger")),
        expected_total: Some(2),
        job_name: Some("nightly".into()),
        awaits_enqueue_done: true,
    };
    let job = b.jobs.create(&jid("early"), init).await.unwrap();
    let stored = b.jobs.get(&jid("early")).await.unwrap().unwrap();
    assert_eq!(job, stored);
    assert_eq!(stored.job_name.as_deref(), Some("nightly"));
    assert_eq!(stored.connector_uuid, Some(cu("trigger")));
    assert_eq!(stored.expected_total, Some(2));
    assert!(stored.awaits_enqueue_done);
    assert_eq!(stored.enqueued_count, 2, "the early requests stay counted");
    // Nothing the record has is overwritten by a later trigger.
    let again = dsx_connect::backend::JobInit {
        connector_uuid: Some(cu("other")),
        expected_total: Some(9),
        job_name: Some("renamed".into()),
        awaits_enqueue_done: false,
    };
    let job = b.jobs.create(&jid("early"), again).await.unwrap();
    assert_eq!(
        (job.job_name.as_deref(), job.expected_total, job.awaits_enqueue_done),
        (Some("nightly"), Some(2), true)
    );
    assert_eq!(job.connector_uuid, Some(cu("trigger")));
}

both!(paused_jobs_park_in_order_resume_requeues_and_cancel_skips);
async fn paused_jobs_park_in_order_resume_requeues_and_cancel_skips(kind: Kind) {
    let st = open(kind, 1000);
    let b = &st.b;
    b.queue.accept(accept_req("p", &["p1", "p2"], None)).await.unwrap();
    let change = b.jobs.control(&jid("p"), Control::Pause).await.unwrap().unwrap();
    assert_eq!(change.job.status, JobStatus::Paused);
    // Claimed entries of a paused job are parked; new items go straight to the parked list.
    for c in claim_all(b, 2).await {
        assert!(matches!(
            b.queue.park(&c.receipt, c.item).await.unwrap(),
            ParkOutcome::Parked
        ));
    }
    let late = b.queue.accept(accept_req("p", &["p3"], None)).await.unwrap();
    assert_eq!(late.items()[0].outcome, ItemOutcome::Parked);
    assert!(b.queue.claim(10, Duration::from_millis(100)).await.unwrap().is_empty());
    assert!(
        !b.jobs
            .control(&jid("p"), Control::Pause)
            .await
            .unwrap()
            .unwrap()
            .changed,
        "pausing a paused job changes nothing"
    );
    b.jobs.control(&jid("p"), Control::Resume).await.unwrap().unwrap();
    let resumed = claim_all(b, 3).await;
    let order: Vec<&TaskId> = resumed.iter().map(|c| &c.item.task_id).collect();
    assert_eq!(order, [&tid("p1"), &tid("p2"), &tid("p3")]);
    // Pause again with all three claimed: two parked, then cancel counts parked ones skipped.
    b.jobs.control(&jid("p"), Control::Pause).await.unwrap().unwrap();
    for c in &resumed[..2] {
        b.queue.park(&c.receipt, c.item.clone()).await.unwrap();
    }
    let cancelled = b.jobs.control(&jid("p"), Control::Cancel).await.unwrap().unwrap();
    assert!(cancelled.became_terminal);
    assert_eq!(cancelled.job.status, JobStatus::Cancelled);
    assert_eq!(cancelled.job.skipped_count, 2);
    assert_eq!(
        b.queue.task(&tid("p1")).await.unwrap().unwrap().state,
        TaskState::Skipped
    );
    // The third, claimed before the cancel, is skipped when it reaches the gate.
    match b
        .queue
        .park(&resumed[2].receipt, resumed[2].item.clone())
        .await
        .unwrap()
    {
        ParkOutcome::Skipped(change) => assert_eq!(change.job.skipped_count, 3),
        other => panic!("expected skipped, got {other:?}"),
    }
    assert_eq!(
        b.jobs.control(&jid("p"), Control::Resume).await.unwrap().unwrap_err(),
        dsx_connect::backend::ControlError::Cancelled
    );
    assert_eq!(b.queue.depth().await.unwrap(), 0);
}

/// Redis only (the embedded store redelivers after a restart, tested through the `serve`
/// process): an entry claimed by a consumer that stopped is taken over by another one after
/// the claim idle time, with its delivery counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entries_are_reclaimed_after_the_idle_time() {
    let st = open_with(Kind::Redis, 1000, 1);
    let url = st.redis.clone().unwrap();
    st.b.queue.accept(accept_req("r", &["lost"], None)).await.unwrap();
    let first = claim_all(&st.b, 1).await;
    assert_eq!(first[0].deliveries, 0);
    // Another process (same consumer name here, which XAUTOCLAIM does not care about).
    let other = redis_backend(&url, 1000, 1);
    assert!(
        other
            .queue
            .claim(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
    // Polled until the claim idle time has passed and the entry is taken over.
    let again = claim_all(&other, 1).await;
    assert_eq!(again[0].item.task_id, tid("lost"));
    assert!(again[0].deliveries >= 1, "deliveries {}", again[0].deliveries);
    other.queue.ack(&again[0].receipt).await.unwrap();
    assert_eq!(other.queue.depth().await.unwrap(), 0);
}

/// Redis only: a worker busy on a long item renews its claim, so the entry is not reclaimed
/// while it works; once renewals stop (the worker died), it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_claim_is_not_reclaimed_until_renewals_stop() {
    let st = open_with(Kind::Redis, 1000, 1);
    let url = st.redis.clone().unwrap();
    st.b.queue.accept(accept_req("long", &["slow"], None)).await.unwrap();
    let mine = claim_all(&st.b, 1).await;
    let other = redis_backend(&url, 1000, 1);
    for _ in 0..6 {
        // The thing under test: a worker busy past the idle time, renewing as it goes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        st.b.queue.renew(&mine[0].receipt).await.unwrap();
        assert!(
            other
                .queue
                .claim(10, Duration::from_millis(10))
                .await
                .unwrap()
                .is_empty(),
            "a renewed entry was reclaimed"
        );
    }
    // Renewals stopped: polled until the idle time has passed and the entry is taken over.
    let taken = claim_all(&other, 1).await;
    assert_eq!(taken[0].item.task_id, tid("slow"));
}

/// Redis only: password (and ACL user) authentication from the URL; a wrong password is a store
/// error the readiness probe reports, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_authentication_comes_from_the_url() {
    let port = common::redis::start_redis_server(&[
        "--requirepass",
        "s3cret",
        "--user",
        "scanner",
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
    ]);
    for url in [
        format!("redis://:s3cret@127.0.0.1:{port}"),
        format!("redis://scanner:pw@127.0.0.1:{port}"),
    ] {
        let b = redis_backend(&url, 1000, 120);
        b.maintenance.ping().await.unwrap();
        b.queue.accept(accept_req("auth", &["a1"], None)).await.unwrap();
        let c = claim_all(&b, 1).await;
        b.queue.ack(&c[0].receipt).await.unwrap();
    }
    let wrong = redis_backend(&format!("redis://:nope@127.0.0.1:{port}"), 1000, 120);
    assert!(wrong.maintenance.ping().await.is_err());
}

/// Redis only: one process at a time runs the periodic sweeps (the janitor lease), its holder
/// keeps it while it renews it, and another takes over once it lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_at_a_time_holds_the_janitor_lease() {
    let st = open(Kind::Redis, 1000);
    let url = st.redis.clone().unwrap();
    assert!(st.b.maintenance.lead().await.unwrap());
    // Another process: same host and pid here, so give the lease a different holder by hand.
    let mut c = redis_conn(&url).await;
    let holder: String = redis::cmd("GET")
        .arg("dev:dsx-connect:lock:janitor")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("dev:dsx-connect:lock:janitor")
        .arg("elsewhere:1")
        .arg("PX")
        .arg(300)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(!st.b.maintenance.lead().await.unwrap(), "held by another process");
    common::wait_for(
        "the lock taken over once it lapsed",
        Duration::from_secs(10),
        || async { st.b.maintenance.lead().await.unwrap().then_some(()) },
    )
    .await;
    let now: String = redis::cmd("GET")
        .arg("dev:dsx-connect:lock:janitor")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(now, holder);
    let embedded = open(Kind::Embedded, 1000);
    assert!(embedded.b.maintenance.lead().await.unwrap());
}

/// The event bus on Redis: an event published by one process reaches the subscribers of every
/// process, its own included (that is how SSE clients of any API process see every result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_sees_every_event() {
    let st = open(Kind::Redis, 1000);
    let other = redis_backend(st.redis.as_deref().unwrap(), 1000, 120);
    let mut all_here = st.b.events.subscribe();
    let mut all_there = other.events.subscribe();
    // The subscriptions reach Redis asynchronously.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !(st.b.events.healthy() && other.events.healthy()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both buses subscribed");
    st.b.events
        .publish(dsx_connect::backend::BusEvent::Dlq(serde_json::json!({"n": 1})));
    for rx in [&mut all_here, &mut all_there] {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("delivered")
            .unwrap();
        assert!(matches!(ev, dsx_connect::backend::BusEvent::Dlq(v) if v["n"] == 1));
    }
}

// ---- Connector credentials and API tokens (docs/AUTH.md) ----

both!(credential_records_are_versioned_indexed_by_key_and_deleted);
async fn credential_records_are_versioned_indexed_by_key_and_deleted(kind: Kind) {
    use dsx_connect::auth::credentials::{CredentialRecord, release};
    let st = open(kind, 1000);
    let c = &st.b.credentials;
    let (rec, key) = CredentialRecord::enroll(&cu("u-1"), "http://c:1/fs", "fs", 1000);
    assert!(c.put_credential(&rec, None).await.unwrap());
    assert!(!c.put_credential(&rec, None).await.unwrap(), "a second creation loses");
    let stored = c.credential(&cu("u-1")).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(c.credential_by_key(&key.key_id).await.unwrap().unwrap().uuid, cu("u-1"));
    // Released: the key moves to the previous slot and still resolves.
    let released = release(&stored, hmac_now(), 300);
    assert!(
        !c.put_credential(&released, Some(0)).await.unwrap(),
        "a stale version loses"
    );
    assert!(c.put_credential(&released, Some(1)).await.unwrap());
    let again = c.credential_by_key(&key.key_id).await.unwrap().unwrap();
    assert_eq!(again.prev_key_id.as_deref(), Some(key.key_id.as_str()));
    assert_eq!(again.version, 2);
    assert_eq!(c.credentials().await.unwrap().len(), 1);
    c.delete_credential(&cu("u-1")).await.unwrap();
    assert!(c.credential(&cu("u-1")).await.unwrap().is_none());
    assert!(c.credential_by_key(&key.key_id).await.unwrap().is_none());
    match kind {
        Kind::Redis => {
            assert_eq!(c.first_use("k", "n1", 121).await.unwrap(), Some(true));
            assert_eq!(
                c.first_use("k", "n1", 121).await.unwrap(),
                Some(false),
                "shared replay cache"
            );
        }
        Kind::Embedded => assert_eq!(c.first_use("k", "n1", 121).await.unwrap(), None),
    }
}

fn hmac_now() -> i64 {
    dsx_connect::auth::hmac::now_secs()
}

both!(api_tokens_are_found_by_digest_listed_touched_and_revoked);
async fn api_tokens_are_found_by_digest_listed_touched_and_revoked(kind: Kind) {
    use dsx_connect::auth::tokens::{Role, create, digest};
    let st = open(kind, 1000);
    let t = &st.b.tokens;
    let (secret, rec) = create("ci", Role::Operator, "cli", hmac_now(), Some(3600));
    t.put_token(&rec).await.unwrap();
    let found = t.token_by_digest(&digest(&secret)).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.role), (rec.id.as_str(), Role::Operator));
    t.touch_token(&rec.id, 42).await.unwrap();
    assert_eq!(t.tokens().await.unwrap()[0].last_used_at, Some(42));
    assert!(t.delete_token(&rec.id).await.unwrap());
    assert!(!t.delete_token(&rec.id).await.unwrap());
    assert!(t.token_by_digest(&digest(&secret)).await.unwrap().is_none());
}

// ---- Users, sessions, login failures and the audit trail (docs/AUTH.md) ----

both!(users_sessions_and_pending_logins_are_kept_and_ended);
async fn users_sessions_and_pending_logins_are_kept_and_ended(kind: Kind) {
    use dsx_connect::auth::sessions::{Method, create};
    use dsx_connect::auth::tokens::Role;
    use dsx_connect::auth::users::User;
    use dsx_connect::backend::identity::OidcPending;
    let st = open(kind, 1000);
    let (u, s) = (&st.b.users, &st.b.sessions);
    let mut alice = User {
        username: "alice".into(),
        role: Role::Admin,
        disabled: false,
        password_hash: "$argon2id$placeholder".into(),
        created_at: 1,
        updated_at: 1,
        password_changed_at: 1,
    };
    assert!(u.add_user(&alice).await.unwrap());
    assert!(!u.add_user(&alice).await.unwrap(), "names are unique");
    alice.role = Role::Viewer;
    assert!(u.update_user(&alice).await.unwrap());
    assert_eq!(u.user("alice").await.unwrap().unwrap().role, Role::Viewer);
    let mut ghost = alice.clone();
    ghost.username = "ghost".into();
    assert!(!u.update_user(&ghost).await.unwrap(), "an update never creates");
    let now = hmac_now();
    let (_, one) = create("alice", Role::Viewer, Method::Password, now);
    let (_, two) = create("alice", Role::Viewer, Method::Oidc, now);
    s.put_session(&one, now + 60).await.unwrap();
    s.put_session(&two, now + 60).await.unwrap();
    s.touch_session(&one.sha256, now + 5, now + 65).await.unwrap();
    assert_eq!(s.session(&one.sha256).await.unwrap().unwrap().last_seen_at, now + 5);
    s.delete_session(&two.sha256).await.unwrap();
    assert!(s.session(&two.sha256).await.unwrap().is_none());
    assert_eq!(s.delete_user_sessions("alice").await.unwrap(), 1);
    assert!(s.session(&one.sha256).await.unwrap().is_none());
    // A pending OIDC login is taken once.
    let p = OidcPending {
        verifier: "v".into(),
        nonce: "n".into(),
        created_at: now,
    };
    s.put_oidc_pending("state-sha", &p, 600).await.unwrap();
    assert_eq!(s.take_oidc_pending("state-sha").await.unwrap(), Some(p));
    assert_eq!(s.take_oidc_pending("state-sha").await.unwrap(), None);
    assert!(u.delete_user("alice").await.unwrap());
    assert!(!u.delete_user("alice").await.unwrap());
    assert!(u.users().await.unwrap().is_empty());
}

both!(login_failures_count_in_a_window_and_locks_expire);
async fn login_failures_count_in_a_window_and_locks_expire(kind: Kind) {
    let st = open(kind, 1000);
    let a = &st.b.attempts;
    let now = hmac_now();
    for n in 1..=3 {
        assert_eq!(a.count_failure("user:bob", now, 900).await.unwrap(), n);
    }
    a.clear_failures("user:bob").await.unwrap();
    assert_eq!(a.count_failure("user:bob", now, 900).await.unwrap(), 1);
    assert_eq!(a.locked_for("ip:10.0.0.1", now).await.unwrap(), None);
    a.lock("ip:10.0.0.1", now, 2).await.unwrap();
    let left = a.locked_for("ip:10.0.0.1", now).await.unwrap().unwrap();
    assert!((1..=2).contains(&left), "{left}");
    // Locks end by themselves.
    let t = std::time::Instant::now();
    while a.locked_for("ip:10.0.0.1", hmac_now()).await.unwrap().is_some() {
        assert!(t.elapsed() < Duration::from_secs(30), "the lock never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both!(the_audit_trail_keeps_the_newest_records_and_purges_old_ones);
async fn the_audit_trail_keeps_the_newest_records_and_purges_old_ones(kind: Kind) {
    use dsx_connect::auth::audit::{Actor, AuditQuery, AuditRecord, Outcome};
    let st = open(kind, 1000);
    let a = &st.b.audit;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut r = AuditRecord::now(Actor::anonymous(), &format!("job.x{i}"), Outcome::Success);
        if i == 0 {
            r.timestamp = "2020-01-01T00:00:00.000Z".into();
        }
        ids.push(a.append_audit(&r, 4).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
    let q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let all = a.audit(&q).await.unwrap();
    let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["job.x4", "job.x3", "job.x2", "job.x1"],
        "retain keeps the newest"
    );
    assert_eq!(all[0].id, ids[4]);
    let page = a
        .audit(&AuditQuery {
            limit: 2,
            before_id: Some(ids[3]),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    // Purge by age: records older than the cutoff go, newer ones stay.
    let st = open(kind, 1000);
    let a = &st.b.audit;
    for (i, ts) in ["2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z"]
        .iter()
        .enumerate()
    {
        let mut old = AuditRecord::now(Actor::anonymous(), &format!("job.old{i}"), Outcome::Denied);
        old.timestamp = ts.to_string();
        a.append_audit(&old, 100).await.unwrap();
    }
    a.append_audit(&AuditRecord::now(Actor::anonymous(), "job.new", Outcome::Success), 100)
        .await
        .unwrap();
    let cutoff = chrono::Utc::now().timestamp_millis() - 86_400_000;
    assert_eq!(a.purge_audit(cutoff).await.unwrap(), 2);
    let left = a.audit(&q).await.unwrap();
    assert_eq!(left.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["job.new"]);
}

/// The embedded store's data dir is 0700 and its database files 0600, also when they were
/// created wider (connector keys and token digests live there).
#[test]
fn the_embedded_store_narrows_its_data_dir_and_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("dsx-connect.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _s = SqliteStore::open(
        &data,
        StoreOptions {
            app_env: "dev".into(),
            results_retain: 10,
            job_ttl_days: 7,
            jobs_retain_finished: 10,
            dlq_expire_days: 7,
            keep_clean_results: true,
        },
    )
    .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    let wal = data.join("dsx-connect.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
}

both!(connector_secrets_are_sealed_at_rest_with_a_store_key);
async fn connector_secrets_are_sealed_at_rest_with_a_store_key(kind: Kind) {
    use dsx_connect::auth::credentials::CredentialRecord;
    use dsx_connect::auth::seal::StoreKey;
    use dsx_connect::backend::CredentialStore;
    use dsx_connect::backend::sealed::SealedCredentials;
    let st = open(kind, 1000);
    let key = std::sync::Arc::new(StoreKey::from_file_content(&[9u8; 32]).unwrap());
    let sealed = SealedCredentials::new(std::sync::Arc::clone(&st.b.credentials), Some(key));
    let (rec, k) = CredentialRecord::enroll(&cu("u-s"), "http://c:1/fs", "fs", hmac_now());
    assert!(sealed.put_credential(&rec, None).await.unwrap());
    // What the engine holds is sealed, in the record and in the original's hash field.
    let raw = st.b.credentials.credential(&cu("u-s")).await.unwrap().unwrap();
    assert!(raw.hmac_secret.as_deref().unwrap().starts_with("enc:v1:"), "{raw:?}");
    if let Some(path) = &st.sqlite {
        let conn = rusqlite::Connection::open(path).unwrap();
        let text: String = conn
            .query_row(
                "SELECT record FROM connector_credentials WHERE uuid = ?1",
                [cu("u-s").to_string()],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!text.contains(k.secret()), "no clear secret in the database");
    }
    if let Some(url) = &st.redis {
        let mut c = redis_conn(url).await;
        let field: String = redis::cmd("HGET")
            .arg(format!("dev:dsx-connect:connectors:config:{}", cu("u-s")))
            .arg("hmac_secret")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(field.starts_with("enc:v1:"), "{field}");
    }
    // Through the layer it is the key again, by uuid and by key id.
    let open_rec = sealed.credential(&cu("u-s")).await.unwrap().unwrap();
    assert_eq!(open_rec.hmac_secret.as_deref(), Some(k.secret()));
    let by_key = sealed.credential_by_key(&k.key_id).await.unwrap().unwrap();
    assert_eq!(by_key.hmac_secret.as_deref(), Some(k.secret()));
    // Without the key a sealed record is refused, not handed out sealed.
    let blind = SealedCredentials::new(std::sync::Arc::clone(&st.b.credentials), None);
    assert!(blind.credential(&cu("u-s")).await.is_err());
}

both!(stale_connector_records_are_forgotten_but_revoked_ones_kept);
async fn stale_connector_records_are_forgotten_but_revoked_ones_kept(kind: Kind) {
    use dsx_connect::auth::credentials::{CredentialRecord, revoke};
    let st = open(kind, 1000);
    let env: std::collections::BTreeMap<String, String> =
        [("DSXCONNECT_AUTH__ENABLED".to_string(), "true".to_string())]
            .into_iter()
            .collect();
    let settings = dsx_connect::config::Settings::from_map(&env, None).unwrap().settings;
    let trust = dsx_connect::trust::Trust::new(
        std::sync::Arc::clone(&st.b.credentials),
        std::sync::Arc::clone(&st.b.tokens),
        std::sync::Arc::default(),
        settings.auth,
    );
    let now = hmac_now();
    let old = now - 31 * 86_400;
    let c = &st.b.credentials;
    c.put_credential(
        &CredentialRecord::enroll(&cu("fresh"), "http://c:1/a", "a", now).0,
        None,
    )
    .await
    .unwrap();
    c.put_credential(
        &CredentialRecord::enroll(&cu("stale"), "http://c:1/b", "b", old).0,
        None,
    )
    .await
    .unwrap();
    let revoked = revoke(
        &CredentialRecord::enroll(&cu("locked"), "http://c:1/c", "c", old).0,
        old,
        "admin",
    );
    c.put_credential(&revoked, None).await.unwrap();
    assert_eq!(trust.forget_stale(30, now).await.unwrap(), [cu("stale")]);
    let mut left: Vec<ConnectorUuid> = c.credentials().await.unwrap().into_iter().map(|r| r.uuid).collect();
    left.sort();
    let mut kept = [cu("fresh"), cu("locked")];
    kept.sort();
    assert_eq!(left, kept);
}

/// `scan` without `--ui` keeps the bodies of findings only: every other result leaves just its
/// once-guard row, so a redelivered result is still recorded once, and the temporary store grows
/// by a few dozen bytes per clean item instead of ~2 KB.
#[tokio::test]
async fn without_clean_bodies_findings_keep_theirs_and_clean_results_are_still_recorded_once() {
    use common::events::result;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        dir.path(),
        StoreOptions {
            app_env: "dev".into(),
            results_retain: -1,
            job_ttl_days: 7,
            jobs_retain_finished: 10,
            dlq_expire_days: 7,
            keep_clean_results: false,
        },
    )
    .unwrap();
    let path = store.path().to_path_buf();
    let b = store.backend();
    let clean = result(0, "/a.txt", false, false);
    let bad = result(1, "/eicar.txt", true, false);
    let inserted = |r: dsx_connect::backend::Recorded| r.result.expect("stored result").inserted;
    assert!(inserted(
        b.jobs.record_outcome(processed_with(clean.clone())).await.unwrap()
    ));
    assert!(
        !inserted(b.jobs.record_outcome(processed_with(clean.clone())).await.unwrap()),
        "the guard row still makes recording idempotent"
    );
    assert!(inserted(
        b.jobs.record_outcome(processed_with(bad.clone())).await.unwrap()
    ));
    let query = dsx_connect::backend::ResultQuery {
        limit: 100,
        ..Default::default()
    };
    let all = b.results.list(query).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.scan_request.location.as_str()).collect::<Vec<_>>(),
        ["/eicar.txt"]
    );
    assert!(b.results.by_task(&tid("task-0")).await.unwrap().is_none());
    assert_eq!(
        b.results
            .by_task(&tid("task-1"))
            .await
            .unwrap()
            .unwrap()
            .scan_request
            .location,
        "/eicar.txt"
    );
    let stats = b.results.stats().await.unwrap();
    assert_eq!((stats.files_scanned, stats.malicious), (2, 1), "statistics count both");
    let conn = rusqlite::Connection::open(path).unwrap();
    let bytes: i64 = conn
        .query_row(
            "SELECT length(body) FROM results WHERE task_id = ?1",
            [tid("task-0").to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bytes, 0);
}

/// The verdict memory keeps the newest `bound` entries: remembering past the bound forgets the
/// oldest, a replaced entry keeps its place, and each entry is recalled as it was remembered.
async fn the_verdict_memory_keeps_the_newest_entries_within_its_bound(kind: Kind) {
    use dsx_connect::backend::reuse::{MemoryKey, Remembered};
    use dsx_connect::model::{EngineIdentity, ItemIdentity, ReusedFrom};
    let st = open(kind, 1000);
    let engine = EngineIdentity::new(Engine::Embedded, "v1");
    let key = |i: u64| {
        let id = ItemIdentity::File {
            dev: 1,
            ino: i,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        MemoryKey::new(&cu("c"), &format!("/f{i}"), &id, &engine)
    };
    let entry = |i: u64, kind: VerdictKind| Remembered {
        verdict: Verdict::bare(kind, Engine::Embedded),
        from: ReusedFrom {
            task_id: tid(&format!("t{i}")),
            scanned_at: "2026-01-01T00:00:00.000Z".into(),
        },
    };
    for i in 0..5 {
        st.b.memory
            .remember(&key(i), &entry(i, VerdictKind::Benign), 3)
            .await
            .unwrap();
    }
    // Replacing the newest entry neither adds one nor evicts one.
    st.b.memory
        .remember(&key(4), &entry(4, VerdictKind::Malicious), 3)
        .await
        .unwrap();
    for i in 0..2 {
        assert_eq!(
            st.b.memory.recall(&key(i)).await.unwrap(),
            None,
            "entry {i} was evicted"
        );
    }
    for i in 2..5 {
        let want = entry(
            i,
            if i == 4 {
                VerdictKind::Malicious
            } else {
                VerdictKind::Benign
            },
        );
        assert_eq!(st.b.memory.recall(&key(i)).await.unwrap(), Some(want), "entry {i}");
    }
    // One more forgets exactly the oldest kept one.
    st.b.memory
        .remember(&key(5), &entry(5, VerdictKind::Benign), 3)
        .await
        .unwrap();
    assert_eq!(st.b.memory.recall(&key(2)).await.unwrap(), None);
    assert!(st.b.memory.recall(&key(3)).await.unwrap().is_some());
}
both!(the_verdict_memory_keeps_the_newest_entries_within_its_bound);
