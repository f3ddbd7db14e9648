//! End to end: a real connector, a real core and the DSXA stub as separate servers on loopback.

mod common;

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
