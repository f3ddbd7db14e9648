//! The GCS connector as users run it: `dsx-connect scan gs://bucket/prefix` (exit codes, summary,
//! quarantine in the bucket) and `dsx-connect serve --gcs bucket/prefix` scanning a 300 MB
//! object through the whole pipeline while the process's memory stays flat — against
//! fake-gcs-server.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::gcs::*;
use common::*;
use serde_json::Value;

fn bin(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
    for (k, v) in gcs_env(endpoint) {
        c.env(k, v);
    }
    c.env("DSXCONNECT_LOG_LEVEL", "warn");
    c
}

/// `scan gs://bucket/pre` scans only names below the prefix, exits 1 with the malicious name
/// listed, and `--action move` leaves the object in the quarantine prefix of the same bucket; a
/// clean prefix exits 0; a bad bucket name exits 2.
#[test]
fn scan_of_a_gcs_prefix_reports_moves_and_sets_the_exit_code() {
    let endpoint = fake_gcs().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gcs = Admin::new(&endpoint);
    let bucket = unique_bucket("cli");
    rt.block_on(async {
        gcs.create_bucket(&bucket).await;
        for i in 0..20 {
            gcs.put(&bucket, &format!("pre/d{}/f {i}.txt", i % 4), b"clean").await;
        }
        gcs.put(&bucket, "pre/d1/evil+1.com", EICAR).await;
        gcs.put(&bucket, "other/evil.com", EICAR).await;
        gcs.put(&bucket, "clean/only.txt", b"fine").await;
    });

    let out = run_for(
        bin(&endpoint)
            .args(["scan", &format!("gs://{bucket}/pre"), "--json", "--action", "move"])
            .args(["--quarantine", "quarantined"]),
        120,
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["files"], 21, "{v}");
    assert_eq!(v["verdicts"]["malicious"], 1, "{v}");
    assert_eq!(v["actions"]["taken"], 1, "{v}");
    assert_eq!(v["malicious"][0]["path"], "pre/d1/evil+1.com", "{v}");
    let names = rt.block_on(gcs.names(&bucket));
    assert!(
        names.contains(&"quarantined/pre/d1/evil+1.com".to_string()),
        "{names:?}"
    );
    assert!(!names.contains(&"pre/d1/evil+1.com".to_string()), "{names:?}");
    assert!(
        names.contains(&"other/evil.com".to_string()),
        "outside the prefix: untouched"
    );

    let out = run_for(bin(&endpoint).args(["scan", &format!("gs://{bucket}/clean")]), 120);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run_for(bin(&endpoint).args(["scan", "gs://Bad_Bucket"]), 120);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DSXCONNECTOR_ASSET"));
}

/// `serve --gcs bucket/prefix`: a full scan of a 300 MB object reaches the scanner
/// byte-identical (length and SHA-256), and the process's peak resident memory grows by less
/// than 16 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_gcs_scans_a_300_mb_object_with_flat_memory() {
    const SIZE: u64 = 300 << 20;
    let seed = tempfile::tempdir().unwrap();
    let bucket = unique_bucket("big");
    let dir = seed.path().join(&bucket).join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join("big.bin"))
        .unwrap()
        .set_len(SIZE)
        .unwrap(); // zeros
    let endpoint = start_fake_gcs(&["-data", seed.path().to_str().unwrap()]);

    let dsxa = Dsxa::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let mut child = bin(&endpoint)
        .args(["serve", "--action", "nothing", "--gcs", &format!("{bucket}/data")])
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_DATA_DIR", data.path())
        .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let conn = wait_for("built-in GCS connector", Duration::from_secs(30), || async {
        let (_, list) = api.get("/connectors/list").await;
        list.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(conn["name"], "google-cloud-storage-connector", "{conn}");
    let uuid = conn["uuid"].as_str().unwrap().to_string();
    api.wait_registered(&uuid).await;

    let before = status_kb(child.id(), "VmRSS:");
    let job = api.full_scan(&uuid).await;
    let j = api.wait_job(&job, "completed", Duration::from_secs(300)).await;
    let peak = status_kb(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(count(&j, "processed_count"), 1, "{j}");
    let cap = &dsxa.captured().await[0];
    assert_eq!(cap["body_len"], SIZE);
    let zeros = vec![0u8; 1 << 20];
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..300 {
        sha2::Digest::update(&mut h, &zeros);
    }
    assert_eq!(cap["body_sha256"], hex::encode(sha2::Digest::finalize(h)));
    let growth_mb = peak.saturating_sub(before) / 1024;
    eprintln!("300 MiB object through serve --gcs: RSS before {before} kB, peak {peak} kB");
    assert!(
        growth_mb < 16,
        "resident memory grew by {growth_mb} MiB for a 300 MiB object (before {before} kB, peak {peak} kB)"
    );
}
