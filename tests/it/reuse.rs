//! Rescans of unchanged items (docs/SCAN-REUSE.md), end to end on either backend
//! (`DSX_TEST_BACKEND=redis`): a real filesystem connector, a real core with the built-in engine,
//! and the connector's own `read_file` counter (its `/metrics`) as the judge of what was read.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};

const METRICS_TOKEN: &str = "reuse-metrics-token";
const JOB_DEADLINE: Duration = Duration::from_secs(120);

/// `read_file` calls the connector answered so far, from its Prometheus text.
async fn reads(connector_url: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(format!("{connector_url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("dsx_connect_http_requests_total{") && l.contains("/read_file\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until every file was last changed longer ago than the settle time (2 s), so that its
/// verdict is remembered (files changed just before their read are not).
async fn wait_settled(files: &[PathBuf]) {
    use std::os::unix::fs::MetadataExt;
    wait_for("the files to settle", Duration::from_secs(30), || async {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        files
            .iter()
            .all(|f| {
                let m = std::fs::metadata(f).unwrap();
                let changed = (m.mtime() as f64 + m.mtime_nsec() as f64 / 1e9)
                    .max(m.ctime() as f64 + m.ctime_nsec() as f64 / 1e9);
                now - changed > 2.2
            })
            .then_some(())
    })
    .await
}

/// A tree of `n` files, one of them EICAR.
fn tree(root: &Path, n: usize) -> Vec<PathBuf> {
    let mut files = vec![write(root, "bad/eicar.com", EICAR)];
    for i in 1..n {
        files.push(write(
            root,
            &format!("d{}/f{i}.txt", i % 3),
            format!("file {i}").as_bytes(),
        ));
    }
    files
}

/// Starts a full scan (with `query`) and waits for it: the job view and its results.
async fn scan(api: &Api, uuid: &str, query: &str) -> (Value, Vec<Value>) {
    let (s, body) = api
        .post(&format!("/connectors/full_scan/{uuid}{query}"), json!({}))
        .await;
    assert_eq!(s, 202, "{body}");
    let job_id = body["id"].as_str().unwrap().to_string();
    let job = api.wait_job(&job_id, "completed", JOB_DEADLINE).await;
    let (_, results) = api.get(&format!("/scan/results/job/{job_id}")).await;
    (job, results.as_array().unwrap().clone())
}

fn reused(results: &[Value]) -> usize {
    results.iter().filter(|r| r["reused"] == true).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_files_are_not_read_again_until_they_change_or_a_rescan_is_asked() {
    const N: usize = 12;
    let (core, _data) = start_core(&[("DSXCONNECT_SCANNER__ENGINE", "embedded")]);
    let asset = tempfile::tempdir().unwrap();
    let files = tree(asset.path(), N);
    let cdata = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        cdata.path(),
        &[
            ("DSXCONNECTOR_METRICS_TOKEN", METRICS_TOKEN),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    );
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    wait_settled(&files).await;

    let (job, results) = scan(&api, &uuid, "").await;
    assert_eq!(count(&job, "processed_count"), N as u64, "{job}");
    assert_eq!(reads(&conn.url).await, N as u64, "the first scan reads everything");
    assert_eq!(reused(&results), 0);

    // Nothing changed: nothing is read, every result says where its verdict comes from, and the
    // job counts them processed with their verdicts.
    let (job, results) = scan(&api, &uuid, "").await;
    assert_eq!(count(&job, "processed_count"), N as u64, "{job}");
    assert_eq!(count(&job, "verdict_malicious"), 1, "{job}");
    assert_eq!(count(&job, "verdict_benign"), N as u64 - 1, "{job}");
    assert_eq!(reads(&conn.url).await, N as u64, "the rescan reads nothing");
    assert_eq!(reused(&results), N, "{results:?}");
    for r in &results {
        assert!(r["reused_from"]["scanned_at"].is_string(), "{r}");
        assert!(r["reused_from"]["task_id"].is_string(), "{r}");
        assert_ne!(r["reused_from"]["task_id"], r["scan_request_task_id"], "{r}");
        assert_eq!(r["verdict"]["scan_engine"], "embedded", "{r}");
    }
    let malicious = results.iter().find(|r| r["verdict"]["verdict"] == "Malicious").unwrap();
    assert!(
        malicious["scan_request"]["location"]
            .as_str()
            .unwrap()
            .ends_with("eicar.com")
    );

    // One file changes: exactly that one is read.
    std::fs::write(&files[3], b"changed content").unwrap();
    let (job, results) = scan(&api, &uuid, "").await;
    assert_eq!(count(&job, "processed_count"), N as u64, "{job}");
    assert_eq!(reads(&conn.url).await, N as u64 + 1, "only the changed file is read");
    assert_eq!(reused(&results), N - 1);

    // rescan_all reads everything, whatever is remembered.
    let (job, results) = scan(&api, &uuid, "?rescan_all=true").await;
    assert_eq!(count(&job, "processed_count"), N as u64, "{job}");
    assert_eq!(reads(&conn.url).await, 2 * N as u64 + 1, "rescan_all reads everything");
    assert_eq!(reused(&results), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_engine_identity_rescans_everything_and_the_memory_survives_a_restart() {
    const N: usize = 6;
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = || TcpListener::bind(("127.0.0.1", port)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let list = data.path().join("hashes.txt");
    std::fs::write(&list, format!("{} first\n", "a".repeat(64))).unwrap();
    let list_env = list.display().to_string();
    let env = [
        ("DSXCONNECT_SCANNER__ENGINE", "embedded"),
        ("DSXCONNECT_SCANNER__SHA256_BLOCKLIST", list_env.as_str()),
    ];
    let mut core = start_core_on(data.path(), &env, bind());
    let asset = tempfile::tempdir().unwrap();
    let files = tree(asset.path(), N);
    let cdata = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        cdata.path(),
        &[
            ("DSXCONNECTOR_METRICS_TOKEN", METRICS_TOKEN),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    );
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    wait_settled(&files).await;
    scan(&api, &uuid, "").await;
    assert_eq!(reads(&conn.url).await, N as u64);

    // The same engine after a restart: the memory is in the store, nothing is read.
    core.stop();
    let mut core = start_core_on(data.path(), &env, bind());
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan_when_reachable(&uuid).await;
    api.wait_job(&job_id, "completed", JOB_DEADLINE).await;
    assert_eq!(reads(&conn.url).await, N as u64, "remembered across the restart");

    // A changed hash list is another engine identity: everything is read again.
    std::fs::write(&list, format!("{} second\n", "b".repeat(64))).unwrap();
    core.stop();
    let _core = start_core_on(data.path(), &env, bind());
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan_when_reachable(&uuid).await;
    let job = api.wait_job(&job_id, "completed", JOB_DEADLINE).await;
    assert_eq!(count(&job, "processed_count"), N as u64, "{job}");
    assert_eq!(
        reads(&conn.url).await,
        2 * N as u64,
        "a new engine identity reads everything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_memory_off_every_scan_reads_everything() {
    const N: usize = 4;
    let (core, _data) = start_core(&[
        ("DSXCONNECT_SCANNER__ENGINE", "embedded"),
        ("DSXCONNECT_WORKERS__REUSE_MAX_ENTRIES", "0"),
    ]);
    let asset = tempfile::tempdir().unwrap();
    let files = tree(asset.path(), N);
    let cdata = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        cdata.path(),
        &[
            ("DSXCONNECTOR_METRICS_TOKEN", METRICS_TOKEN),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    );
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    wait_settled(&files).await;
    scan(&api, &uuid, "").await;
    let (_, results) = scan(&api, &uuid, "").await;
    assert_eq!(reads(&conn.url).await, 2 * N as u64);
    assert_eq!(reused(&results), 0);
}
