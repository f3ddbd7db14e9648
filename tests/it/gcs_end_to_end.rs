//! The GCS connector end to end against real peers: fake-gcs-server publishing its
//! notifications into the Pub/Sub emulator for the pull subscription, 5,000 objects with odd
//! names, and the recording proxy that checks what goes over the wire (generations,
//! preconditions, rewrite tokens, throttling).

use crate::common;
use crate::connector_gcs::{locations, rig_on};

use std::time::Duration;

use common::gcs::*;
use common::*;
use serde_json::Value;

/// Pull: fake-gcs-server publishes its notifications into the Pub/Sub emulator; 25 uploads give
/// 25 scan requests, each once; the connector's own tag write (a metadata update) is no rescan;
/// while the core refuses scan requests nothing is acknowledged, and once it is back every
/// object is accepted; the original's `DSXCONNECTOR_PUBSUB_*` names work the same.
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
            ("PUBSUB_EMULATOR_HOST", &ps),
            ("DSXCONNECTOR_ITEM_ACTION", "tag"),
        ],
    )
    .await;
    for i in 0..25 {
        r.gcs.put(&r.bucket, &format!("pre/up {i}+é.txt"), b"x").await;
    }
    let count = |name: String| {
        r.fc.scan_items()
            .iter()
            .filter(|i| i["location"] == name.as_str())
            .count()
    };
    wait_for("25 scan requests", Duration::from_secs(60), || async {
        (r.fc.scan_items().len() >= 25).then_some(())
    })
    .await;
    for i in 0..25 {
        assert_eq!(count(format!("pre/up {i}+é.txt")), 1, "pre/up {i}+é.txt once");
    }
    // The connector's own metadata write is no new object.
    let (_, v) = r.action("pre/up 0+é.txt").await;
    assert_eq!(v["status"], "success", "{v}");
    r.gcs.put(&r.bucket, "pre/sentinel", b"s").await;
    wait_for("the sentinel", Duration::from_secs(60), || async {
        (count("pre/sentinel".into()) == 1).then_some(())
    })
    .await;
    assert_eq!(count("pre/up 0+é.txt".into()), 1, "a tag write never rescans");

    // The core refuses scan requests: nothing is acknowledged, the message comes back.
    r.fc.set(|s| {
        s.overrides.insert("/scan/request".into(), 503);
        s.overrides.insert("/scan/request/batch".into(), 503);
    });
    let refused_before = r.fc.requests("/scan/request").len() + r.fc.requests("/scan/request/batch").len();
    r.gcs.put(&r.bucket, "pre/while-down", b"d").await;
    wait_for("a refused attempt", Duration::from_secs(60), || async {
        let n = r.fc.requests("/scan/request").len() + r.fc.requests("/scan/request/batch").len();
        (n > refused_before).then_some(())
    })
    .await;
    // Attempts made while refused are recorded too: the object is accepted by a later one.
    let refused = count("pre/while-down".into());
    r.fc.set(|s| s.overrides.clear());
    wait_for(
        "the object accepted once the core is back",
        Duration::from_secs(90),
        || async { (count("pre/while-down".into()) > refused).then_some(()) },
    )
    .await;
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert!(
        cfg.to_string().contains("projects/dsx-test/subscriptions/dsx-pull"),
        "{cfg}"
    );
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
    use common::gcs_proxy::Proxy;
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
