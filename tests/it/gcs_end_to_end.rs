//! The GCS connector end to end against real peers: fake-gcs-server publishing its
//! notifications into the Pub/Sub emulator, which delivers them through a push subscription
//! (the API key in the endpoint's query) or a pull subscription; 5,000 objects with odd names;
//! and the recording proxy that checks what goes over the wire (generations, preconditions,
//! rewrite tokens, throttling, push answers).

use crate::common;
use crate::connector_gcs::{locations, rig_on};

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::gcs::*;
use common::gcs_proxy::Proxy;
use common::*;
use serde_json::Value;

/// What the recording proxy in front of the Pub/Sub emulator saw of a pull subscription: the
/// object each delivery (ack id) was about, and which ack ids were acknowledged or handed back
/// (once per call: the emulator may give a redelivery the same ack id).
#[derive(Default)]
struct PullWire {
    object_of: HashMap<String, String>,
    acknowledged: HashSet<String>,
    handed_back: Vec<String>,
}

impl PullWire {
    fn of(rp: &Proxy) -> Self {
        let mut w = Self::default();
        let ids = |v: &Value| -> Vec<String> {
            v["ackIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        };
        for s in rp.seen().into_iter().filter(|s| s.method == "POST") {
            if s.path.ends_with(":pull") {
                for m in s.answer["receivedMessages"].as_array().into_iter().flatten() {
                    if let (Some(ack), Some(object)) =
                        (m["ackId"].as_str(), m["message"]["attributes"]["objectId"].as_str())
                    {
                        w.object_of.insert(ack.to_string(), object.to_string());
                    }
                }
            } else if s.path.ends_with(":acknowledge") {
                w.acknowledged.extend(ids(&s.json()));
            } else if s.path.ends_with(":modifyAckDeadline") && s.json()["ackDeadlineSeconds"] == 0 {
                w.handed_back.extend(ids(&s.json()));
            }
        }
        w
    }

    /// The deliveries of `object`.
    fn deliveries(&self, object: &str) -> HashSet<String> {
        self.object_of
            .iter()
            .filter(|(_, o)| o.as_str() == object)
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn acknowledged(&self, object: &str) -> bool {
        self.deliveries(object).iter().any(|a| self.acknowledged.contains(a))
    }
}

/// Pull: fake-gcs-server publishes its notifications into the Pub/Sub emulator, reached through
/// the recording proxy; 25 uploads give 25 scan requests, each once, and every one of their
/// messages is acknowledged (the subscription is left empty); the connector's own tag write (a
/// metadata update) is no rescan; while the core refuses scan requests no delivery of the new
/// object is acknowledged — each is handed back (`modifyAckDeadline` 0) and redelivered — and
/// once the core is back the object is accepted and its message acknowledged; the original's
/// `DSXCONNECTOR_PUBSUB_*` names (a short name and a project) work the same.
#[tokio::test]
async fn a_pull_subscription_enqueues_each_upload_and_acknowledges_only_accepted_ones() {
    let ps = start_pubsub_emulator();
    pubsub_topic_and_subscription(&ps, "dsx-test", "gcs-events", "dsx-pull").await;
    let endpoint = start_fake_gcs_with(
        &[
            "-event.pubsub-project-id",
            "dsx-test",
            "-event.pubsub-topic",
            "gcs-events",
            "-event.list",
            "finalize,metadataUpdate",
        ],
        &[("PUBSUB_EMULATOR_HOST", &ps)],
    );
    let rp = Proxy::start(&format!("http://{ps}"));
    let gcs = Admin::new(&endpoint);
    let bucket = unique_bucket("pull");
    gcs.create_bucket(&bucket).await;
    let r = rig_on(
        gcs,
        bucket,
        "pre",
        &[
            ("DSXCONNECTOR_PUBSUB_SUBSCRIPTION", "dsx-pull"),
            ("DSXCONNECTOR_PUBSUB_PROJECT_ID", "dsx-test"),
            ("PUBSUB_EMULATOR_HOST", &rp.url),
            ("DSXCONNECTOR_ITEM_ACTION", "tag"),
            // A refused scan request fails the pull's job after one retry (Pub/Sub redelivers).
            ("DSXCONNECTOR_ENQUEUE_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let names: Vec<String> = (0..25).map(|i| format!("pre/up {i}+é.txt")).collect();
    let uploaded = Instant::now();
    for n in &names {
        r.gcs.put(&r.bucket, n, b"x").await;
    }
    let count = |name: &str| r.fc.scan_items().iter().filter(|i| i["location"] == name).count();
    wait_for("25 scan requests", Duration::from_secs(60), || async {
        (r.fc.scan_items().len() >= 25).then_some(())
    })
    .await;
    eprintln!("25 uploads to 25 scan requests: {:?}", uploaded.elapsed());
    for n in &names {
        assert_eq!(count(n), 1, "{n} once");
    }
    wait_for(
        "every upload's message acknowledged",
        Duration::from_secs(60),
        || async {
            let w = PullWire::of(&rp);
            names.iter().all(|n| w.acknowledged(n)).then_some(())
        },
    )
    .await;
    let w = PullWire::of(&rp);
    for n in &names {
        assert!(
            w.deliveries(n).iter().all(|a| !w.handed_back.contains(a)),
            "{n}: accepted, never handed back"
        );
    }
    // The connector's own metadata write is no new object.
    let (_, v) = r.action(&names[0]).await;
    assert_eq!(v["status"], "success", "{v}");
    r.gcs.put(&r.bucket, "pre/sentinel", b"s").await;
    wait_for("the sentinel", Duration::from_secs(60), || async {
        (count("pre/sentinel") == 1).then_some(())
    })
    .await;
    assert_eq!(count(&names[0]), 1, "a tag write never rescans");

    // The core refuses scan requests: nothing is acknowledged, the message comes back.
    r.fc.set(|s| {
        s.overrides.insert("/scan/request".into(), 503);
        s.overrides.insert("/scan/request/batch".into(), 503);
    });
    r.gcs.put(&r.bucket, "pre/while-down", b"d").await;
    wait_for(
        "two deliveries refused and handed back",
        Duration::from_secs(90),
        || async {
            let w = PullWire::of(&rp);
            let ids = w.deliveries("pre/while-down");
            let handed_back = w.handed_back.iter().filter(|a| ids.contains(*a)).count();
            (handed_back >= 2).then_some(())
        },
    )
    .await;
    assert!(
        !PullWire::of(&rp).acknowledged("pre/while-down"),
        "nothing acknowledged while the core refuses"
    );
    // Attempts made while refused are recorded too: the object is accepted by a later one.
    let refused = count("pre/while-down");
    r.fc.set(|s| s.overrides.clear());
    wait_for(
        "the object accepted and acknowledged once the core is back",
        Duration::from_secs(90),
        || async {
            (count("pre/while-down") > refused && PullWire::of(&rp).acknowledged("pre/while-down")).then_some(())
        },
    )
    .await;
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert!(
        cfg.to_string().contains("projects/dsx-test/subscriptions/dsx-pull"),
        "{cfg}"
    );
}

/// Pull by the full subscription path in `DSXCONNECTOR_GCS_PUBSUB_SUBSCRIPTION`: an upload is
/// enqueued; with the Pub/Sub emulator stopped `readyz` answers 503 and `/config` shows
/// `monitor.error`; once it runs again (with its topic and subscription, which it keeps only in
/// memory) `readyz` is 200 again and new uploads are enqueued.
#[tokio::test]
async fn pull_by_full_subscription_path_and_readiness_follows_pubsub() {
    let mut ps = PubSubEmulator::start();
    let (project, topic, sub) = ("dsx-full", "gcs-full", "full");
    pubsub_topic_and_subscription(&ps.host, project, topic, sub).await;
    let endpoint = start_fake_gcs_with(
        &[
            "-event.pubsub-project-id",
            project,
            "-event.pubsub-topic",
            topic,
            "-event.list",
            "finalize",
        ],
        &[("PUBSUB_EMULATOR_HOST", &ps.host)],
    );
    let gcs = Admin::new(&endpoint);
    let bucket = unique_bucket("full");
    gcs.create_bucket(&bucket).await;
    let path = format!("projects/{project}/subscriptions/{sub}");
    let r = rig_on(
        gcs,
        bucket,
        "pre",
        &[
            ("DSXCONNECTOR_GCS_PUBSUB_SUBSCRIPTION", &path),
            ("PUBSUB_EMULATOR_HOST", &ps.host),
            ("DSXCONNECTOR_ITEM_ACTION", "nothing"),
        ],
    )
    .await;
    let count = |name: &str| r.fc.scan_items().iter().filter(|i| i["location"] == name).count();
    r.gcs.put(&r.bucket, "pre/first", b"1").await;
    wait_for("the first upload enqueued", Duration::from_secs(60), || async {
        (count("pre/first") >= 1).then_some(())
    })
    .await;
    let config = || async {
        let v: Value = r.http.get(r.url("/config")).send().await.ok()?.json().await.ok()?;
        Some(v)
    };
    let cfg = config().await.unwrap();
    assert_eq!(cfg["pubsub_subscription"], path.as_str(), "{cfg}");
    assert_eq!(cfg["monitor"]["watching"], true, "{cfg}");
    let readyz = || async { Some(r.http.get(r.url("/readyz")).send().await.ok()?.status().as_u16()) };

    ps.stop();
    let cfg = wait_for("readyz 503 with Pub/Sub stopped", Duration::from_secs(60), || async {
        let cfg = config().await?;
        (readyz().await? == 503 && cfg["monitor"]["error"].is_string()).then_some(cfg)
    })
    .await;
    assert!(
        cfg["monitor"]["error"].as_str().unwrap().contains(&path),
        "the error names the subscription: {cfg}"
    );

    ps.restart();
    pubsub_topic_and_subscription(&ps.host, project, topic, sub).await;
    wait_for("readyz 200 with Pub/Sub back", Duration::from_secs(120), || async {
        let cfg = config().await?;
        (readyz().await? == 200 && cfg["monitor"]["error"].is_null()).then_some(())
    })
    .await;
    r.gcs.put(&r.bucket, "pre/second", b"2").await;
    wait_for(
        "an upload enqueued after the restart",
        Duration::from_secs(60),
        || async { (count("pre/second") >= 1).then_some(()) },
    )
    .await;
}

/// Push: the Pub/Sub emulator delivers fake-gcs-server's notifications to
/// `/<name>/webhook/event?api_key=K` (push cannot set headers), through the recording proxy so
/// that every answer is seen. Each upload gives exactly one scan request and one
/// `enqueue_done`; the connector's own tag write (a metadata update) is no rescan; while the core
/// refuses scan requests the push is answered 503 and redelivered until the object is accepted.
/// A second push subscription without the key is answered 403 on every attempt, so Pub/Sub keeps
/// its messages; once its endpoint carries the key they are delivered and accepted.
#[tokio::test]
async fn a_push_subscription_with_the_key_in_its_url_enqueues_each_upload_once() {
    const KEY: &str = "push k+y/=1";
    let project = "dsx-test";
    let ps = start_pubsub_emulator();
    pubsub_topic(&ps, project, "gcs-push").await;
    let endpoint = start_fake_gcs_with(
        &[
            "-event.pubsub-project-id",
            project,
            "-event.pubsub-topic",
            "gcs-push",
            "-event.list",
            "finalize,metadataUpdate",
        ],
        &[("PUBSUB_EMULATOR_HOST", &ps)],
    );
    let gcs = Admin::new(&endpoint);
    let bucket = unique_bucket("push");
    gcs.create_bucket(&bucket).await;
    let r = rig_on(
        gcs,
        bucket,
        "pre",
        &[
            ("DSXCONNECTOR_API_KEY", KEY),
            ("DSXCONNECTOR_ITEM_ACTION", "tag"),
            // A refused scan request makes the push answer 503 after one retry (Pub/Sub retries).
            ("DSXCONNECTOR_ENQUEUE_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    // The connector's URL is `http://host:port/<name>`: the proxy forwards to `http://host:port`.
    let conn = url::Url::parse(&r.conn.url).unwrap();
    let rp = Proxy::start(conn.origin().ascii_serialization().as_str());
    let hook = format!("{}{}/webhook/event", rp.url, conn.path());
    let key: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    let keyed = format!("{hook}?api_key={key}");
    pubsub_subscription(&ps, project, "gcs-push", "push-keyed", Some(&keyed)).await;
    pubsub_subscription(&ps, project, "gcs-push", "push-keyless", Some(&hook)).await;
    // The answers to the push deliveries so far, in order (those still in flight left out).
    let deliveries = |with_key: bool| -> Vec<u16> {
        rp.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/webhook/event") && s.status != 0)
            .filter(|s| s.query.contains("api_key=") == with_key)
            .map(|s| s.status)
            .collect()
    };
    let count = |name: &str| r.fc.scan_items().iter().filter(|i| i["location"] == name).count();

    let names: Vec<String> = (0..5).map(|i| format!("pre/push {i}+é #?.txt")).collect();
    for n in &names {
        r.gcs.put(&r.bucket, n, b"x").await;
    }
    r.gcs.put(&r.bucket, "other/outside.txt", b"o").await;
    wait_for("5 scan requests", Duration::from_secs(60), || async {
        (r.fc.scan_items().len() >= 5).then_some(())
    })
    .await;
    // The connector's own metadata write: its notification is delivered and ignored.
    let tag = r
        .http
        .put(r.url("/item_action"))
        .header("x-api-key", KEY)
        .json(&serde_json::json!({"location": names[0], "metainfo": format!("{}/{}", r.bucket, names[0])}))
        .send()
        .await
        .unwrap();
    let v: Value = tag.json().await.unwrap();
    assert_eq!(v["status"], "success", "{v}");
    r.gcs.put(&r.bucket, "pre/sentinel", b"s").await;
    wait_for("the sentinel", Duration::from_secs(60), || async {
        (count("pre/sentinel") == 1).then_some(())
    })
    .await;
    for n in &names {
        assert_eq!(count(n), 1, "{n} once");
        let item =
            r.fc.scan_items()
                .into_iter()
                .find(|i| i["location"] == n.as_str())
                .unwrap();
        assert_eq!(item["metainfo"], format!("{}/{n}", r.bucket));
        let job = item["scan_job_id"].as_str().unwrap().to_string();
        let done = r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"));
        assert_eq!(done.len(), 1, "{n}: one enqueue_done");
        assert_eq!(done[0].body["enqueued_total"], 1, "{n}");
    }
    assert_eq!(count("other/outside.txt"), 0);
    assert_eq!(
        r.gcs.get(&r.bucket, &names[0]).await.unwrap()["metadata"]["Verdict"],
        "Malicious"
    );
    // 5 uploads, the outside object, the tag's metadata update and the sentinel: each answered.
    wait_for("8 keyed pushes answered", Duration::from_secs(60), || async {
        (deliveries(true).len() >= 8).then_some(())
    })
    .await;
    let keyed_answers = deliveries(true);
    assert!(
        keyed_answers.iter().all(|s| *s == 200),
        "every keyed push accepted: {keyed_answers:?}"
    );

    // Without the key: 403 on every attempt, and Pub/Sub tries again (16 deliveries of the 8
    // messages so far cannot be without redeliveries).
    wait_for("keyless pushes redelivered", Duration::from_secs(60), || async {
        (deliveries(false).len() >= 16).then_some(())
    })
    .await;
    let keyless = deliveries(false);
    assert!(keyless.iter().all(|s| *s == 403), "{keyless:?}");
    assert_eq!(count(&names[1]), 1, "nothing enqueued without the key");

    // The core refuses scan requests: the push is answered 503 and redelivered.
    r.fc.set(|s| {
        s.overrides.insert("/scan/request".into(), 503);
        s.overrides.insert("/scan/request/batch".into(), 503);
    });
    r.gcs.put(&r.bucket, "pre/while-down", b"d").await;
    wait_for("two refused deliveries", Duration::from_secs(60), || async {
        (deliveries(true).iter().filter(|s| **s == 503).count() >= 2 && count("pre/while-down") >= 2).then_some(())
    })
    .await;
    let refused = count("pre/while-down");
    r.fc.set(|s| s.overrides.clear());
    wait_for(
        "the object accepted once the core is back",
        Duration::from_secs(90),
        || async { (count("pre/while-down") > refused).then_some(()) },
    )
    .await;
    wait_for(
        "a push accepted after the refusals",
        Duration::from_secs(60),
        || async {
            let answers = deliveries(true);
            let first_refusal = answers.iter().position(|s| *s == 503)?;
            answers[first_refusal..].contains(&200).then_some(())
        },
    )
    .await;

    // The keyless subscription's messages were kept: with the key they are accepted.
    pubsub_modify_push(&ps, project, "push-keyless", &format!("{keyed}&from=keyless")).await;
    wait_for(
        "the held messages delivered with the key",
        Duration::from_secs(90),
        || async { names.iter().all(|n| count(n) == 2).then_some(()) },
    )
    .await;
}

/// 5,000 objects with spaces, `+`, unicode and URL-special characters under nested prefixes
/// (seeded through fake-gcs-server's `-data` folder): a full scan enqueues each exactly once
/// with its exact name, and a filter selects exactly its share.
#[tokio::test]
async fn five_thousand_odd_names_are_each_enqueued_once_and_filters_count_exactly() {
    let data = tempfile::tempdir().unwrap();
    let bucket = unique_bucket("many");
    let mut expected = Vec::new();
    for i in 0..5000 {
        let name = format!("pre/d{}/sub {}/f+{i} é#%&?=;x.txt", i % 10, i % 7);
        let path = data.path().join(&bucket).join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{i}")).unwrap();
        expected.push(name);
    }
    expected.sort();
    let endpoint = start_fake_gcs(&["-data", data.path().to_str().unwrap()]);
    let gcs = Admin::new(&endpoint);
    assert_eq!(gcs.names(&bucket).await.len(), 5000, "the emulator holds the tree");
    let r = rig_on(gcs, bucket.clone(), "pre", &[]).await;
    let items = r.full_scan("MANY").await;
    assert_eq!(locations(&items), expected);
    assert_eq!(r.done_total("MANY"), 5000);
    let one = items.iter().find(|i| i["location"] == expected[0].as_str()).unwrap();
    assert_eq!(one["metainfo"], format!("{bucket}/{}", expected[0]));
    let resp = r.read(&expected[0]).await;
    assert_eq!(resp.status().as_u16(), 200);

    let filtered = rig_on(Admin::new(&endpoint), bucket, "pre", &[("DSXCONNECTOR_FILTER", "d3")]).await;
    let items = filtered.full_scan("D3").await;
    assert_eq!(items.len(), 500);
    assert!(
        items
            .iter()
            .all(|i| i["location"].as_str().unwrap().starts_with("pre/d3/"))
    );
}

/// Through the recording proxy: media reads ask for `Accept-Encoding: gzip`; a 503 with
/// `Retry-After: 7` is passed on; a move sends `sourceGeneration=G` and `ifGenerationMatch=0`,
/// takes `….1` after a 412, repeats with each `rewriteToken` while `done` is false and deletes
/// the source (`generation=G`) only after `done: true`; a scanned generation that is gone while
/// a live object exists gives `changed_since_scan`; the repository check is one objects.list and
/// never buckets.get.
#[tokio::test]
async fn the_wire_carries_generations_preconditions_and_rewrite_tokens() {
    use common::capture::Reply;
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("rp");
    gcs.create_bucket(&bucket).await;
    gcs.put(&bucket, "pre/x", EICAR).await;
    gcs.put(&bucket, "pre/y", b"y").await;
    let rp = Proxy::start(fake_gcs());
    let r = rig_on(
        Admin::new(fake_gcs()),
        bucket.clone(),
        "pre",
        &[
            ("STORAGE_EMULATOR_HOST", rp.url.as_str()),
            ("DSXCONNECTOR_ITEM_ACTION", "move"),
        ],
    )
    .await;
    let o = |name: &str| format!("/storage/v1/b/{bucket}/o/{}", name.replace('/', "%2F"));

    rp.clear();
    let resp = r.read("pre/x").await;
    let generation = gcs.get(&bucket, "pre/x").await.unwrap()["generation"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), EICAR);
    let media = rp.seen().into_iter().find(|s| s.path == o("pre/x")).unwrap();
    assert!(media.query.contains("alt=media"), "{media:?}");
    assert_eq!(media.headers.get("accept-encoding").map(String::as_str), Some("gzip"));

    let busy = || Reply::new(503, "{}").header("retry-after", "7");
    rp.script("GET", &o("pre/y"), [busy(), busy(), busy()]);
    let resp = r.read("pre/y").await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "7");

    let rewrite = |dest: &str| format!("{}/rewriteTo/b/{bucket}/o/{}", o("pre/x"), dest.replace('/', "%2F"));
    rp.script("POST", &rewrite("dsxconnect-quarantine/pre/x"), [Reply::new(412, "{}")]);
    rp.script(
        "POST",
        &rewrite("dsxconnect-quarantine/pre/x.1"),
        [
            Reply::new(200, r#"{"done": false, "rewriteToken": "tok-1"}"#),
            Reply::new(200, r#"{"done": false, "rewriteToken": "tok-2"}"#),
        ],
    );
    rp.clear();
    let (_, v) = r.action("pre/x").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(
        v["description"],
        format!("moved_to={bucket}/dsxconnect-quarantine/pre/x.1")
    );
    let seen = rp.seen();
    let calls: Vec<_> = seen.iter().filter(|s| s.path.contains("/rewriteTo/")).collect();
    assert_eq!(calls.len(), 4, "{calls:?}");
    for c in &calls {
        assert!(c.query.contains(&format!("sourceGeneration={generation}")), "{c:?}");
        assert!(c.query.contains("ifGenerationMatch=0"), "{c:?}");
    }
    assert!(!calls[1].query.contains("rewriteToken"));
    assert!(calls[2].query.contains("rewriteToken=tok-1"));
    assert!(calls[3].query.contains("rewriteToken=tok-2"));
    let last_rewrite = seen.iter().rposition(|s| s.path.contains("/rewriteTo/")).unwrap();
    let delete = seen.iter().position(|s| s.method == "DELETE").expect("a source delete");
    assert!(delete > last_rewrite, "the source is deleted only after done: true");
    assert!(
        seen[delete].query.contains(&format!("generation={generation}")),
        "{:?}",
        seen[delete]
    );
    assert_eq!(
        gcs.bytes(&bucket, "dsxconnect-quarantine/pre/x.1").await.unwrap(),
        EICAR
    );

    // A generation the emulator cannot make disappear: scripted 404 for it, the live one stays.
    gcs.put(&bucket, "pre/z", b"z").await;
    let resp = r.read("pre/z").await;
    assert_eq!(resp.status().as_u16(), 200);
    rp.script(
        "GET",
        &o("pre/z"),
        [Reply::new(404, r#"{"error":{"code":404,"message":"No such object"}}"#)],
    );
    let (s, v) = r.action("pre/z").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("nothing")), "{v}");
    assert_eq!(v["description"], "reason=changed_since_scan");
    assert!(gcs.get(&bucket, "pre/z").await.is_some());

    rp.clear();
    let rc = r.http.get(r.url("/repo_check")).send().await.unwrap();
    assert_eq!(rc.status().as_u16(), 200);
    let seen = rp.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, format!("/storage/v1/b/{bucket}/o"));
    assert!(seen[0].query.contains("maxResults=1"));
    rp.script(
        "GET",
        &format!("/storage/v1/b/{bucket}/o"),
        [Reply::new(
            403,
            r#"{"error":{"code":403,"message":"no storage.objects.list"}}"#,
        )],
    );
    let v: Value = r
        .http
        .get(r.url("/repo_check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["description"].as_str().unwrap_or("").contains("auth_failure"), "{v}");
}
