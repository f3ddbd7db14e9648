//! The S3 connector with the real core and a real S3 API (moto): a 5,000-object bucket scanned
//! with exact counts, malicious objects tagged and moved; events from an S3 webhook and from an
//! SQS queue fed by the bucket's own notifications, with a poison message; result tags on every
//! object (by the DSXA stub; the built-in test engine's `Benign` is never tagged `clean`); a
//! policy that allows only reading the bucket.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use futures_util::StreamExt;
use serde_json::{Value, json};

use common::moto::*;
use common::*;

struct World {
    api: Api,
    _core: Threaded,
    _core_dir: tempfile::TempDir,
    conn: Threaded,
    uuid: String,
    s3: aws_sdk_s3::Client,
    bucket: String,
    _data: tempfile::TempDir,
    _dsxa: Option<Dsxa>,
}

/// A core scanning with the DSXA stub (a real engine's `Benign` becomes the `clean` tag) and an
/// S3 connector on `asset`.
async fn world(bucket: &str, asset: &str, env: &[(&str, &str)]) -> World {
    world_on(Some(Dsxa::start(&["--no-capture"])), bucket, asset, env).await
}

/// As [`world`]; without a stub the core runs the built-in test engine.
async fn world_on(dsxa: Option<Dsxa>, bucket: &str, asset: &str, env: &[(&str, &str)]) -> World {
    let scan_url = dsxa.as_ref().map(Dsxa::scan_url);
    let mut core_env = vec![("DSXCONNECT_RESULTS_DB__RETAIN", "-1")];
    if let Some(u) = &scan_url {
        core_env.push(("DSXCONNECT_SCANNER__SCAN_BINARY_URL", u));
    }
    let (core, core_dir) = start_core(&core_env);
    let api = Api::new(&core.url);
    let data = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_s3_connector(&core.url, moto(), asset, data.path(), env);
    api.wait_registered(&uuid).await;
    World {
        api,
        _core: core,
        _core_dir: core_dir,
        conn,
        uuid,
        s3: admin(moto()),
        bucket: bucket.to_string(),
        _data: data,
        _dsxa: dsxa,
    }
}

impl World {
    async fn full_scan(&self) -> Value {
        let r = self
            .api
            .http
            .post(format!("{}/connectors/full_scan/{}", self.api.base, self.uuid))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let job = r.headers()["x-job-id"].to_str().unwrap().to_string();
        self.api.wait_job(&job, "completed", Duration::from_secs(240)).await
    }

    /// Every result the core stored, by location.
    async fn results(&self) -> BTreeMap<String, Vec<Value>> {
        let (_, v) = self.api.get("/scan/results?limit=10000").await;
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in v.as_array().cloned().unwrap_or_default() {
            out.entry(r["scan_request"]["location"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(r);
        }
        out
    }
}

/// Keys with spaces, `+`, unicode and URL-special characters.
fn awkward_name(i: usize) -> String {
    const NAMES: [&str; 8] = [
        "plain",
        "with space",
        "plus+sign",
        "ünïcödé-名前",
        "percent%20literal",
        "amp&query?hash#",
        "equals=comma,semi;",
        "quote'dq\"paren(1)",
    ];
    format!("{}-{i:04}", NAMES[i % NAMES.len()])
}

/// Issue 5: 5,000 objects under nested prefixes, a prefix asset and a filter; exact counts;
/// EICAR objects tagged and moved with their tags kept.
#[tokio::test]
async fn a_bucket_of_5000_objects_is_scanned_exactly_and_malicious_ones_quarantined() {
    let s3 = admin(moto());
    let bucket = unique("big");
    create_bucket(&s3, &bucket).await;
    let mut objects: Vec<(String, Vec<u8>, Option<&str>)> = Vec::new();
    for i in 0..5000 {
        let folder = format!("data/d{}/e {}/", i % 10, i % 7);
        let (key, body, tagging) = match i {
            _ if i % 200 == 0 => (
                format!("{folder}{}.com", awkward_name(i)),
                EICAR.to_vec(),
                Some("owner=alice&team=red"),
            ),
            _ if i % 10 == 3 => (format!("{folder}{}.tmp", awkward_name(i)), b"scratch".to_vec(), None),
            _ => (
                format!("{folder}{}.txt", awkward_name(i)),
                format!("clean {i}").into_bytes(),
                None,
            ),
        };
        objects.push((key, body, tagging));
    }
    objects.push(("outside/never.txt".into(), b"outside the prefix".to_vec(), None));
    objects.push(("data/d1/".into(), Vec::new(), None));
    futures_util::stream::iter(objects.iter())
        .for_each_concurrent(32, |(k, b, t)| {
            let s3 = s3.clone();
            let bucket = bucket.clone();
            async move {
                s3.put_object()
                    .bucket(&bucket)
                    .key(k)
                    .body(ByteStream::from(b.clone()))
                    .set_tagging(t.map(str::to_string))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
            }
        })
        .await;
    let w = world(
        &bucket,
        &format!("{bucket}/data"),
        &[
            ("DSXCONNECTOR_FILTER", "--exclude *.tmp"),
            ("DSXCONNECTOR_ITEM_ACTION", "movetag"),
        ],
    )
    .await;
    let job = w.full_scan().await;
    let malicious: Vec<&String> = objects.iter().filter(|o| o.1 == EICAR).map(|o| &o.0).collect();
    let tmp = objects.iter().filter(|o| o.0.ends_with(".tmp")).count();
    let in_scope = 5000 - tmp;
    assert_eq!(malicious.len(), 25);
    assert_eq!(count(&job, "processed_count"), in_scope as u64, "{job}");
    assert_eq!(count(&job, "failed_count"), 0, "{job}");
    assert_eq!(count(&job, "verdict_malicious"), 25);
    assert_eq!(count(&job, "verdict_benign"), (in_scope - 25) as u64);
    assert_eq!(count(&job, "actions_taken"), 25);
    for k in malicious {
        let dest = format!("dsxconnect-quarantine/{k}");
        assert!(get(&w.s3, &w.bucket, k).await.is_none(), "{k} was moved");
        assert_eq!(get(&w.s3, &w.bucket, &dest).await.as_deref(), Some(EICAR), "{dest}");
        assert_eq!(
            tags(&w.s3, &w.bucket, &dest).await,
            [
                ("Verdict".to_string(), "Malicious".to_string()),
                ("owner".into(), "alice".into()),
                ("team".into(), "red".into())
            ],
            "{dest}"
        );
    }
    let all = keys(&w.s3, &w.bucket).await;
    assert!(all.contains(&"outside/never.txt".to_string()) && all.contains(&"data/d1/".to_string()));
    let scanned = w.results().await;
    assert_eq!(scanned.len(), in_scope, "one result per in-scope object");
    assert!(scanned.values().all(|r| r.len() == 1), "none twice");
    assert!(scanned.keys().all(|k| k.starts_with("data/") && !k.ends_with(".tmp")));
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, attrs: &[(&str, String)]) -> (String, String) {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::from(*k), v);
    }
    let url = req.send().await.unwrap().queue_url().unwrap().to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

async fn queue_len(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = a.attributes().unwrap();
    let n = |k: aws_sdk_sqs::types::QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Issue 5: the bucket's own notifications reach the connector through SQS; each new object is
/// scanned once and tagged with its result, tag writes trigger nothing, handled messages are
/// deleted, and a poison message is left to the queue's redrive policy.
#[tokio::test]
async fn sqs_events_are_scanned_once_tagged_and_poison_goes_to_the_dead_letter_queue() {
    let s3 = admin(moto());
    let sqs = sqs_admin(moto());
    let bucket = unique("events");
    create_bucket(&s3, &bucket).await;
    let (_dlq_url, dlq_arn) = queue(&sqs, &unique("dlq"), &[]).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string();
    let (q_url, q_arn) = queue(
        &sqs,
        &unique("events"),
        &[("VisibilityTimeout", "1".into()), ("RedrivePolicy", redrive)],
    )
    .await;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(&q_arn)
                        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
                        .events(aws_sdk_s3::types::Event::from("s3:ObjectTagging:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let w = world(
        &bucket,
        &bucket,
        &[
            ("DSXCONNECTOR_S3_SQS_QUEUE_URL", &q_url),
            ("DSXCONNECTOR_S3_SQS_WAIT_SECS", "1"),
            ("DSXCONNECTOR_S3_RESULT_TAGS", "true"),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    )
    .await;
    put(&s3, &bucket, "in/report one.txt", b"fine").await;
    put(&s3, &bucket, "in/dropper+x.com", EICAR).await;
    put(&s3, &bucket, "in/notes.md", b"notes").await;
    let want = ["in/dropper+x.com", "in/notes.md", "in/report one.txt"];
    let results = wait_for("three results", Duration::from_secs(60), || async {
        let r = w.results().await;
        (r.len() >= 3).then_some(r)
    })
    .await;
    assert_eq!(results.keys().map(String::as_str).collect::<Vec<_>>(), want);
    let result_tag = |k: &'static str| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            tags(&s3, &bucket, k)
                .await
                .into_iter()
                .find(|(t, _)| t == "DsxScanResult")
                .map(|(_, v)| v)
        }
    };
    for (k, expect) in [
        ("in/dropper+x.com", "malicious"),
        ("in/notes.md", "clean"),
        ("in/report one.txt", "clean"),
    ] {
        let got = wait_for("result tag", Duration::from_secs(20), || async {
            let t = result_tag(k).await?;
            (t != "pending").then_some(t)
        })
        .await;
        assert_eq!(got, expect, "{k}");
    }
    // The tag writes made ObjectTagging events: none of them is a new scan. A later upload is the
    // barrier: its event queues behind theirs, so once it is scanned they were all handled.
    put(&s3, &bucket, "in/zz-later.txt", b"later").await;
    let results = wait_for("the later upload scanned", Duration::from_secs(60), || async {
        let r = w.results().await;
        r.contains_key("in/zz-later.txt").then_some(r)
    })
    .await;
    assert!(
        results.values().all(|r| r.len() == 1),
        "one scan per object: {:?}",
        results.keys()
    );
    assert_eq!(results.len(), 4);
    // A message that is not an S3 event is never deleted by us: the redrive policy moves it.
    sqs.send_message()
        .queue_url(&q_url)
        .message_body("this is not JSON")
        .send()
        .await
        .unwrap();
    wait_for(
        "the poison message in the dead-letter queue",
        Duration::from_secs(60),
        || async {
            let (dlq_visible, _) = queue_len(&sqs, &_dlq_url).await;
            (dlq_visible == 1).then_some(())
        },
    )
    .await;
    wait_for("the event queue drained", Duration::from_secs(30), || async {
        (queue_len(&sqs, &q_url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(w.results().await.len(), 4);
    drop(w.conn);
}

/// Issue 5: an event with three records, one for a foreign bucket: two objects are scanned as one
/// job, the foreign record is rejected.
#[tokio::test]
async fn a_webhook_event_with_a_foreign_record_scans_the_others_as_one_job() {
    let s3 = admin(moto());
    let bucket = unique("hook");
    create_bucket(&s3, &bucket).await;
    put(&s3, &bucket, "a/one.txt", b"one").await;
    put(&s3, &bucket, "a/two two.txt", b"two").await;
    let w = world(&bucket, &bucket, &[("DSXCONNECTOR_ITEM_ACTION", "nothing")]).await;
    let rec = |b: &str, k: &str| json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": b}, "object": {"key": k}}});
    let r = reqwest::Client::new()
        .post(format!("{}/webhook/event", w.conn.url))
        .json(&json!({"Records": [rec(&bucket, "a/one.txt"), rec("not-ours", "a/one.txt"), rec(&bucket, "a/two+two.txt")]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "error", "a rejected record makes the answer an error: {v}");
    let d = v["description"].as_str().unwrap();
    assert!(d.contains("enqueued=2") && d.contains("rejected=1"), "{d}");
    let job = w
        .api
        .wait_job(v["id"].as_str().unwrap(), "completed", Duration::from_secs(30))
        .await;
    assert_eq!(count(&job, "processed_count"), 2);
    assert_eq!(
        w.results().await.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a/one.txt", "a/two two.txt"]
    );
}

/// Line 68: credentials whose policy allows only `s3:ListBucket` and `s3:GetObject` on the bucket
/// are enough for the repository check, a full scan and reads — no ListBuckets anywhere. (A
/// moto of its own that enforces IAM after the setup calls.)
#[tokio::test]
async fn read_only_bucket_credentials_are_enough_to_scan() {
    // Setup calls made without authentication: CreateBucket, 2 × PutObject, CreateUser,
    // PutUserPolicy, CreateAccessKey.
    let endpoint = start_moto(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]);
    let s3 = admin(&endpoint);
    let bucket = unique("locked");
    create_bucket(&s3, &bucket).await;
    put(&s3, &bucket, "x/a.txt", b"a").await;
    put(&s3, &bucket, "x/b.txt", b"b").await;
    let iam = |params: &[(&str, &str)]| {
        let mut form: Vec<(&str, &str)> = vec![("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let endpoint = endpoint.clone();
        let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{endpoint}/"))
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/iam/aws4_request",
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&form)
                        .finish(),
                )
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "IAM {form:?}: {}", r.status());
            r.text().await.unwrap()
        }
    };
    iam(&[("Action", "CreateUser"), ("UserName", "scanner")]).await;
    // On AWS, HeadBucket is authorised by s3:ListBucket; moto checks a pseudo-action
    // "s3:HeadBucket" instead, so the policy names both. Neither grants listing all buckets.
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:HeadBucket"], "Resource": format!("arn:aws:s3:::{bucket}")},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]})
    .to_string();
    iam(&[
        ("Action", "PutUserPolicy"),
        ("UserName", "scanner"),
        ("PolicyName", "read-only"),
        ("PolicyDocument", &policy),
    ])
    .await;
    let created = iam(&[("Action", "CreateAccessKey"), ("UserName", "scanner")]).await;
    let field = |name: &str| {
        let start = created.find(&format!("<{name}>")).unwrap() + name.len() + 2;
        let end = created[start..].find('<').unwrap() + start;
        created[start..end].to_string()
    };
    let (key, secret) = (field("AccessKeyId"), field("SecretAccessKey"));
    // Enforcement is on: the same credentials may not list buckets.
    let scanner = admin_as(&endpoint, &key, &secret);
    assert!(scanner.list_buckets().send().await.is_err(), "IAM is enforced");

    let fc = common::fake_core::FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let (conn, _) = start_s3_connector(
        &fc.url,
        &endpoint,
        // The whole bucket: moto's signature check (on only in this test) miscomputes the
        // canonical query of a `prefix=x%2F` listing.
        &bucket,
        data.path(),
        &[
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    );
    let http = reqwest::Client::new();
    let rc: Value = http
        .get(format!("{}/repo_check", conn.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rc["status"], "success", "{rc}");
    http.post(format!("{}/full_scan?job_id=RO", conn.url))
        .send()
        .await
        .unwrap();
    let done = wait_for("enqueue_done", Duration::from_secs(20), || async {
        fc.requests("/scan/jobs/RO/enqueue_done")
            .first()
            .map(|r| r.body.clone())
    })
    .await;
    assert_eq!(done, json!({"enqueued_total": 2}));
    let body = http
        .post(format!("{}/read_file", conn.url))
        .json(&json!({"location": "x/a.txt", "metainfo": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body.status().as_u16(), 200);
    assert_eq!(body.bytes().await.unwrap().as_ref(), b"a");
}

/// Authentication on with the S3 connector: it enrolls with a token, the core signs its reads,
/// item actions and result tags, and an operator token drives the scan; exact counts, the
/// malicious object moved and tagged, every object's result tag written through the signed route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_an_enrolled_s3_connector_scans_moves_and_tags_through_signed_calls() {
    const TOKEN: &str = "s3-enroll-token-000001";
    let s3 = admin(moto());
    let bucket = unique("auth");
    create_bucket(&s3, &bucket).await;
    for i in 0..40 {
        put(&s3, &bucket, &format!("in/d{}/f {i}.txt", i % 4), b"fine").await;
    }
    // Uploaded with a forged result tag: the connector must not let it stand.
    s3.put_object()
        .bucket(&bucket)
        .key("in/evil+1.com")
        .tagging("DsxScanResult=clean&owner=mallory")
        .body(ByteStream::from_static(EICAR))
        .send()
        .await
        .unwrap();
    let core_dir = tempfile::tempdir().unwrap();
    let dsxa = Dsxa::start(&["--no-capture"]);
    let core = start_core_in(
        core_dir.path(),
        &[
            ("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &dsxa.scan_url()),
            ("DSXCONNECT_AUTH__ENABLED", "true"),
            ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", TOKEN),
            ("DSXCONNECT_RESULTS_DB__RETAIN", "-1"),
        ],
    );
    let out = run_for(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .args(["token", "create", "--name", "ops", "--role", "operator"])
            .env("DSXCONNECT_DATA_DIR", core_dir.path()),
        60,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let api = Api::with_token(&core.url, &token);
    let data = tempfile::tempdir().unwrap();
    let asset = format!("{bucket}/in");
    let (conn, uuid) = start_s3_connector(
        &core.url,
        moto(),
        &asset,
        data.path(),
        &[
            ("DSXCONNECT_ENROLLMENT_TOKEN", TOKEN),
            ("DSXCONNECTOR_ITEM_ACTION", "movetag"),
            ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", "quarantine"),
            ("DSXCONNECTOR_S3_RESULT_TAGS", "true"),
        ],
    );
    api.wait_registered(&uuid).await;
    // Unsigned calls to the connector are refused: nobody else can read or tag through it.
    let r = reqwest::Client::new()
        .put(format!("{}/result_tag", conn.url))
        .json(&json!({"location": "in/evil+1.com", "metainfo": "x", "result": "clean"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let job = api.full_scan(&uuid).await;
    let j = api.wait_job(&job, "completed", Duration::from_secs(120)).await;
    assert_eq!(count(&j, "processed_count"), 41, "{j}");
    assert_eq!(count(&j, "failed_count"), 0, "{j}");
    let keys = keys(&s3, &bucket).await;
    assert!(keys.contains(&"quarantine/in/evil+1.com".to_string()), "{keys:?}");
    assert!(!keys.contains(&"in/evil+1.com".to_string()), "{keys:?}");
    let tag = |k: &'static str| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move {
            tags(&s3, &bucket, k)
                .await
                .into_iter()
                .find(|(t, _)| t == "DsxScanResult")
                .map(|(_, v)| v)
                .filter(|v| v != "pending")
        }
    };
    let clean = wait_for("a result tag", Duration::from_secs(30), || tag("in/d1/f 1.txt")).await;
    assert_eq!(clean, "clean");
    // The forged `clean` was replaced before the scan and never came back: the quarantined
    // copy says malicious (movetag) and is not `clean`.
    let held = tags(&s3, &bucket, "quarantine/in/evil+1.com").await;
    let result = held.iter().find(|(k, _)| k == "DsxScanResult").map(|(_, v)| v.as_str());
    assert_ne!(result, Some("clean"), "{held:?}");
    assert!(
        held.iter().any(|(k, v)| k == "owner" && v == "mallory"),
        "other tags kept: {held:?}"
    );
}

/// Issue 15: the built-in test engine only knows EICAR and its hash list, so its `Benign` must not
/// read as `clean` to a bucket policy: such objects are tagged `not_scanned` with the reason,
/// while what it does detect is still `malicious`.
#[tokio::test]
async fn the_built_in_test_engine_never_tags_an_object_clean() {
    let s3 = admin(moto());
    let bucket = unique("builtin");
    create_bucket(&s3, &bucket).await;
    put(&s3, &bucket, "in/report.txt", b"fine").await;
    put(&s3, &bucket, "in/dropper.com", EICAR).await;
    let w = world_on(
        None,
        &bucket,
        &bucket,
        &[
            ("DSXCONNECTOR_S3_RESULT_TAGS", "true"),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    )
    .await;
    let j = w.full_scan().await;
    assert_eq!(count(&j, "verdict_benign"), 1, "{j}");
    assert_eq!(count(&j, "verdict_malicious"), 1, "{j}");
    let final_tags = |k: &'static str| {
        let (s3, bucket) = (s3.clone(), w.bucket.clone());
        async move {
            let t = tags(&s3, &bucket, k).await;
            let result = t.iter().find(|(n, _)| n == "DsxScanResult").map(|(_, v)| v.clone());
            (result.as_deref() != Some("pending") && result.is_some()).then_some(t)
        }
    };
    let fine = wait_for("the result tag of the benign object", Duration::from_secs(30), || {
        final_tags("in/report.txt")
    })
    .await;
    let get = |t: &[(String, String)], k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get(&fine, "DsxScanResult").as_deref(), Some("not_scanned"), "{fine:?}");
    assert_eq!(
        get(&fine, "DsxScanReason").as_deref(),
        Some("builtin-test engine: only EICAR and the hash list are detected"),
        "{fine:?}"
    );
    let bad = wait_for("the result tag of the EICAR object", Duration::from_secs(30), || {
        final_tags("in/dropper.com")
    })
    .await;
    assert_eq!(get(&bad, "DsxScanResult").as_deref(), Some("malicious"), "{bad:?}");
    let (_, results) = w.api.get("/scan/results?limit=10").await;
    for r in results.as_array().unwrap() {
        assert_eq!(r["verdict"]["scan_engine"], "embedded");
        assert_eq!(
            r["verdict"]["scan_engine_version"],
            format!("builtin-test {}", env!("CARGO_PKG_VERSION")).as_str()
        );
    }
}
