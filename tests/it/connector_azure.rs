//! The Azure Blob connector against a real blob service (Azurite on loopback) and a recording
//! fake core: docs/reference/CONNECTORS.md, "Azure Blob connector" — credentials, enumeration,
//! reads, item actions, result tags, the Event Grid webhook and its handshakes, repository
//! checks. Entra credentials are in `entra` (Azurite on OAuth over HTTPS with the token
//! servers), Event Grid's delivery and retry in `event_grid` (the Event Grid harness).
//!
//! The Azure lines of the conformance checklist, and the tests that prove them:
//!
//! | Line | Tests |
//! |---|---|
//! | 71 | `bad_settings_exit_2_naming_the_variable` |
//! | 72 | `every_credential_form_scans_the_same_items`, `a_full_scan_of_a_prefix_…` (`/config`) |
//! | 73 | `entra::a_client_secret_token_…`, `entra::tokens_are_renewed_…`, `entra::managed_and_workload_identities_…`, `entra::managed_identity_without_an_identity_endpoint_…` (IMDS), `entra::refused_tokens_…` |
//! | 74 | `a_full_scan_of_a_prefix_…`, `the_filter_applies_below_the_prefix_…` |
//! | 75 | `listing_pages_chain_markers_…` |
//! | 76 | `read_file_streams_exact_bytes_…`, `listing_pages_chain_markers_…` |
//! | 77 | `delete_removes_blobs_with_snapshots_…` |
//! | 78 | `actions_work_on_the_scanned_version` |
//! | 79 | `move_copies_everything_never_overwrites_…` |
//! | 80 | `pending_copies_are_awaited_…` |
//! | 81 | `tag_merges_index_tags_and_movetag_carries_them` |
//! | 82 | `refused_tags_are_not_implemented_…`, `tag_merges_index_tags_…` (movetag) |
//! | 83 | `result_tags_mark_pending_at_intake_…` |
//! | 84 | `event_grid_handshakes_need_the_key_…` |
//! | 85, 86 | `event_grid_and_cloudevents_deliveries_…`; Microsoft's documented samples: `azure::events::tests::the_documented_sample_events_…` (unit) |
//! | 87 | `event_grid::refused_deliveries_are_resent_…`, `event_grid::an_attempt_the_sender_gave_up_on_…` (no double enqueue) |
//! | 88 | `repo_checks_name_the_failure` |

use crate::common;

mod entra;
mod event_grid;

use std::time::Duration;

use base64::Engine;
use common::azure_proxy::{Act, Proxy, Rule};
use common::azurite::*;
use common::event_grid::{BlobCreated, Fate, Schema, Subscription};
use common::fake_core::FakeCore;
use common::*;
use dsx_connect::connectors::azure::client::BlobClient;
use serde_json::{Value, json};

struct Rig {
    fc: FakeCore,
    conn: Threaded,
    az: BlobClient,
    container: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

/// The reference tree under `pre/` (seven blobs: five items, a zero-length `hdi_isfolder` blob
/// and a `/`-terminated marker), plus names outside it and an old quarantined blob.
async fn seed(az: &BlobClient, container: &str) {
    create_container(az, container).await;
    for (k, v) in [
        ("pre/top.txt", &b"top"[..]),
        ("pre/sub1/a.txt", b"a"),
        ("pre/sub1/nested/c.txt", b"c"),
        ("pre/sub2/b.pdf", b"%PDF"),
        ("pre/sub1/dsxconnect-quarantine.txt", b"name only"),
        ("other/outside.txt", b"outside"),
        ("dsxconnect-quarantine/pre/old.exe", b"already quarantined"),
    ] {
        put(az, container, k, v).await;
    }
    put_with(az, container, "pre/hnsdir", b"", &[("x-ms-meta-hdi_isfolder", "true")]).await;
    put(az, container, "pre/sub2/", b"").await;
}

async fn rig(env: &[(&str, &str)]) -> Rig {
    rig_at("pre", env).await
}

async fn rig_at(prefix: &str, env: &[(&str, &str)]) -> Rig {
    rig_via(azurite(), prefix, env).await
}

/// A rig whose connector reaches the blob service at `endpoint` (e.g. a recording proxy).
async fn rig_via(endpoint: &str, prefix: &str, env: &[(&str, &str)]) -> Rig {
    let az = admin(azurite());
    let container = unique("c");
    seed(&az, &container).await;
    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let asset = if prefix.is_empty() {
        container.clone()
    } else {
        format!("{container}/{prefix}")
    };
    let (conn, _uuid) = start_azure_connector(&fc.url, endpoint, &asset, data.path(), env);
    let r = Rig {
        fc,
        conn,
        az,
        container,
        http: reqwest::Client::new(),
        _data: data,
    };
    r.wait_ready().await;
    r
}

impl Rig {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.conn.url)
    }

    async fn wait_ready(&self) {
        wait_for("ready", Duration::from_secs(30), || async {
            let s = self.http.get(self.url("/readyz")).send().await.ok()?.status().as_u16();
            (s == 200).then_some(())
        })
        .await;
    }

    async fn full_scan(&self, job: &str) -> Vec<Value> {
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

    async fn action(&self, name: &str) -> (u16, Value) {
        let r = self
            .http
            .put(self.url("/item_action"))
            .json(&json!({"location": name, "metainfo": format!("{}/{name}", self.container)}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn read(&self, name: &str) -> reqwest::Response {
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

    async fn repo_check(&self) -> Value {
        self.http
            .get(self.url("/repo_check"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
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

const IN_SCOPE: [&str; 5] = [
    "pre/sub1/a.txt",
    "pre/sub1/dsxconnect-quarantine.txt",
    "pre/sub1/nested/c.txt",
    "pre/sub2/b.pdf",
    "pre/top.txt",
];

/// Lines 72 and 74: a full scan enqueues only names below `pre/`, full names, `container/name`
/// metainfo and sizes; folder markers (`/` names, `hdi_isfolder` blobs) and the quarantine never
/// appear, also when the asset is the whole container; `/config` names the credential mode and
/// shows no secret.
#[tokio::test]
async fn a_full_scan_of_a_prefix_sends_full_names_and_skips_markers_and_quarantine() {
    let r = rig(&[]).await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert_eq!(reg["name"], "azure-blob-storage-connector");
    assert_eq!(reg["status"], "ready");
    let items = r.full_scan("J").await;
    assert_eq!(locations(&items), IN_SCOPE);
    let a = items.iter().find(|i| i["location"] == "pre/sub1/a.txt").unwrap();
    assert_eq!(a["metainfo"], format!("{}/pre/sub1/a.txt", r.container));
    assert_eq!(a["size_in_bytes"], 1);
    let done = &r.fc.requests("/scan/jobs/J/enqueue_done")[0].body;
    assert_eq!(done["enqueued_total"], 5);
    let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["connector_type"], "azure_blob");
    assert_eq!(cfg["resolved_asset_base"], format!("{}/{}/pre", azurite(), r.container));
    let text = cfg.to_string();
    assert!(text.contains("\"auth\":\"shared_key\""), "{text}");
    assert!(
        !text.contains(&KEY[..20]) && !text.contains("sig="),
        "no secret in /config: {text}"
    );
    assert_eq!(
        reg["meta_info"],
        format!("ABS container: {}, prefix: pre, filter: (none)", r.container)
    );

    // The whole container: the quarantine area is listed by the service but never enqueued.
    let whole = rig_at("", &[]).await;
    let items = whole.full_scan("W").await;
    let mut want: Vec<String> = IN_SCOPE.iter().map(|s| s.to_string()).collect();
    want.push("other/outside.txt".into());
    want.sort();
    assert_eq!(locations(&items), want, "no quarantined blob, no folder marker");
}

/// The filter decides on the name relative to the prefix; a page size of 2 follows the marker
/// chain and enqueues every blob once.
#[tokio::test]
async fn the_filter_applies_below_the_prefix_and_small_pages_chain_markers() {
    let r = rig(&[
        ("DSXCONNECTOR_FILTER", "sub1"),
        ("DSXCONNECTOR_AZURE_LIST_PAGE_SIZE", "2"),
    ])
    .await;
    let items = r.full_scan("F").await;
    assert_eq!(
        locations(&items),
        [
            "pre/sub1/a.txt",
            "pre/sub1/dsxconnect-quarantine.txt",
            "pre/sub1/nested/c.txt"
        ]
    );
    let paged = rig(&[("DSXCONNECTOR_LIST_PAGE_SIZE", "2")]).await;
    let items = paged.full_scan("P").await;
    assert_eq!(locations(&items), IN_SCOPE, "each blob exactly once");
}

/// Each credential form scans the same items: connection string plain and base64, name + key
/// with an endpoint URL, and an account SAS `rl`.
#[tokio::test]
async fn every_credential_form_scans_the_same_items() {
    let ep = azurite();
    let cs = connection_string(ep);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&cs);
    let sas = account_sas("rl");
    let forms: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("AZURE_STORAGE_CONNECTION_STRING", cs.as_str())], "shared_key"),
        (vec![("AZURE_STORAGE_CONNECTION_STRING", b64.as_str())], "shared_key"),
        (
            vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT),
                ("AZURE_STORAGE_ACCOUNT_KEY", KEY),
                ("DSXCONNECTOR_AZURE_ENDPOINT_URL", ep),
            ],
            "shared_key",
        ),
        (
            vec![
                ("AZURE_STORAGE_SAS_TOKEN", sas.as_str()),
                ("DSXCONNECTOR_AZURE_ENDPOINT_URL", ep),
            ],
            "sas",
        ),
    ];
    for (i, (env, mode)) in forms.iter().enumerate() {
        let r = rig(env).await;
        let items = r.full_scan(&format!("C{i}")).await;
        assert_eq!(locations(&items), IN_SCOPE, "credential form {i}");
        let cfg: Value = r.http.get(r.url("/config")).send().await.unwrap().json().await.unwrap();
        let text = cfg.to_string();
        assert!(text.contains(&format!("\"auth\":\"{mode}\"")), "{text}");
        assert!(!text.contains("sig=") && !text.contains(&KEY[..20]), "{text}");
        let body = r.read("pre/top.txt").await;
        assert_eq!(body.status().as_u16(), 200, "form {i} reads");
        assert_eq!(body.bytes().await.unwrap().as_ref(), b"top");
    }
}

/// `read_file`: 0 B, 1 B and 5 MiB come back byte-identical with Content-Length; a missing blob
/// is 404, a folder marker 404, outside the prefix 403, a deleted container 503.
#[tokio::test]
async fn read_file_streams_exact_bytes_and_maps_errors() {
    let r = rig(&[]).await;
    let big: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    put(&r.az, &r.container, "pre/empty.bin", b"").await;
    put(&r.az, &r.container, "pre/one.bin", b"1").await;
    put(&r.az, &r.container, "pre/big.bin", &big).await;
    put(&r.az, &r.container, "pre/odd name + é #?.txt", b"odd").await;
    for (k, want) in [
        ("pre/empty.bin", &b""[..]),
        ("pre/one.bin", b"1"),
        ("pre/big.bin", &big),
        ("pre/odd name + é #?.txt", b"odd"),
    ] {
        let resp = r.read(k).await;
        assert_eq!(resp.status().as_u16(), 200, "{k}");
        assert_eq!(resp.headers()["content-length"], want.len().to_string().as_str());
        assert_eq!(resp.bytes().await.unwrap().as_ref(), want, "{k}");
    }
    for (k, code) in [
        ("pre/missing.txt", 404),
        ("pre/sub1/", 404),
        ("pre/hnsdir", 404),
        ("other/outside.txt", 403),
        ("pre", 403),
    ] {
        let resp = r.read(k).await;
        assert_eq!(resp.status().as_u16(), code, "{k}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["status"], "error", "{k}");
    }
    delete_container(&r.az, &r.container).await;
    assert_eq!(r.read("pre/top.txt").await.status().as_u16(), 503);
}

/// delete removes the blob (also one with a snapshot); a missing blob is 200 `error`; a blob
/// overwritten after its read is left alone with `reason=changed_since_scan`.
#[tokio::test]
async fn delete_removes_blobs_with_snapshots_and_never_newer_content() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "delete")]).await;
    snapshot(&r.az, &r.container, "pre/top.txt").await;
    let (code, v) = r.action("pre/top.txt").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["description"], format!("deleted={}/pre/top.txt", r.container));
    assert!(head(&r.az, &r.container, "pre/top.txt").await.is_none());
    let (code, v) = r.action("pre/none.txt").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("error")));
    assert_eq!(v["message"], "Item does not exist");
    assert_eq!(r.read("pre/sub1/a.txt").await.status().as_u16(), 200);
    put(&r.az, &r.container, "pre/sub1/a.txt", b"new content").await;
    let (code, v) = r.action("pre/sub1/a.txt").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("nothing")), "{v}");
    assert_eq!(v["description"], "reason=changed_since_scan");
    assert_eq!(
        get(&r.az, &r.container, "pre/sub1/a.txt").await.unwrap(),
        b"new content"
    );
    let (code, _) = r.action("other/outside.txt").await;
    assert_eq!(code, 403);
}

/// move keeps bytes, metadata, content type, cache control and index tags; the source is gone;
/// a second move of the same name gets `.1`; `az://Q/held` moves into another container; a
/// missing destination container leaves the source.
#[tokio::test]
async fn move_copies_everything_never_overwrites_and_deletes_the_source_last() {
    let r = rig(&[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    let headers = [
        ("x-ms-meta-m", "1"),
        ("x-ms-blob-content-type", "text/x-test"),
        ("x-ms-blob-cache-control", "no-cache"),
        ("x-ms-tags", "owner=me"),
    ];
    put_with(&r.az, &r.container, "pre/x", b"bad bytes", &headers).await;
    assert_eq!(r.read("pre/x").await.status().as_u16(), 200);
    let (code, v) = r.action("pre/x").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(
        v["description"],
        format!("moved_to={}/dsxconnect-quarantine/pre/x", r.container)
    );
    assert!(head(&r.az, &r.container, "pre/x").await.is_none(), "the source is gone");
    let q = "dsxconnect-quarantine/pre/x";
    assert_eq!(get(&r.az, &r.container, q).await.unwrap(), b"bad bytes");
    let h = head(&r.az, &r.container, q).await.unwrap();
    assert_eq!(h["x-ms-meta-m"], "1");
    assert_eq!(h["content-type"], "text/x-test");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(tags(&r.az, &r.container, q).await, [("owner".into(), "me".into())]);
    put(&r.az, &r.container, "pre/x", b"again").await;
    let (_, v) = r.action("pre/x").await;
    assert_eq!(
        v["description"],
        format!("moved_to={}/dsxconnect-quarantine/pre/x.1", r.container)
    );
    assert_eq!(
        get(&r.az, &r.container, q).await.unwrap(),
        b"bad bytes",
        "never overwritten"
    );

    let other = unique("q");
    create_container(&r.az, &other).await;
    let held = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "move"),
        ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", &format!("az://{other}/held")),
    ])
    .await;
    let (_, v) = held.action("pre/top.txt").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(get(&held.az, &other, "held/pre/top.txt").await.unwrap(), b"top");
    let missing = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "move"),
        ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", "az://no-such-container/held"),
    ])
    .await;
    let (code, v) = missing.action("pre/top.txt").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("error")), "{v}");
    assert_eq!(
        get(&missing.az, &missing.container, "pre/top.txt").await.unwrap(),
        b"top"
    );
}

/// tag merges `Verdict=Malicious` into the blob index tags, leaving metadata and ETag alone; at
/// ten tags nothing changes (`reason=tag_limit`); movetag's destination has the source's tags
/// plus the verdict.
#[tokio::test]
async fn tag_merges_index_tags_and_movetag_carries_them() {
    let r = rig(&[
        ("DSXCONNECTOR_ITEM_ACTION", "tag"),
        ("DSXCONNECTOR_TAG_SCAN_TIME", "true"),
    ])
    .await;
    put_with(
        &r.az,
        &r.container,
        "pre/t",
        b"x",
        &[("x-ms-meta-m", "1"), ("x-ms-tags", "owner=me")],
    )
    .await;
    let before = head(&r.az, &r.container, "pre/t").await.unwrap();
    let (code, v) = r.action("pre/t").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{v}");
    let t = tags(&r.az, &r.container, "pre/t").await;
    assert!(t.contains(&("owner".into(), "me".into())), "{t:?}");
    assert!(t.contains(&("Verdict".into(), "Malicious".into())), "{t:?}");
    assert!(t.iter().any(|(k, _)| k == "DsxScanTime"), "{t:?}");
    let after = head(&r.az, &r.container, "pre/t").await.unwrap();
    assert_eq!(after["etag"], before["etag"], "tag writes keep the ETag");
    assert_eq!(after["x-ms-meta-m"], "1", "user metadata is untouched");
    let ten = (0..10).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
    put_with(&r.az, &r.container, "pre/full", b"x", &[("x-ms-tags", &ten)]).await;
    let (code, v) = r.action("pre/full").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("error")));
    assert_eq!(v["description"], "reason=tag_limit");
    assert_eq!(tags(&r.az, &r.container, "pre/full").await.len(), 10);

    let mt = rig(&[("DSXCONNECTOR_ITEM_ACTION", "movetag")]).await;
    put_with(&mt.az, &mt.container, "pre/m", b"x", &[("x-ms-tags", "owner=me")]).await;
    let (_, v) = mt.action("pre/m").await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(
        tags(&mt.az, &mt.container, "dsxconnect-quarantine/pre/m").await,
        [("Verdict".into(), "Malicious".into()), ("owner".into(), "me".into())]
    );
    assert!(head(&mt.az, &mt.container, "pre/m").await.is_none());
}

/// Line 83, result tags: registration lists `result_tags`; a blob delivered by Event Grid is
/// `pending` while the core holds its scan request; `clean` removes the reason; `not_scanned`
/// writes a sanitised reason; a moved blob gives `nothing`.
#[tokio::test]
async fn result_tags_mark_pending_at_intake_and_record_results() {
    let r = rig(&[
        ("DSXCONNECTOR_AZURE_RESULT_TAGS", "true"),
        ("DSXCONNECTOR_ITEM_ACTION", "move"),
    ])
    .await;
    let reg = &r.fc.requests("/connectors/register")[0].body;
    assert!(
        reg["capabilities"].as_array().unwrap().contains(&json!("result_tags")),
        "{reg}"
    );
    // The core holds the event's scan request: the blob is already `pending` while it does.
    r.fc.set(|s| s.delay = Duration::from_secs(8));
    let sub = Subscription::new(
        &r.url("/webhook/event"),
        "dsx-result-tags",
        Schema::EventGrid,
        &[Duration::from_millis(500)],
    );
    let event = BlobCreated::of(&r.az, &r.container, "pre/top.txt", "PutBlob").await;
    let delivery = tokio::spawn(async move { sub.deliver(&[event]).await });
    wait_for("the core holding the scan request", Duration::from_secs(60), || async {
        r.fc.scan_items()
            .iter()
            .any(|i| i["location"] == "pre/top.txt")
            .then_some(())
    })
    .await;
    let at_intake = tags(&r.az, &r.container, "pre/top.txt").await;
    assert!(!delivery.is_finished(), "the core had not answered yet");
    assert_eq!(at_intake, [("DsxScanResult".into(), "pending".into())]);
    r.fc.set(|s| s.delay = Duration::ZERO);
    let fate = delivery.await.unwrap();
    assert!(matches!(fate, Fate::Delivered(200, _)), "{fate:?}");
    let put_tag = |result: &str, reason: Option<&str>| {
        let body = json!({"location": "pre/top.txt", "metainfo": "m", "result": result, "reason": reason});
        let http = r.http.clone();
        let url = r.url("/result_tag");
        async move {
            let resp = http.put(url).json(&body).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (code, v) = put_tag("not_scanned", Some("file too large (12 > 10)")).await;
    assert_eq!((code, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(
        tags(&r.az, &r.container, "pre/top.txt").await,
        [
            ("DsxScanReason".into(), "file too large _12 _ 10_".into()),
            ("DsxScanResult".into(), "not_scanned".into())
        ]
    );
    put_tag("clean", None).await;
    assert_eq!(
        tags(&r.az, &r.container, "pre/top.txt").await,
        [("DsxScanResult".into(), "clean".into())]
    );
    assert_eq!(r.read("pre/sub1/a.txt").await.status().as_u16(), 200);
    let (_, moved) = r.action("pre/sub1/a.txt").await;
    assert_eq!(moved["status"], "success", "{moved}");
    let (code, v) = put_tag_for(&r, "pre/sub1/a.txt").await;
    assert_eq!(
        (code, v["status"].as_str()),
        (200, Some("nothing")),
        "a moved blob: {v}"
    );
}

async fn put_tag_for(r: &Rig, name: &str) -> (u16, Value) {
    let resp = r
        .http
        .put(r.url("/result_tag"))
        .json(&json!({"location": name, "metainfo": "m", "result": "clean"}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn eg_event(container: &str, name: &str, api: &str) -> Value {
    json!({
        "id": format!("{api}-{name}"),
        "eventType": "Microsoft.Storage.BlobCreated",
        "topic": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"),
        "subject": format!("/blobServices/default/containers/{container}/blobs/{name}"),
        "eventTime": "2026-12-07T12:00:00Z",
        "dataVersion": "",
        "metadataVersion": "1",
        "data": {"api": api, "contentType": "text/plain", "contentLength": 1, "blobType": "BlockBlob",
                 "url": format!("{}/{container}/{name}", azurite())}
    })
}

fn cloud_event(container: &str, name: &str, api: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": format!("ce-{api}-{name}"),
        "type": "Microsoft.Storage.BlobCreated",
        "source": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"),
        "subject": format!("/blobServices/default/containers/{container}/blobs/{name}"),
        "data": {"api": api, "contentLength": 1}
    })
}

/// The Event Grid validation POST and the CloudEvents OPTIONS are handshakes (no job, nothing
/// sent to the core); with an API key both need it, as header or as `?api_key=`.
#[tokio::test]
async fn event_grid_handshakes_need_the_key_and_create_no_job() {
    let r = rig(&[("DSXCONNECTOR_API_KEY", "K")]).await;
    let validation = json!([{
        "id": "v1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "subject": "", "topic": "/subscriptions/s", "data": {"validationCode": "CODE-123"},
        "eventTime": "2026-12-07T12:00:00Z", "dataVersion": "1", "metadataVersion": "1"
    }]);
    let post = |url: String| {
        r.http
            .post(url)
            .header("aeg-event-type", "SubscriptionValidation")
            .json(&validation)
            .send()
    };
    assert_eq!(post(r.url("/webhook/event")).await.unwrap().status().as_u16(), 403);
    let ok = post(r.url("/webhook/event?api_key=K")).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"validationResponse": "CODE-123"})
    );
    let opt = |url: String| {
        r.http
            .request(reqwest::Method::OPTIONS, url)
            .header("WebHook-Request-Origin", "eventgrid.azure.net")
            .send()
    };
    assert_eq!(opt(r.url("/webhook/event")).await.unwrap().status().as_u16(), 403);
    let o = opt(r.url("/webhook/event?api_key=K")).await.unwrap();
    assert_eq!(o.status().as_u16(), 200);
    assert_eq!(o.headers()["webhook-allowed-origin"], "eventgrid.azure.net");
    assert_eq!(o.headers()["webhook-allowed-rate"], "*");
    let h = r
        .http
        .post(r.url("/webhook/event?api_key=wrong"))
        .header("x-api-key", "K")
        .json(&validation)
        .send()
        .await
        .unwrap();
    assert_eq!(h.status().as_u16(), 200, "the header wins over the query");
    assert!(r.fc.scan_items().is_empty(), "a handshake sends nothing to the core");
    assert!(r.fc.requests("/enqueue_done").is_empty());
}

/// Three BlobCreated events in one delivery are one job with three scan requests and one
/// `enqueue_done` of 3, in the Event Grid schema and in single and batched CloudEvents; other
/// events are classified without being sent.
#[tokio::test]
async fn event_grid_and_cloudevents_deliveries_enqueue_blob_created_only() {
    let r = rig(&[]).await;
    let c = r.container.clone();
    let body = json!([
        eg_event(&c, "pre/sub1/a.txt", "PutBlob"),
        eg_event(&c, "pre/sub2/b.pdf", "PutBlockList"),
        eg_event(&c, "pre/top.txt", "FlushWithClose"),
    ]);
    let (code, v) = r.webhook(body).await;
    assert_eq!(code, 200, "{v}");
    assert!(v["description"].as_str().unwrap().contains("enqueued=3"), "{v}");
    let job = v["id"].as_str().unwrap().to_string();
    let done = r.fc.requests(&format!("/scan/jobs/{job}/enqueue_done"));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].body["enqueued_total"], 3);

    let batch = json!([
        cloud_event(&c, "pre/sub1/a.txt", "PutBlob"),
        cloud_event(&c, "pre/top.txt", "PutBlockList"),
    ]);
    let resp = r
        .http
        .post(r.url("/webhook/event"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(v["description"].as_str().unwrap().contains("enqueued=2"), "{v}");
    let (_, v) = r.webhook(cloud_event(&c, "pre/sub2/b.pdf", "PutBlob")).await;
    assert!(v["description"].as_str().unwrap().contains("enqueued=1"), "{v}");

    let mut deleted = eg_event(&c, "pre/top.txt", "DeleteBlob");
    deleted["eventType"] = json!("Microsoft.Storage.BlobDeleted");
    let (_, v) = r.webhook(json!([deleted])).await;
    assert!(v["description"].as_str().unwrap().contains("reason=event_type"), "{v}");
    let (_, v) = r
        .webhook(json!([eg_event(&c, "dsxconnect-quarantine/pre/x", "CopyBlob")]))
        .await;
    assert!(v["description"].as_str().unwrap().contains("reason=quarantine"), "{v}");
    let (_, v) = r
        .webhook(json!([eg_event("other-container", "pre/x", "PutBlob")]))
        .await;
    assert!(v["description"].as_str().unwrap().contains("rejected=1"), "{v}");
    let before = r.fc.scan_items().len();
    let (_, v) = r.webhook(json!([eg_event(&c, "pre/my fileé.pdf", "PutBlob")])).await;
    assert!(v["description"].as_str().unwrap().contains("enqueued=1"), "{v}");
    let items = r.fc.scan_items();
    assert_eq!(items.len(), before + 1);
    assert_eq!(items.last().unwrap()["location"], "pre/my fileé.pdf");
    let (code, _) = r.webhook(json!({"file_id": "x"})).await;
    assert_eq!(code, 400);
}

/// Repository checks: success with the container (also through a SAS `rl`), `not_found` when it
/// is missing, `auth_failure` with a wrong key, `unreachable` when nothing listens; never 500.
#[tokio::test]
async fn repo_checks_name_the_failure() {
    let r = rig(&[]).await;
    assert_eq!(r.repo_check().await["status"], "success");
    let sas = account_sas("rl");
    let via_sas = rig(&[
        ("AZURE_STORAGE_SAS_TOKEN", sas.as_str()),
        ("DSXCONNECTOR_AZURE_ENDPOINT_URL", azurite()),
    ])
    .await;
    assert_eq!(via_sas.repo_check().await["status"], "success");
    delete_container(&r.az, &r.container).await;
    let v = r.repo_check().await;
    assert_eq!(v["status"], "error");
    assert!(
        v["description"].to_string().contains("not_found") || v.to_string().contains("not_found"),
        "{v}"
    );

    let fc = FakeCore::start();
    let data = tempfile::tempdir().unwrap();
    let wrong_key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let (conn, _) = start_azure_connector(
        &fc.url,
        azurite(),
        &format!("{}/pre", via_sas.container),
        data.path(),
        &[
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT),
            ("AZURE_STORAGE_ACCOUNT_KEY", &wrong_key),
            ("DSXCONNECTOR_AZURE_ENDPOINT_URL", azurite()),
        ],
    );
    let http = reqwest::Client::new();
    let v: Value = http
        .get(format!("{}/repo_check", conn.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.to_string().contains("auth_failure"), "{v}");
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/{ACCOUNT}", l.local_addr().unwrap().port())
    };
    let fc2 = FakeCore::start();
    let data2 = tempfile::tempdir().unwrap();
    let (conn2, _) = start_azure_connector(&fc2.url, &dead, "c-dead/pre", data2.path(), &[]);
    let resp = http.get(format!("{}/repo_check", conn2.url)).send().await.unwrap();
    assert_ne!(resp.status().as_u16(), 500);
    let v: Value = resp.json().await.unwrap();
    assert!(v.to_string().contains("unreachable"), "{v}");
}

/// Bad settings exit 2 naming the variable and showing no secret: a bad container name, a
/// quarantine at the asset container's root with `move`, no credential at all.
#[test]
fn bad_settings_exit_2_naming_the_variable() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[
                ("DSXCONNECTOR_ASSET", "Bad_Container"),
                ("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true"),
            ],
            "DSXCONNECTOR_ASSET",
        ),
        (
            &[
                ("DSXCONNECTOR_ASSET", "cont"),
                ("DSXCONNECTOR_ITEM_ACTION", "move"),
                ("DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO", "az://cont"),
                ("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true"),
            ],
            "DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO",
        ),
        (&[("DSXCONNECTOR_ASSET", "cont")], "AZURE_STORAGE_CONNECTION_STRING"),
    ];
    for (env, variable) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dsx-connect"));
        cmd.args(["connector", "azure-blob", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DSXCONNECTOR_DATA_DIR", data.path())
            .env("DSXCONNECTOR_DSX_CONNECT_URL", "http://127.0.0.1:9");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains(&KEY[..20]), "{stderr}");
    }
}

/// A query parameter of a recorded request, percent-decoded.
fn query_value(s: &common::azure_proxy::Seen, key: &str) -> Option<String> {
    url::form_urlencoded::parse(s.query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn reply(status: u16, headers: &[(&str, &str)]) -> Act {
    Act::Reply {
        status,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: String::new(),
    }
}

/// Lines 75 and 76, through the recording proxy: a page size of 2 over the 7 blobs under `pre/`
/// is 4 List Blobs calls, each with the marker the previous answer gave; a filter `a/*,b/*`
/// lists only `pre/a/` and `pre/b/`; a missing blob costs one Get Blob (404s are not retried); a
/// busy service's `Retry-After` is passed on; a body cut short makes the connector abort its
/// answer.
#[tokio::test]
async fn listing_pages_chain_markers_and_reads_map_service_trouble() {
    let proxy = Proxy::start(azurite());
    let r = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_AZURE_LIST_PAGE_SIZE", "2")]).await;
    proxy.clear();
    let items = r.full_scan("P").await;
    assert_eq!(locations(&items), IN_SCOPE);
    // Repository checks (one blob a page) may run meanwhile; the scan's pages hold two.
    let lists: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.query_has("comp") && query_value(s, "maxresults").as_deref() == Some("2"))
        .collect();
    assert_eq!(lists.len(), 4, "7 blobs under pre/, 2 a page: {lists:?}");
    assert!(
        lists.iter().all(|l| query_value(l, "prefix").as_deref() == Some("pre/")
            && query_value(l, "maxresults").as_deref() == Some("2")),
        "{lists:?}"
    );
    // Each call carries the NextMarker the service gave the one before it.
    let mut expected = vec![None];
    let mut marker: Option<String> = None;
    loop {
        let page =
            r.az.list_page(&r.container, "pre/", marker.as_deref(), 2)
                .await
                .unwrap();
        match page.next_marker {
            Some(m) => {
                expected.push(Some(m.clone()));
                marker = Some(m);
            }
            None => break,
        }
    }
    let sent: Vec<Option<String>> = lists.iter().map(|l| query_value(l, "marker")).collect();
    assert_eq!(sent, expected, "chained markers");

    // Filter prefix hints: only `pre/a/` and `pre/b/` are listed.
    let hinted = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_FILTER", "a/*,b/*")]).await;
    let container = hinted.container.clone();
    for k in ["pre/a/1.txt", "pre/a/2.txt", "pre/b/3.txt", "pre/c/4.txt", "pre/ab.txt"] {
        put(&hinted.az, &container, k, b"h").await;
    }
    proxy.clear();
    let items = hinted.full_scan("H").await;
    assert_eq!(locations(&items), ["pre/a/1.txt", "pre/a/2.txt", "pre/b/3.txt"]);
    let mut prefixes: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.query_has("comp") && s.path.ends_with(&container))
        .filter(|s| query_value(s, "maxresults").as_deref() != Some("1"))
        .filter_map(|s| query_value(s, "prefix"))
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, ["pre/a/", "pre/b/"], "only the hinted prefixes are listed");

    proxy.clear();
    assert_eq!(r.read("pre/missing.txt").await.status().as_u16(), 404);
    let gets = proxy.seen().into_iter().filter(|s| s.method == "GET").count();
    assert_eq!(gets, 1, "a 404 is never retried");

    proxy.rule(
        Rule::new(
            "GET",
            "/pre/top.txt",
            reply(503, &[("x-ms-error-code", "ServerBusy"), ("retry-after", "7")]),
        )
        .times(3),
    );
    let busy = r.read("pre/top.txt").await;
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(busy.headers()["retry-after"], "7");

    let big: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    put(&r.az, &r.container, "pre/big.bin", &big).await;
    proxy.rule(Rule::new("GET", "/pre/big.bin", Act::CutAfter(1024 * 1024)).times(1));
    let cut = r.read("pre/big.bin").await;
    assert_eq!(cut.status().as_u16(), 200);
    assert_eq!(cut.headers()["content-length"], big.len().to_string().as_str());
    assert!(
        cut.bytes().await.is_err(),
        "the connector aborts a body that ends early"
    );
}

/// Line 78: with the service reporting a version id `V` at read time, the delete also removes
/// `V` (after the base blob, while `V` is current), tags are written on `V`, and a move copies
/// from `V`.
#[tokio::test]
async fn actions_work_on_the_scanned_version() {
    const V: &str = "2026-12-07T12:00:00.0000000Z";
    let proxy = Proxy::start(azurite());
    let r = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "delete")]).await;
    let v = [("x-ms-version-id", V)];
    let vh: Vec<(String, String)> = v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    proxy.rule(Rule::new("GET", "/pre/top.txt", Act::AddHeaders(vh.clone())).lacks("comp"));
    proxy.rule(Rule::new("HEAD", "/pre/top.txt", Act::AddHeaders(vh.clone())));
    proxy.rule(Rule::new("DELETE", "/pre/top.txt", reply(202, &[])).has("versionid"));
    assert_eq!(r.read("pre/top.txt").await.status().as_u16(), 200);
    proxy.clear();
    let (code, ans) = r.action("pre/top.txt").await;
    assert_eq!((code, ans["status"].as_str()), (200, Some("success")), "{ans}");
    assert!(
        ans["description"]
            .as_str()
            .unwrap()
            .ends_with("version=2026-12-07T12:00:00.0000000Z"),
        "{ans}"
    );
    let seen = proxy.seen();
    let head = seen.iter().find(|s| s.method == "HEAD").unwrap();
    assert!(
        head.query_has("versionid"),
        "the source check reads the scanned version"
    );
    let deletes: Vec<_> = seen.iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(!deletes[0].query_has("versionid") && deletes[0].headers["x-ms-delete-snapshots"] == "include");
    assert_eq!(
        query_value(deletes[1], "versionid").as_deref(),
        Some(V),
        "after the base delete"
    );

    let t = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "tag")]).await;
    proxy.rule(Rule::new("GET", "/pre/sub1/a.txt", Act::AddHeaders(vh.clone())).lacks("comp"));
    proxy.rule(Rule::new("HEAD", "/pre/sub1/a.txt", Act::AddHeaders(vh)));
    proxy.rule(
        Rule::new(
            "GET",
            "/pre/sub1/a.txt",
            Act::Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/xml".into())],
                body: "<?xml version=\"1.0\" encoding=\"utf-8\"?><Tags><TagSet></TagSet></Tags>".into(),
            },
        )
        .has("comp"),
    );
    proxy.rule(Rule::new("PUT", "/pre/sub1/a.txt", reply(204, &[])).has("comp"));
    assert_eq!(t.read("pre/sub1/a.txt").await.status().as_u16(), 200);
    proxy.clear();
    t.action("pre/sub1/a.txt").await;
    let put_tags = proxy
        .seen()
        .into_iter()
        .find(|s| s.method == "PUT" && s.query_has("comp"))
        .expect("Set Blob Tags");
    assert_eq!(query_value(&put_tags, "versionid").as_deref(), Some(V), "{put_tags:?}");

    // move: the copy reads the scanned version; the base blob, then that version, are deleted.
    let m = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    let src = "/pre/sub2/b.pdf";
    let vh: Vec<(String, String)> = vec![("x-ms-version-id".into(), V.into())];
    proxy.rule(Rule::new("GET", src, Act::AddHeaders(vh.clone())).lacks("comp"));
    proxy.rule(Rule::new("HEAD", src, Act::AddHeaders(vh)));
    proxy.rule(
        Rule::new(
            "GET",
            src,
            Act::Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/xml".into())],
                body: "<?xml version=\"1.0\" encoding=\"utf-8\"?><Tags><TagSet><Tag><Key>owner</Key><Value>me</Value></Tag></TagSet></Tags>".into(),
            },
        )
        .has("comp"),
    );
    // Azurite keeps no versions: the copy of version V and its delete are answered here.
    proxy.rule(
        Rule::new(
            "PUT",
            &format!("/dsxconnect-quarantine{src}"),
            reply(202, &[("x-ms-copy-status", "success"), ("x-ms-copy-id", "cid-v")]),
        )
        .lacks("comp"),
    );
    proxy.rule(Rule::new("DELETE", src, reply(202, &[])).has("versionid"));
    assert_eq!(m.read("pre/sub2/b.pdf").await.status().as_u16(), 200);
    proxy.clear();
    let (code, ans) = m.action("pre/sub2/b.pdf").await;
    assert_eq!((code, ans["status"].as_str()), (200, Some("success")), "{ans}");
    let seen = proxy.seen();
    let copy = seen
        .iter()
        .find(|s| s.method == "PUT" && s.path.ends_with(&format!("/dsxconnect-quarantine{src}")))
        .expect("Copy Blob");
    let source = url::Url::parse(&copy.headers["x-ms-copy-source"]).unwrap();
    assert!(source.path().ends_with(src), "{source}");
    let version = source
        .query_pairs()
        .find(|(k, _)| k == "versionid")
        .map(|(_, v)| v.into_owned());
    assert_eq!(version.as_deref(), Some(V), "the copy source is the scanned version");
    assert_eq!(copy.headers["x-ms-tags"], "owner=me");
    let deletes: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "DELETE" && s.path.ends_with(src) && !s.path.contains("quarantine"))
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(!deletes[0].query_has("versionid"), "the base blob first");
    assert_eq!(query_value(deletes[1], "versionid").as_deref(), Some(V));
}

/// A copy that stays `pending` and then fails is aborted and its destination deleted, with the
/// source kept; one that turns `success` after polling is followed by the source delete.
#[tokio::test]
async fn pending_copies_are_awaited_and_failed_ones_leave_the_source() {
    let proxy = Proxy::start(azurite());
    let r = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "move")]).await;
    let dest = "/dsxconnect-quarantine/pre/top.txt";
    proxy.rule(
        Rule::new(
            "PUT",
            dest,
            reply(202, &[("x-ms-copy-status", "pending"), ("x-ms-copy-id", "cid-1")]),
        )
        .lacks("comp")
        .times(1),
    );
    proxy.rule(
        Rule::new(
            "HEAD",
            dest,
            reply(200, &[("x-ms-copy-status", "failed"), ("x-ms-copy-id", "cid-1")]),
        )
        .times(1),
    );
    proxy.rule(Rule::new("PUT", dest, reply(204, &[])).has("comp").times(1));
    let (code, ans) = r.action("pre/top.txt").await;
    assert_eq!((code, ans["status"].as_str()), (200, Some("error")), "{ans}");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && s.query.contains("copyid=cid-1") && s.headers["x-ms-copy-action"] == "abort")
    );
    assert!(seen.iter().any(|s| s.method == "DELETE" && s.path.ends_with(dest)));
    assert_eq!(
        get(&r.az, &r.container, "pre/top.txt").await.unwrap(),
        b"top",
        "the source stays"
    );

    proxy.clear();
    let pending = vec![("x-ms-copy-status".to_string(), "pending".to_string())];
    let dest2 = "/dsxconnect-quarantine/pre/sub2/b.pdf";
    proxy.rule(Rule::new("PUT", dest2, Act::AddHeaders(pending)).lacks("comp").times(1));
    proxy.rule(Rule::new("HEAD", dest2, reply(200, &[("x-ms-copy-status", "pending")])).times(1));
    let (_, ans) = r.action("pre/sub2/b.pdf").await;
    assert_eq!(ans["status"], "success", "{ans}");
    let seen = proxy.seen();
    let last_poll = seen
        .iter()
        .rposition(|s| s.method == "HEAD" && s.path.ends_with(dest2))
        .unwrap();
    let polls = seen
        .iter()
        .filter(|s| s.method == "HEAD" && s.path.ends_with(dest2))
        .count();
    assert_eq!(polls, 2, "pending, then success");
    let source_delete = seen
        .iter()
        .position(|s| s.method == "DELETE" && s.path.ends_with("/pre/sub2/b.pdf") && !s.path.contains("quarantine"))
        .unwrap();
    assert!(
        last_poll < source_delete,
        "the source is deleted only after the copy succeeded"
    );
    assert_eq!(
        get(&r.az, &r.container, "dsxconnect-quarantine/pre/sub2/b.pdf")
            .await
            .unwrap(),
        b"%PDF"
    );
}

/// An account that refuses index tags: tag answers `nothing` / `not implemented`; movetag moves
/// untagged and answers as `move`.
#[tokio::test]
async fn refused_tags_are_not_implemented_and_movetag_still_moves() {
    let proxy = Proxy::start(azurite());
    let refuse = || reply(409, &[("x-ms-error-code", "FeatureNotSupportedForAccount")]);
    proxy.rule(Rule::new("GET", "", refuse()).has("comp").lacks("restype"));
    let r = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "tag")]).await;
    let (code, ans) = r.action("pre/top.txt").await;
    assert_eq!((code, ans["status"].as_str()), (200, Some("nothing")), "{ans}");
    assert_eq!(ans["item_action"], "not implemented");
    assert_eq!(ans["description"], "reason=tags_unsupported");
    let m = rig_via(&proxy.url, "pre", &[("DSXCONNECTOR_ITEM_ACTION", "movetag")]).await;
    let (_, ans) = m.action("pre/top.txt").await;
    assert_eq!(ans["status"], "success", "{ans}");
    assert_eq!(ans["item_action"], "move");
    assert!(
        ans["description"].as_str().unwrap().contains("reason=tags_unsupported"),
        "{ans}"
    );
    assert!(get(&m.az, &m.container, "pre/top.txt").await.is_none());
}
