//! End to end: a real connector, a real core and the DSXA stub as separate servers on loopback.

use crate::common;

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn tree(root: &std::path::Path) -> Vec<u8> {
    write(root, "clean.txt", b"hello");
    write(root, "empty.bin", b"");
    write(root, "nested/deeper/eicar.com", EICAR);
    write(root, "nested/spaced name é ü.txt", "unicode and spaces".as_bytes());
    write(root, "日本語/ファイル.txt", "文字".as_bytes());
    let mut prefixed = b"some header bytes ".to_vec();
    prefixed.extend_from_slice(EICAR);
    prefixed.extend_from_slice(b" trailer");
    write(root, "nested/embedded-eicar.txt", &prefixed);
    let big: Vec<u8> = (0..50u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write(root, "big/fifty.bin", &big);
    big
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scan_completes_with_exact_counts_and_quarantines_only_eicar_files() {
    let dsxa = Dsxa::start(&[]);
    let (core, data) = start_core(&[("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &dsxa.scan_url())]);
    let asset = tempfile::tempdir().unwrap();
    let big = tree(asset.path());
    let (_conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        data.path(),
        &[("DSXCONNECTOR_ITEM_ACTION", "move")],
    );
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;

    let job_id = api.full_scan(&uuid).await;
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(60)).await;

    assert_eq!(count(&job, "enqueued_count"), 7);
    assert_eq!(count(&job, "processed_count"), 7);
    assert_eq!(count(&job, "failed_count") + count(&job, "skipped_count"), 0);
    assert_eq!(count(&job, "verdict_malicious"), 2);
    assert_eq!(count(&job, "verdict_benign"), 5);
    assert_eq!(count(&job, "actions_taken"), 2);
    assert_eq!(job["completed_by"], "enqueue_done");
    assert_eq!(job["enqueued_total"], "7");
    assert!(job["finished_at"].is_string());

    // Exactly the EICAR files moved, keeping their relative paths.
    let q = asset.path().join("dsxconnect-quarantine");
    assert_eq!(std::fs::read(q.join("nested/deeper/eicar.com")).unwrap(), EICAR);
    assert!(q.join("nested/embedded-eicar.txt").exists());
    assert!(!asset.path().join("nested/deeper/eicar.com").exists());
    for kept in [
        "clean.txt",
        "empty.bin",
        "nested/spaced name é ü.txt",
        "日本語/ファイル.txt",
        "big/fifty.bin",
    ] {
        assert!(asset.path().join(kept).exists(), "{kept} must stay");
    }

    // The 50 MB file reached the scanner byte for byte, streamed with its length.
    let caps = dsxa.captured().await;
    let want = hex::encode(Sha256::digest(&big));
    let big_req = caps
        .iter()
        .find(|c| c["body_len"] == 52_428_800)
        .expect("the big file was scanned");
    assert_eq!(big_req["body_sha256"], Value::String(want));
    assert_eq!(big_req["headers"]["content-length"], "52428800");
    assert_eq!(big_req["headers"]["content-type"], "application/octet-stream");
    let empty = caps
        .iter()
        .find(|c| c["body_len"] == 0)
        .expect("the empty file was scanned");
    assert!(
        empty["headers"]["x-custom-metadata"]
            .as_str()
            .unwrap()
            .starts_with("file-tag:empty.bin,task-id:")
    );

    // Results are listed per job, newest first, with results of every verdict.
    let (_, results) = api.get(&format!("/scan/results/job/{job_id}")).await;
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 7);
    assert!(results.windows(2).all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()));
    let (_, stats) = api.get("/scan/stats").await;
    assert_eq!(stats["files_scanned"], 7);
    assert_eq!(stats["malicious_count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_tree_completes_at_once_with_zero_items() {
    let (core, data) = start_core(&[]);
    let asset = tempfile::tempdir().unwrap();
    let (_conn, uuid) = start_fs_connector(&core.url, asset.path(), data.path(), &[]);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan(&uuid).await;
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(20)).await;
    assert_eq!(count(&job, "enqueued_count"), 0);
    assert_eq!(job["enqueued_total"], "0");
}

/// Issue 15: names that are not UTF-8 are scanned and acted on, an unreadable folder is counted,
/// link loops are not entered. The connector is a separate process that cannot read `locked/`
/// (as root it runs as an unprivileged user without capabilities).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_are_not_utf8_are_scanned_and_quarantined_and_an_unreadable_folder_is_counted() {
    use common::hostile_tree::{self, EICAR_LOCATION_TAIL, READABLE_FILES, Tree};
    let (core, _data) = start_core(&[]);
    let tree = Tree::new();
    let conn_data = hostile_tree::writable_dir();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let mut child = hostile_tree::unprivileged(std::path::Path::new(env!("CARGO_BIN_EXE_dsx-connect")))
        .args(["connector", "filesystem", "--listen", &listen, "--core-url", &core.url])
        .arg("--asset")
        .arg(tree.path())
        .arg("--data-dir")
        .arg(conn_data.path())
        .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://{listen}"))
        .env("DSXCONNECTOR_ITEM_ACTION", "move")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the connector starts (setpriv is needed when the tests run as root)");
    let api = Api::new(&core.url);
    let uuid = wait_for("connector registration", Duration::from_secs(60), || async {
        let (_, list) = api.get("/connectors/list").await;
        list.as_array()?.first()?["uuid"].as_str().map(str::to_string)
    })
    .await;

    let job_id = api.full_scan(&uuid).await;
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(120)).await;
    let _ = child.kill();
    let _ = child.wait();

    // Every readable file was scanned; the locked folder was counted, not entered.
    assert_eq!(count(&job, "enqueued_count"), READABLE_FILES, "{job}");
    assert_eq!(
        count(&job, "processed_count") + count(&job, "failed_count") + count(&job, "skipped_count"),
        count(&job, "enqueued_count")
    );
    assert_eq!(count(&job, "processed_count"), READABLE_FILES, "{job}");
    assert_eq!(count(&job, "unreadable_count"), 1, "{job}");
    assert_eq!(count(&job, "verdict_malicious"), 1);
    assert_eq!(count(&job, "actions_taken"), 1);
    assert_eq!(job["completed_by"], "enqueue_done");
    // The job list and its summaries carry the count too.
    let (_, list) = api.get("/scan/jobs").await;
    let listed = list
        .as_array()
        .and_then(|l| l.iter().find(|j| j["job_id"] == job_id.as_str()).cloned())
        .unwrap_or_else(|| panic!("job {job_id} listed in {list}"));
    assert_eq!(listed["unreadable_count"], "1");

    // The EICAR file, found under its exact bytes, was moved keeping them.
    let q = tree.path().join("dsxconnect-quarantine");
    assert_eq!(std::fs::read(hostile_tree::quarantined_eicar(&q)).unwrap(), EICAR);
    assert!(
        !tree
            .path()
            .join(std::ffi::OsStr::from_bytes(hostile_tree::EICAR_REL))
            .exists()
    );

    // Results name every scanned file by its location, the encoded form for the others.
    let base = tree.path().display().to_string();
    let (_, results) = api.get(&format!("/scan/results/job/{job_id}")).await;
    let mut locations: Vec<String> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scan_request"]["location"].as_str().unwrap().to_string())
        .collect();
    locations.sort();
    let mut want = vec![
        format!("dsx-bytes:{base}/d%FEir/caf%E9.txt"),
        format!("dsx-bytes:{base}{EICAR_LOCATION_TAIL}"),
        format!("{base}/ok.txt"),
        format!("{base}/utf8 ü.txt"),
    ];
    want.sort();
    assert_eq!(locations, want);
    let malicious = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"]["verdict"] == "Malicious")
        .unwrap();
    assert_eq!(
        malicious["scan_request"]["location"],
        format!("dsx-bytes:{base}{EICAR_LOCATION_TAIL}").as_str()
    );
    assert_eq!(malicious["item_action"]["status"], "success", "{malicious}");
}
