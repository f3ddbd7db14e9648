//! The S3 connector against a real S3 API (moto on loopback) and a recording fake core: every S3
//! behaviour of docs/reference/CONNECTORS.md ("S3 connector"), versioned buckets, multipart moves
//! and result tags.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use common::fake_core::FakeCore;
use common::moto::*;
use common::*;
use serde_json::{Value, json};

struct Rig {
    fc: FakeCore,
    conn: Threaded,
    uuid: String,
    s3: aws_sdk_s3::Client,
    bucket: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

/// The reference tree under `pre/`, plus keys that must never be enqueued.
async fn seed(s3: &aws_sdk_s3::Client, bucket: &str) {
    create_bucket(s3, bucket).await;
    for (k, v) in [
        ("pre/top.txt", &b"top"[..]),
        ("pre/sub1/a.txt", b"a"),
        ("pre/sub1/nested/c.txt", b"c"),
        ("pre/sub2/b.pdf", b"%PDF"),
        ("pre/sub1/dsxconnect-quarantine.txt", b"name only"),
        ("pre/sub1/", b""),
        ("pre/marker-with-bytes/", b"x"),
        ("other/outside.txt", b"outside"),
        ("dsxconnect-quarantine/pre/old.exe", b"already quarantined"),
    ] {
        put(s3, bucket, k, v).await;
    }
}

async fn rig(env: &[(&str, &str)]) -> Rig {
    rig_at("pre", env).await
}

async fn rig_at(prefix: &str, env: &[(&str, &str)]) -> Rig {
    let s3 = admin(moto());
    let bucket = unique("b");
    seed(&s3, &bucket).await;
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let asset = if prefix.is_empty() {
        bucket.clone()
    } else {
        format!("{bucket}/{prefix}")
    };
    let (conn, uuid) = start_s3_connector(&fc.url, moto(), &asset, data.path(), env);
    let r = Rig {
        fc,
        conn,
        uuid,
        s3,
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
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.conn.url)
    }

    async fn full_scan(&self, job: &str) -> Vec<Value> {
        let r = self
            .http
            .post(self.url(&format!("/full_scan?job_id={job}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        wait_for("enqueue_done", Duration::from_secs(30), || async {
            (!self.fc.requests(&format!("/scan/jobs/{job}/enqueue_done")).is_empty()).then_some(())
        })
        .await;
        self.fc
            .scan_items()
            .into_iter()
            .filter(|i| i["scan_job_id"] == job)
            .collect()
    }

    async fn done_total(&self, job: &str) -> Value {
        self.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))[0].body["enqueued_total"].clone()
    }

    async fn action(&self, key: &str) -> (u16, Value) {
        let r = self
            .http
            .put(self.url("/item_action"))
            .json(&json!({"location": key, "metainfo": format!("{}/{key}", self.bucket)}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn read(&self, key: &str) -> reqwest::Response {
        self.http
            .post(self.url("/read_file"))
            .json(&json!({"location": key, "metainfo": "m"}))
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
}

fn locations(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| i["location"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn record(name: &str, bucket: &str, key: &str) -> Value {
    json!({"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}})
}

/// Lines 9, 35, 54, 67, 70: registration, full keys, `bucket/key` metainfo, sizes; folder markers,
/// other prefixes and the quarantine are never enqueued.
#[tokio::test]
async fn a_full_scan_of_a_prefix_sends_full_keys_and_skips_markers_and_quarantine() {
    let r = rig(&[]).await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert_eq!(reg["name"], "aws-s3-connector");
    assert_eq!(reg["asset"], format!("{}/pre", r.bucket));
    assert_eq!(reg["status"], "ready");
    assert_eq!(reg["uuid"], r.uuid.as_str());
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
    assert_eq!(r.done_total("J").await, 5);
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
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["connector_type"], "s3");
    assert_eq!(cfg["resolved_asset_base"], format!("s3://{}/pre", r.bucket));
}

/// Lines 36 and 67: the filter decides on the key relative to the asset prefix, and prefix hints
/// never change what is enqueued.
#[tokio::test]
async fn the_filter_applies_below_the_prefix() {
    let r = rig(&[("DSXCONNECTOR_FILTER", "sub1 --exclude nested")]).await;
    let items = r.full_scan("F").await;
    assert_eq!(
        locations(&items),
        ["pre/sub1/a.txt", "pre/sub1/dsxconnect-quarantine.txt"]
    );
    let whole = rig_at("", &[("DSXCONNECTOR_FILTER", "*.txt")]).await;
    let items = whole.full_scan("W").await;
    assert_eq!(
        locations(&items),
        [
            "other/outside.txt",
            "pre/sub1/a.txt",
            "pre/sub1/dsxconnect-quarantine.txt",
            "pre/sub1/nested/c.txt",
            "pre/top.txt"
        ]
    );
}

/// Lines 37, 38, 40, 41: exact bytes with Content-Length for 0 B, 1 B and 5 MiB; 404 for missing
/// keys and folder markers; 403 outside the prefix; 422 for bad bodies.
#[tokio::test]
async fn read_file_streams_exact_bytes_and_refuses_what_is_not_an_item() {
    let r = rig(&[]).await;
    let big: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    put(&r.s3, &r.bucket, "pre/empty.bin", b"").await;
    put(&r.s3, &r.bucket, "pre/one.bin", b"1").await;
    put(&r.s3, &r.bucket, "pre/big.bin", &big).await;
    for (k, want) in [
        ("pre/empty.bin", &b""[..]),
        ("pre/one.bin", b"1"),
        ("pre/big.bin", &big),
    ] {
        let resp = r.read(k).await;
        assert_eq!(resp.status().as_u16(), 200, "{k}");
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        assert_eq!(resp.headers()["content-length"], want.len().to_string().as_str());
        assert_eq!(resp.bytes().await.unwrap().as_ref(), want, "{k}");
    }
    for (k, code) in [
        ("pre/missing.txt", 404),
        ("pre/sub1/", 404),
        ("other/outside.txt", 403),
        ("prefix-but-not-pre/x", 403),
        ("pre", 403),
    ] {
        let resp = r.read(k).await;
        assert_eq!(resp.status().as_u16(), code, "{k}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["status"], "error", "{k}");
    }
    let bad = r
        .http
        .post(r.url("/read_file"))
        .json(&json!({"location": "pre/top.txt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
}

/// Lines 18, 19 and 32: a missing bucket registers as failed (`not_found`), answers repo checks with
/// 200 `error`, and turns ready once the bucket exists; an endpoint that refuses connections is
/// an `error` too, never a 500.
#[tokio::test]
async fn a_missing_bucket_is_reported_then_ready_once_created() {
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let bucket = unique("later");
    let (conn, _) = start_s3_connector(&fc.url, moto(), &bucket, data.path(), &[]);
    let reg = wait_for("registration", Duration::from_secs(20), || async {
        fc.requests("/connectors/register").first().cloned()
    })
    .await;
    assert_eq!(reg.body["status"], "failed");
    assert_eq!(reg.body["last_repo_check_reason"], "not_found");
    let http = reqwest::Client::new();
    let rc = http.get(format!("{}/repo_check", conn.url)).send().await.unwrap();
    assert_eq!(rc.status().as_u16(), 200);
    assert_eq!(rc.json::<Value>().await.unwrap()["status"], "error");
    assert_eq!(
        http.get(format!("{}/readyz", conn.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    // Line 32: a full scan of a missing bucket answers 503 and sends nothing.
    let fs = http
        .post(format!("{}/full_scan?job_id=NOBUCKET", conn.url))
        .send()
        .await
        .unwrap();
    assert_eq!(fs.status().as_u16(), 503);
    assert_eq!(fs.json::<Value>().await.unwrap()["status"], "error");
    create_bucket(&admin(moto()), &bucket).await;
    wait_for("ready", Duration::from_secs(20), || async {
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
    // A scan of the (empty) bucket that now exists runs to its end: the barrier after which
    // anything the refused scan had set off would have reached the core.
    let after = http
        .post(format!("{}/full_scan?job_id=AFTER", conn.url))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status().as_u16(), 200);
    wait_for("enqueue_done of AFTER", Duration::from_secs(30), || async {
        (!fc.requests("/scan/jobs/AFTER/enqueue_done").is_empty()).then_some(())
    })
    .await;
    assert!(fc.requests("/scan/request").is_empty() && fc.requests("/scan/request/batch").is_empty());
    assert!(fc.requests("/scan/jobs/NOBUCKET/enqueue_done").is_empty());

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let data2 = tempfile::tempdir().unwrap();
    let (down, _) = start_s3_connector(&fc.url, &format!("http://{closed}"), &bucket, data2.path(), &[]);
    let rc = http.get(format!("{}/repo_check", down.url)).send().await.unwrap();
    assert_eq!(rc.status().as_u16(), 200);
    let v: Value = rc.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["description"].as_str().unwrap_or("").contains("unreachable"), "{v}");
}

/// Lines 49 and 48: delete removes the key; a missing key is an error, never success; a key
/// outside the asset is 403 and the quarantine is left alone.
#[tokio::test]
async fn delete_removes_the_key_and_reports_missing_ones_as_errors() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "delete")]).await;
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!(
        (s, v["status"].as_str(), v["item_action"].as_str()),
        (200, Some("success"), Some("delete")),
        "{v}"
    );
    assert_eq!(v["description"], format!("deleted={}/pre/top.txt", r.bucket));
    assert!(get(&r.s3, &r.bucket, "pre/top.txt").await.is_none());
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "{v}");
    let (s, _) = r.action("other/outside.txt").await;
    assert_eq!(s, 403);
    assert!(get(&r.s3, &r.bucket, "other/outside.txt").await.is_some());
    let (s, v) = r.action("pre/sub1/").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")));
}

async fn put_rich(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8], tagging: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .content_type("application/x-evil")
        .metadata("origin", "upload-42")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

/// Lines 43–44, 50–51: move copies with metadata, content type and tags, deletes the source,
/// never overwrites (`.1`); another bucket works; a missing destination bucket is an error and
/// the source stays.
#[tokio::test]
async fn move_keeps_metadata_and_tags_and_never_overwrites() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    put_rich(&r.s3, &r.bucket, "pre/x.exe", b"evil", "owner=me&team=red").await;
    let (s, v) = r.action("pre/x.exe").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    let dest = "dsxconnect-quarantine/pre/x.exe";
    assert_eq!(v["description"], format!("moved_to={}/{dest}", r.bucket));
    assert!(get(&r.s3, &r.bucket, "pre/x.exe").await.is_none());
    assert_eq!(get(&r.s3, &r.bucket, dest).await.unwrap(), b"evil");
    let head = r.s3.head_object().bucket(&r.bucket).key(dest).send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-evil"));
    assert_eq!(head.metadata().unwrap()["origin"], "upload-42");
    assert_eq!(
        tags(&r.s3, &r.bucket, dest).await,
        [("owner".to_string(), "me".to_string()), ("team".into(), "red".into())]
    );
    // Again and again: the first free suffix, the earlier copies untouched.
    for n in 1..=2 {
        put(&r.s3, &r.bucket, "pre/x.exe", format!("evil {n}").as_bytes()).await;
        let (_, v) = r.action("pre/x.exe").await;
        assert_eq!(v["description"], format!("moved_to={}/{dest}.{n}", r.bucket));
    }
    assert_eq!(get(&r.s3, &r.bucket, dest).await.unwrap(), b"evil");
    assert_eq!(get(&r.s3, &r.bucket, &format!("{dest}.2")).await.unwrap(), b"evil 2");
    // Quarantined keys are left alone.
    let (s, v) = r.action(dest).await;
    assert_eq!(s, 403, "the quarantine is outside the asset prefix here: {v}");

    let q = unique("quar");
    let other = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "move"),
        ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", &format!("s3://{q}/held")),
    ])
    .await;
    let (s, v) = other.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "missing bucket: {v}");
    assert!(
        get(&other.s3, &other.bucket, "pre/top.txt").await.is_some(),
        "the source stays"
    );
    create_bucket(&other.s3, &q).await;
    let (_, v) = other.action("pre/top.txt").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["description"], format!("moved_to={q}/held/pre/top.txt"));
    assert_eq!(get(&other.s3, &q, "held/pre/top.txt").await.unwrap(), b"top");
}

/// "S3 item actions", move, step 2: over the single-copy limit, a multipart copy carries metadata,
/// content type and tags over (the limit is lowered to 5 MiB here).
#[tokio::test]
async fn large_objects_move_by_multipart_copy_with_everything_carried_over() {
    let r = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "movetag"),
        ("DSXCONNECTOR_S3_MULTIPART_COPY_THRESHOLD_MB", "5"),
    ])
    .await;
    let body: Vec<u8> = (0..12 * 1024 * 1024 + 17).map(|i| (i % 253) as u8).collect();
    put_rich(&r.s3, &r.bucket, "pre/big.iso", &body, "owner=me").await;
    let (s, v) = r.action("pre/big.iso").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    let dest = "dsxconnect-quarantine/pre/big.iso";
    assert_eq!(get(&r.s3, &r.bucket, dest).await.unwrap(), body);
    let head = r.s3.head_object().bucket(&r.bucket).key(dest).send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-evil"));
    assert_eq!(head.metadata().unwrap()["origin"], "upload-42");
    assert_eq!(
        tags(&r.s3, &r.bucket, dest).await,
        [
            ("Verdict".to_string(), "Malicious".to_string()),
            ("owner".into(), "me".into())
        ]
    );
    assert!(get(&r.s3, &r.bucket, "pre/big.iso").await.is_none());
}

async fn set_tags(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, pairs: &[(String, String)]) {
    let set = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
        .collect();
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// Lines 46, 52, 53: tags are merged, `Verdict` replaced, the ten-tag limit reported without
/// writing anything; movetag creates the destination already tagged.
#[tokio::test]
async fn tag_merges_and_respects_the_ten_tag_limit() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "tag"), ("DSXCONNECTOR_TAG_ENGINE", "dsxa")]).await;
    set_tags(&r.s3, &r.bucket, "pre/top.txt", &[("owner".into(), "me".into())]).await;
    let (s, v) = r.action("pre/top.txt").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["description"], format!("tagged={}/pre/top.txt", r.bucket));
    assert_eq!(
        tags(&r.s3, &r.bucket, "pre/top.txt").await,
        [
            ("DsxScanEngine".to_string(), "dsxa".to_string()),
            ("Verdict".into(), "Malicious".into()),
            ("owner".into(), "me".into())
        ]
    );
    set_tags(
        &r.s3,
        &r.bucket,
        "pre/sub1/a.txt",
        &[("Verdict".into(), "Benign".into())],
    )
    .await;
    r.action("pre/sub1/a.txt").await;
    assert!(
        tags(&r.s3, &r.bucket, "pre/sub1/a.txt")
            .await
            .contains(&("Verdict".into(), "Malicious".into()))
    );
    let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
    set_tags(&r.s3, &r.bucket, "pre/sub2/b.pdf", &ten).await;
    let (s, v) = r.action("pre/sub2/b.pdf").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")), "{v}");
    assert_eq!(v["description"], "reason=tag_limit");
    let mut want = ten.clone();
    want.sort();
    assert_eq!(tags(&r.s3, &r.bucket, "pre/sub2/b.pdf").await, want, "nothing written");

    let mt = rig(&[("DSXCONNECTOR_ITEM_ACTION", "move_tag")]).await;
    set_tags(&mt.s3, &mt.bucket, "pre/top.txt", &[("owner".into(), "me".into())]).await;
    let (_, v) = mt.action("pre/top.txt").await;
    assert_eq!(
        (v["status"].as_str(), v["item_action"].as_str()),
        (Some("success"), Some("movetag")),
        "{v}"
    );
    assert_eq!(
        tags(&mt.s3, &mt.bucket, "dsxconnect-quarantine/pre/top.txt").await,
        [
            ("Verdict".to_string(), "Malicious".to_string()),
            ("owner".into(), "me".into())
        ]
    );
    assert!(get(&mt.s3, &mt.bucket, "pre/top.txt").await.is_none());
    set_tags(&mt.s3, &mt.bucket, "pre/sub2/b.pdf", &ten).await;
    let (_, v) = mt.action("pre/sub2/b.pdf").await;
    assert_eq!(
        (v["status"].as_str(), v["description"].as_str()),
        (Some("error"), Some("reason=tag_limit"))
    );
    assert!(
        get(&mt.s3, &mt.bucket, "pre/sub2/b.pdf").await.is_some(),
        "nothing copied, nothing deleted"
    );
}

/// Versioned buckets: the action hits the version that was read for scanning, not a newer one.
#[tokio::test]
async fn on_a_versioned_bucket_the_scanned_version_is_acted_on() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "delete")]).await;
    r.s3.put_bucket_versioning()
        .bucket(&r.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&r.s3, &r.bucket, "pre/v.bin", b"scanned and malicious").await;
    assert_eq!(
        r.read("pre/v.bin").await.bytes().await.unwrap().as_ref(),
        b"scanned and malicious"
    );
    put(&r.s3, &r.bucket, "pre/v.bin", b"a newer upload").await;
    let (_, v) = r.action("pre/v.bin").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(
        get(&r.s3, &r.bucket, "pre/v.bin").await.unwrap(),
        b"a newer upload",
        "the newer version stays"
    );
    let versions =
        r.s3.list_object_versions()
            .bucket(&r.bucket)
            .prefix("pre/v.bin")
            .send()
            .await
            .unwrap();
    assert_eq!(versions.versions().len(), 1, "the scanned version is gone for good");
}

/// Lines 63–66: every record of an event; decoded keys; one job and one `enqueue_done`; foreign
/// buckets rejected, removals ignored, MinIO's `s3:` names accepted; 503 when the core is down.
#[tokio::test]
async fn webhook_events_enqueue_every_record_as_one_job() {
    let r = rig(&[]).await;
    let b = r.bucket.clone();
    let (s, v) = r
        .webhook(json!({"Records": [
            record("ObjectCreated:Put", &b, "pre/docs/my+file%C3%A9.pdf"),
            record("ObjectCreated:Put", &b, "pre/sub1/a.txt"),
            record("s3:ObjectCreated:Put", &b, "pre/top.txt"),
        ]}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    let job = v["id"].as_str().unwrap().to_string();
    assert!(v["description"].as_str().unwrap().contains("enqueued=3"));
    let items: Vec<Value> =
        r.fc.scan_items()
            .into_iter()
            .filter(|i| i["scan_job_id"] == job.as_str())
            .collect();
    assert_eq!(
        locations(&items),
        ["pre/docs/my fileé.pdf", "pre/sub1/a.txt", "pre/top.txt"]
    );
    let done = wait_for("enqueue_done", Duration::from_secs(10), || async {
        r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))
            .first()
            .map(|q| q.body.clone())
    })
    .await;
    assert_eq!(done, json!({"enqueued_total": 3}));

    let before = r.fc.scan_items().len();
    let (s, v) = r
        .webhook(json!({"Records": [record("ObjectCreated:Put", "someone-else", "pre/x")]}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("error")));
    assert!(v["description"].as_str().unwrap().contains("rejected=1"), "{v}");
    let (_, v) = r
        .webhook(json!({"Records": [record("ObjectRemoved:Delete", &b, "pre/top.txt")]}))
        .await;
    assert!(v["description"].as_str().unwrap().contains("ignored=1"), "{v}");
    let (_, v) = r
        .webhook(json!({"Records": [record("ObjectCreated:Copy", &b, "dsxconnect-quarantine/pre/x")]}))
        .await;
    assert_eq!(v["status"], "nothing", "{v}");
    assert_eq!(r.fc.scan_items().len(), before, "nothing more enqueued");
    assert_eq!(r.webhook(json!({"no": "records"})).await.0, 400);
    let (s, v) = r.webhook(json!({"Event": "s3:TestEvent"})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("nothing")));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (down, _) = start_s3_connector(
        &format!("http://{closed}"),
        moto(),
        &format!("{b}/pre"),
        data.path(),
        &[("DSXCONNECTOR_ENQUEUE_MAX_ATTEMPTS", "1")],
    );
    let resp = r
        .http
        .post(format!("{}/webhook/event", down.url))
        .json(&json!({"Records": [record("ObjectCreated:Put", &b, "pre/top.txt")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
}

/// Result tags: `pending` at intake for objects without a result, then the result the core
/// sends; a stale reason is removed; the capability is advertised.
#[tokio::test]
async fn result_tags_mark_intake_pending_and_record_each_result() {
    let r = rig(&[
        ("DSXCONNECTOR_S3_RESULT_TAGS", "true"),
        ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
    ])
    .await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert!(
        reg["capabilities"].as_array().unwrap().contains(&json!("result_tags")),
        "{reg}"
    );
    set_tags(&r.s3, &r.bucket, "pre/top.txt", &[("owner".into(), "me".into())]).await;
    r.full_scan("RT").await;
    assert_eq!(
        tags(&r.s3, &r.bucket, "pre/top.txt").await,
        [
            ("DsxScanResult".to_string(), "pending".to_string()),
            ("owner".into(), "me".into())
        ]
    );
    let tag = |key: &str, result: &str, reason: Value| {
        r.http
            .put(r.url("/result_tag"))
            .json(&json!({"location": key, "metainfo": "m", "result": result, "reason": reason}))
            .send()
    };
    let resp = tag("pre/top.txt", "not_scanned", json!("file too large"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        tags(&r.s3, &r.bucket, "pre/top.txt").await,
        [
            ("DsxScanReason".to_string(), "file too large".to_string()),
            ("DsxScanResult".into(), "not_scanned".into()),
            ("owner".into(), "me".into())
        ]
    );
    tag("pre/top.txt", "clean", Value::Null).await.unwrap();
    assert_eq!(
        tags(&r.s3, &r.bucket, "pre/top.txt").await,
        [
            ("DsxScanResult".to_string(), "clean".to_string()),
            ("owner".into(), "me".into())
        ]
    );
    // A rescan does not trust the last result: the object is pending until the new one arrives.
    r.full_scan("RT2").await;
    assert!(
        tags(&r.s3, &r.bucket, "pre/top.txt")
            .await
            .contains(&("DsxScanResult".into(), "pending".into()))
    );
    assert_eq!(
        tag("pre/top.txt", "bogus", Value::Null)
            .await
            .unwrap()
            .status()
            .as_u16(),
        422
    );
    assert_eq!(
        tag("other/outside.txt", "clean", Value::Null)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    let gone: Value = tag("pre/gone.txt", "malicious", Value::Null)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        gone["status"], "nothing",
        "a moved or deleted object has nothing to tag"
    );
}

const IN: bool = true;
const OUT: bool = false;

macro_rules! rows {
    ($($name:ident: $filter:expr, $path:expr => $expected:expr;)*) => {
        /// The rows of `tests/data/filter_rows.in`: (filter, path, included).
        const ROWS: &[(&str, &str, bool)] = &[$(($filter, $path, $expected),)*];
    };
}

include!("../data/filter_rows.in");

/// Every filter vector (docs/reference/FILTERS.md, "Test vectors") holds for a real listing (one
/// asset prefix per row).
#[tokio::test]
async fn every_filter_vector_holds_for_a_real_bucket_listing() {
    use dsx_connect::connectors::filter::Filter;
    use dsx_connect::connectors::framework::Storage;
    use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
    use dsx_connect::connectors::s3::S3Storage;

    let rows: Vec<(String, String, bool)> = ROWS
        .iter()
        .map(|(f, p, e)| (f.to_string(), p.to_string(), *e))
        .collect();
    let s3 = admin(moto());
    let bucket = unique("vec");
    create_bucket(&s3, &bucket).await;
    let keys: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, p, _))| format!("r{i}/{p}"))
        .collect();
    futures_util::future::join_all(keys.iter().map(|k| put(&s3, &bucket, k, b"x"))).await;
    for (i, (filter, path, include)) in rows.iter().enumerate() {
        let mut env: BTreeMap<String, String> = s3_env(moto()).into_iter().collect();
        env.insert("DSXCONNECTOR_ASSET".into(), format!("{bucket}/r{i}"));
        env.insert("DSXCONNECTOR_FILTER".into(), filter.clone());
        let (settings, _) = ConnectorSettings::load(ConnectorKind::S3, &env, None, &Overrides::default()).unwrap();
        let storage = S3Storage::new(&settings).await.unwrap();
        let mut rx = storage.enumerate(Arc::new(Filter::parse(filter).unwrap()));
        let mut found = Vec::new();
        while let Some(item) = rx.recv().await {
            found.push(item.unwrap().location);
        }
        let key = format!("r{i}/{path}");
        assert_eq!(
            found.contains(&key),
            *include,
            "filter {filter:?}, path {path:?}: listing found {found:?}"
        );
    }
}
