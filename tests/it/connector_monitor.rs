//! The filesystem monitor (docs/reference/CONNECTORS.md, "Monitor").

use crate::common;

use std::time::{Duration, Instant};

use common::fake_core::FakeCore;
use common::*;
use serde_json::Value;

struct Rig {
    fc: FakeCore,
    _conn: Threaded,
    url: String,
    asset: tempfile::TempDir,
    _data: tempfile::TempDir,
}

fn rig(env: &[(&str, &str)]) -> Rig {
    let fc = FakeCore::start();
    let asset = tempfile::tempdir().unwrap();
    write(asset.path(), "existing.pdf", b"old");
    let data = tempfile::tempdir().unwrap();
    let mut all = vec![
        ("DSXCONNECTOR_MONITOR", "true"),
        ("DSXCONNECTOR_MONITOR_DEBOUNCE_MS", "300"),
    ];
    all.extend_from_slice(env);
    let (conn, _) = start_fs_connector(&fc.url, asset.path(), data.path(), &all);
    let url = conn.url.clone();
    Rig {
        fc,
        _conn: conn,
        url,
        asset,
        _data: data,
    }
}

impl Rig {
    async fn watching(&self) {
        wait_for("monitor watching", Duration::from_secs(10), || async {
            let cfg: Value = reqwest::get(format!("{}/config", self.url))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (cfg["monitor"]["watching"] == true).then_some(())
        })
        .await;
    }

    /// Writes an in-scope file after every other change and waits until it is sent: each
    /// earlier change has settled and been sent (or not) by then. Returns the other locations.
    async fn after_barrier(&self, name: &str) -> Vec<String> {
        write(self.asset.path(), name, b"barrier");
        let want = self.loc(name);
        wait_for("the barrier file", Duration::from_secs(10), || async {
            self.locations().contains(&want).then_some(())
        })
        .await;
        self.locations()
            .into_iter()
            .filter(|l| !l.contains("/zz-barrier"))
            .collect()
    }

    fn locations(&self) -> Vec<String> {
        self.fc
            .scan_items()
            .iter()
            .map(|i| i["location"].as_str().unwrap().to_string())
            .collect()
    }

    fn loc(&self, rel: &str) -> String {
        format!("{}/{rel}", self.asset.path().display())
    }
}

#[tokio::test]
async fn a_new_file_is_sent_once_after_it_settles_then_its_job_is_closed() {
    let r = rig(&[]);
    r.watching().await;
    let t0 = Instant::now();
    write(r.asset.path(), "sub/new.txt", b"hello");
    wait_for("scan request", Duration::from_millis(300 + 2000), || async {
        (!r.locations().is_empty()).then_some(())
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "not before the debounce window"
    );
    assert_eq!(r.locations(), [r.loc("sub/new.txt")]);
    let item = &r.fc.scan_items()[0];
    assert_eq!(item["size_in_bytes"], 5);
    let job = item["scan_job_id"].as_str().unwrap().to_string();
    let done = wait_for("enqueue_done", Duration::from_secs(5), || async {
        r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))
            .first()
            .map(|x| x.body.clone())
    })
    .await;
    assert_eq!(done, serde_json::json!({"enqueued_total": 1}));
    assert_eq!(
        r.after_barrier("zz-barrier.txt").await.len(),
        1,
        "exactly one request, and nothing for files that were there before"
    );
}

#[tokio::test]
async fn a_file_written_in_many_steps_is_sent_once_after_the_writes_stop() {
    let r = rig(&[]);
    r.watching().await;
    let path = r.asset.path().join("growing.log");
    let mut f = std::fs::File::create(&path).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        std::io::Write::write_all(&mut f, b"line\n").unwrap();
        f.sync_data().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(r.locations().is_empty(), "nothing while it is still being written");
    }
    drop(f);
    wait_for("one request", Duration::from_secs(3), || async {
        (!r.locations().is_empty()).then_some(())
    })
    .await;
    assert_eq!(r.after_barrier("zz-barrier.txt").await, [r.loc("growing.log")]);
}

#[tokio::test]
async fn filters_quarantine_deletes_and_metadata_changes_send_nothing() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "*.pdf -skipme")]);
    r.watching().await;
    write(r.asset.path(), "notes.txt", b"out of scope");
    write(r.asset.path(), "skipme/inside.pdf", b"excluded folder");
    write(r.asset.path(), "dsxconnect-quarantine/q.pdf", b"quarantined");
    std::fs::remove_file(r.asset.path().join("existing.pdf")).unwrap();
    write(r.asset.path(), "keep.pdf", b"x");
    let before = r.after_barrier("zz-barrier-1.pdf").await;
    assert_eq!(before, [r.loc("keep.pdf")], "only the in-scope file");
    // Metadata-only changes on a scanned file.
    let keep = r.asset.path().join("keep.pdf");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&keep, std::fs::Permissions::from_mode(0o600)).unwrap();
    let _ = dsx_connect::connectors::filesystem::actions::set_xattr(
        &std::fs::File::open(&keep).unwrap(),
        "user.dsx.verdict",
        b"Malicious",
    );
    assert_eq!(
        r.after_barrier("zz-barrier-2.pdf").await,
        before,
        "chmod and tags trigger nothing"
    );
}

#[tokio::test]
async fn renames_and_folders_moved_in_count_as_new() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "**/*.pdf")]);
    let outside = tempfile::tempdir_in(r.asset.path().parent().unwrap()).unwrap();
    write(outside.path(), "batch/one.pdf", b"1");
    write(outside.path(), "batch/deeper/two.pdf", b"2");
    r.watching().await;
    write(r.asset.path(), "a.tmp", b"draft");
    // The scenario: a draft written, then renamed a moment later (not a wait for anything).
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::rename(r.asset.path().join("a.tmp"), r.asset.path().join("a.pdf")).unwrap();
    std::fs::rename(outside.path().join("batch"), r.asset.path().join("batch")).unwrap();
    wait_for("three requests", Duration::from_secs(5), || async {
        (r.locations().len() >= 3).then_some(())
    })
    .await;
    let mut locs = r.after_barrier("zz-barrier.pdf").await;
    locs.sort();
    assert_eq!(
        locs,
        [r.loc("a.pdf"), r.loc("batch/deeper/two.pdf"), r.loc("batch/one.pdf")]
    );
}

#[tokio::test]
async fn the_polling_watcher_sees_new_files_too() {
    let r = rig(&[
        ("DSXCONNECTOR_MONITOR_FORCE_POLLING", "true"),
        ("DSXCONNECTOR_MONITOR_POLL_INTERVAL_MS", "200"),
    ]);
    r.watching().await;
    // A first file seen proves the poller has its baseline; the next one is new to it.
    assert!(r.after_barrier("zz-barrier.txt").await.is_empty());
    write(r.asset.path(), "polled.txt", b"x");
    let want = r.loc("polled.txt");
    wait_for("scan request", Duration::from_secs(10), || async {
        r.locations().contains(&want).then_some(())
    })
    .await;
    let others: Vec<String> = r
        .locations()
        .into_iter()
        .filter(|l| !l.contains("/zz-barrier"))
        .collect();
    assert_eq!(others, [want]);
}

#[tokio::test]
async fn a_missing_folder_is_reported_and_watched_once_it_appears() {
    let fc = FakeCore::start();
    let parent = tempfile::tempdir().unwrap();
    let asset = parent.path().join("later");
    let data = tempfile::tempdir().unwrap();
    let (conn, _) = start_fs_connector(
        &fc.url,
        &asset,
        data.path(),
        &[
            ("DSXCONNECTOR_MONITOR", "true"),
            ("DSXCONNECTOR_MONITOR_DEBOUNCE_MS", "200"),
        ],
    );
    let cfg = wait_for("monitor error", Duration::from_secs(10), || async {
        let cfg: Value = reqwest::get(format!("{}/config", conn.url))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        cfg["monitor"]["error"].is_string().then_some(cfg)
    })
    .await;
    assert!(cfg["monitor"]["error"].as_str().unwrap().contains("unavailable"));
    assert_eq!(
        reqwest::get(format!("{}/readyz", conn.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    std::fs::create_dir_all(&asset).unwrap();
    wait_for("watching", Duration::from_secs(10), || async {
        let cfg: Value = reqwest::get(format!("{}/config", conn.url))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (cfg["monitor"]["watching"] == true).then_some(())
    })
    .await;
    write(&asset, "f.txt", b"x");
    wait_for("scan request", Duration::from_secs(5), || async {
        (!fc.scan_items().is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_thousands_is_coalesced_into_batches_each_file_once() {
    let r = rig(&[]);
    r.watching().await;
    for i in 0..3000 {
        write(r.asset.path(), &format!("burst/d{:02}/f{i:05}.bin", i % 30), b"payload");
    }
    wait_for("every file of the burst", Duration::from_secs(30), || async {
        (r.locations().len() >= 3000).then_some(())
    })
    .await;
    // Every monitor job closed, then a later file sent: nothing of the burst came twice.
    wait_for("every burst job closed", Duration::from_secs(30), || async {
        let jobs: std::collections::BTreeSet<String> =
            r.fc.scan_items()
                .iter()
                .map(|i| i["scan_job_id"].as_str().unwrap().to_string())
                .collect();
        let closed: Option<u64> = jobs
            .iter()
            .map(|j| {
                r.fc.requests(&format!("/scan/jobs/{j}/enqueue_done"))
                    .first()
                    .and_then(|d| d.body["enqueued_total"].as_u64())
            })
            .sum();
        (closed == Some(3000)).then_some(())
    })
    .await;
    let mut locs = r.after_barrier("zz-barrier.bin").await;
    assert_eq!(locs.len(), 3000, "nothing twice");
    locs.sort();
    locs.dedup();
    assert_eq!(locs.len(), 3000);
    let requests = r.fc.requests("/scan/request/batch").len() + r.fc.requests("/scan/request").len();
    assert!(requests <= 60, "batched: {requests} requests for 3000 files");
    let jobs: std::collections::BTreeSet<String> =
        r.fc.scan_items()
            .iter()
            .filter(|i| !i["location"].as_str().unwrap().contains("/zz-barrier"))
            .map(|i| i["scan_job_id"].as_str().unwrap().to_string())
            .collect();
    for job in &jobs {
        let done = r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"));
        assert_eq!(done.len(), 1, "one enqueue_done per monitor job");
    }
    let closed: u64 = jobs
        .iter()
        .map(|j| {
            r.fc.requests(&format!("/scan/jobs/{j}/enqueue_done"))[0].body["enqueued_total"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(closed, 3000);
}

#[tokio::test]
async fn a_new_file_whose_name_is_not_utf8_is_sent_with_its_bytes_encoded() {
    use std::os::unix::ffi::OsStrExt;
    let r = rig(&[]);
    r.watching().await;
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9 \x01%.txt");
    std::fs::write(r.asset.path().join(name), b"latin-1").unwrap();
    wait_for("scan request", Duration::from_secs(10), || async {
        (!r.locations().is_empty()).then_some(())
    })
    .await;
    // Invalid byte, control byte and `%` percent-encoded; everything else as it is.
    let want = format!("dsx-bytes:{}/caf%E9 %01%25.txt", r.asset.path().display());
    assert_eq!(r.locations(), [want]);
    let item = &r.fc.scan_items()[0];
    assert_eq!(item["metainfo"], "caf\u{fffd} \u{1}%.txt");
    assert_eq!(item["size_in_bytes"], 7);
}
