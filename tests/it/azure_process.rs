//! The Azure Blob connector as users run it: `dsx-connect scan az://container/prefix` (exit codes,
//! summary, quarantine in the container) and `dsx-connect serve --azure container/prefix`
//! scanning a 300 MB blob through the whole pipeline with flat memory — against Azurite.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::azurite::*;
use common::*;
use serde_json::Value;

fn bin(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
    for (k, v) in azure_env(endpoint) {
        c.env(k, v);
    }
    c.env("DSXCONNECT_LOG_LEVEL", "warn");
    c
}

/// `scan az://c/pre` scans only names below the prefix, exits 1 listing the malicious blob, and
/// `--action move` leaves it in the quarantine prefix of the same container; a clean prefix exits
/// 0; a missing container exits 2 naming it.
#[test]
fn scan_of_an_azure_prefix_reports_moves_and_sets_the_exit_code() {
    let endpoint = azurite().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let az = admin(&endpoint);
    let container = unique("cli");
    rt.block_on(async {
        create_container(&az, &container).await;
        for i in 0..20 {
            put(&az, &container, &format!("pre/d{}/f {i}.txt", i % 4), b"clean").await;
        }
        put(&az, &container, "pre/d1/evil+1.com", EICAR).await;
        put(&az, &container, "other/evil.com", EICAR).await;
        put(&az, &container, "clean/only.txt", b"fine").await;
    });

    let out = run_for(
        bin(&endpoint)
            .args(["scan", &format!("az://{container}/pre"), "--json", "--action", "move"])
            .args(["--quarantine", "quarantined"]),
        120,
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["files"], 21, "{v}");
    assert_eq!(v["verdicts"]["malicious"], 1, "{v}");
    assert_eq!(v["actions"]["taken"], 1, "{v}");
    assert_eq!(v["malicious"][0]["path"], "pre/d1/evil+1.com", "{v}");
    let names = rt.block_on(names(&az, &container));
    assert!(
        names.contains(&"quarantined/pre/d1/evil+1.com".to_string()),
        "{names:?}"
    );
    assert!(!names.contains(&"pre/d1/evil+1.com".to_string()), "{names:?}");
    assert!(
        names.contains(&"other/evil.com".to_string()),
        "outside the prefix: untouched"
    );

    let out = run_for(bin(&endpoint).args(["scan", &format!("az://{container}/clean")]), 120);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let missing = unique("nocontainer");
    let out = run_for(bin(&endpoint).args(["scan", &format!("az://{missing}")]), 120);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing), "{err}");
}

/// `serve --azure container/prefix`: a full scan of a 300 MB blob reaches the scanner
/// byte-identical (length and SHA-256), and the process's peak resident memory grows by at most
/// 16 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_azure_scans_a_300_mb_blob_with_flat_memory() {
    const SIZE: usize = 300 << 20;
    let endpoint = azurite().to_string();
    let az = admin(&endpoint);
    let container = unique("big");
    create_container(&az, &container).await;
    put(&az, &container, "data/big.bin", &vec![0u8; SIZE]).await;

    let dsxa = Dsxa::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let mut child = bin(&endpoint)
        .args(["serve", "--action", "nothing", "--azure", &format!("{container}/data")])
        .env("DSXCONNECT_PORT", port.to_string())
        .env("DSXCONNECT_HOST", "127.0.0.1")
        .env("DSXCONNECT_DATA_DIR", data.path())
        .env("DSXCONNECT_SCANNER__SCAN_BINARY_URL", dsxa.scan_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let conn = wait_for("built-in Azure connector", Duration::from_secs(60), || async {
        let (_, list) = api.get("/connectors/list").await;
        list.as_array()?.first().cloned()
    })
    .await;
    assert_eq!(conn["name"], "azure-blob-storage-connector", "{conn}");
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
    assert_eq!(cap["body_len"], SIZE as u64);
    let zeros = vec![0u8; 1 << 20];
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for _ in 0..300 {
        sha2::Digest::update(&mut h, &zeros);
    }
    assert_eq!(cap["body_sha256"], hex::encode(sha2::Digest::finalize(h)));
    let growth_mb = peak.saturating_sub(before) / 1024;
    eprintln!("300 MiB blob: RSS before {before} kB, peak {peak} kB, growth {growth_mb} MiB");
    assert!(
        growth_mb <= 16,
        "resident memory grew by {growth_mb} MiB for a 300 MiB blob (before {before} kB, peak {peak} kB)"
    );
}
