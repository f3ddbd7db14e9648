//! The GCS connector against a real Cloud Storage JSON API (fake-gcs-server on loopback) and a
//! recording fake core: asset and prefix, listing with page tokens and filter hints, streamed
//! reads, the error mapping, delete / move / tag / movetag on the scanned generation, result
//! tags, Pub/Sub push classification, repository checks and start-up errors
//! (docs/reference/CONNECTORS.md, "GCS connector"). What goes over the wire is checked through
//! the recording proxy (`common::gcs_proxy`), here and in `gcs_end_to_end`.
//!
//! The GCS lines of the conformance checklist, and the tests that prove them:
//!
//! | Line | Tests |
//! |---|---|
//! | 89 | `bad_assets_and_unreadable_credentials_exit_2_…`, `a_full_scan_of_a_prefix_…` (anonymous) |
//! | 90 | `a_full_scan_of_a_prefix_…`, `the_filter_applies_below_the_prefix`, `small_pages_chain_page_tokens_…`, `gcs_end_to_end::five_thousand_odd_names_…` |
//! | 91 | `reads_are_byte_identical_…`, `media_reads_ask_for_gzip_…`, `gcs_end_to_end::the_wire_carries_…` (503 + `Retry-After`) |
//! | 92 | `delete_removes_the_object_…`, `a_move_acts_on_the_generation_that_was_read`, `gcs_end_to_end::the_wire_carries_…` |
//! | 93 | `move_keeps_the_object_resource_…`, `move_to_another_bucket_…`, `gcs_end_to_end::the_wire_carries_…` |
//! | 94 | `tag_merges_metadata_within_the_limit_…`, `a_tag_is_one_patch_of_the_new_keys_…`, `result_tags_mark_intake_pending_…` |
//! | 95 | `gcs_end_to_end::a_push_subscription_…` |
//! | 96 | `push_envelopes_enqueue_finalized_objects_only` |
//! | 97 | `gcs_end_to_end::a_pull_subscription_…`, `gcs_end_to_end::pull_by_full_subscription_path_…` |
//! | 98 | `gcs_credentials::a_service_account_key_signs_…`, `gcs_credentials::adc_from_the_metadata_server_…` |
//! | 99 | `repository_checks_report_…`, `gcs_end_to_end::the_wire_carries_…` |

use crate::common;

use std::time::Duration;

use common::fake_core::FakeCore;
use common::gcs::*;
use common::gcs_proxy::{Proxy, Seen};
use common::*;
use serde_json::{Value, json};

pub(crate) struct Rig {
    pub(crate) fc: FakeCore,
    pub(crate) conn: Threaded,
    pub(crate) gcs: Admin,
    pub(crate) bucket: String,
    pub(crate) http: reqwest::Client,
    _data: tempfile::TempDir,
}

/// The reference tree under `pre/`, plus names that must never be enqueued.
async fn seed(gcs: &Admin, bucket: &str) {
    gcs.create_bucket(bucket).await;
    for (k, v) in [
        ("pre/top.txt", &b"top"[..]),
        ("pre/sub1/a.txt", b"a"),
        ("pre/sub1/nested/c.txt", b"c"),
        ("pre/sub2/b.pdf", b"%PDF"),
        ("pre/sub1/dsxconnect-quarantine.txt", b"name only"),
        ("pre/sub1/", b""),
        ("other/outside.txt", b"outside"),
        ("dsxconnect-quarantine/pre/old.exe", b"already quarantined"),
    ] {
        gcs.put(bucket, k, v).await;
    }
}

async fn rig(env: &[(&str, &str)]) -> Rig {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("g");
    seed(&gcs, &bucket).await;
    rig_on(gcs, bucket, "pre", env).await
}

pub(crate) async fn rig_on(gcs: Admin, bucket: String, prefix: &str, env: &[(&str, &str)]) -> Rig {
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let asset = if prefix.is_empty() {
        bucket.clone()
    } else {
        format!("{bucket}/{prefix}")
    };
    let (conn, _) = start_gcs_connector(&fc.url, &gcs.base, &asset, data.path(), env);
    let r = Rig {
        fc,
        conn,
        gcs,
        bucket,
        http: reqwest::Client::new(),
        _data: data,
    };
    wait_for("ready", Duration::from_secs(20), || async {
        let s = r.http.get(r.url("/readyz")).send().await.ok()?.status().as_u16();
        (s == 200).then_some(())
    })
    .await;
    r
}

impl Rig {
    pub(crate) fn url(&self, p: &str) -> String {
        format!("{}{p}", self.conn.url)
    }

    pub(crate) async fn full_scan(&self, job: &str) -> Vec<Value> {
        let r = self
            .http
            .post(self.url(&format!("/full_scan?job_id={job}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        wait_for("enqueue_done", Duration::from_secs(60), || async {
            (!self.fc.requests(&format!("/scan/jobs/{job}/enqueue_done")).is_empty()).then_some(())
        })
        .await;
        self.fc
            .scan_items()
            .into_iter()
            .filter(|i| i["scan_job_id"] == job)
            .collect()
    }

    pub(crate) fn done_total(&self, job: &str) -> Value {
        self.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))[0].body["enqueued_total"].clone()
    }

    pub(crate) async fn action(&self, name: &str) -> (u16, Value) {
        let r = self
            .http
            .put(self.url("/item_action"))
            .json(&json!({"location": name, "metainfo": format!("{}/{name}", self.bucket)}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub(crate) async fn read(&self, name: &str) -> reqwest::Response {
        self.http
            .post(self.url("/read_file"))
            .json(&json!({"location": name, "metainfo": "m"}))
            .send()
            .await
            .unwrap()
    }

    async fn webhook(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/webhook/event"))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn metadata(&self, name: &str) -> Value {
        self.gcs
            .get(&self.bucket, name)
            .await
            .map(|o| o["metadata"].clone())
            .unwrap_or(Value::Null)
    }
}

pub(crate) fn locations(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| i["location"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// A Pub/Sub push envelope of a Cloud Storage notification.
fn push(event: &str, bucket: &str, name: &str, size: u64) -> Value {
    use base64::Engine;
    let data = json!({"name": name, "bucket": bucket, "size": size.to_string()}).to_string();
    json!({
        "message": {
            "attributes": {"eventType": event, "bucketId": bucket, "objectId": name,
                "payloadFormat": "JSON_API_V1", "objectGeneration": "1"},
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": "m1", "publishTime": "2026-01-01T00:00:00Z"
        },
        "subscription": "projects/p/subscriptions/s"
    })
}

/// A full scan of `B/pre` enqueues full names with `B/<name>` metainfo and sizes; folder
/// markers, other prefixes and the quarantine never appear; `/config` shows the GCS extras and
/// no secret; the connector works anonymously toward the emulator.
#[tokio::test]
async fn a_full_scan_of_a_prefix_sends_full_names_and_skips_markers_and_quarantine() {
    let r = rig(&[]).await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert_eq!(reg["name"], "google-cloud-storage-connector");
    assert_eq!(reg["status"], "ready");
    let items = r.full_scan("J").await;
    assert_eq!(
        locations(&items),
        [
            "pre/sub1/a.txt",
            "pre/sub1/dsxconnect-quarantine.txt",
            "pre/sub1/nested/c.txt",
            "pre/sub2/b.pdf",
            "pre/top.txt"
        ]
    );
    let a = items.iter().find(|i| i["location"] == "pre/sub1/a.txt").unwrap();
    assert_eq!(a["metainfo"], format!("{}/pre/sub1/a.txt", r.bucket));
    assert_eq!(a["size_in_bytes"], 1);
    assert_eq!(r.done_total("J"), 5);
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["connector_type"], "gcs");
    assert_eq!(cfg["resolved_asset_base"], format!("gs://{}/pre", r.bucket));
    let text = cfg.to_string();
    for key in [
        "bucket",
        "prefix",
        "endpoint_url",
        "auth",
        "quarantine",
        "result_tags",
        "pubsub_subscription",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "/config lacks {key}: {cfg}");
    }
    assert!(text.contains("\"anonymous\""), "{cfg}");
}

/// The filter decides below the prefix (its hints narrow the listing only).
#[tokio::test]
async fn the_filter_applies_below_the_prefix() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "sub1 --exclude nested")]).await;
    assert_eq!(
        locations(&r.full_scan("F").await),
        ["pre/sub1/a.txt", "pre/sub1/dsxconnect-quarantine.txt"]
    );
}

/// The objects.list calls of `bucket` that the proxy saw, in order, except repository checks
/// (one name a page).
fn list_calls(rp: &Proxy, bucket: &str) -> Vec<Seen> {
    rp.seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path == format!("/storage/v1/b/{bucket}/o"))
        .filter(|s| s.query_value("maxResults").as_deref() != Some("1"))
        .collect()
}

/// Line 90 on the wire: with a page size of 2, 7 objects take 4 objects.list calls, each after
/// the first carrying the `nextPageToken` of the answer before it, and each object is enqueued
/// once; the filter `a/*,b/*` lists only `prefix=pre/a/` and `prefix=pre/b/`.
#[tokio::test]
async fn small_pages_chain_page_tokens_and_hints_list_only_their_prefixes() {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("chain");
    gcs.create_bucket(&bucket).await;
    let names: Vec<String> = (0..7).map(|i| format!("pre/f{i}")).collect();
    for n in &names {
        gcs.put(&bucket, n, b"x").await;
    }
    let rp = Proxy::start(fake_gcs());
    let env = [
        ("STORAGE_EMULATOR_HOST", rp.url.as_str()),
        ("DSXCONNECTOR_GCS_LIST_PAGE_SIZE", "2"),
    ];
    let r = rig_on(gcs.clone(), bucket.clone(), "pre", &env).await;
    rp.clear();
    let items = r.full_scan("P").await;
    assert_eq!(locations(&items), names, "each object once");
    assert_eq!(r.done_total("P"), 7);
    let lists = list_calls(&rp, &bucket);
    assert_eq!(lists.len(), 4, "7 objects under pre/, 2 a page: {lists:?}");
    for l in &lists {
        assert_eq!(l.query_value("prefix").as_deref(), Some("pre/"), "{l:?}");
        assert_eq!(l.query_value("maxResults").as_deref(), Some("2"), "{l:?}");
        assert_eq!(l.status, 200, "{l:?}");
    }
    assert_eq!(lists[0].query_value("pageToken"), None);
    for pair in lists.windows(2) {
        let token = pair[0].answer["nextPageToken"].as_str();
        assert!(token.is_some_and(|t| !t.is_empty()), "{:?}", pair[0]);
        assert_eq!(pair[1].query_value("pageToken").as_deref(), token, "the chain");
    }
    assert!(
        lists[3].answer["nextPageToken"].as_str().is_none_or(str::is_empty),
        "the last page ends the chain: {:?}",
        lists[3]
    );

    let hinted_bucket = unique_bucket("hints");
    gcs.create_bucket(&hinted_bucket).await;
    for k in ["pre/a/1.txt", "pre/a/2.txt", "pre/b/3.txt", "pre/c/4.txt", "pre/ab.txt"] {
        gcs.put(&hinted_bucket, k, b"h").await;
    }
    let hinted = rig_on(
        gcs,
        hinted_bucket.clone(),
        "pre",
        &[
            ("STORAGE_EMULATOR_HOST", rp.url.as_str()),
            ("DSXCONNECTOR_FILTER", "a/*,b/*"),
        ],
    )
    .await;
    rp.clear();
    let items = hinted.full_scan("H").await;
    assert_eq!(locations(&items), ["pre/a/1.txt", "pre/a/2.txt", "pre/b/3.txt"]);
    let mut prefixes: Vec<String> = list_calls(&rp, &hinted_bucket)
        .iter()
        .filter_map(|s| s.query_value("prefix"))
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, ["pre/a/", "pre/b/"], "only the hinted prefixes are listed");
}

/// Line 91 on the wire: every media GET asks for `Accept-Encoding: gzip`, so an object stored
/// with `Content-Encoding: gzip` comes back as stored with its stored length; a missing object
/// is one GET (no retry of a 404); a body the service cuts short after 1 MiB of 5 MiB makes the
/// connector abort its answer rather than end it early.
#[tokio::test]
async fn media_reads_ask_for_gzip_keep_stored_bytes_and_abort_cut_bodies() {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("media");
    gcs.create_bucket(&bucket).await;
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&b"hello gzip ".repeat(1000)).unwrap();
        e.finish().unwrap()
    };
    gcs.put_with(
        &bucket,
        "pre/z.txt",
        &gz,
        Upload {
            content_type: Some("text/plain"),
            content_encoding: Some("gzip"),
            ..Upload::default()
        },
    )
    .await;
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    gcs.put(&bucket, "pre/big.bin", &big).await;
    let rp = Proxy::start(fake_gcs());
    let r = rig_on(
        gcs,
        bucket.clone(),
        "pre",
        &[("STORAGE_EMULATOR_HOST", rp.url.as_str())],
    )
    .await;
    let o = |name: &str| format!("/storage/v1/b/{bucket}/o/{}", name.replace('/', "%2F"));
    let media = |name: &str| -> Vec<Seen> {
        rp.seen()
            .into_iter()
            .filter(|s| s.method == "GET" && s.path == o(name) && s.query_value("alt").as_deref() == Some("media"))
            .collect()
    };

    let resp = r.read("pre/z.txt").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-length"].to_str().unwrap(),
        gz.len().to_string(),
        "the stored length"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &gz[..], "served as stored");
    let gets = media("pre/z.txt");
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].headers.get("accept-encoding").map(String::as_str), Some("gzip"));

    assert_eq!(r.read("pre/missing").await.status().as_u16(), 404);
    assert_eq!(media("pre/missing").len(), 1, "a 404 is never retried");

    rp.cut("GET", &o("pre/big.bin"), 1024 * 1024);
    let cut = r.read("pre/big.bin").await;
    assert_eq!(cut.status().as_u16(), 200);
    assert_eq!(cut.headers()["content-length"], big.len().to_string().as_str());
    assert!(
        cut.bytes().await.is_err(),
        "the connector aborts a body that ends early"
    );
    let whole = r.read("pre/big.bin").await;
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &big[..], "uncut, it is whole");
    let all: Vec<Seen> = rp
        .seen()
        .into_iter()
        .filter(|s| s.query_value("alt").as_deref() == Some("media"))
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all.iter()
            .all(|s| s.headers.get("accept-encoding").map(String::as_str) == Some("gzip")),
        "{all:?}"
    );
}

/// read_file streams exact bytes with Content-Length (0 B, 1 B, 5 MiB); a gzip-stored object is
/// served as stored; missing is 404, outside the prefix 403, a deleted bucket 503.
#[tokio::test]
async fn reads_are_byte_identical_and_errors_map_to_statuses() {
    let r = rig(&[]).await;
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for (name, body) in [("pre/empty", &b""[..]), ("pre/one", b"1"), ("pre/big.bin", &big[..])] {
        r.gcs.put(&r.bucket, name, body).await;
        let resp = r.read(name).await;
        assert_eq!(resp.status().as_u16(), 200, "{name}");
        assert_eq!(
            resp.headers()["content-length"].to_str().unwrap(),
            body.len().to_string(),
            "{name}"
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), body, "{name}");
    }
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello hello hello hello").unwrap();
        e.finish().unwrap()
    };
    r.gcs
        .put_with(
            &r.bucket,
            "pre/z.txt.gz",
            &gz,
            Upload {
                content_type: Some("text/plain"),
                content_encoding: Some("gzip"),
                ..Upload::default()
            },
        )
        .await;
    let resp = r.read("pre/z.txt.gz").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &gz[..], "served as stored");
    assert_eq!(r.read("pre/missing").await.status().as_u16(), 404);
    assert_eq!(r.read("other/outside.txt").await.status().as_u16(), 403);

    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let gone = unique_bucket("gone");
    let (conn, _) = start_gcs_connector(&fc.url, fake_gcs(), &format!("{gone}/pre"), data.path(), &[]);
    let resp = r
        .http
        .post(format!("{}/read_file", conn.url))
        .json(&json!({"location": "pre/x", "metainfo": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        503,
        "a missing bucket is unavailable, not a missing object"
    );
}

/// delete removes the object (`deleted=`); a missing object is 200 `error`, never success; a name
/// outside the asset (the quarantine among them) is 403 and left alone.
#[tokio::test]
async fn delete_removes_the_object_and_reports_missing_ones_as_errors() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "delete")]).await;
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["description"], format!("deleted={}/pre/top.txt", r.bucket));
    assert!(r.gcs.get(&r.bucket, "pre/top.txt").await.is_none());
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "{v}");
    assert_eq!(v["message"], "Item does not exist");
    assert_eq!(r.action("other/outside.txt").await.0, 403);
    assert_eq!(r.action("dsxconnect-quarantine/pre/old.exe").await.0, 403);
    assert!(
        r.gcs
            .get(&r.bucket, "dsxconnect-quarantine/pre/old.exe")
            .await
            .is_some()
    );
}

/// move rewrites to `dsxconnect-quarantine/<name>` keeping bytes, content type and encoding,
/// cache control, metadata and storage class, then deletes the source; a second move of the
/// same name goes to `….1`, never overwriting.
#[tokio::test]
async fn move_keeps_the_object_resource_and_never_overwrites() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    let up = || Upload {
        content_type: Some("application/x-test"),
        content_encoding: Some("identity"),
        cache_control: Some("no-cache"),
        metadata: Some(json!({"owner": "me"})),
    };
    r.gcs.put_with(&r.bucket, "pre/x", EICAR, up()).await;
    let (s, v) = r.action("pre/x").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(
        v["description"],
        format!("moved_to={}/dsxconnect-quarantine/pre/x", r.bucket)
    );
    assert!(r.gcs.get(&r.bucket, "pre/x").await.is_none(), "the source is gone");
    let q = r.gcs.get(&r.bucket, "dsxconnect-quarantine/pre/x").await.unwrap();
    assert_eq!(q["contentType"], "application/x-test");
    assert_eq!(q["cacheControl"], "no-cache");
    assert_eq!(q["metadata"]["owner"], "me");
    assert_eq!(q["storageClass"], "STANDARD");
    assert_eq!(
        r.gcs.bytes(&r.bucket, "dsxconnect-quarantine/pre/x").await.unwrap(),
        EICAR
    );
    r.gcs.put(&r.bucket, "pre/x", b"second").await;
    let (_, v) = r.action("pre/x").await;
    assert_eq!(
        v["description"],
        format!("moved_to={}/dsxconnect-quarantine/pre/x.1", r.bucket),
        "{v}"
    );
    assert_eq!(
        r.gcs.bytes(&r.bucket, "dsxconnect-quarantine/pre/x").await.unwrap(),
        EICAR,
        "the first quarantined copy is intact"
    );
}

/// A quarantine in another bucket (`gs://Q/held`) receives `held/<name>`; with that bucket
/// missing the move is an `error` and the source stays.
#[tokio::test]
async fn move_to_another_bucket_and_to_a_missing_one() {
    let q = unique_bucket("quar");
    let gcs = Admin::new(fake_gcs());
    let r = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "move"),
        ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", &format!("gs://{q}/held")),
    ])
    .await;
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "no bucket {q}: {v}");
    assert!(r.gcs.get(&r.bucket, "pre/top.txt").await.is_some(), "the source stays");
    gcs.create_bucket(&q).await;
    let (_, v) = r.action("pre/top.txt").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["description"], format!("moved_to={q}/held/pre/top.txt"));
    assert_eq!(gcs.bytes(&q, "held/pre/top.txt").await.unwrap(), b"top");
    assert!(r.gcs.get(&r.bucket, "pre/top.txt").await.is_none());
}

/// On a versioned bucket an object read, then overwritten, then moved: the quarantined copy has
/// the scanned (older) bytes.
#[tokio::test]
async fn a_move_acts_on_the_generation_that_was_read() {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("ver");
    gcs.create_bucket_with(&bucket, json!({"versioning": {"enabled": true}}))
        .await;
    gcs.put(&bucket, "pre/v.txt", b"scanned bytes").await;
    let r = rig_on(gcs, bucket, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    let resp = r.read("pre/v.txt").await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"scanned bytes");
    r.gcs.put(&r.bucket, "pre/v.txt", b"newer bytes").await;
    let (_, v) = r.action("pre/v.txt").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(
        r.gcs.bytes(&r.bucket, "dsxconnect-quarantine/pre/v.txt").await.unwrap(),
        b"scanned bytes"
    );
}

/// tag merges `Verdict=Malicious` into the custom metadata (existing keys stay); metadata that
/// would pass 8 KiB gives `reason=tag_limit` and nothing is written; movetag's destination has
/// the source's metadata plus the verdict.
#[tokio::test]
async fn tag_merges_metadata_within_the_limit_and_movetag_carries_it() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "tag")]).await;
    let meta = |m: Value| Upload {
        metadata: Some(m),
        ..Upload::default()
    };
    r.gcs
        .put_with(&r.bucket, "pre/t", b"t", meta(json!({"owner": "me"})))
        .await;
    let (s, v) = r.action("pre/t").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(
        r.metadata("pre/t").await,
        json!({"owner": "me", "Verdict": "Malicious"})
    );
    r.gcs
        .put_with(&r.bucket, "pre/full", b"f", meta(json!({"big": "x".repeat(8180)})))
        .await;
    let (s, v) = r.action("pre/full").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "{v}");
    assert_eq!(v["description"], "reason=tag_limit");
    assert!(r.metadata("pre/full").await.get("Verdict").is_none(), "nothing written");
    assert_eq!(r.action("pre/missing").await.1["status"], "error");

    let mt = rig(&[("DSXCONNECTOR_ITEM_ACTION", "movetag")]).await;
    mt.gcs
        .put_with(&mt.bucket, "pre/m", b"m", meta(json!({"owner": "me"})))
        .await;
    let (_, v) = mt.action("pre/m").await;
    assert_eq!(v["status"], "success", "{v}");
    let q = mt.gcs.get(&mt.bucket, "dsxconnect-quarantine/pre/m").await.unwrap();
    assert_eq!(q["metadata"], json!({"owner": "me", "Verdict": "Malicious"}));
    assert!(mt.gcs.get(&mt.bucket, "pre/m").await.is_none());
}

/// Line 94 on the wire: tagging an object read at generation G (metadata `owner=me`) is one
/// PATCH at `generation=G` whose body holds only the new key, and the service's merge keeps
/// `owner=me`; metadata that would pass 8 KiB gives `reason=tag_limit` with no PATCH at all.
#[tokio::test]
async fn a_tag_is_one_patch_of_the_new_keys_at_the_scanned_generation() {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("patch");
    gcs.create_bucket(&bucket).await;
    let meta = |m: Value| Upload {
        metadata: Some(m),
        ..Upload::default()
    };
    let put = gcs.put_with(&bucket, "pre/t", b"t", meta(json!({"owner": "me"}))).await;
    let generation = put["generation"].as_str().unwrap().to_string();
    gcs.put_with(&bucket, "pre/full", b"f", meta(json!({"big": "x".repeat(8180)})))
        .await;
    let rp = Proxy::start(fake_gcs());
    let r = rig_on(
        gcs,
        bucket.clone(),
        "pre",
        &[
            ("STORAGE_EMULATOR_HOST", rp.url.as_str()),
            ("DSXCONNECTOR_ITEM_ACTION", "tag"),
        ],
    )
    .await;
    assert_eq!(r.read("pre/t").await.bytes().await.unwrap().as_ref(), b"t");
    rp.clear();
    let (s, v) = r.action("pre/t").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    let seen = rp.seen();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{seen:?}");
    assert_eq!(patches[0].path, format!("/storage/v1/b/{bucket}/o/pre%2Ft"));
    assert_eq!(
        patches[0].query_value("generation"),
        Some(generation),
        "{:?}",
        patches[0]
    );
    assert_eq!(patches[0].json(), json!({"metadata": {"Verdict": "Malicious"}}));
    assert_eq!(
        r.metadata("pre/t").await,
        json!({"owner": "me", "Verdict": "Malicious"})
    );

    rp.clear();
    let (s, v) = r.action("pre/full").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "{v}");
    assert_eq!(v["description"], "reason=tag_limit");
    let seen = rp.seen();
    assert!(seen.iter().all(|s| s.method == "GET"), "nothing written: {seen:?}");
    assert!(r.metadata("pre/full").await.get("Verdict").is_none());
}

/// Without `DSXCONNECTOR_ITEM_ACTION` the GCS connector tags, as the original did: `/config`
/// says `tag`, and a malicious object stays where it is with `Verdict=Malicious` merged into its
/// metadata.
#[tokio::test]
async fn the_default_action_is_tag() {
    let r = rig(&[]).await;
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["item_action"], "tag", "{cfg}");
    let (s, v) = r.action("pre/sub1/a.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["item_action"], "tag", "{v}");
    assert_eq!(r.metadata("pre/sub1/a.txt").await["Verdict"], "Malicious");
    assert!(
        r.gcs
            .get(&r.bucket, "dsxconnect-quarantine/pre/sub1/a.txt")
            .await
            .is_none(),
        "nothing moved"
    );
}

/// With result tags on: the capability is registered, an object taken in is marked `pending`
/// (unless it has a result), results replace it, and a stale reason is cleared.
#[tokio::test]
async fn result_tags_mark_intake_pending_and_record_each_result() {
    let r = rig(&[
        ("DSXCONNECTOR_GCS_RESULT_TAGS", "true"),
        ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
    ])
    .await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert!(
        reg["capabilities"].as_array().unwrap().contains(&json!("result_tags")),
        "{reg}"
    );
    r.gcs
        .put_with(
            &r.bucket,
            "pre/new.txt",
            b"n",
            Upload {
                metadata: Some(json!({"owner": "me"})),
                ..Upload::default()
            },
        )
        .await;
    let (s, v) = r.webhook(push("OBJECT_FINALIZE", &r.bucket, "pre/new.txt", 1)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(r.metadata("pre/new.txt").await["DsxScanResult"], "pending");
    let tag = |result: &str, reason: Value| {
        r.http
            .put(r.url("/result_tag"))
            .json(&json!({"location": "pre/new.txt", "metainfo": "m", "result": result, "reason": reason}))
            .send()
    };
    assert_eq!(
        tag("not_scanned", json!("too\nlarge")).await.unwrap().status().as_u16(),
        200
    );
    let m = r.metadata("pre/new.txt").await;
    assert_eq!(
        (m["DsxScanResult"].as_str(), m["DsxScanReason"].as_str()),
        (Some("not_scanned"), Some("too large"))
    );
    assert_eq!(tag("clean", Value::Null).await.unwrap().status().as_u16(), 200);
    let m = r.metadata("pre/new.txt").await;
    assert_eq!(m["DsxScanResult"], "clean");
    assert_eq!(m["owner"], "me");
    // The emulator stores a removed key as "" (the service removes it).
    assert!(m.get("DsxScanReason").is_none_or(|v| v == ""), "{m}");
}

/// Push envelopes: a finalized object is enqueued once; metadata updates (our own tag writes)
/// and deletes are ignored; another bucket is rejected and not redelivered (200); an envelope
/// without `message` is 400.
#[tokio::test]
async fn push_envelopes_enqueue_finalized_objects_only() {
    let r = rig(&[]).await;
    let (s, v) = r.webhook(push("OBJECT_FINALIZE", &r.bucket, "pre/sub1/a.txt", 1)).await;
    assert_eq!(s, 200, "{v}");
    wait_for("one scan request", Duration::from_secs(20), || async {
        let items = r.fc.scan_items();
        (items.iter().filter(|i| i["location"] == "pre/sub1/a.txt").count() == 1).then_some(())
    })
    .await;
    let before = r.fc.scan_items().len();
    for event in ["OBJECT_METADATA_UPDATE", "OBJECT_DELETE"] {
        let (s, _) = r.webhook(push(event, &r.bucket, "pre/sub1/a.txt", 1)).await;
        assert_eq!(s, 200);
    }
    let (s, v) = r.webhook(push("OBJECT_FINALIZE", "another-bucket", "pre/a", 1)).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains("rejected"), "{v}");
    let (s, _) = r.webhook(json!({"subscription": "projects/p/subscriptions/s"})).await;
    assert_eq!(s, 400);
    assert_eq!(r.fc.scan_items().len(), before, "nothing else enqueued");
}

/// The repository check: one objects.list passes; a missing bucket is `not_found`; an endpoint
/// that refuses connections is `unreachable`; never a 500.
#[tokio::test]
async fn repository_checks_report_missing_buckets_and_unreachable_endpoints() {
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let bucket = unique_bucket("later");
    let (conn, _) = start_gcs_connector(&fc.url, fake_gcs(), &bucket, data.path(), &[]);
    let reg = wait_for("registration", Duration::from_secs(20), || async {
        fc.requests("/connectors/register").first().cloned()
    })
    .await;
    assert_eq!(reg.body["status"], "failed");
    assert_eq!(reg.body["last_repo_check_reason"], "not_found");
    let http = reqwest::Client::new();
    Admin::new(fake_gcs()).create_bucket(&bucket).await;
    wait_for("ready", Duration::from_secs(30), || async {
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
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let data2 = tempfile::tempdir().unwrap();
    let (down, _) = start_gcs_connector(&fc.url, &format!("http://{closed}"), &bucket, data2.path(), &[]);
    let rc = http.get(format!("{}/repo_check", down.url)).send().await.unwrap();
    assert_eq!(rc.status().as_u16(), 200);
    let v: Value = rc.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["description"].as_str().unwrap_or("").contains("unreachable"), "{v}");
}

/// A bad bucket name or an unreadable credential file stops `connector gcs` with exit status 2
/// and a message naming the variable; the secret JSON never appears.
#[test]
fn bad_assets_and_unreadable_credentials_exit_2_naming_the_variable() {
    let bin = env!("CARGO_BIN_EXE_dsx-connect");
    let run = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(bin)
            .args(["connector", "gcs"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DSXCONNECTOR_LISTEN_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(&[
        ("DSXCONNECTOR_ASSET", "Bad_Bucket"),
        ("STORAGE_EMULATOR_HOST", "127.0.0.1:1"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("DSXCONNECTOR_ASSET"), "{err}");
    let (code, err) = run(&[
        ("DSXCONNECTOR_ASSET", "good-bucket"),
        ("DSXCONNECTOR_GCS_CREDENTIALS_FILE", "/nonexistent/key.json"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("DSXCONNECTOR_GCS_CREDENTIALS_FILE"), "{err}");
    let (code, err) = run(&[
        ("DSXCONNECTOR_ASSET", "good-bucket"),
        ("DSXCONNECTOR_GCS_AUTH", "service_account"),
        (
            "DSXCONNECTOR_GCS_CREDENTIALS_JSON",
            "{\"type\":\"service_account\",\"private_key\":\"TOPSECRET\"}",
        ),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("DSXCONNECTOR_GCS_CREDENTIALS_JSON") && !err.contains("TOPSECRET"),
        "{err}"
    );
}
