//! The store traits exercised directly (the embedded backend today; the Redis backend will run
//! the same cases): exactly-once recording under concurrency, retention of finished jobs and
//! expiry of dead letters.

use dsx_connect::backend::sqlite::{SqliteStore, StoreOptions};
use dsx_connect::backend::{Backend, Outcome, OutcomeRecord};
use dsx_connect::model::result::ScanResultModel;
use dsx_connect::model::{
    DlqEntry, Engine, ItemActionStatusResponse, ScanRequestModel, Stage, Verdict, VerdictKind, WorkItem,
};

fn store(dir: &std::path::Path, retain_finished: u64) -> (Backend, std::path::PathBuf) {
    let s = SqliteStore::open(
        dir,
        StoreOptions {
            app_env: "dev".into(),
            results_retain: 1000,
            job_ttl_days: 7,
            jobs_retain_finished: retain_finished,
            dlq_expire_days: 7,
        },
    )
    .unwrap();
    let path = s.path().to_path_buf();
    (s.backend(), path)
}

fn processed(task: &str, job: &str) -> OutcomeRecord {
    OutcomeRecord {
        task_id: task.into(),
        job_id: job.into(),
        outcome: Outcome::Processed {
            verdict: Box::new(Verdict::bare(VerdictKind::Benign, Engine::Embedded)),
            action: Box::new(ItemActionStatusResponse::no_action()),
        },
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_repeated_outcomes_count_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = store(dir.path(), 1000);
    b.jobs.enqueue_done("j", Some(100)).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..100 {
        let b = b.clone();
        handles.push(tokio::spawn(async move {
            let task = format!("t{i}");
            // Every item is delivered twice (a redelivery after a crash).
            for _ in 0..2 {
                b.results.record(result(&task, "j", 10)).await.unwrap();
                b.jobs.record_outcome(processed(&task, "j")).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let stats = b.results.stats().await.unwrap();
    assert_eq!(stats.files_scanned, 100);
    assert_eq!(stats.total_file_size, 1000);
    let job = b.jobs.get("j").await.unwrap().unwrap();
    assert_eq!(job.processed_count, 100);
    assert_eq!(job.verdicts.benign, 100);
    // enqueue_done announced 100: the job completed when the 100th distinct outcome arrived.
    assert_eq!(job.status, dsx_connect::model::JobStatus::Completed);
}

#[tokio::test]
async fn finished_jobs_beyond_the_retained_count_are_purged_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (b, path) = store(dir.path(), 2);
    for i in 0..5 {
        b.jobs.enqueue_done(&format!("done{i}"), Some(0)).await.unwrap();
    }
    b.jobs.create("active", Default::default()).await.unwrap();
    // Spread their start times so "oldest" is well defined.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for i in 0..5 {
        conn.execute(
            "UPDATE jobs SET started_at = started_at - ?1 WHERE job_id = ?2",
            rusqlite::params![100 - i, format!("done{i}")],
        )
        .unwrap();
    }
    b.maintenance.purge_expired().await.unwrap();
    let left: Vec<String> = b
        .jobs
        .list(None, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(left, ["active", "done4", "done3"]);
}

#[tokio::test]
async fn dead_letters_expire_after_the_configured_days() {
    let dir = tempfile::tempdir().unwrap();
    let (b, path) = store(dir.path(), 1000);
    let item = WorkItem {
        task_id: "t".into(),
        job_id: "j".into(),
        stage: Stage::Scan,
        attempt: 0,
        max_attempts: 1,
        enqueued_at: 0,
        scan_request: ScanRequestModel::new("/x", "x"),
        verdict: None,
        item_action: None,
        requeued: false,
    };
    for task in ["old", "new"] {
        let mut it = item.clone();
        it.task_id = task.into();
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
                task_id: task.into(),
                job_id: "j".into(),
                outcome: Outcome::Failed(Box::new(e)),
                attempts: 1,
                requeued: false,
            })
            .await
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE dlq SET failed_at_ms = failed_at_ms - ?1 WHERE task_id = 'old'",
        rusqlite::params![8 * 86_400_000i64],
    )
    .unwrap();
    b.maintenance.purge_expired().await.unwrap();
    let left = b
        .results
        .dlq_items(dsx_connect::model::DlqQueue::ScanRequest, 0, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].meta.task_id, "new");
    let job = b.jobs.get("j").await.unwrap().unwrap();
    assert_eq!(job.failed_count, 2, "expiry removes the entries, not the job's figures");
}
