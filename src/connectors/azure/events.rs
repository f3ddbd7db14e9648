//! Event Grid deliveries to the webhook (docs/reference/CONNECTORS.md, "Azure Event Grid
//! webhook"): the Event Grid schema and CloudEvents 1.0 (single or batched), plus the original's
//! `{"location"|"blob"|"key": name}`; the subscription validation handshake and the CloudEvents
//! abuse-protection `OPTIONS`. Only `Microsoft.Storage.BlobCreated` events for the asset's
//! account and container, inside its prefix, outside the quarantine and in scope are enqueued.

use serde_json::{Value, json};

use super::asset::{AzAsset, Quarantine};
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::{Handshake, Item, WebhookError, WebhookHeaders, WebhookItem};

const VALIDATION: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
const DELETED: &str = "Microsoft.EventGrid.SubscriptionDeletedEvent";
const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

fn bad(message: &str) -> WebhookError {
    WebhookError {
        status: 400,
        message: message.to_string(),
    }
}

/// The events of a body, each as `(type, source or topic, subject, data)`.
fn events(body: &Value) -> Option<Vec<&Value>> {
    match body {
        Value::Array(a) => Some(a.iter().collect()),
        Value::Object(_) => Some(vec![body]),
        _ => None,
    }
}

fn event_type(e: &Value) -> Option<&str> {
    e.get("eventType").or_else(|| e.get("type")).and_then(Value::as_str)
}

/// The Event Grid validation handshake: `{"validationResponse": code}` for a
/// `SubscriptionValidationEvent` (400 without a code).
pub fn handshake(body: &Value) -> Option<Handshake> {
    let first = events(body)?.into_iter().next()?;
    if event_type(first) != Some(VALIDATION) {
        return None;
    }
    Some(match first.pointer("/data/validationCode").and_then(Value::as_str) {
        Some(code) => Handshake {
            status: 200,
            headers: Vec::new(),
            body: Some(json!({ "validationResponse": code })),
        },
        None => Handshake {
            status: 400,
            headers: Vec::new(),
            body: Some(
                json!({"status": "error", "message": "a validation event needs data.validationCode", "description": null, "id": null}),
            ),
        },
    })
}

/// The CloudEvents abuse-protection answer to `OPTIONS` (400 without `WebHook-Request-Origin`).
pub fn options(h: &WebhookHeaders) -> Handshake {
    match h.webhook_request_origin.as_deref().filter(|o| !o.is_empty()) {
        Some(origin) => Handshake {
            status: 200,
            headers: vec![
                ("WebHook-Allowed-Origin".into(), origin.to_string()),
                ("WebHook-Allowed-Rate".into(), "*".into()),
                ("Allow".into(), "POST, OPTIONS".into()),
            ],
            body: None,
        },
        None => Handshake {
            status: 400,
            headers: vec![("Allow".into(), "POST, OPTIONS".into())],
            body: Some(
                json!({"status": "error", "message": "WebHook-Request-Origin is required", "description": null, "id": null}),
            ),
        },
    }
}

/// The account named after `storageAccounts/` in a topic or source.
fn account_of(topic: &str) -> Option<&str> {
    let lower = topic.to_ascii_lowercase();
    let at = lower.find("storageaccounts/")? + "storageaccounts/".len();
    topic[at..].split('/').next().filter(|a| !a.is_empty())
}

/// Container and name from `data.url`: the path after the account segment when path-style,
/// percent-decoded (UTF-8 required).
fn from_url(url: &str, account: &str) -> Option<(String, String)> {
    let u = url::Url::parse(url).ok()?;
    let path = u.path().trim_start_matches('/');
    let host_has_account = u
        .host_str()
        .is_some_and(|h| h.split('.').next().is_some_and(|f| f.eq_ignore_ascii_case(account)));
    let path = if host_has_account {
        path
    } else {
        path.split_once('/').map(|(_, rest)| rest)?
    };
    let (c, n) = path.split_once('/')?;
    let name = percent_encoding::percent_decode_str(n).decode_utf8().ok()?.into_owned();
    (!name.is_empty()).then(|| (c.to_string(), name))
}

pub struct Scope<'a> {
    pub account: &'a str,
    pub asset: &'a AzAsset,
    pub quarantine: &'a Quarantine,
    pub filter: &'a Filter,
}

/// Classifies each event of a delivery, in order.
pub fn classify(body: &Value, s: &Scope<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
    // The original's form: one blob of the asset's container.
    if let Some(obj) = body.as_object()
        && !obj.contains_key("eventType")
        && !obj.contains_key("specversion")
        && let Some(name) = ["location", "blob", "key"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
    {
        return Ok(vec![place(s, &s.asset.bucket, name, None)]);
    }
    let list = events(body).ok_or_else(|| bad("expected an Event Grid or CloudEvents delivery"))?;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let eg = e.get("eventType").is_some();
        let ce = e.get("specversion").and_then(Value::as_str) == Some("1.0");
        if !eg && !ce {
            return Err(bad(
                "expected Event Grid events (eventType) or CloudEvents 1.0 (specversion), or {\"blob\": name}",
            ));
        }
        out.push(classify_event(e, s));
    }
    Ok(out)
}

/// The delivery a webhook body is: the `id` of each Event Grid or CloudEvents event (Event Grid
/// re-sends the same events with the same ids). The original's `{"blob": name}` form has none.
pub fn delivery_id(body: &Value) -> Option<DeliveryId> {
    let list = events(body)?;
    DeliveryId::of_events(
        "eventgrid",
        list.iter().map(|e| {
            (e.get("eventType").is_some() || e.get("specversion").is_some())
                .then(|| e.get("id").and_then(Value::as_str))
                .flatten()
        }),
    )
}

fn classify_event(e: &Value, s: &Scope<'_>) -> WebhookItem {
    let Some(t) = event_type(e) else {
        return WebhookItem::Rejected("malformed");
    };
    if t == DELETED || t != BLOB_CREATED {
        return WebhookItem::Ignored("event_type");
    }
    let data = e.get("data").unwrap_or(&Value::Null);
    if data.get("api").and_then(Value::as_str) == Some("CreateFile") {
        return WebhookItem::Ignored("event_type");
    }
    let topic = e.get("topic").or_else(|| e.get("source")).and_then(Value::as_str);
    let Some(account) = topic.and_then(account_of) else {
        return WebhookItem::Rejected("malformed");
    };
    if !account.eq_ignore_ascii_case(s.account) {
        return WebhookItem::Rejected("foreign_bucket");
    }
    let from_subject = e
        .get("subject")
        .and_then(Value::as_str)
        .and_then(|sub| sub.strip_prefix("/blobServices/default/containers/"))
        .and_then(|rest| {
            let (c, n) = rest.split_once("/blobs/")?;
            (!n.is_empty()).then(|| (c.to_string(), n.to_string()))
        });
    let located = from_subject.or_else(|| {
        data.get("url")
            .and_then(Value::as_str)
            .and_then(|u| from_url(u, s.account))
    });
    let Some((container, name)) = located else {
        return WebhookItem::Rejected("malformed");
    };
    if container != s.asset.bucket {
        return WebhookItem::Rejected("foreign_bucket");
    }
    place(s, &container, &name, data.get("contentLength").and_then(Value::as_u64))
}

fn place(s: &Scope<'_>, _container: &str, name: &str, size: Option<u64>) -> WebhookItem {
    if name.is_empty() {
        return WebhookItem::Rejected("malformed");
    }
    if name.ends_with('/') {
        return WebhookItem::Ignored("folder_marker");
    }
    if s.quarantine.holds(name) {
        return WebhookItem::Ignored("quarantine");
    }
    let Some(rel) = s.asset.relative(name) else {
        return WebhookItem::Ignored("outside_prefix");
    };
    if !s.filter.is_in_scope(rel) {
        return WebhookItem::Ignored("filtered");
    }
    WebhookItem::Enqueue(Item {
        location: name.to_string(),
        metainfo: s.asset.metainfo(name),
        size,
        identity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_parts() -> (AzAsset, Quarantine, Filter) {
        let a = AzAsset::parse("cont/pre").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &a, true).unwrap();
        (a, q, Filter::parse("").unwrap())
    }

    fn eg(t: &str, subject: &str, api: &str) -> Value {
        json!({"eventType": t, "topic": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/acct",
               "subject": subject, "data": {"api": api, "contentLength": 3, "url": "https://acct.blob.core.windows.net/cont/x"}})
    }

    #[test]
    fn events_are_classified_in_order() {
        let (a, q, f) = scope_parts();
        let s = Scope {
            account: "acct",
            asset: &a,
            quarantine: &q,
            filter: &f,
        };
        let body = json!([
            eg(
                BLOB_CREATED,
                "/blobServices/default/containers/cont/blobs/pre/my fileé.pdf",
                "PutBlob"
            ),
            eg(
                "Microsoft.Storage.BlobDeleted",
                "/blobServices/default/containers/cont/blobs/pre/a",
                "DeleteBlob"
            ),
            eg(
                BLOB_CREATED,
                "/blobServices/default/containers/cont/blobs/pre/b",
                "CreateFile"
            ),
            eg(
                BLOB_CREATED,
                "/blobServices/default/containers/other/blobs/pre/b",
                "PutBlob"
            ),
            eg(
                BLOB_CREATED,
                "/blobServices/default/containers/cont/blobs/dsxconnect-quarantine/pre/b",
                "CopyBlob"
            ),
        ]);
        let got = classify(&body, &s).unwrap();
        assert!(
            matches!(&got[0], WebhookItem::Enqueue(i) if i.location == "pre/my fileé.pdf" && i.metainfo == "cont/pre/my fileé.pdf" && i.size == Some(3))
        );
        assert_eq!(got[1], WebhookItem::Ignored("event_type"));
        assert_eq!(got[2], WebhookItem::Ignored("event_type"));
        assert_eq!(got[3], WebhookItem::Rejected("foreign_bucket"));
        assert_eq!(got[4], WebhookItem::Ignored("quarantine"));
        let mut other = eg(
            BLOB_CREATED,
            "/blobServices/default/containers/cont/blobs/pre/a",
            "PutBlob",
        );
        other["topic"] = json!("/subscriptions/x/providers/Microsoft.Storage/storageAccounts/someoneelse");
        assert_eq!(
            classify(&other, &s).unwrap(),
            vec![WebhookItem::Rejected("foreign_bucket")]
        );
        let mut by_url = eg(BLOB_CREATED, "", "PutBlob");
        by_url.as_object_mut().unwrap().remove("subject");
        by_url["data"]["url"] = json!("http://127.0.0.1:10000/acct/cont/pre/a%20b%C3%A9");
        assert!(matches!(&classify(&by_url, &s).unwrap()[0], WebhookItem::Enqueue(i) if i.location == "pre/a bé"));
        assert!(
            matches!(&classify(&json!({"blob": "pre/a.txt"}), &s).unwrap()[0], WebhookItem::Enqueue(i) if i.location == "pre/a.txt")
        );
        assert_eq!(classify(&json!({"file_id": "x"}), &s).err().unwrap().status, 400);
        let ce = json!({"specversion": "1.0", "type": BLOB_CREATED, "source": "/subscriptions/x/providers/Microsoft.Storage/storageAccounts/acct",
                        "subject": "/blobServices/default/containers/cont/blobs/pre/c", "data": {"api": "PutBlockList"}});
        assert!(
            matches!(&classify(&json!([ce.clone(), ce]), &s).unwrap()[1], WebhookItem::Enqueue(i) if i.location == "pre/c")
        );
    }

    #[test]
    fn handshakes() {
        let v = json!([{"eventType": VALIDATION, "data": {"validationCode": "abc"}}]);
        assert_eq!(handshake(&v).unwrap().body, Some(json!({"validationResponse": "abc"})));
        assert_eq!(
            handshake(&json!([{"eventType": VALIDATION, "data": {}}]))
                .unwrap()
                .status,
            400
        );
        assert!(handshake(&json!([eg(BLOB_CREATED, "", "PutBlob")])).is_none());
        let h = WebhookHeaders {
            webhook_request_origin: Some("eventgrid.azure.net".into()),
            ..Default::default()
        };
        let o = options(&h);
        assert_eq!(o.status, 200);
        assert!(
            o.headers
                .contains(&("WebHook-Allowed-Origin".into(), "eventgrid.azure.net".into()))
        );
        assert_eq!(options(&WebhookHeaders::default()).status, 400);
    }

    #[test]
    fn deliveries_are_named_by_their_event_ids() {
        let mut batch = json!([
            eg(BLOB_CREATED, "/blobServices/default/containers/c/blobs/a", "PutBlob"),
            eg(BLOB_CREATED, "/blobServices/default/containers/c/blobs/b", "PutBlob")
        ]);
        assert_eq!(delivery_id(&batch), None, "events without ids");
        batch[0]["id"] = json!("e-1");
        batch[1]["id"] = json!("e-2");
        let d = delivery_id(&batch);
        assert!(d.is_some(), "{batch}");
        assert_eq!(d, delivery_id(&batch.clone()));
        let mut other = batch.clone();
        other[1]["id"] = json!("another");
        assert_ne!(d, delivery_id(&other));
        assert_eq!(
            delivery_id(&json!({"blob": "pre/a.txt"})),
            None,
            "the original's form is a new job each time"
        );
    }

    /// The bodies under `tests/data/azure-events` have the documented shape of every Blob Storage
    /// event a subscription may deliver.
    #[test]
    fn the_documented_sample_events_are_classified() {
        macro_rules! sample {
            ($f:literal) => {
                serde_json::from_str::<Value>(include_str!(concat!("../../../tests/data/azure-events/", $f))).unwrap()
            };
        }
        let asset = AzAsset::parse("testcontainer").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &asset, true).unwrap();
        let f = Filter::parse("").unwrap();
        let scope = Scope {
            account: "my-storage-account",
            asset: &asset,
            quarantine: &q,
            filter: &f,
        };
        let enqueued = |v: &Value| match classify(v, &scope).unwrap().as_slice() {
            [WebhookItem::Enqueue(i)] => (i.location.clone(), i.size),
            other => panic!("{other:?} for {v}"),
        };
        assert_eq!(
            enqueued(&sample!("blob-created-putblob.json")),
            ("new-file.txt".into(), Some(524_288))
        );
        assert_eq!(
            enqueued(&sample!("blob-created-putblocklist.json")),
            ("big file.bin".into(), Some(104_857_600))
        );
        assert_eq!(
            enqueued(&sample!("blob-created-copyblob.json")),
            ("copied/report.pdf".into(), Some(48_213))
        );
        assert_eq!(
            enqueued(&sample!("blob-created-flushwithclose.json")),
            ("lake/new-file.txt".into(), Some(1024))
        );
        assert_eq!(
            enqueued(&sample!("blob-created-cloudevent.json")),
            ("cloud event.txt".into(), Some(524_288))
        );
        for ignored in [
            sample!("blob-created-createfile.json"),
            sample!("blob-deleted.json"),
            sample!("blob-tier-changed.json"),
        ] {
            assert_eq!(
                classify(&ignored, &scope).unwrap(),
                vec![WebhookItem::Ignored("event_type")],
                "{ignored}"
            );
        }
        // Every sample names its events, so a re-delivery is recognised.
        assert!(delivery_id(&sample!("blob-created-putblob.json")).is_some());
        assert!(delivery_id(&sample!("blob-created-cloudevent.json")).is_some());
        // Another account's events are not ours.
        let other = Scope {
            account: "another-account",
            ..scope
        };
        assert_eq!(
            classify(&sample!("blob-created-putblob.json"), &other).unwrap(),
            vec![WebhookItem::Rejected("foreign_bucket")]
        );
    }
}
