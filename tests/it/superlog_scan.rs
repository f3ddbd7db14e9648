//! Superlog inside a running core: a full scan with the filesystem connector and the embedded
//! scanner, destinations down or up (docs/reference/SUPERLOG.md, "Isolation from the scan path",
//! "Counters"; issue 7's count rule).

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use common::capture::{Capture, Reply};
use common::rsyslog::free_port;
use common::*;

const EVENT: &str = "/services/collector/event";
const TOKEN: &str = "scan-test-token-91d2";

fn tree(root: &std::path::Path, n: usize) {
    for i in 0..n {
        if i % 50 == 0 {
            write(root, &format!("d{}/eicar-{i}.com", i % 7), EICAR);
        } else {
            write(
                root,
                &format!("d{}/file-{i}.txt", i % 7),
                format!("clean {i}").as_bytes(),
            );
        }
    }
}

fn task_ids(cap: &Capture) -> Vec<String> {
    cap.requests_to(EVENT)
        .iter()
        .flat_map(|r| {
            r.text()
                .split('\n')
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["event"]["scan_request_task_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn superlog_status(api: &Api) -> Value {
    api.get("/superlog/status").await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_with_its_destination_down_completes_and_every_result_is_sent_or_counted_dropped() {
    let cap = Capture::start();
    cap.set_default(EVENT, Reply::new(503, "{}"));
    let (core, data) = start_core(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
        // Scan results only: the API calls of the test are audited too.
        ("DSXCONNECT_SUPERLOG__EVENT_TYPES", "scan_result"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", &cap.url),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", TOKEN),
        ("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS", "50"),
        ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "40"),
        ("DSXCONNECT_SUPERLOG__MAX_ATTEMPTS", "100"),
        ("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS", "50"),
        ("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS", "200"),
    ]);
    let asset = tempfile::tempdir().unwrap();
    tree(asset.path(), 300);
    let (_conn, uuid) = start_fs_connector(&core.url, asset.path(), data.path(), &[]);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan(&uuid).await;
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(120)).await;
    assert_eq!(count(&job, "processed_count"), 300);
    assert_eq!(count(&job, "failed_count"), 0);
    assert_eq!(count(&job, "verdict_malicious"), 6);

    // The first batch may still be in flight when the job completes: wait for its 503.
    let s = wait_for(
        "every result emitted, the destination retrying",
        Duration::from_secs(10),
        || async {
            let s = superlog_status(&api).await;
            let state = s["destinations"][0]["state"].as_str().unwrap_or_default().to_owned();
            (s["emitted"] == 300 && matches!(state.as_str(), "retrying" | "failing")).then_some(s)
        },
    )
    .await;
    let d = &s["destinations"][0];
    assert!(d["dropped"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["sent"], 0);
    let (_, ready) = api.get("/readyz").await;
    assert!(ready["superlog"]["splunk"].is_string(), "{ready}");
    let (_, config) = api.get("/config").await;
    assert_eq!(config["superlog"]["splunk"]["token"], "***");
    assert!(!config.to_string().contains(TOKEN));

    // The receiver comes back: what was kept is delivered, the rest was counted dropped.
    cap.set_default(EVENT, Reply::new(200, r#"{"text":"Success","code":0}"#));
    let d = wait_for("delivery after recovery", Duration::from_secs(20), || async {
        let d = superlog_status(&api).await["destinations"][0].clone();
        (d["buffered"] == 0 && d["sent"].as_u64()? > 0).then_some(d)
    })
    .await;
    let (sent, dropped) = (d["sent"].as_u64().unwrap(), d["dropped"].as_u64().unwrap());
    assert_eq!(sent + dropped, 300, "{d}");
    assert_eq!(d["failed"], 0);
    let delivered: BTreeSet<String> = task_ids(&cap).into_iter().collect();
    assert_eq!(delivered.len() as u64, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_syslog_receiver_does_not_delay_splunk() {
    let cap = Capture::start();
    cap.set_default(EVENT, Reply::new(200, r#"{"text":"Success","code":0}"#));
    let closed = free_port(false).to_string();
    let (core, data) = start_core(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,splunk"),
        // Scan results only: the API calls of the test are audited too.
        ("DSXCONNECT_SUPERLOG__EVENT_TYPES", "scan_result"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &closed),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", &cap.url),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", TOKEN),
        ("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS", "100"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__VERDICTS", "Malicious"),
    ]);
    let asset = tempfile::tempdir().unwrap();
    tree(asset.path(), 200);
    let (_conn, uuid) = start_fs_connector(&core.url, asset.path(), data.path(), &[]);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan(&uuid).await;
    let job = api.wait_job(&job_id, "completed", Duration::from_secs(120)).await;
    assert_eq!(count(&job, "processed_count"), 200);
    // Within 2 s of the last result, HEC has every malicious event.
    wait_for("HEC delivery", Duration::from_secs(2), || async {
        (task_ids(&cap).len() == 4).then_some(())
    })
    .await;
    let s = wait_for("everything accounted", Duration::from_secs(5), || async {
        let s = superlog_status(&api).await;
        s["destinations"]
            .as_array()?
            .iter()
            .all(|d| d["buffered"] == 0 || d["name"] == "syslog")
            .then_some(s)
    })
    .await;
    let by_name = |n: &str| {
        s["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .cloned()
            .unwrap()
    };
    let (syslog, splunk) = (by_name("syslog"), by_name("splunk"));
    assert_eq!(splunk["filtered"], 196);
    assert_eq!(splunk["sent"], 4);
    assert_eq!(syslog["sent"], 0);
    assert!(syslog["last_error"].as_str().unwrap().contains("connect"), "{syslog}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_core_flushes_buffered_events_to_a_reachable_receiver() {
    let cap = Capture::start();
    cap.set_default(EVENT, Reply::new(200, r#"{"text":"Success","code":0}"#));
    let (mut core, data) = start_core(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
        // Scan results only: the API calls of the test are audited too.
        ("DSXCONNECT_SUPERLOG__EVENT_TYPES", "scan_result"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", &cap.url),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", TOKEN),
        // Nothing would be sent for a minute: only the shutdown flush delivers.
        ("DSXCONNECT_SUPERLOG__SPLUNK__FLUSH_INTERVAL_MS", "60000"),
    ]);
    let asset = tempfile::tempdir().unwrap();
    tree(asset.path(), 50);
    let (mut conn, uuid) = start_fs_connector(&core.url, asset.path(), data.path(), &[]);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let job_id = api.full_scan(&uuid).await;
    api.wait_job(&job_id, "completed", Duration::from_secs(60)).await;
    wait_for("50 emitted", Duration::from_secs(5), || async {
        (superlog_status(&api).await["emitted"] == 50).then_some(())
    })
    .await;
    assert!(task_ids(&cap).is_empty());
    conn.stop();
    tokio::task::spawn_blocking(move || core.stop()).await.unwrap();
    let mut ids = task_ids(&cap);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

#[test]
fn a_bad_superlog_setting_stops_start_up_naming_the_variable_without_the_secret() {
    let data = tempfile::tempdir().unwrap();
    for (var, value, want) in [
        (
            "DSXCONNECT_SUPERLOG__DESTINATIONS",
            "syslog,graylog",
            "accepted: syslog, splunk, cloudwatch, sentinel",
        ),
        ("DSXCONNECT_SUPERLOG__REDACT__DENY", "verdict", "mandatory"),
        (
            "DSXCONNECT_SUPERLOG__REDACT__MASKS",
            r#"[{"pattern":"(","replacement":""}]"#,
            "invalid pattern",
        ),
        (
            "DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE",
            "/nonexistent/token",
            "cannot read the secret file",
        ),
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
        cmd.args(["serve"])
            .env("DSXCONNECT_DATA_DIR", data.path())
            .env("DSXCONNECT_PORT", "0")
            .env("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,splunk")
            .env("DSXCONNECT_SUPERLOG__SPLUNK__URL", "http://127.0.0.1:9");
        if !var.ends_with("TOKEN_FILE") {
            cmd.env("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", TOKEN);
        }
        let out = run_for(cmd.env(var, value), 30);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(var) && err.contains(want), "{var}: {err}");
        assert!(!err.contains(TOKEN), "{err}");
    }
}
