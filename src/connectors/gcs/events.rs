//! Cloud Storage notifications (docs/reference/CONNECTORS.md, "GCS connector", events): Pub/Sub
//! messages from a pull subscription or a push envelope, structured CloudEvents of finalized
//! objects, and the original's `{"name"|"object"|"location": …}`. Only `OBJECT_FINALIZE` for the
//! asset's bucket, inside its prefix, outside the quarantine and in scope for the filter is
//! enqueued; metadata updates (our own tag writes among them) are ignored.

use base64::Engine;
use serde_json::Value;

use super::asset::{GcsAsset, Quarantine};
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::{Item, WebhookError, WebhookItem};

/// The CloudEvents type of a finalized object.
const CE_FINALIZED: &str = "google.cloud.storage.object.v1.finalized";

fn bad(message: &str) -> WebhookError {
    WebhookError {
        status: 400,
        message: message.to_string(),
    }
}

/// What one notification names.
struct Notice {
    finalize: bool,
    bucket: String,
    name: String,
    size: Option<u64>,
}

fn size_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Classifies one Pub/Sub message (`attributes`, base64 `data`) of a bucket notification.
pub fn classify_message(message: &Value, asset: &GcsAsset, quarantine: &Quarantine, filter: &Filter) -> WebhookItem {
    match notice(message) {
        Ok(n) => classify_notice(n, asset, quarantine, filter),
        Err(reason) => WebhookItem::Rejected(reason),
    }
}

fn notice(message: &Value) -> Result<Notice, &'static str> {
    let attrs = message
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or("malformed")?;
    let attr = |k: &str| attrs.get(k).and_then(Value::as_str);
    let (Some(event), Some(bucket), Some(name)) = (attr("eventType"), attr("bucketId"), attr("objectId")) else {
        return Err("malformed");
    };
    let mut size = None;
    if attr("payloadFormat") == Some("JSON_API_V1") {
        let data = message.get("data").and_then(Value::as_str).ok_or("malformed")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| "malformed")?;
        let resource: Value = serde_json::from_slice(&bytes).map_err(|_| "malformed")?;
        size = resource.get("size").and_then(size_of);
    }
    Ok(Notice {
        finalize: event == "OBJECT_FINALIZE",
        bucket: bucket.to_string(),
        name: name.to_string(),
        size,
    })
}

fn classify_notice(n: Notice, asset: &GcsAsset, quarantine: &Quarantine, filter: &Filter) -> WebhookItem {
    if !n.finalize {
        return WebhookItem::Ignored("event_type");
    }
    if n.bucket != asset.bucket {
        return WebhookItem::Rejected("foreign_bucket");
    }
    classify_name(n.name, n.size, asset, quarantine, filter)
}

fn classify_name(
    name: String,
    size: Option<u64>,
    asset: &GcsAsset,
    quarantine: &Quarantine,
    filter: &Filter,
) -> WebhookItem {
    if name.is_empty() {
        return WebhookItem::Rejected("malformed");
    }
    if name.ends_with('/') {
        return WebhookItem::Ignored("folder_marker");
    }
    let Some(rel) = asset.relative(&name) else {
        return WebhookItem::Ignored("outside_prefix");
    };
    if quarantine.holds(&name) {
        return WebhookItem::Ignored("quarantine");
    }
    if !filter.is_in_scope(rel) {
        return WebhookItem::Ignored("filtered");
    }
    WebhookItem::Enqueue(Item {
        metainfo: asset.metainfo(&name),
        location: name,
        size,
        identity: None,
    })
}

/// The id Pub/Sub gave a message (`messageId`, or `message_id` in older envelopes).
pub fn message_id(message: &Value) -> Option<&str> {
    message
        .get("messageId")
        .or_else(|| message.get("message_id"))
        .and_then(Value::as_str)
}

/// The delivery a webhook body is: a push envelope's message id, or a CloudEvent's `id`
/// (Pub/Sub re-delivers a message with the same id). The original's `{"name": …}` form has none.
pub fn delivery_id(body: &Value) -> Option<DeliveryId> {
    if let Some(m) = body.get("message") {
        return DeliveryId::of_events("pubsub", [message_id(m)]);
    }
    if body.get("type").is_some() && body.get("specversion").is_some() {
        return DeliveryId::of_events("cloudevents", [body.get("id").and_then(Value::as_str)]);
    }
    None
}

/// Classifies a webhook body: a Pub/Sub push envelope, a structured CloudEvent, or the
/// original's single-name form. Anything else is a 400 (Pub/Sub then redelivers it until its
/// dead-letter policy takes it).
pub fn classify(
    body: &Value,
    asset: &GcsAsset,
    quarantine: &Quarantine,
    filter: &Filter,
) -> Result<Vec<WebhookItem>, WebhookError> {
    let obj = body.as_object().ok_or_else(|| bad("the body must be a JSON object"))?;
    if let Some(m) = obj.get("message") {
        return Ok(vec![classify_message(m, asset, quarantine, filter)]);
    }
    if obj.contains_key("subscription") {
        return Err(bad("a Pub/Sub push envelope needs a 'message'"));
    }
    if let Some(t) = obj.get("type").and_then(Value::as_str) {
        if t != CE_FINALIZED {
            return Ok(vec![WebhookItem::Ignored("event_type")]);
        }
        let data = obj.get("data").ok_or_else(|| bad("a CloudEvent needs 'data'"))?;
        let (Some(bucket), Some(name)) = (
            data.get("bucket").and_then(Value::as_str),
            data.get("name").and_then(Value::as_str),
        ) else {
            return Ok(vec![WebhookItem::Rejected("malformed")]);
        };
        let n = Notice {
            finalize: true,
            bucket: bucket.to_string(),
            name: name.to_string(),
            size: data.get("size").and_then(size_of),
        };
        return Ok(vec![classify_notice(n, asset, quarantine, filter)]);
    }
    for key in ["name", "object", "location"] {
        if let Some(v) = obj.get(key) {
            return Ok(vec![match v.as_str() {
                Some(name) => classify_name(name.to_string(), None, asset, quarantine, filter),
                None => WebhookItem::Rejected("malformed"),
            }]);
        }
    }
    Err(bad(
        "expected a Pub/Sub push envelope, a CloudEvent of a finalized object, or {\"name\": \"<object>\"}",
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn setup() -> (GcsAsset, Quarantine, Filter) {
        let a = GcsAsset::parse("bkt/pre").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &a, true).unwrap();
        (a, q, Filter::default())
    }

    fn message(event: &str, bucket: &str, name: &str, size: Option<&str>) -> Value {
        let mut m = json!({"attributes": {"eventType": event, "bucketId": bucket, "objectId": name,
            "payloadFormat": "NONE"}, "messageId": "1"});
        if let Some(s) = size {
            let data = json!({"name": name, "bucket": bucket, "size": s}).to_string();
            m["attributes"]["payloadFormat"] = json!("JSON_API_V1");
            m["data"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
        }
        m
    }

    #[test]
    fn only_finalized_objects_of_the_asset_are_enqueued() {
        let (a, q, f) = setup();
        let got = classify_message(
            &message("OBJECT_FINALIZE", "bkt", "pre/a b+é.txt", Some("12")),
            &a,
            &q,
            &f,
        );
        assert_eq!(
            got,
            WebhookItem::Enqueue(Item {
                location: "pre/a b+é.txt".into(),
                metainfo: "bkt/pre/a b+é.txt".into(),
                size: Some(12),
                identity: None,
            })
        );
        let ignored = classify_message(&message("OBJECT_METADATA_UPDATE", "bkt", "pre/a", None), &a, &q, &f);
        assert_eq!(ignored, WebhookItem::Ignored("event_type"));
        let foreign = classify_message(&message("OBJECT_FINALIZE", "other", "pre/a", None), &a, &q, &f);
        assert_eq!(foreign, WebhookItem::Rejected("foreign_bucket"));
        let outside = classify_message(&message("OBJECT_FINALIZE", "bkt", "else/a", None), &a, &q, &f);
        assert_eq!(outside, WebhookItem::Ignored("outside_prefix"));
        let mut broken = message("OBJECT_FINALIZE", "bkt", "pre/a", Some("1"));
        broken["data"] = json!("!!not base64");
        assert_eq!(
            classify_message(&broken, &a, &q, &f),
            WebhookItem::Rejected("malformed")
        );
    }

    #[test]
    fn push_envelopes_cloud_events_and_the_original_form_are_read() {
        let (a, q, f) = setup();
        let env = json!({"message": message("OBJECT_FINALIZE", "bkt", "pre/x", None), "subscription": "s"});
        assert!(matches!(
            classify(&env, &a, &q, &f).unwrap()[0],
            WebhookItem::Enqueue(_)
        ));
        assert_eq!(
            classify(&json!({"subscription": "s"}), &a, &q, &f).unwrap_err().status,
            400
        );
        let ce = json!({"type": CE_FINALIZED, "data": {"bucket": "bkt", "name": "pre/y", "size": "3"}});
        assert!(matches!(classify(&ce, &a, &q, &f).unwrap()[0], WebhookItem::Enqueue(_)));
        let legacy = json!({"object": "pre/z"});
        assert!(matches!(
            classify(&legacy, &a, &q, &f).unwrap()[0],
            WebhookItem::Enqueue(_)
        ));
        assert_eq!(classify(&json!({"file_id": "x"}), &a, &q, &f).unwrap_err().status, 400);
    }

    #[test]
    fn push_messages_and_cloud_events_are_named_by_their_ids() {
        let push = |id: &str| json!({"message": {"messageId": id, "attributes": {}}, "subscription": "s", "deliveryAttempt": 3});
        assert_eq!(delivery_id(&push("7")), delivery_id(&push("7")));
        assert_ne!(delivery_id(&push("7")), delivery_id(&push("8")));
        assert_eq!(delivery_id(&json!({"message": {"attributes": {}}})), None);
        let ce = json!({"specversion": "1.0", "type": CE_FINALIZED, "id": "c1", "data": {}});
        assert!(delivery_id(&ce).is_some());
        assert_eq!(
            delivery_id(&json!({"name": "pre/a.txt"})),
            None,
            "the original's form is a new job each time"
        );
    }
}
