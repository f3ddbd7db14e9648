//! Event Grid deliveries through the Event Grid harness (real Event Grid and CloudEvents bodies
//! and delivery headers, built from blobs that exist in Azurite): while the core refuses
//! connections the webhook answers 503, Event Grid re-sends the same delivery, and once the core
//! is back every blob is accepted exactly once; a delivery the webhook cannot read is answered
//! 400 and dead-lettered without a retry; an attempt the sender gave up on and its re-send carry
//! the same job and idempotency keys, so the core enqueues the blobs once.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use super::rig;
use crate::common::azurite::put;
use crate::common::event_grid::{BlobCreated, Fate, Schema, Subscription};
use crate::common::fake_core::FakeCore;
use crate::common::wait_for;

/// Line 87: while the core refuses connections the webhook answers 503 (after the connector's
/// own attempts, kept below Event Grid's 30 s wait); Event Grid re-sends the same batch until
/// the core is back, and every blob is then accepted exactly once, in one job per delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_deliveries_are_resent_until_the_core_is_back_and_accepted_once() {
    // Three attempts (about 3 s) answer well inside Event Grid's 30 s; the default eight take
    // about 90 s, which Event Grid would count as a timeout (docs/reference/CONNECTORS.md).
    let mut r = rig(&[
        ("DSXCONNECTOR_API_KEY", "K"),
        ("DSXCONNECTOR_ENQUEUE_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let endpoint = r.url("/webhook/event?api_key=K");
    let retry = [Duration::from_millis(300), Duration::from_millis(700)];
    let batched = Subscription::new(&endpoint, "dsx-blob-created", Schema::EventGrid, &retry);
    let single = Subscription::new(&endpoint, "dsx-blob-created-ce", Schema::CloudEvents, &retry);
    assert_eq!(batched.validate().await, (200, true), "the validation code is echoed");
    assert_eq!(
        single.abuse_protection().await,
        (200, Some("eventgrid.azure.net".into()))
    );

    let names = ["pre/eg/one.txt", "pre/eg/two words + é.txt", "pre/eg/three#?.bin"];
    for (i, n) in names.iter().enumerate() {
        put(&r.az, &r.container, n, format!("blob {i}").as_bytes()).await;
    }
    put(&r.az, &r.container, "pre/eg/flushed.dat", b"data lake file").await;
    let mut batch = Vec::new();
    for (n, api) in names.iter().zip(["PutBlob", "PutBlockList", "CopyBlob"]) {
        batch.push(BlobCreated::of(&r.az, &r.container, n, api).await);
    }
    let flushed = BlobCreated::of(&r.az, &r.container, "pre/eg/flushed.dat", "FlushWithClose").await;
    assert_eq!(
        batch[1].data["contentLength"], 6,
        "real properties: {:?}",
        batch[1].data
    );

    let addr = r.fc.url.trim_start_matches("http://").to_string();
    r.fc.stop();
    let (b, s) = (batched.clone(), single.clone());
    let batch_run = tokio::spawn(async move { b.deliver(&batch).await });
    let single_run = tokio::spawn(async move { s.deliver(&[flushed]).await });

    let refused = |sub: &Subscription| sub.attempts().iter().filter(|a| a.status == Some(503)).count();
    wait_for(
        "two refused attempts per subscription",
        Duration::from_secs(120),
        || async { (refused(&batched) >= 2 && refused(&single) >= 2).then_some(()) },
    )
    .await;
    r.fc = FakeCore::start_on(TcpListener::bind(&addr).expect("the core's port is free again"));

    let batch_fate = tokio::time::timeout(Duration::from_secs(120), batch_run)
        .await
        .expect("the batch is delivered")
        .unwrap();
    let single_fate = tokio::time::timeout(Duration::from_secs(120), single_run)
        .await
        .expect("the single event is delivered")
        .unwrap();
    for (sub, fate, n) in [(&batched, batch_fate, 3), (&single, single_fate, 1)] {
        let Fate::Delivered(200, body) = fate else {
            panic!("{}: {fate:?} after {:?}", sub.name, sub.attempts());
        };
        let desc = body["description"].as_str().unwrap_or_default();
        assert!(
            desc.contains(&format!("enqueued={n}")) && desc.contains("failed=0"),
            "{body}"
        );
        let attempts = sub.attempts();
        let counts: Vec<u32> = attempts.iter().map(|a| a.delivery_count).collect();
        assert_eq!(
            counts,
            (0..attempts.len() as u32).collect::<Vec<_>>(),
            "the same delivery, counted"
        );
        let (last, refusals) = attempts.split_last().unwrap();
        assert_eq!(last.status, Some(200));
        for a in refusals {
            assert_eq!(a.status, Some(503), "{:?}", a);
            let d = a.body["description"].as_str().unwrap_or_default();
            assert!(
                d.contains(&format!("failed={n}")) && d.contains("enqueued=0"),
                "{}",
                a.body
            );
            assert_eq!(a.body["status"], "error");
        }
        let job = body["id"].as_str().expect("the delivery's job id").to_string();
        let done = wait_for("enqueue_done", Duration::from_secs(30), || async {
            r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"))
                .first()
                .map(|q| q.body.clone())
        })
        .await;
        assert_eq!(done["enqueued_total"], n);
    }

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in r.fc.scan_items() {
        *seen.entry(i["location"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = names
        .iter()
        .chain(&["pre/eg/flushed.dat"])
        .map(|n| (n.to_string(), 1))
        .collect();
    assert_eq!(seen, want, "every blob accepted exactly once");
    let sizes: Vec<Value> = r.fc.scan_items().iter().map(|i| i["size_in_bytes"].clone()).collect();
    assert!(sizes.iter().all(|s| s.as_u64().is_some_and(|n| n > 0)), "{sizes:?}");

    // A body the webhook cannot read is dead-lettered at once, never retried.
    let poison = Subscription::new(&endpoint, "dsx-poison", Schema::EventGrid, &retry);
    let fate = poison
        .deliver_raw(
            "application/json; charset=utf-8",
            r#"[{"id":"1","kind":"CustomInputSchema","payload":{"file_id":"x"}}]"#,
            Some("1"),
        )
        .await;
    assert_eq!(fate, Fate::DeadLettered(400));
    assert_eq!(poison.attempts().len(), 1);
}

/// Event Grid gives up on an attempt after its timeout and re-sends while the webhook's first
/// handler is still retrying the core (the connector's default eight attempts take about 90 s).
/// Both handlers then reach the core: they must send the same job id and the same
/// `Idempotency-Key`, so the core replays the first answer instead of enqueuing the blobs twice
/// (the replay itself is proven on both stores by `store::an_idempotency_key_replays_…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_the_sender_gave_up_on_and_its_resend_share_one_job_and_keys() {
    let mut r = rig(&[("DSXCONNECTOR_API_KEY", "K")]).await;
    let endpoint = r.url("/webhook/event?api_key=K");
    let sub = Subscription::new(
        &endpoint,
        "dsx-slow-core",
        Schema::EventGrid,
        &[Duration::from_millis(300)],
    )
    .with_answer_timeout(Duration::from_secs(4));
    let names = ["pre/slow/a.txt", "pre/slow/b c.txt"];
    let mut events = Vec::new();
    for n in names {
        put(&r.az, &r.container, n, n.as_bytes()).await;
        events.push(BlobCreated::of(&r.az, &r.container, n, "PutBlob").await);
    }

    let addr = r.fc.url.trim_start_matches("http://").to_string();
    r.fc.stop();
    let s = sub.clone();
    let run = tokio::spawn(async move { s.deliver(&events).await });
    wait_for("an attempt the sender gave up on", Duration::from_secs(120), || async {
        sub.attempts().iter().any(|a| a.status.is_none()).then_some(())
    })
    .await;
    r.fc = FakeCore::start_on(TcpListener::bind(&addr).expect("the core's port is free again"));
    let fate = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the delivery ends")
        .unwrap();
    let Fate::Delivered(200, body) = fate else {
        panic!("{fate:?} after {:?}", sub.attempts());
    };
    let job = body["id"].as_str().expect("the delivery's job id").to_string();
    assert!(job.starts_with("evt-"), "derived from the event ids: {job}");

    // Every attempt that reached the webhook sends its batch once the core is back.
    let attempts = sub.attempts().len();
    let batches = wait_for(
        "every attempt's batch at the core",
        Duration::from_secs(150),
        || async {
            let b = r.fc.requests("/scan/request/batch");
            (b.len() >= attempts).then_some(b)
        },
    )
    .await;
    assert!(batches.len() >= 2, "the abandoned attempt and its re-send: {batches:?}");
    let keys: std::collections::BTreeSet<&str> = batches
        .iter()
        .map(|b| b.headers.get("idempotency-key").map(String::as_str).expect("a key"))
        .collect();
    assert_eq!(keys.len(), 1, "one key for the same batch: {keys:?}");
    for b in &batches {
        let items = b.body.as_array().unwrap();
        assert_eq!(items.len(), names.len());
        assert!(items.iter().all(|i| i["scan_job_id"] == job.as_str()), "{:?}", b.body);
    }
    // A new delivery of other events is another job.
    let other = Subscription::new(&endpoint, "dsx-other", Schema::EventGrid, &[Duration::from_millis(300)]);
    let again = BlobCreated::of(&r.az, &r.container, names[0], "PutBlob").await;
    let Fate::Delivered(200, body) = other.deliver(&[again]).await else {
        panic!("{:?}", other.attempts());
    };
    assert_ne!(body["id"].as_str(), Some(job.as_str()));
}
