//! The filesystem connector's safety: a path-traversal corpus against every route that takes a
//! location, moves across filesystems, tags, and webhooks (docs/reference/CONNECTORS.md,
//! "Containment", "Filesystem item actions", "Filesystem webhook").

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::fake_core::FakeCore;
use common::*;
use serde_json::{Value, json};
use sha2::Digest;

struct Rig {
    fc: FakeCore,
    conn: Threaded,
    asset: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
    http: reqwest::Client,
}

fn rig(env: &[(&str, &str)], fill: impl FnOnce(&Path)) -> Rig {
    let fc = FakeCore::start();
    let root = tempfile::tempdir().unwrap();
    let asset = root.path().join("asset");
    std::fs::create_dir_all(&asset).unwrap();
    fill(&asset);
    let data = tempfile::tempdir().unwrap();
    let (conn, _) = start_fs_connector(&fc.url, &asset, data.path(), env);
    Rig {
        fc,
        conn,
        asset,
        _dirs: vec![root, data],
        http: reqwest::Client::new(),
    }
}

impl Rig {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, bytes::Bytes) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.conn.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap())
    }
}

/// The secret lives next to the asset; links inside the asset point at it.
fn traversal_tree(asset: &Path) {
    let parent = asset.parent().unwrap();
    std::fs::write(parent.join("secret.txt"), b"TOP-SECRET").unwrap();
    std::fs::create_dir_all(parent.join("outside-dir")).unwrap();
    std::fs::write(parent.join("outside-dir/secret.txt"), b"TOP-SECRET").unwrap();
    write(asset, "sub/ok.txt", b"ok");
    std::os::unix::fs::symlink(parent.join("secret.txt"), asset.join("link-file")).unwrap();
    std::os::unix::fs::symlink(parent.join("outside-dir"), asset.join("link-dir")).unwrap();
    std::os::unix::fs::symlink(parent, asset.join("link-parent")).unwrap();
    std::os::unix::fs::symlink(asset.join("link-file"), asset.join("link-chain")).unwrap();
    std::os::unix::fs::symlink("../../secret.txt", asset.join("sub/rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", asset.join("sub/etc-link")).unwrap();
}

/// At least 50 hostile locations: `(location, must be 403)`. The others are strange but
/// harmless names inside the asset (404): what matters for them is that nothing escapes.
fn corpus(asset: &Path) -> Vec<(String, bool)> {
    let a = asset.display().to_string();
    let parent = asset.parent().unwrap().display().to_string();
    let mut v: Vec<(String, bool)> = vec![
        ("/etc/passwd".into(), true),
        ("/etc/hostname".into(), true),
        ("/etc/shadow".into(), true),
        ("/proc/self/environ".into(), true),
        ("/proc/self/cwd/Cargo.toml".into(), true),
        ("/dev/zero".into(), true),
        (format!("{parent}/secret.txt"), true),
        (format!("{parent}/outside-dir/secret.txt"), true),
        (format!("{a}/../secret.txt"), true),
        (format!("{a}/sub/../../secret.txt"), true),
        (format!("{a}/./../secret.txt"), true),
        (format!("{a}//../secret.txt"), true),
        (format!("{a}/sub/./../../outside-dir/secret.txt"), true),
        (format!("{a}/../../../../../../etc/passwd"), true),
        (format!("{a}/link-file"), true),
        (format!("{a}/link-dir/secret.txt"), true),
        (format!("{a}/link-parent/secret.txt"), true),
        (format!("{a}/link-parent/asset/../secret.txt"), true),
        (format!("{a}/link-chain"), true),
        (format!("{a}/sub/rel-link"), true),
        (format!("{a}/sub/etc-link"), true),
        ("../secret.txt".into(), true),
        ("../../etc/passwd".into(), true),
        ("sub/../../secret.txt".into(), true),
        ("./../secret.txt".into(), true),
        ("link-file".into(), true),
        ("link-dir/secret.txt".into(), true),
        ("link-parent/secret.txt".into(), true),
        ("sub/rel-link".into(), true),
        ("sub/../link-chain".into(), true),
        ("/".into(), true),
        ("//etc/passwd".into(), true),
        ("/etc/../etc/passwd".into(), true),
        (format!("{a}-evil/x"), true),
        (format!("{a}evil"), true),
        ("\u{0}".into(), true),
        (format!("{a}/sub/ok.txt\u{0}/../../secret.txt"), true),
        ("sub/ok.txt\u{0}".into(), true),
        (format!("{parent}/asset/../secret.txt"), true),
        ("~/.bashrc".into(), false), // no ~ expansion: a literal name inside the asset
        ("$HOME/.bashrc".into(), false),
        ("%2e%2e/secret.txt".into(), false), // taken literally, never decoded
        ("%2e%2e%2fsecret.txt".into(), false),
        ("..%2fsecret.txt".into(), false),
        ("..%252fsecret.txt".into(), false),
        ("....//secret.txt".into(), false),
        ("..../secret.txt".into(), false),
        ("..\\..\\secret.txt".into(), false),
        ("sub\\..\\..\\secret.txt".into(), false),
        ("\u{ff0e}\u{ff0e}/secret.txt".into(), false), // fullwidth dots
        ("\u{2024}\u{2024}/secret.txt".into(), false), // one-dot leaders
        ("..\u{200b}/secret.txt".into(), false),       // zero-width space
        ("\u{202e}txt.terces/..".into(), false),
        ("sub/ok.txt/../../secret.txt".into(), false), // a file is not a directory: ENOTDIR
        ("sub/ok.txt/..".into(), false),
        ("link-dir".into(), true),
    ];
    v.push((format!("{a}/sub/../../asset/../secret.txt"), true));
    v
}

fn secret_intact(asset: &Path) {
    let parent = asset.parent().unwrap();
    assert_eq!(std::fs::read(parent.join("secret.txt")).unwrap(), b"TOP-SECRET");
    assert_eq!(
        std::fs::read(parent.join("outside-dir/secret.txt")).unwrap(),
        b"TOP-SECRET"
    );
    assert!(Path::new("/etc/passwd").exists());
}

#[tokio::test]
async fn no_location_in_the_traversal_corpus_escapes_the_asset() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "delete")], traversal_tree);
    let cases = corpus(&r.asset);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for (loc, forbidden) in &cases {
        let body = json!({"location": loc, "metainfo": "m"});
        let (s, b) = r.call(reqwest::Method::POST, "/read_file", body.clone()).await;
        assert!(
            !String::from_utf8_lossy(&b).contains("TOP-SECRET"),
            "read_file leaked via {loc:?}"
        );
        assert_ne!(s, 200, "read_file {loc:?}");
        if *forbidden {
            assert_eq!(s, 403, "read_file {loc:?}");
        }
        let (s, _) = r.call(reqwest::Method::PUT, "/item_action", body).await;
        if *forbidden {
            assert_eq!(s, 403, "item_action {loc:?}");
        }
        secret_intact(&r.asset);
        let (s, b) = r
            .call(reqwest::Method::POST, "/webhook/event", json!({"location": loc}))
            .await;
        if *forbidden {
            assert_eq!(s, 403, "webhook {loc:?}: {}", String::from_utf8_lossy(&b));
        }
    }
    assert!(
        r.fc.scan_items().is_empty(),
        "no webhook enqueued anything: {:?}",
        r.fc.scan_items()
    );
    assert!(r.asset.join("sub/ok.txt").exists());
    // The links themselves and a legitimate file still work as they should.
    let (s, b) = r
        .call(
            reqwest::Method::POST,
            "/read_file",
            json!({"location": "sub/ok.txt", "metainfo": "m"}),
        )
        .await;
    assert_eq!((s, &b[..]), (200, &b"ok"[..]));
}

#[tokio::test]
async fn a_move_onto_another_filesystem_copies_syncs_and_removes_the_source() {
    let shm = tempfile::tempdir_in("/dev/shm").expect("/dev/shm is a tmpfs here");
    let q = shm.path().join("quarantine");
    let r = rig(
        &[("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", q.to_str().unwrap())],
        |a| {
            let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
            write(a, "deep/dir/evil.bin", &big);
            write(a, "deep/dir/evil2.bin", b"second");
        },
    );
    std::fs::create_dir_all(q.join("deep/dir")).unwrap();
    std::fs::write(q.join("deep/dir/evil2.bin"), b"already here").unwrap();
    let want = std::fs::read(r.asset.join("deep/dir/evil.bin")).unwrap();
    let (s, b) = r
        .call(
            reqwest::Method::PUT,
            "/item_action",
            json!({"location": "deep/dir/evil.bin", "metainfo": "m"}),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(std::fs::read(q.join("deep/dir/evil.bin")).unwrap(), want);
    assert!(!r.asset.join("deep/dir/evil.bin").exists());
    let (_, b) = r
        .call(
            reqwest::Method::PUT,
            "/item_action",
            json!({"location": "deep/dir/evil2.bin", "metainfo": "m"}),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert!(v["description"].as_str().unwrap().ends_with("evil2.bin.1"), "{v}");
    assert_eq!(
        std::fs::read(q.join("deep/dir/evil2.bin")).unwrap(),
        b"already here",
        "never overwritten"
    );
    assert!(
        std::fs::read_dir(q.join("deep/dir")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".dsx-tmp"))
    );
}

fn xattr(p: &Path, name: &str) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
        ])
        .arg(p)
        .arg(name)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test]
async fn tag_writes_verdict_attributes_without_touching_content_or_time() {
    let r = rig(
        &[
            ("DSXCONNECTOR_ITEM_ACTION", "tag"),
            ("DSXCONNECTOR_TAG_SCAN_TIME", "true"),
            ("DSXCONNECTOR_TAG_ENGINE", "dsxa"),
        ],
        |a| {
            write(a, "t.bin", b"payload");
        },
    );
    let f = r.asset.join("t.bin");
    let before = std::fs::metadata(&f).unwrap().modified().unwrap();
    // The thing under test: a write after this pause would change the modification time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (s, b) = r
        .call(
            reqwest::Method::PUT,
            "/item_action",
            json!({"location": "t.bin", "metainfo": "m"}),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("success"), Some("tag")),
        "{v}"
    );
    assert_eq!(xattr(&f, "user.dsx.verdict").as_deref(), Some("Malicious"));
    assert_eq!(xattr(&f, "user.dsx.scan_engine").as_deref(), Some("dsxa"));
    assert!(xattr(&f, "user.dsx.scan_time").unwrap().ends_with('Z'));
    assert_eq!(std::fs::read(&f).unwrap(), b"payload");
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), before);
}

#[tokio::test]
async fn movetag_moves_then_tags_the_destination() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "MOVE_TAG")], |a| {
        write(a, "x/m.exe", b"bad");
    });
    let (s, b) = r
        .call(
            reqwest::Method::PUT,
            "/item_action",
            json!({"location": "x/m.exe", "metainfo": "m"}),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("success"), Some("movetag")),
        "{v}"
    );
    let dest = r.asset.join("dsxconnect-quarantine/x/m.exe");
    assert_eq!(xattr(&dest, "user.dsx.verdict").as_deref(), Some("Malicious"));
}

/// A ramfs mount: a filesystem this kernel offers without user extended attributes.
/// The temporary directory is kept so the mount point outlives the test; it goes after unmounting.
struct NoXattrFs {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl NoXattrFs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let mut c = Command::new("mount");
        c.args(["-t", "ramfs", "ramfs"]).arg(&mnt);
        assert!(c.status().unwrap().success(), "{c:?}");
        Self { mnt, _dir: dir }
    }
}

impl Drop for NoXattrFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}

#[tokio::test]
async fn tagging_where_attributes_are_not_supported_says_not_implemented() {
    let fs = NoXattrFs::mount();
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    write(&fs.mnt, "f.bin", b"x");
    let (conn, _) = start_fs_connector(&fc.url, &fs.mnt, data.path(), &[("DSXCONNECTOR_ITEM_ACTION", "tag")]);
    let r = reqwest::Client::new()
        .put(format!("{}/item_action", conn.url))
        .json(&json!({"location": "f.bin", "metainfo": "m"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["item_action"].as_str()),
        (Some("nothing"), Some("not implemented")),
        "{v}"
    );
    let rc: Value = reqwest::get(format!("{}/repo_check", conn.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        rc["description"]
            .as_str()
            .unwrap_or("")
            .contains("warning=tag_unsupported"),
        "{rc}"
    );
    drop(conn);
}

#[tokio::test]
async fn a_webhook_enqueues_one_in_scope_file_as_a_job_of_one() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "sub1")], |a| {
        write(a, "sub1/a.txt", b"a");
        write(a, "other/b.txt", b"b");
    });
    let (s, b) = r
        .call(
            reqwest::Method::POST,
            "/webhook/event",
            json!({"location": "sub1/a.txt"}),
        )
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    let job = v["id"].as_str().unwrap().to_string();
    assert!(v["description"].as_str().unwrap().contains("enqueued=1"));
    let items = r.fc.scan_items();
    assert_eq!(items[0]["location"], format!("{}/sub1/a.txt", r.asset.display()));
    assert_eq!(items[0]["scan_job_id"], job.as_str());
    let done = wait_for("enqueue_done", Duration::from_secs(5), || async {
        r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))
            .first()
            .map(|x| x.body.clone())
    })
    .await;
    assert_eq!(done, json!({"enqueued_total": 1}));
    let (s, b) = r
        .call(reqwest::Method::POST, "/webhook/event", json!({"path": "other/b.txt"}))
        .await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((s, v["status"].as_str()), (200, Some("nothing")));
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("ignored=1 rejected=0 failed=0 reason=filtered"),
        "{v}"
    );
    assert_eq!(r.call(reqwest::Method::POST, "/webhook/event", json!({})).await.0, 400);
    let raw = r
        .http
        .post(format!("{}/webhook/event", r.conn.url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(r.fc.scan_items().len(), 1);
}

/// Every entry below `root`: path → type, size, content hash, mode, mtime and user attributes.
fn inventory(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let content = if m.is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            hex::encode(sha2::Sha256::digest(&bytes))
        } else if m.file_type().is_symlink() {
            std::fs::read_link(e.path()).unwrap().display().to_string()
        } else {
            String::new()
        };
        let attrs = xattr(e.path(), "user.dsx.verdict").unwrap_or_default();
        out.insert(
            e.path().to_path_buf(),
            format!(
                "{:?} {} {content} {:o} {} {attrs}",
                m.file_type(),
                m.len(),
                m.mode(),
                m.mtime_nsec() + m.mtime() * 1_000_000_000
            ),
        );
    }
    out
}

/// What an attacker with write access to the asset and the quarantine tree does in a loop:
/// swaps a folder for a link to the outside and back, plants a link where a file was, and
/// replaces a quarantine sub-folder with a link to the outside.
fn attacker(
    asset: PathBuf,
    quarantine: PathBuf,
    outside: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut rounds = 0u64;
        let (d, d_real) = (asset.join("d"), asset.join("d.real"));
        let (f, qd) = (asset.join("f.exe"), quarantine.join("d"));
        while !stop.load(Ordering::Relaxed) {
            rounds += 1;
            // The folder becomes a link to the outside, then a real folder again.
            if std::fs::rename(&d, &d_real).is_ok() {
                let _ = std::os::unix::fs::symlink(outside.join("d"), &d);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&d);
                let _ = std::fs::rename(&d_real, &d);
            }
            for i in 0..4 {
                let v = d.join(format!("victim{i}.exe"));
                if !v.exists() {
                    let _ = std::fs::write(&v, format!("inside {i}"));
                }
            }
            // A link planted where a file was, then a file again.
            let _ = std::fs::remove_file(&f);
            let _ = std::os::unix::fs::symlink(outside.join("f.exe"), &f);
            std::thread::yield_now();
            let _ = std::fs::remove_file(&f);
            let _ = std::fs::write(&f, "inside f");
            // The quarantine's sub-folder becomes a link to the outside, then a new real folder.
            let _ = std::fs::rename(&qd, quarantine.join(format!("d.old{rounds}")));
            let _ = std::os::unix::fs::symlink(outside.join("q"), &qd);
            std::thread::yield_now();
            let _ = std::fs::remove_file(&qd);
            let _ = std::fs::create_dir(&qd);
        }
        rounds
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_folders_and_planted_links_never_lead_an_action_outside() {
    const ACTIONS: usize = 10_000;
    let shm = tempfile::tempdir_in("/dev/shm").expect("/dev/shm is a tmpfs here");
    let outside = shm.path().join("outside");
    for rel in [
        "d/victim0.exe",
        "d/victim1.exe",
        "d/victim2.exe",
        "d/victim3.exe",
        "f.exe",
        "q/keep.txt",
    ] {
        write(&outside, rel, format!("OUTSIDE {rel}").as_bytes());
    }
    let before = inventory(&outside);
    let (mut successes, mut refusals) = (0usize, 0usize);
    let actions = ["delete", "move", "tag", "movetag"];
    for action in actions {
        let asset = shm.path().join(format!("asset-{action}"));
        let quarantine = shm.path().join(format!("quarantine-{action}"));
        std::fs::create_dir_all(quarantine.join("d")).unwrap();
        for i in 0..4 {
            write(&asset, &format!("d/victim{i}.exe"), b"inside");
        }
        write(&asset, "f.exe", b"inside f");
        let data = tempfile::tempdir().unwrap();
        let fc = FakeCore::start();
        let (conn, _) = start_fs_connector(
            &fc.url,
            &asset,
            data.path(),
            &[
                ("DSXCONNECTOR_ITEM_ACTION", action),
                ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", quarantine.to_str().unwrap()),
            ],
        );
        let stop = Arc::new(AtomicBool::new(false));
        let attack = attacker(asset.clone(), quarantine.clone(), outside.clone(), stop.clone());
        let http = reqwest::Client::new();
        for n in 0..ACTIONS / actions.len() {
            let location = if n % 3 == 0 {
                "f.exe".to_string()
            } else {
                format!("d/victim{}.exe", n % 4)
            };
            let r = http
                .put(format!("{}/item_action", conn.url))
                .json(&json!({"location": location, "metainfo": "m"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            match (status, v["status"].as_str()) {
                (200, Some("success")) => {
                    successes += 1;
                    let said = v["description"].as_str().unwrap_or_default();
                    if let Some(dest) = said.split(' ').find_map(|w| w.strip_prefix("moved_to=")) {
                        assert!(
                            Path::new(dest).starts_with(&quarantine),
                            "the answer names a place in the quarantine: {v}"
                        );
                    }
                }
                (403, _) | (200, Some("error" | "nothing")) | (503, _) => refusals += 1,
                other => panic!("unexpected answer {other:?}: {v}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = attack.join().unwrap();
        assert!(rounds > 100, "the attacker ran {rounds} rounds only");
        assert_eq!(inventory(&outside), before, "nothing outside was touched ({action})");
        drop(conn);
    }
    assert!(
        successes > 1_000 && refusals > 100,
        "both outcomes happened: {successes} successes, {refusals} refusals"
    );
    assert_eq!(inventory(&outside), before);
}
