//! The filesystem connector against a recording fake core (docs/reference/CONNECTORS.md,
//! "Filesystem connector").

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::fake_core::FakeCore;
use common::*;
use serde_json::{Value, json};

struct Rig {
    fc: FakeCore,
    conn: Threaded,
    uuid: String,
    asset: tempfile::TempDir,
    data: tempfile::TempDir,
    http: reqwest::Client,
}

fn rig_with(env: &[(&str, &str)], fill: impl FnOnce(&Path)) -> Rig {
    let fc = FakeCore::start();
    let asset = tempfile::tempdir().unwrap();
    fill(asset.path());
    let data = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(&fc.url, asset.path(), data.path(), env);
    Rig {
        fc,
        conn,
        uuid,
        asset,
        data,
        http: reqwest::Client::new(),
    }
}

fn standard_tree(root: &Path) {
    write(root, "top.txt", b"top");
    write(root, "sub1/a.txt", b"a");
    write(root, "sub1/nested/c.txt", b"c");
    write(root, "sub2/b.pdf", b"%PDF");
    write(root, "sub1/dsxconnect-quarantine.txt", b"name only");
    write(root, "dsxconnect-quarantine/old/evil.com", b"already quarantined");
}

impl Rig {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.conn.url)
    }

    async fn ready(&self) {
        wait_for("connector ready", Duration::from_secs(20), || async {
            let r = self.http.get(self.url("/readyz")).send().await.ok()?;
            (r.status().as_u16() == 200).then_some(())
        })
        .await;
    }

    async fn post_json(&self, p: &str, body: Value) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
        let r = self.http.post(self.url(p)).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.headers().clone(), r.bytes().await.unwrap())
    }

    async fn action(&self, location: &str) -> (u16, Value) {
        let r = self
            .http
            .put(self.url("/item_action"))
            .json(&json!({"location": location, "metainfo": "m"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn full_scan(&self, query: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/full_scan{query}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn wait_enqueue_done(&self, job: &str) -> Value {
        wait_for("enqueue_done", Duration::from_secs(20), || async {
            self.fc
                .requests(&format!("/scan/jobs/{job}/enqueue_done"))
                .first()
                .map(|r| r.body.clone())
        })
        .await
    }
}

#[tokio::test]
async fn the_connector_registers_its_model_and_becomes_ready() {
    let r = rig_with(&[], standard_tree);
    r.ready().await;
    let reg = &r.fc.requests("/connectors/register")[0];
    let m = &reg.body;
    assert_eq!(m["uuid"], r.uuid.as_str());
    assert_eq!(m["name"], "filesystem-connector");
    assert_eq!(m["url"], r.conn.url.as_str());
    assert_eq!(m["asset"], r.asset.path().to_str().unwrap());
    assert_eq!(m["item_action_move_metainfo"], "dsxconnect-quarantine");
    assert_eq!(m["status"], "ready");
    assert!(m["last_repo_check_ts"].is_f64());
    assert_eq!(m["capabilities"], json!(["enqueue_done", "scan_request_batch"]));
    assert!(reg.headers["user-agent"].starts_with("dsx-connect-connector/"));
    let stored = std::fs::read_to_string(r.data.path().join("filesystem-connector/connector_uuid.txt")).unwrap();
    assert_eq!(stored.trim(), r.uuid);
    assert_eq!(
        r.http
            .get(r.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!({"ok": true})
    );
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (cfg["connector_type"].as_str(), cfg["item_action"].as_str()),
        (Some("filesystem"), Some("move"))
    );
    assert!(cfg["resolved_asset_base"].is_string());
    for k in [
        "display_name",
        "display_icon",
        "last_repo_check_reason",
        "asset_display_name",
    ] {
        assert!(cfg.get(k).is_some(), "{k}");
    }
    // Outside the prefix and wrong methods.
    let root = r.conn.url.rsplit_once('/').unwrap().0.to_string();
    assert_eq!(
        r.http
            .get(format!("{root}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let resp = r.http.post(r.url("/item_action")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "PUT");
    assert_eq!(
        r.http.get(r.url("/read_file")).send().await.unwrap().status().as_u16(),
        405
    );
}

#[tokio::test]
async fn read_file_streams_exact_bytes_and_refuses_anything_outside_the_asset() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", b"secret");
    let secret = outside.path().join("secret.txt");
    let r = rig_with(&[], |root| {
        write(root, "zero.bin", b"");
        write(root, "one.bin", b"x");
        let five: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
        write(root, "five.bin", &five);
        write(root, "sub1/a.txt", b"a");
        std::os::unix::fs::symlink(&secret, root.join("link-out")).unwrap();
        std::os::unix::fs::symlink(root.join("sub1/a.txt"), root.join("link-in")).unwrap();
        std::fs::create_dir_all(root.join("dir")).unwrap();
        use std::os::unix::ffi::OsStrExt;
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"n\xff\x01x.bin")), b"bytes").unwrap();
    });
    let base = r.asset.path().display().to_string();
    // A name that is not UTF-8 is named by its `dsx-bytes:` form; any path may use that form.
    for (loc, want) in [
        (format!("dsx-bytes:{base}/n%FF%01x.bin"), &b"bytes"[..]),
        (format!("dsx-bytes:{base}/n%ff%01x.bin"), &b"bytes"[..]),
        (format!("dsx-bytes:{base}/sub1/a.txt"), &b"a"[..]),
    ] {
        let (s, _, b) = r
            .post_json("/read_file", json!({"location": loc, "metainfo": "m"}))
            .await;
        assert_eq!((s, &b[..]), (200, want), "{loc}");
    }
    for (name, len) in [("zero.bin", 0usize), ("one.bin", 1), ("five.bin", 5 << 20)] {
        let (s, h, b) = r
            .post_json(
                "/read_file",
                json!({"location": format!("{base}/{name}"), "metainfo": name}),
            )
            .await;
        assert_eq!(s, 200, "{name}");
        assert_eq!(h["content-type"], "application/octet-stream");
        assert_eq!(h["content-length"], len.to_string().as_str());
        assert_eq!(b, std::fs::read(r.asset.path().join(name)).unwrap(), "{name}");
    }
    let (s, _, b) = r
        .post_json("/read_file", json!({"location": "sub1/a.txt", "metainfo": "a"}))
        .await;
    assert_eq!(
        (s, &b[..]),
        (200, &b"a"[..]),
        "a relative location is taken below the asset"
    );
    let (s, _, b) = r
        .post_json(
            "/read_file",
            json!({"location": format!("{base}/link-in"), "metainfo": "l"}),
        )
        .await;
    assert_eq!((s, &b[..]), (200, &b"a"[..]), "a link inside the asset is fine");
    for bad in [
        "/etc/hostname".to_string(),
        format!("{base}/../outside.txt"),
        format!("{base}/link-out"),
        secret.display().to_string(),
        "../../etc/passwd".to_string(),
        format!("{base}/sub1/../../x"),
        // Malformed escapes, and encoded paths that lead outside or hold a NUL.
        format!("dsx-bytes:{base}/n%FF%0"),
        format!("dsx-bytes:{base}/n%GG"),
        "dsx-bytes:/etc/hostname".to_string(),
        format!("dsx-bytes:{base}%2F..%2F..%2Fetc%2Fhostname"),
        format!("dsx-bytes:{base}/one.bin%00"),
    ] {
        let (s, h, b) = r
            .post_json("/read_file", json!({"location": bad, "metainfo": "m"}))
            .await;
        assert_eq!(s, 403, "{bad}");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&b).unwrap()["status"], "error");
    }
    for missing in [format!("{base}/nope.txt"), format!("{base}/dir")] {
        let (s, _, b) = r
            .post_json("/read_file", json!({"location": missing, "metainfo": "m"}))
            .await;
        assert_eq!(s, 404, "{missing}");
        assert_eq!(serde_json::from_slice::<Value>(&b).unwrap()["status"], "error");
    }
    assert_eq!(r.post_json("/read_file", json!({"location": "x"})).await.0, 422);
    assert_eq!(
        r.post_json("/read_file", json!({"location": "", "metainfo": "m"}))
            .await
            .0,
        422
    );
}

#[tokio::test]
async fn move_keeps_the_relative_path_never_overwrites_and_refuses_outside_locations() {
    let r = rig_with(&[], |root| {
        write(root, "sub1/x.exe", b"one");
        write(root, "dsxconnect-quarantine/sub1/x.exe", b"existing");
    });
    let base = r.asset.path().display().to_string();
    let q = r.asset.path().join("dsxconnect-quarantine/sub1");
    let (s, v) = r.action(&format!("{base}/sub1/x.exe")).await;
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("success"), Some("move"))
    );
    assert!(v["description"].as_str().unwrap().starts_with("moved_to="));
    assert_eq!(
        std::fs::read(q.join("x.exe")).unwrap(),
        b"existing",
        "never overwritten"
    );
    assert_eq!(std::fs::read(q.join("x.exe.1")).unwrap(), b"one");
    write(r.asset.path(), "sub1/x.exe", b"two");
    r.action(&format!("{base}/sub1/x.exe")).await;
    assert_eq!(std::fs::read(q.join("x.exe.2")).unwrap(), b"two");
    let (s, v) = r.action(&format!("{base}/sub1/gone.exe")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")));
    assert_eq!(r.action("/etc/hostname").await.0, 403);
    let (s, v) = r.action(&format!("{base}/dsxconnect-quarantine/sub1/x.exe")).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("nothing")),
        "quarantined items are left alone"
    );
}

#[tokio::test]
async fn delete_and_nothing_do_what_they_say() {
    let del = rig_with(&[("DSXCONNECTOR_ITEM_ACTION", "delete")], |root| {
        write(root, "a.bin", b"a");
    });
    let (s, v) = del.action(&format!("{}/a.bin", del.asset.path().display())).await;
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("success"), Some("delete"))
    );
    assert!(!del.asset.path().join("a.bin").exists());
    let none = rig_with(&[("DSXCONNECTOR_ITEM_ACTION", "NOTHING")], |root| {
        write(root, "a.bin", b"a");
    });
    let (s, v) = none.action(&format!("{}/a.bin", none.asset.path().display())).await;
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("nothing"), Some("nothing"))
    );
    assert!(none.asset.path().join("a.bin").exists());
}

#[tokio::test]
async fn a_full_scan_sends_every_in_scope_item_once_then_exactly_one_enqueue_done() {
    let r = rig_with(&[], standard_tree);
    r.ready().await;
    let (s, v) = r.full_scan("?job_id=J1").await;
    assert_eq!((s, v["id"].as_str()), (200, Some("J1")));
    assert!(v["description"].as_str().unwrap().contains("job_id=J1"));
    let done = r.wait_enqueue_done("J1").await;
    assert_eq!(done, json!({"enqueued_total": 5}));
    let items = r.fc.scan_items();
    let locs: Vec<&str> = items.iter().map(|i| i["location"].as_str().unwrap()).collect();
    let base = r.asset.path().display().to_string();
    assert_eq!(
        locs,
        [
            "sub1/a.txt",
            "sub1/dsxconnect-quarantine.txt",
            "sub1/nested/c.txt",
            "sub2/b.pdf",
            "top.txt"
        ]
        .iter()
        .map(|p| format!("{base}/{p}"))
        .collect::<Vec<_>>(),
        "depth first, byte order, quarantine pruned, a name merely containing its text kept"
    );
    let first = &items[0];
    assert_eq!(first["scan_job_id"], "J1");
    assert_eq!(first["metainfo"], "a.txt");
    assert_eq!(first["size_in_bytes"], 1);
    assert_eq!(first["connector_url"], r.conn.url.as_str());
    assert_eq!(first["connector"]["uuid"], r.uuid.as_str());
    assert!(first["connector"]["display_icon"].is_null());
    assert!(
        !r.fc.requests("/scan/request/batch").is_empty(),
        "the batch endpoint is used"
    );
    // A second job is closed after a repeated close of the first would have been sent.
    r.full_scan("?job_id=J2").await;
    r.wait_enqueue_done("J2").await;
    assert_eq!(r.fc.requests("/scan/jobs/J1/enqueue_done").len(), 1, "exactly once");
    // The estimate matches what a full scan sends.
    let est: Value = r
        .http
        .get(r.url("/estimate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(est, json!({"count": 5, "confidence": "exact"}));
}

#[tokio::test]
async fn limits_are_exact_and_a_scan_without_job_id_gets_one() {
    let r = rig_with(&[], standard_tree);
    r.ready().await;
    r.full_scan("?job_id=L2&limit=2").await;
    assert_eq!(r.wait_enqueue_done("L2").await, json!({"enqueued_total": 2}));
    r.full_scan("?job_id=L0&limit=0").await;
    assert_eq!(r.wait_enqueue_done("L0").await, json!({"enqueued_total": 1}));
    r.full_scan("?job_id=LA&limit=abc").await;
    assert_eq!(r.wait_enqueue_done("LA").await, json!({"enqueued_total": 5}));
    let l2: Vec<Value> =
        r.fc.scan_items()
            .into_iter()
            .filter(|i| i["scan_job_id"] == "L2")
            .collect();
    assert!(l2[0]["location"].as_str().unwrap().ends_with("sub1/a.txt"));
    assert!(
        l2[1]["location"]
            .as_str()
            .unwrap()
            .ends_with("sub1/dsxconnect-quarantine.txt")
    );
    let (s, v) = r.full_scan("").await;
    assert_eq!(s, 200);
    let id = v["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert!(v["description"].as_str().unwrap().contains(&format!("job_id={id}")));
    r.wait_enqueue_done(&id).await;
    let (s, _) = r.full_scan("?job_id=a:b").await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn a_filter_that_selects_nothing_sends_no_request_and_enqueue_done_zero() {
    let r = rig_with(&[("DSXCONNECTOR_FILTER", "*.nothing-matches")], standard_tree);
    r.ready().await;
    r.full_scan("?job_id=E").await;
    assert_eq!(r.wait_enqueue_done("E").await, json!({"enqueued_total": 0}));
    assert!(r.fc.scan_items().is_empty());
}

#[tokio::test]
async fn a_409_stops_enumeration_and_enqueue_done_reports_only_accepted_items() {
    let r = rig_with(
        &[
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "1"),
            ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "1"),
        ],
        standard_tree,
    );
    r.ready().await;
    r.fc.set(|s| s.conflict_after = Some(2));
    r.full_scan("?job_id=C").await;
    assert_eq!(r.wait_enqueue_done("C").await, json!({"enqueued_total": 2}));
    assert_eq!(r.fc.requests("/scan/request").len(), 3, "nothing after the first 409");
}

#[tokio::test]
async fn without_a_batch_endpoint_items_are_sent_one_by_one() {
    let r = rig_with(&[], standard_tree);
    r.ready().await;
    r.fc.set(|s| {
        s.overrides.insert("/scan/request/batch".into(), 404);
    });
    r.full_scan("?job_id=S").await;
    assert_eq!(r.wait_enqueue_done("S").await, json!({"enqueued_total": 5}));
    assert_eq!(r.fc.requests("/scan/request").len(), 5);
}

#[tokio::test]
async fn concurrency_toward_the_core_is_bounded() {
    let r = rig_with(
        &[
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "1"),
            ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "2"),
        ],
        |root| {
            for i in 0..8 {
                write(root, &format!("f{i}"), b"x");
            }
        },
    );
    r.ready().await;
    r.fc.set(|s| s.delay = Duration::from_millis(300));
    r.full_scan("?job_id=K").await;
    assert_eq!(r.wait_enqueue_done("K").await, json!({"enqueued_total": 8}));
    assert_eq!(r.fc.state.lock().unwrap().max_in_flight, 2);
}

/// Issue 15: each full scan is an enumeration thread; callers choose job ids, so the number
/// running at once is bounded (`DSXCONNECTOR_MAX_CONCURRENT_FULL_SCANS`).
#[tokio::test]
async fn full_scans_beyond_the_concurrency_cap_answer_429_until_one_ends() {
    let r = rig_with(&[("DSXCONNECTOR_MAX_CONCURRENT_FULL_SCANS", "1")], standard_tree);
    r.ready().await;
    // A slow core keeps the first scan running while the others arrive.
    r.fc.set(|s| s.delay = Duration::from_secs(8));
    assert_eq!(r.full_scan("?job_id=A").await.0, 200);
    let resp = r.http.post(r.url("/full_scan?job_id=B")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "30");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["description"], "reason=busy running=1 max=1");
    assert_eq!(r.full_scan("?job_id=A").await.0, 200, "the running job is not refused");
    r.fc.set(|s| s.delay = Duration::ZERO);
    r.wait_enqueue_done("A").await;
    let (s, _) = wait_for("room for another full scan", Duration::from_secs(30), || async {
        let (s, v) = r.full_scan("?job_id=B").await;
        (s != 429).then_some((s, v))
    })
    .await;
    assert_eq!(s, 200);
    r.wait_enqueue_done("B").await;
    assert!(r.fc.requests("/scan/jobs/B/enqueue_done").len() == 1, "B ran once");
}

#[tokio::test]
async fn a_missing_asset_answers_503_and_sends_nothing() {
    let r = rig_with(&[], |_| {});
    r.ready().await;
    std::fs::remove_dir_all(r.asset.path()).unwrap();
    let (s, v) = r.full_scan("?job_id=M").await;
    assert_eq!((s, v["status"].as_str()), (503, Some("error")));
    assert!(v["description"].as_str().unwrap().starts_with("reason=not_found"));
    let rc: Value = r
        .http
        .get(r.url("/repo_check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rc["status"], "error");
    // The asset comes back and a later scan runs to its end: the barrier after which anything
    // the refused scan had set off would have reached the core.
    std::fs::create_dir(r.asset.path()).unwrap();
    std::fs::write(r.asset.path().join("back.txt"), b"x").unwrap();
    let (s, _) = wait_for("the asset is usable again", Duration::from_secs(30), || async {
        let (s, v) = r.full_scan("?job_id=AFTER").await;
        (s != 503).then_some((s, v))
    })
    .await;
    assert_eq!(s, 200);
    r.wait_enqueue_done("AFTER").await;
    assert!(r.fc.scan_items().iter().all(|i| i["scan_job_id"] == "AFTER"));
    assert!(r.fc.requests("/scan/jobs/M/enqueue_done").is_empty());
}

#[tokio::test]
async fn preview_lists_what_a_full_scan_would_send() {
    let r = rig_with(&[], standard_tree);
    let v: Value = r
        .http
        .get(r.url("/repo_check?preview=3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "success");
    let p = v["preview"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert!(
        p.iter()
            .all(|x| !x.as_str().unwrap().contains("dsxconnect-quarantine/"))
    );
    assert!(v["description"].as_str().unwrap().contains("preview=3"));
    for q in ["abc", "-1"] {
        let v: Value = r
            .http
            .get(r.url(&format!("/repo_check?preview={q}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["preview"].is_null());
    }
}

#[tokio::test]
async fn an_api_key_guards_everything_but_the_probes_and_is_never_sent_to_the_core() {
    let r = rig_with(&[("DSXCONNECTOR_API_KEY", "K-42")], standard_tree);
    r.ready().await;
    assert_eq!(
        r.http.get(r.url("/config")).send().await.unwrap().status().as_u16(),
        403
    );
    let bad = r
        .http
        .get(r.url("/config"))
        .header("x-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 403);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid or missing API key"})
    );
    let ok = r
        .http
        .get(r.url("/config"))
        .header("X-Api-Key", "K-42")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(!ok.text().await.unwrap().contains("K-42"));
    assert_eq!(
        r.http.get(r.url("/healthz")).send().await.unwrap().status().as_u16(),
        200
    );
    for req in r.fc.requests("") {
        assert!(!req.headers.values().any(|v| v.contains("K-42")), "{}", req.path);
        assert!(!req.body.to_string().contains("K-42"));
    }
}

#[tokio::test]
async fn stopping_the_connector_unregisters_it() {
    let mut r = rig_with(&[], standard_tree);
    r.ready().await;
    r.conn.stop();
    let un = r.fc.requests(&format!("/connectors/unregister/{}", r.uuid));
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].method, "DELETE");
}

#[tokio::test]
async fn no_enumerated_item_is_lost_when_answers_race_partial_batches() {
    let r = rig_with(
        &[
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "7"),
            ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "3"),
        ],
        |root| {
            for i in 0..1500 {
                write(root, &format!("d{}/f{i:04}", i % 13), b"x");
            }
        },
    );
    r.ready().await;
    r.fc.set(|s| s.delay = Duration::from_millis(3));
    r.full_scan("?job_id=R").await;
    assert_eq!(r.wait_enqueue_done("R").await, json!({"enqueued_total": 1500}));
    let mut locs: Vec<String> =
        r.fc.scan_items()
            .iter()
            .map(|i| i["location"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(locs.len(), 1500);
    locs.sort();
    locs.dedup();
    assert_eq!(locs.len(), 1500, "every item exactly once");
}
