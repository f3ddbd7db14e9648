//! A folder monitor that cannot watch (the inotify watch limit is reached) says so on readyz,
//! in `/config` and in the log, and recovers by itself once watching is possible again.
//!
//! This lowers the machine-wide `fs.inotify.max_user_watches` for a few seconds, so it lives in
//! a test binary of its own (cargo runs test binaries one after another) and needs root.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::fake_core::FakeCore;
use common::*;
use serde_json::Value;

const LIMIT: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Sets the watch limit and puts the old value back when dropped, even if the test fails.
struct WatchLimit(String);

impl WatchLimit {
    fn set(n: u64) -> Self {
        let old = std::fs::read_to_string(LIMIT).expect("inotify limits readable");
        std::fs::write(LIMIT, n.to_string()).expect("writing the inotify limit needs root");
        Self(old.trim().to_string())
    }
}

impl Drop for WatchLimit {
    fn drop(&mut self) {
        let _ = std::fs::write(LIMIT, &self.0);
    }
}

#[tokio::test]
async fn a_watch_limit_is_reported_on_readyz_and_in_the_log_then_recovered() {
    let fc = FakeCore::start();
    let asset = tempfile::tempdir().unwrap();
    for d in ["a", "b/c", "d/e/f"] {
        write(asset.path(), &format!("{d}/x.txt"), b"x");
    }
    let data = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/filesystem-connector");
    let limit = WatchLimit::set(1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
        .args(["connector", "filesystem", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--asset")
        .arg(asset.path())
        .arg("--data-dir")
        .arg(data.path())
        .args(["--core-url", &fc.url])
        .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://127.0.0.1:{port}"))
        .env("DSXCONNECTOR_MONITOR", "true")
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let config = || async {
        http.get(format!("{url}/config"))
            .send()
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()
    };
    let error = wait_for("the monitor error", Duration::from_secs(20), || async {
        config().await?["monitor"]["error"].as_str().map(str::to_string)
    })
    .await;
    assert!(error.contains("inotify watch limit"), "{error}");
    let ready = http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 503, "not ready while the monitor cannot watch");

    drop(limit);
    wait_for("watching again", Duration::from_secs(20), || async {
        let cfg = config().await?;
        (cfg["monitor"]["watching"] == true).then_some(())
    })
    .await;
    wait_for("ready again", Duration::from_secs(20), || async {
        let s = http.get(format!("{url}/readyz")).send().await.ok()?.status().as_u16();
        (s == 200).then_some(())
    })
    .await;
    // Watching for real: a new file is sent.
    write(asset.path(), "d/e/f/new.txt", b"new");
    wait_for("the new file's scan request", Duration::from_secs(20), || async {
        fc.scan_items()
            .iter()
            .any(|i| i["location"].as_str().is_some_and(|l| l.ends_with("d/e/f/new.txt")))
            .then_some(())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        text.contains("the folder monitor is not watching") && text.contains("max_user_watches"),
        "{text}"
    );
    assert!(text.contains("the folder monitor is watching"), "{text}");
}
