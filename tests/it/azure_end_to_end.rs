//! The Azure Blob connector with the real core and a real blob service (Azurite): a container of
//! 5,000 blobs with awkward names scanned with exact counts, malicious blobs tagged and moved with
//! their metadata and index tags kept; Event Grid deliveries of new blobs scanned exactly once,
//! and a poison delivery refused for Event Grid's dead-letter path.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use common::azurite::*;
use common::*;

struct World {
    api: Api,
    _core: Threaded,
    _core_dir: tempfile::TempDir,
    conn: Threaded,
    uuid: String,
    _data: tempfile::TempDir,
    _dsxa: Dsxa,
}

async fn world(asset: &str, env: &[(&str, &str)]) -> World {
    let dsxa = Dsxa::start(&["--no-capture"]);
    let scan_url = dsxa.scan_url();
    let (core, core_dir) = start_core(&[
        ("DSXCONNECT_RESULTS_DB__RETAIN", "-1"),
        ("DSXCONNECT_SCANNER__SCAN_BINARY_URL", &scan_url),
    ]);
    let api = Api::new(&core.url);
    let data = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_azure_connector(&core.url, azurite(), asset, data.path(), env);
    api.wait_registered(&uuid).await;
    World {
        api,
        _core: core,
        _core_dir: core_dir,
        conn,
        uuid,
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
        self.api.wait_job(&job, "completed", Duration::from_secs(400)).await
    }

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

/// Names with spaces, `+`, unicode and URL-special characters.
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

/// 5,000 blobs under nested prefixes, a prefix asset and a filter: exact counts; EICAR blobs
/// moved with `Verdict` added to their index tags and their metadata kept; then Event Grid
/// deliveries of new blobs are scanned exactly once, and a poison delivery gets 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_of_5000_blobs_is_scanned_exactly_and_events_once() {
    let az = admin(azurite());
    let container = unique("big");
    create_container(&az, &container).await;
    let mut blobs: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for i in 0..5000 {
        let folder = format!("data/d{}/e {}/", i % 10, i % 7);
        let (name, body, evil) = match i {
            _ if i % 200 == 0 => (format!("{folder}{}.com", awkward_name(i)), EICAR.to_vec(), true),
            _ if i % 10 == 3 => (format!("{folder}{}.tmp", awkward_name(i)), b"scratch".to_vec(), false),
            _ => (
                format!("{folder}{}.txt", awkward_name(i)),
                format!("clean {i}").into_bytes(),
                false,
            ),
        };
        blobs.push((name, body, evil));
    }
    blobs.push(("outside/never.txt".into(), b"outside the prefix".to_vec(), false));
    blobs.push(("data/d1/".into(), Vec::new(), false));
    futures_util::stream::iter(blobs.iter())
        .for_each_concurrent(16, |(n, b, evil)| {
            let az = &az;
            let container = &container;
            async move {
                let extra: &[(&str, &str)] = if *evil {
                    &[("x-ms-meta-owner", "alice"), ("x-ms-tags", "owner=alice&team=red")]
                } else {
                    &[]
                };
                put_with(az, container, n, b, extra).await;
            }
        })
        .await;
    let w = world(
        &format!("{container}/data"),
        &[
            ("DSXCONNECTOR_FILTER", "--exclude *.tmp"),
            ("DSXCONNECTOR_ITEM_ACTION", "movetag"),
        ],
    )
    .await;
    let job = w.full_scan().await;
    let malicious: Vec<&String> = blobs.iter().filter(|b| b.2).map(|b| &b.0).collect();
    let tmp = blobs.iter().filter(|b| b.0.ends_with(".tmp")).count();
    let in_scope = 5000 - tmp;
    assert_eq!(malicious.len(), 25);
    assert_eq!(count(&job, "processed_count"), in_scope as u64, "{job}");
    assert_eq!(count(&job, "failed_count"), 0, "{job}");
    assert_eq!(count(&job, "verdict_malicious"), 25);
    assert_eq!(count(&job, "actions_taken"), 25);
    for n in malicious {
        let dest = format!("dsxconnect-quarantine/{n}");
        assert!(get(&az, &container, n).await.is_none(), "{n} was moved");
        assert_eq!(get(&az, &container, &dest).await.as_deref(), Some(EICAR), "{dest}");
        assert_eq!(
            tags(&az, &container, &dest).await,
            [
                ("Verdict".to_string(), "Malicious".to_string()),
                ("owner".into(), "alice".into()),
                ("team".into(), "red".into())
            ],
            "{dest}"
        );
        assert_eq!(head(&az, &container, &dest).await.unwrap()["x-ms-meta-owner"], "alice");
    }
    let scanned = w.results().await;
    assert_eq!(scanned.len(), in_scope, "one result per in-scope blob");
    assert!(scanned.values().all(|r| r.len() == 1), "none twice");
    assert!(scanned.keys().all(|k| k.starts_with("data/") && !k.ends_with(".tmp")));

    // Event Grid: three new blobs in one delivery, each scanned exactly once.
    let fresh = ["data/new/one + é.txt", "data/new/two#?.txt", "data/new/three.txt"];
    for n in fresh {
        put(&az, &container, n, b"fresh").await;
    }
    let events: Vec<Value> = fresh
        .iter()
        .map(|n| {
            json!({
                "id": n, "eventType": "Microsoft.Storage.BlobCreated",
                "topic": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"),
                "subject": format!("/blobServices/default/containers/{container}/blobs/{n}"),
                "eventTime": "2026-12-07T12:00:00Z", "dataVersion": "", "metadataVersion": "1",
                "data": {"api": "PutBlob", "contentLength": 5}
            })
        })
        .collect();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/webhook/event", w.conn.url))
        .header("aeg-event-type", "Notification")
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    wait_for("the three new blobs scanned", Duration::from_secs(120), || async {
        let r = w.results().await;
        fresh
            .iter()
            .all(|n| r.get(*n).is_some_and(|v| v.len() == 1))
            .then_some(())
    })
    .await;
    let poison = http
        .post(format!("{}/webhook/event", w.conn.url))
        .json(&json!({"file_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(poison.status().as_u16(), 400, "left for Event Grid's dead-letter path");
    let r = w.results().await;
    assert!(
        fresh.iter().all(|n| r[*n].len() == 1),
        "each event scanned exactly once"
    );
}
