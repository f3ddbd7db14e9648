//! S3 event notifications (docs/reference/CONNECTORS.md, "S3 event notifications"), from the
//! webhook or an SQS queue: every record is classified; only `ObjectCreated:*` records for the
//! asset's bucket, inside its prefix, outside the quarantine and in scope for the filter are
//! enqueued.

use serde_json::Value;

use super::asset::{Quarantine, S3Asset};
use crate::connectors::filter::Filter;
use crate::connectors::framework::delivery::DeliveryId;
use crate::connectors::framework::{Item, WebhookError, WebhookItem};

/// One record as read from an event.
struct Record<'a> {
    event_name: Option<&'a str>,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    size: Option<u64>,
    /// Keys of S3 notifications are URL-encoded ("unquote-plus"); EventBridge keys are not.
    encoded: bool,
}

fn bad(message: &str) -> WebhookError {
    WebhookError {
        status: 400,
        message: message.to_string(),
    }
}

/// Decodes an S3 notification key: `+` is a space, then `%XX` is a byte; the bytes must be UTF-8.
pub fn unquote_plus(key: &str) -> Option<String> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn records(body: &Value) -> Result<Vec<Record<'_>>, WebhookError> {
    let obj = body.as_object().ok_or_else(|| bad("the body must be a JSON object"))?;
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    // EventBridge "Object Created" events.
    if obj.get("detail-type").and_then(Value::as_str) == Some("Object Created") {
        let d = &obj["detail"];
        return Ok(vec![Record {
            event_name: Some("ObjectCreated:Put"),
            bucket: d["bucket"]["name"].as_str(),
            key: d["object"]["key"].as_str(),
            size: d["object"]["size"].as_u64(),
            encoded: false,
        }]);
    }
    let list = obj
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("an S3 event notification needs a 'Records' array"))?;
    Ok(list
        .iter()
        .map(|r| Record {
            event_name: r["eventName"].as_str(),
            bucket: r["s3"]["bucket"]["name"].as_str(),
            key: r["s3"]["object"]["key"].as_str(),
            size: r["s3"]["object"]["size"].as_u64(),
            encoded: true,
        })
        .collect())
}

/// Parses an event body (an S3 notification, the same wrapped in an SNS envelope, or an
/// EventBridge "Object Created" event) and classifies each record, in order.
pub fn classify(
    body: &Value,
    asset: &S3Asset,
    quarantine: &Quarantine,
    filter: &Filter,
) -> Result<Vec<WebhookItem>, WebhookError> {
    if body.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = body
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("an SNS notification needs a 'Message' string"))?;
        let inner: Value =
            serde_json::from_str(inner).map_err(|e| bad(&format!("the SNS message is not JSON: {e}")))?;
        return classify(&inner, asset, quarantine, filter);
    }
    Ok(records(body)?
        .into_iter()
        .map(|r| classify_record(r, asset, quarantine, filter))
        .collect())
}

/// The delivery a webhook body is: an SNS notification's `MessageId`, an EventBridge event's
/// `id`, or, for a bare notification, each record's bucket, key and `sequencer` (S3 orders the
/// events of one key by it, so together they name one event). `None` when any is missing.
pub fn delivery_id(body: &Value) -> Option<DeliveryId> {
    if body.get("Type").and_then(Value::as_str) == Some("Notification") {
        return DeliveryId::of_events("sns", [body.get("MessageId").and_then(Value::as_str)]);
    }
    if body.get("detail-type").is_some() {
        return DeliveryId::of_events("eventbridge", [body.get("id").and_then(Value::as_str)]);
    }
    let records = body.get("Records")?.as_array()?;
    let names: Vec<Option<String>> = records
        .iter()
        .map(|r| {
            let o = &r["s3"];
            match (
                o["bucket"]["name"].as_str(),
                o["object"]["key"].as_str(),
                o["object"]["sequencer"].as_str(),
            ) {
                (Some(b), Some(k), Some(seq)) => Some(format!("{b}\n{k}\n{seq}")),
                _ => None,
            }
        })
        .collect();
    DeliveryId::of_events("s3", names.iter().map(Option::as_deref))
}

fn classify_record(r: Record<'_>, asset: &S3Asset, quarantine: &Quarantine, filter: &Filter) -> WebhookItem {
    let (Some(event), Some(bucket), Some(raw_key)) = (r.event_name, r.bucket, r.key) else {
        return WebhookItem::Rejected("malformed");
    };
    if !event.strip_prefix("s3:").unwrap_or(event).starts_with("ObjectCreated:") {
        return WebhookItem::Ignored("event_type");
    }
    if bucket != asset.bucket {
        return WebhookItem::Rejected("foreign_bucket");
    }
    let key = if r.encoded {
        match unquote_plus(raw_key) {
            Some(k) => k,
            None => return WebhookItem::Rejected("malformed"),
        }
    } else {
        raw_key.to_string()
    };
    if key.is_empty() {
        return WebhookItem::Rejected("malformed");
    }
    if key.ends_with('/') {
        return WebhookItem::Ignored("folder_marker");
    }
    let Some(rel) = asset.relative(&key) else {
        return WebhookItem::Ignored("outside_prefix");
    };
    if quarantine.holds(&key) {
        return WebhookItem::Ignored("quarantine");
    }
    if !filter.is_in_scope(rel) {
        return WebhookItem::Ignored("filtered");
    }
    WebhookItem::Enqueue(Item {
        metainfo: asset.metainfo(&key),
        location: key,
        size: r.size,
        identity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(name: &str, bucket: &str, key: &str) -> Value {
        json!({"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 7}}})
    }

    fn run(body: Value, filter: &str) -> Result<Vec<WebhookItem>, WebhookError> {
        let asset = S3Asset::parse("bkt/pre").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &asset, true).unwrap();
        classify(&body, &asset, &q, &Filter::parse(filter).unwrap())
    }

    #[test]
    fn every_record_is_classified_in_order() {
        let body = json!({"Records": [
            rec("ObjectCreated:Put", "bkt", "pre/docs/my+file%C3%A9.pdf"),
            rec("s3:ObjectCreated:Put", "bkt", "pre/a.txt"),
            rec("ObjectRemoved:Delete", "bkt", "pre/b.txt"),
            rec("ObjectCreated:Put", "other", "pre/c.txt"),
            rec("ObjectTagging:Put", "bkt", "pre/a.txt"),
            rec("ObjectCreated:Put", "bkt", "pre/dir/"),
            rec("ObjectCreated:Put", "bkt", "elsewhere/x"),
            rec("ObjectCreated:Copy", "bkt", "dsxconnect-quarantine/pre/x"),
            rec("ObjectCreated:Put", "bkt", "pre/%FF"),
            {"eventName": "ObjectCreated:Put"},
        ]});
        let got = run(body, "").unwrap();
        let item = |k: &str| {
            WebhookItem::Enqueue(Item {
                location: k.into(),
                metainfo: format!("bkt/{k}"),
                size: Some(7),
                identity: None,
            })
        };
        assert_eq!(
            got,
            vec![
                item("pre/docs/my fileé.pdf"),
                item("pre/a.txt"),
                WebhookItem::Ignored("event_type"),
                WebhookItem::Rejected("foreign_bucket"),
                WebhookItem::Ignored("event_type"),
                WebhookItem::Ignored("folder_marker"),
                WebhookItem::Ignored("outside_prefix"),
                WebhookItem::Ignored("outside_prefix"),
                WebhookItem::Rejected("malformed"),
                WebhookItem::Rejected("malformed"),
            ]
        );
    }

    #[test]
    fn the_filter_applies_relative_to_the_prefix() {
        let body = json!({"Records": [rec("ObjectCreated:Put", "bkt", "pre/sub1/a.txt"), rec("ObjectCreated:Put", "bkt", "pre/sub2/b.txt")]});
        let got = run(body, "sub1").unwrap();
        assert!(matches!(&got[0], WebhookItem::Enqueue(i) if i.location == "pre/sub1/a.txt"));
        assert_eq!(got[1], WebhookItem::Ignored("filtered"));
    }

    #[test]
    fn envelopes_test_events_and_bad_bodies() {
        assert_eq!(
            run(json!({"Event": "s3:TestEvent", "Bucket": "bkt"}), "").unwrap(),
            vec![]
        );
        assert_eq!(run(json!({"Records": []}), "").unwrap(), vec![]);
        assert_eq!(run(json!({"foo": 1}), "").unwrap_err().status, 400);
        assert_eq!(run(json!([1, 2]), "").unwrap_err().status, 400);
        let sns = json!({"Type": "Notification", "Message": json!({"Records": [rec("ObjectCreated:Put", "bkt", "pre/s.txt")]}).to_string()});
        assert!(matches!(&run(sns, "").unwrap()[0], WebhookItem::Enqueue(i) if i.location == "pre/s.txt"));
        let eb = json!({"detail-type": "Object Created", "source": "aws.s3",
                        "detail": {"bucket": {"name": "bkt"}, "object": {"key": "pre/a+b.txt", "size": 3}}});
        assert!(matches!(&run(eb, "").unwrap()[0], WebhookItem::Enqueue(i) if i.location == "pre/a+b.txt"));
    }

    #[test]
    fn deliveries_are_named_by_the_ids_the_source_gave_them() {
        let seq = |k: &str, q: &str| json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "bkt"}, "object": {"key": k, "sequencer": q}}});
        let a = json!({"Records": [seq("pre/a", "0A"), seq("pre/b", "0B")]});
        let d = delivery_id(&a).unwrap();
        assert_eq!(Some(d.clone()), delivery_id(&a.clone()), "the same records");
        assert_ne!(
            Some(d),
            delivery_id(&json!({"Records": [seq("pre/a", "0C"), seq("pre/b", "0B")]})),
            "a later write"
        );
        assert_eq!(
            delivery_id(&json!({"Records": [seq("pre/a", "0A"), rec("ObjectCreated:Put", "bkt", "pre/b")]})),
            None
        );
        let sns = |id: &str| json!({"Type": "Notification", "MessageId": id, "Message": a.to_string()});
        assert_eq!(delivery_id(&sns("m1")), delivery_id(&sns("m1")));
        assert_ne!(delivery_id(&sns("m1")), delivery_id(&sns("m2")));
        assert!(delivery_id(&json!({"detail-type": "Object Created", "id": "e1", "detail": {}})).is_some());
        assert_eq!(
            delivery_id(&json!({"detail-type": "Object Created", "detail": {}})),
            None
        );
    }
}
