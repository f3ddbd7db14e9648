//! The rest of the connector protocol (docs/reference/CONNECTORS.md) for the framework and the
//! filesystem connector: routes and keys on every route, `/config` and the status page,
//! registration details, a missing asset that appears later, preview and estimate, batches, 409s,
//! transient 503s with idempotency keys, duplicate full scans, special files, quarantine and
//! rejected job ids.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::fake_core::FakeCore;
use common::*;
use serde_json::{Value, json};

struct Rig {
    fc: FakeCore,
    conn: Threaded,
    asset: tempfile::TempDir,
    _data: tempfile::TempDir,
    http: reqwest::Client,
}

fn rig(env: &[(&str, &str)], fill: impl FnOnce(&Path)) -> Rig {
    let fc = FakeCore::start();
    let asset = tempfile::tempdir().unwrap();
    fill(asset.path());
    let data = tempfile::tempdir().unwrap();
    let (conn, _) = start_fs_connector(&fc.url, asset.path(), data.path(), env);
    Rig {
        fc,
        conn,
        asset,
        _data: data,
        http: reqwest::Client::new(),
    }
}

fn tree(root: &Path) {
    write(root, "top.txt", b"top");
    write(root, "sub1/a.txt", b"a");
    write(root, "sub1/nested/c.txt", b"c");
    write(root, "sub2/b.pdf", b"%PDF");
    write(root, "dsxconnect-quarantine/old/evil.com", b"already quarantined");
}

impl Rig {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.conn.url)
    }

    async fn get(&self, p: &str) -> (u16, Value) {
        let r = self.http.get(self.url(p)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn ready(&self) {
        wait_for("ready", Duration::from_secs(20), || async {
            (self.get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }

    async fn full_scan(&self, query: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/full_scan{query}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn enqueue_done(&self, job: &str) -> Value {
        wait_for("enqueue_done", Duration::from_secs(20), || async {
            self.fc
                .requests(&format!("/scan/jobs/{job}/enqueue_done"))
                .first()
                .map(|r| r.body.clone())
        })
        .await
    }

    fn locations(&self, job: &str) -> Vec<String> {
        self.fc
            .scan_items()
            .iter()
            .filter(|i| i["scan_job_id"] == job)
            .map(|i| i["location"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Lines 3 and 6: nothing answers outside the prefix; each route has its one method.
#[tokio::test]
async fn only_the_prefix_is_served_and_each_route_has_its_method() {
    let r = rig(&[], tree);
    let root = r.conn.url.rsplit_once('/').unwrap().0.to_string();
    for p in ["/healthz", "/docs", "/other/healthz"] {
        let s = r.http.get(format!("{root}{p}")).send().await.unwrap().status().as_u16();
        assert_eq!(s, 404, "{p}");
    }
    let s = r.http.get(r.url("/full_scan")).send().await.unwrap();
    assert_eq!(s.status().as_u16(), 405);
    assert_eq!(s.headers()["allow"], "POST");
}

/// Lines 1, 2 and 4 on every route: the key guards everything but the two probes.
#[tokio::test]
async fn the_api_key_guards_every_route_but_the_probes() {
    let r = rig(&[("DSXCONNECTOR_API_KEY", "K-7")], tree);
    r.ready().await;
    let guarded: [(reqwest::Method, &str, Value); 9] = [
        (reqwest::Method::GET, "/", Value::Null),
        (reqwest::Method::GET, "/config", Value::Null),
        (reqwest::Method::GET, "/repo_check", Value::Null),
        (reqwest::Method::GET, "/estimate", Value::Null),
        (reqwest::Method::POST, "/full_scan?job_id=G", Value::Null),
        (
            reqwest::Method::POST,
            "/read_file",
            json!({"location": "top.txt", "metainfo": "m"}),
        ),
        (
            reqwest::Method::PUT,
            "/item_action",
            json!({"location": "top.txt", "metainfo": "m"}),
        ),
        (reqwest::Method::POST, "/webhook/event", json!({"location": "top.txt"})),
        (reqwest::Method::GET, "/repo_check?preview=2", Value::Null),
    ];
    for (m, p, body) in &guarded {
        let req = |key: Option<&str>| {
            let mut b = r.http.request(m.clone(), r.url(p));
            if !body.is_null() {
                b = b.json(body);
            }
            if let Some(k) = key {
                b = b.header("x-api-key", k);
            }
            b
        };
        let none = req(None).send().await.unwrap();
        assert_eq!(none.status().as_u16(), 403, "{m} {p} without a key");
        assert_eq!(
            none.json::<Value>().await.unwrap(),
            json!({"detail": "Invalid or missing API key"})
        );
        assert_eq!(
            req(Some("K-8")).send().await.unwrap().status().as_u16(),
            403,
            "{m} {p} wrong key"
        );
        let ok = req(Some("K-7")).send().await.unwrap().status().as_u16();
        assert!(ok != 403 && ok < 500, "{m} {p} with the key: {ok}");
    }
    assert_eq!(r.get("/healthz").await.0, 200);
    assert_eq!(r.get("/readyz").await.0, 200);
}

/// Line 5: the core's key travels on every request to the core; the connector's own never does.
#[tokio::test]
async fn the_core_key_is_on_every_request_to_the_core() {
    let r = rig(
        &[
            ("DSXCONNECTOR_API_KEY", "K-own"),
            ("DSXCONNECTOR_DSX_CONNECT_API_KEY", "L-core"),
        ],
        tree,
    );
    r.ready().await;
    r.http
        .post(r.url("/full_scan?job_id=KEYS"))
        .header("x-api-key", "K-own")
        .send()
        .await
        .unwrap();
    r.enqueue_done("KEYS").await;
    r.http
        .post(r.url("/webhook/event"))
        .header("x-api-key", "K-own")
        .json(&json!({"location": "top.txt"}))
        .send()
        .await
        .unwrap();
    let _ = r
        .http
        .get(r.url("/"))
        .header("x-api-key", "K-own")
        .send()
        .await
        .unwrap();
    let all = r.fc.requests("");
    let kinds: BTreeSet<&str> = all.iter().map(|q| q.path.rsplit('/').next().unwrap()).collect();
    assert!(
        kinds.contains("register") && kinds.contains("batch") && kinds.contains("enqueue_done"),
        "{kinds:?}"
    );
    assert!(kinds.contains("healthz"), "the status page probes the core: {kinds:?}");
    for q in &all {
        assert_eq!(
            q.headers.get("x-api-key").map(String::as_str),
            Some("L-core"),
            "{} {}",
            q.method,
            q.path
        );
        assert!(!q.headers.values().any(|v| v.contains("K-own")) && !q.body.to_string().contains("K-own"));
    }
}

/// Lines 7 and 17: `/config` has every model field (nulls explicit), the type, the version and
/// the normalised action, and never the key.
#[tokio::test]
async fn config_has_every_model_field_and_the_normalised_action() {
    for (given, shown) in [("MOVE", "move"), ("move_tag", "movetag"), (" MoveTag ", "movetag")] {
        let r = rig(
            &[("DSXCONNECTOR_ITEM_ACTION", given), ("DSXCONNECTOR_API_KEY", "K-cfg")],
            |_| {},
        );
        let cfg: Value = r
            .http
            .get(r.url("/config"))
            .header("x-api-key", "K-cfg")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(cfg["item_action"], shown, "{given:?}");
        for k in [
            "name",
            "display_name",
            "display_icon",
            "uuid",
            "meta_info",
            "url",
            "status",
            "item_action_move_metainfo",
            "asset",
            "asset_display_name",
            "filter",
            "last_repo_check_ts",
            "last_repo_check_reason",
            "last_repo_check_message",
            "capabilities",
            "item_action",
            "connector_type",
            "version",
            "resolved_asset_base",
        ] {
            assert!(cfg.get(k).is_some(), "{k} missing from {cfg}");
        }
        assert_eq!(cfg["version"], env!("CARGO_PKG_VERSION"));
        assert!(cfg["display_icon"].is_null());
        assert!(!cfg.to_string().contains("K-cfg"));
    }
}

/// Line 8: the status page reports the core's and the repository's reachability and counts
/// what the core accepted.
#[tokio::test]
async fn the_status_page_reports_connectivity_and_accepted_items() {
    let mut r = rig(&[], tree);
    r.ready().await;
    r.full_scan("?job_id=ST").await;
    assert_eq!(r.enqueue_done("ST").await, json!({"enqueued_total": 4}));
    let (s, page) = r.get("/").await;
    assert_eq!(s, 200);
    assert!(page.get("connector_status").is_some(), "{page}");
    assert_eq!(page["dsx-connect connectivity"], "success");
    assert_eq!(page["repo connectivity"], "success");
    assert_eq!(page["scan_requests_since_active_count"], 4);
    // The core goes away.
    let fc = std::mem::replace(&mut r.fc, FakeCore::start());
    drop(fc);
    let (_, page) = r.get("/").await;
    assert_eq!(page["dsx-connect connectivity"], "failed");
}

/// Lines 9 and 10: the registration body carries the filter and a URL without a doubled slash;
/// two connectors sharing a data dir keep different identities.
#[tokio::test]
async fn registration_carries_the_filter_and_names_keep_identities_apart() {
    let fc = FakeCore::start();
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_a, ua) = start_fs_connector(
        &fc.url,
        asset.path(),
        data.path(),
        &[
            ("DSXCONNECTOR_FILTER", "sub1 --exclude *.tmp"),
            ("DSXCONNECTOR_NAME", "alpha"),
            ("DSXCONNECTOR_CONNECTOR_URL", "http://127.0.0.1:9999/"),
        ],
    );
    let (_b, ub) = start_fs_connector(&fc.url, asset.path(), data.path(), &[("DSXCONNECTOR_NAME", "beta")]);
    assert_ne!(ua, ub);
    let reg = wait_for("alpha registers", Duration::from_secs(10), || async {
        fc.requests("/connectors/register")
            .into_iter()
            .find(|q| q.body["name"] == "alpha")
    })
    .await;
    assert_eq!(reg.body["filter"], "sub1 --exclude *.tmp");
    assert_eq!(reg.body["url"], "http://127.0.0.1:9999/alpha");
    for (name, id) in [("alpha", &ua), ("beta", &ub)] {
        let stored = std::fs::read_to_string(data.path().join(name).join("connector_uuid.txt")).unwrap();
        assert_eq!(stored.trim(), id.as_str());
    }
}

/// Lines 18, 19 and 32: a missing asset registers as failed with its reason, answers checks
/// with 200 `error`, and turns ready once the folder exists.
#[tokio::test]
async fn a_missing_asset_registers_as_failed_then_turns_ready_when_it_appears() {
    let fc = FakeCore::start();
    let parent = tempfile::tempdir().unwrap();
    let asset = parent.path().join("later");
    let data = tempfile::tempdir().unwrap();
    let (conn, _) = start_fs_connector(&fc.url, &asset, data.path(), &[]);
    let reg = wait_for("registration", Duration::from_secs(10), || async {
        fc.requests("/connectors/register").first().cloned()
    })
    .await;
    assert_eq!(reg.body["status"], "failed");
    assert_eq!(reg.body["last_repo_check_reason"], "not_found");
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/readyz", conn.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    let rc = http.get(format!("{}/repo_check", conn.url)).send().await.unwrap();
    assert_eq!(rc.status().as_u16(), 200);
    assert_eq!(rc.json::<Value>().await.unwrap()["status"], "error");
    std::fs::create_dir_all(&asset).unwrap();
    wait_for("ready after the folder appears", Duration::from_secs(10), || async {
        let s = http
            .get(format!("{}/readyz", conn.url))
            .send()
            .await
            .ok()?
            .status()
            .as_u16();
        (s == 200).then_some(())
    })
    .await;
    // The registration announcing it follows (asynchronously) the readiness change.
    let last = wait_for("a ready registration", Duration::from_secs(30), || async {
        fc.requests("/connectors/register")
            .last()
            .cloned()
            .filter(|r| r.body["status"] == "ready")
    })
    .await;
    assert!(last.body["last_repo_check_reason"].is_null());
}

/// Lines 20 and 21: every preview entry is something a full scan enqueues; an estimate with no
/// time budget is unknown.
#[tokio::test]
async fn preview_entries_are_enqueued_and_a_zero_budget_estimate_is_unknown() {
    let r = rig(&[], tree);
    r.ready().await;
    let (_, v) = r.get("/repo_check?preview=3").await;
    let preview: Vec<String> = v["preview"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(preview.len(), 3);
    r.full_scan("?job_id=PV").await;
    r.enqueue_done("PV").await;
    let sent = r.locations("PV");
    for p in &preview {
        assert!(
            sent.iter().any(|s| s == p || s.ends_with(&format!("/{p}"))),
            "{p} not in {sent:?}"
        );
    }
    let z = rig(&[("DSXCONNECTOR_ESTIMATE_TIMEOUT_SECS", "0")], tree);
    assert_eq!(
        z.get("/estimate").await.1,
        json!({"count": null, "confidence": "unknown"})
    );
}

/// Lines 24 and 28: batches never exceed the batch size, every item arrives once, and nothing
/// for the job arrives after its `enqueue_done`.
#[tokio::test]
async fn batches_respect_their_size_and_nothing_follows_enqueue_done() {
    let r = rig(&[("DSXCONNECTOR_SCAN_BATCH_SIZE", "3")], |root| {
        for i in 0..40 {
            write(root, &format!("d{}/f{i:02}", i % 4), b"x");
        }
    });
    r.ready().await;
    r.fc.set(|s| s.delay = Duration::from_millis(5));
    r.full_scan("?job_id=BS").await;
    assert_eq!(r.enqueue_done("BS").await, json!({"enqueued_total": 40}));
    let batches = r.fc.requests("/scan/request/batch");
    assert!(batches.iter().all(|b| b.body.as_array().unwrap().len() <= 3));
    let singles = r.fc.requests("/scan/request");
    let sent: usize = batches.iter().map(|b| b.body.as_array().unwrap().len()).sum::<usize>() + singles.len();
    assert_eq!(sent, 40, "a lone item goes as a single request; nothing is sent twice");
    let mut locs = r.locations("BS");
    locs.sort();
    locs.dedup();
    assert_eq!(locs.len(), 40);
    let done_at = r.fc.requests("/scan/jobs/BS/enqueue_done")[0].at;
    assert!(
        batches.iter().all(|b| b.at < done_at),
        "a batch arrived after enqueue_done"
    );
}

/// Line 27, batch path: a 409 for the job's items stops the enumeration.
#[tokio::test]
async fn a_409_inside_a_batch_answer_stops_the_job() {
    let r = rig(
        &[
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "2"),
            ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "1"),
        ],
        |root| {
            for i in 0..20 {
                write(root, &format!("f{i:02}"), b"x");
            }
        },
    );
    r.ready().await;
    r.fc.set(|s| s.conflict_after = Some(4));
    r.full_scan("?job_id=C409").await;
    assert_eq!(r.enqueue_done("C409").await, json!({"enqueued_total": 4}));
    // A later job is closed after any further batch of the first would have been sent.
    r.fc.set(|s| s.conflict_after = None);
    r.full_scan("?job_id=LATER").await;
    r.enqueue_done("LATER").await;
    let first_job =
        r.fc.requests("/scan/request/batch")
            .iter()
            .filter(|q| q.body.to_string().contains("C409"))
            .count();
    assert_eq!(first_job, 3, "nothing after the first 409");
    assert!(
        r.fc.requests("/scan/request").is_empty(),
        "no single-request fallback for a 409"
    );
}

/// Line 30: transient 503s are retried with the same idempotency key; the item counts once.
#[tokio::test]
async fn transient_503s_are_retried_with_the_same_idempotency_key() {
    for (batch, path) in [("1", "/scan/request"), ("100", "/scan/request/batch")] {
        // Two items: a lone item would go as a single request even with batches on.
        let r = rig(
            &[
                ("DSXCONNECTOR_SCAN_BATCH_SIZE", batch),
                ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "1"),
            ],
            |root| {
                write(root, "a.txt", b"a");
                write(root, "b.txt", b"b");
            },
        );
        r.ready().await;
        r.fc.set(|s| {
            s.fail_first.insert(path.into(), (503, 2));
        });
        r.full_scan("?job_id=IDEM").await;
        assert_eq!(r.enqueue_done("IDEM").await, json!({"enqueued_total": 2}), "{path}");
        let tries = r.fc.requests(path);
        let first = tries[0].headers["idempotency-key"].clone();
        let same: Vec<_> = tries.iter().filter(|t| t.headers["idempotency-key"] == first).collect();
        assert_eq!(same.len(), 3, "{path}: two 503s then success, all with one key");
        let per_item = if path.ends_with("batch") { 3 } else { 4 };
        assert_eq!(tries.len(), per_item, "{path}: nothing else was retried");
    }
}

/// Line 33: a second trigger for a job that is still enumerating duplicates nothing.
#[tokio::test]
async fn a_second_trigger_for_a_running_job_duplicates_nothing() {
    let r = rig(
        &[
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "1"),
            ("DSXCONNECTOR_FULL_SCAN_ENQUEUE_CONCURRENCY", "1"),
        ],
        tree,
    );
    r.ready().await;
    r.fc.set(|s| s.delay = Duration::from_millis(150));
    let (s1, _) = r.full_scan("?job_id=DUP").await;
    // The second trigger arrives while the first scan is sending.
    wait_for("the first scan sending", Duration::from_secs(10), || async {
        (!r.fc.requests("/scan/request/batch").is_empty() || !r.fc.requests("/scan/request").is_empty()).then_some(())
    })
    .await;
    let (s2, v2) = r.full_scan("?job_id=DUP").await;
    assert_eq!((s1, s2, v2["id"].as_str()), (200, 200, Some("DUP")));
    assert_eq!(r.enqueue_done("DUP").await, json!({"enqueued_total": 4}));
    // A later job is closed after anything more of the first would have been sent.
    r.full_scan("?job_id=LATER").await;
    r.enqueue_done("LATER").await;
    let locs = r.locations("DUP");
    assert_eq!(locs.len(), 4, "{locs:?}");
    assert_eq!(r.fc.requests("/scan/jobs/DUP/enqueue_done").len(), 1);
}

/// Line 34: links, FIFOs and sockets are never enqueued, and links are not followed out.
#[tokio::test]
async fn links_fifos_and_sockets_are_never_enqueued() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret/s.txt", b"outside");
    let out = outside.path().to_path_buf();
    let r = rig(&[], move |root| {
        write(root, "real.txt", b"real");
        std::os::unix::fs::symlink(root.join("real.txt"), root.join("link-in.txt")).unwrap();
        std::os::unix::fs::symlink(out.join("secret"), root.join("link-dir")).unwrap();
        let fifo = std::ffi::CString::new(root.join("pipe").display().to_string()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    });
    r.ready().await;
    r.full_scan("?job_id=SPEC").await;
    assert_eq!(r.enqueue_done("SPEC").await, json!({"enqueued_total": 1}));
    assert_eq!(
        r.locations("SPEC"),
        vec![format!("{}/real.txt", r.asset.path().display())]
    );
}

/// Line 54: the quarantine is out of reach of full scans, even for a filter naming it, and of
/// webhooks.
#[tokio::test]
async fn the_quarantine_is_never_enqueued_whatever_the_filter() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "dsxconnect-quarantine")], tree);
    r.ready().await;
    r.full_scan("?job_id=Q").await;
    assert_eq!(r.enqueue_done("Q").await, json!({"enqueued_total": 0}));
    let plain = rig(&[], tree);
    plain.ready().await;
    let resp = plain
        .http
        .post(plain.url("/webhook/event"))
        .json(&json!({"location": "dsxconnect-quarantine/old/evil.com"}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_ne!(v["status"], "success", "{v}");
    assert!(plain.fc.scan_items().is_empty());
}

/// Line 69: a job id with a character outside the allowed set is refused and the core hears
/// nothing about it.
#[tokio::test]
async fn a_bad_job_id_is_refused_and_nothing_reaches_the_core() {
    let r = rig(&[], tree);
    r.ready().await;
    for bad in ["a:b", "a%2Fb", "with%20space"] {
        assert_eq!(r.full_scan(&format!("?job_id={bad}")).await.0, 422, "{bad}");
    }
    // A valid scan afterwards is the barrier: once its `enqueue_done` arrived, anything the
    // refused calls had set off would have reached the core before it.
    assert_eq!(r.full_scan("?job_id=GOOD").await.0, 200);
    r.enqueue_done("GOOD").await;
    assert!(r.fc.scan_items().iter().all(|i| i["scan_job_id"] == "GOOD"));
    let counts: BTreeMap<String, usize> = r.fc.requests("").iter().fold(BTreeMap::new(), |mut m, q| {
        *m.entry(q.path.clone()).or_default() += 1;
        m
    });
    assert!(
        counts.keys().all(|p| p.ends_with("/register")
            || p.ends_with("/healthz")
            || p.ends_with("/scan/request/batch")
            || p.ends_with("/scan/request")
            || p.ends_with("/scan/jobs/GOOD/enqueue_done")),
        "{counts:?}"
    );
}

// ---- DSX-HMAC on our connectors (docs/AUTH.md, "Our connectors") ----

const KID: &str = "c3RhdGljLWtleS1pZA==";
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `atk_29`: a connector holding a key refuses unsigned, forged, stale and replayed calls on
/// every route but the probes, and signs what it sends to the core.
#[tokio::test]
async fn atk_a_connector_holding_a_key_requires_it_and_signs_its_own_calls() {
    use dsx_connect::auth::hmac::{HmacKey, SignatureHeader, now_secs};
    let r = rig(
        &[
            ("DSXCONNECTOR_AUTH__HMAC_KEY_ID", KID),
            ("DSXCONNECTOR_AUTH__HMAC_SECRET", SECRET),
        ],
        tree,
    );
    r.ready().await;
    for p in ["/healthz", "/readyz"] {
        assert_eq!(r.get(p).await.0, 200, "{p} stays open");
    }
    // Without a metrics token of its own, a protected connector's metrics are closed to all.
    assert_eq!(
        r.get("/metrics").await,
        (401, json!({"detail": "metrics_token_required"}))
    );
    for (method, p) in [
        ("GET", "/"),
        ("GET", "/config"),
        ("GET", "/repo_check"),
        ("GET", "/estimate"),
        ("POST", "/full_scan"),
        ("POST", "/read_file"),
        ("PUT", "/item_action"),
    ] {
        let resp = r
            .http
            .request(method.parse().unwrap(), r.url(p))
            .json(&json!({"location": "top.txt", "metainfo": "top.txt"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{method} {p}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["detail"], "missing_hmac", "{method} {p}");
    }
    let key = HmacKey::new(KID, SECRET);
    let path = url::Url::parse(&r.url("/read_file")).unwrap().path().to_string();
    let body = br#"{"location":"top.txt","metainfo":"top.txt"}"#.to_vec();
    let send = |auth: String, body: Vec<u8>| {
        r.http
            .post(r.url("/read_file"))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let signed = key.authorization("POST", &path, &body);
    let ok = send(signed.clone(), body.clone()).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"top");
    let again = send(signed, body.clone()).await.unwrap();
    assert_eq!(again.status().as_u16(), 401);
    assert_eq!(again.json::<Value>().await.unwrap()["detail"], "replayed_request");
    let stale = key.authorization_at("POST", &path, &body, now_secs() - 120, "c3RhbGUtbm9uY2Ux");
    let v: Value = send(stale, body.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(v["detail"], "stale_request");
    let other = HmacKey::new(KID, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=");
    let v: Value = send(other.authorization("POST", &path, &body), body.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["detail"], "bad_signature");
    let tampered = br#"{"location":"sub1/a.txt","metainfo":"top.txt"}"#.to_vec();
    let v: Value = send(key.authorization("POST", &path, &body), tampered)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["detail"], "bad_signature", "the signature covers the body");
    // What the connector sent the core carries a signature made with its key.
    let reg = r.fc.requests("/connectors/register");
    let auth = reg[0].headers.get("authorization").expect("signed registration");
    let h = SignatureHeader::parse(auth.as_bytes()).unwrap();
    assert_eq!(h.key_id, KID);
}

/// `atk_28`: signatures required but no way to get a key is a start-up error naming the variable.
#[test]
fn atk_auth_enabled_without_credentials_is_a_startup_error() {
    use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
    let env: BTreeMap<String, String> = [("DSXCONNECTOR_ASSET", "/tmp"), ("DSXCONNECTOR_AUTH__ENABLED", "true")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let err = ConnectorSettings::load(ConnectorKind::Filesystem, &env, None, &Overrides::default())
        .map(|_| ())
        .expect_err("refused");
    assert!(
        err.to_string().contains("DSXCONNECTOR_AUTH__ENABLED=true requires DSXCONNECT_ENROLLMENT_TOKEN, DSXCONNECTOR_AUTH__HMAC_KEY_ID/_SECRET or stored credentials"),
        "{err}"
    );
}

/// `/metrics` of a connector with an API key and a metrics token: only the bearer token opens
/// it (the API key does not, and the token opens nothing else).
#[tokio::test]
async fn a_connector_serves_metrics_to_its_metrics_token_only() {
    let r = rig(
        &[
            ("DSXCONNECTOR_API_KEY", "api-key-0123456789"),
            ("DSXCONNECTOR_METRICS_TOKEN", "metrics-token-0123456789"),
        ],
        tree,
    );
    let get = |auth: Option<(&'static str, &'static str)>, p: &'static str| {
        let mut req = r.http.get(r.url(p));
        if let Some((k, v)) = auth {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap() }
    };
    assert_eq!(get(None, "/metrics").await.status(), 401);
    assert_eq!(
        get(Some(("x-api-key", "api-key-0123456789")), "/metrics")
            .await
            .status(),
        401
    );
    assert_eq!(
        get(Some(("authorization", "Bearer wrong-token-0123456789")), "/metrics")
            .await
            .status(),
        401
    );
    let ok = get(Some(("authorization", "Bearer metrics-token-0123456789")), "/metrics").await;
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("# TYPE dsx_connect_connector_status gauge"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    // The metrics token is not an API key.
    let config = get(Some(("authorization", "Bearer metrics-token-0123456789")), "/config").await;
    assert_eq!(config.status(), 403);
}
