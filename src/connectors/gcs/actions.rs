//! Item actions on objects (docs/reference/CONNECTORS.md, "GCS connector", item actions) and
//! result tags: delete (exactly the scanned generation), move (a server-side rewrite keeping
//! the object's metadata and content headers, never overwriting, completed before the source is
//! deleted), tag (merged custom metadata), movetag.

use serde_json::{Map, Value};

use super::GcsStorage;
use super::errors::GcsFailure;
use super::metadata;
use crate::connectors::framework::{ActionAnswer, ResultTag};
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// How many `.n` suffixes a move tries before it gives up.
const MAX_SUFFIX: u32 = 10_000;
/// Rewrite calls of one move (each copies up to about 1 GiB between locations or classes).
const MAX_REWRITE_CALLS: u32 = 100_000;
/// The resource fields a rewrite carries to the destination.
const CARRIED: [&str; 7] = [
    "contentType",
    "contentEncoding",
    "contentDisposition",
    "contentLanguage",
    "cacheControl",
    "customTime",
    "storageClass",
];

fn answer(status: StatusKind, message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    ItemActionStatusResponse::new(status, message, action)
}

fn error(message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    answer(StatusKind::Error, message, action)
}

/// A failed step before anything changed: 503 when it may work later, else 200 `error`
/// (`reason=immutable` for retention policies and holds).
fn failed_before_change(what: &str, f: &GcsFailure, action: ItemAction) -> ActionAnswer {
    let a = error(format!("{what} failed: {}", f.message), action);
    if f.immutable() {
        return (200, a.with_description("reason=immutable"));
    }
    (if f.transient { 503 } else { 200 }, a)
}

fn tag_limit(action: ItemAction) -> ActionAnswer {
    (
        200,
        error(
            "The object's custom metadata would exceed 8 KiB; nothing was written",
            action,
        )
        .with_description("reason=tag_limit"),
    )
}

/// The destination's resource: the source's content headers, storage class and `metadata`.
fn rewrite_body(source: &Value, metadata: Option<Map<String, Value>>) -> Value {
    let mut body = Map::new();
    for k in CARRIED {
        if let Some(v) = source.get(k).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            body.insert(k.to_string(), v.clone());
        }
    }
    let meta = metadata.unwrap_or_else(|| metadata::of(source));
    if !meta.is_empty() {
        body.insert("metadata".into(), Value::Object(meta));
    }
    Value::Object(body)
}

/// The outcome of the source check.
enum Source {
    /// The object at the scanned generation (or the live one when none is known).
    Found {
        resource: Value,
        generation: Option<String>,
    },
    Done(ActionAnswer),
}

impl GcsStorage {
    /// objects.get at the scanned generation: gone while a newer object lives means the name
    /// changed since the scan.
    async fn source(&self, name: &str, action: ItemAction) -> Source {
        let bucket = &self.asset.bucket;
        let scanned = self.generations.get(name);
        match self.client.get(bucket, name, scanned.as_deref()).await {
            Ok(resource) => {
                let generation =
                    scanned.or_else(|| resource.get("generation").and_then(Value::as_str).map(str::to_string));
                Source::Found { resource, generation }
            }
            Err(f) if f.not_found() => {
                if scanned.is_some() && self.client.get(bucket, name, None).await.is_ok() {
                    return Source::Done((
                        200,
                        answer(StatusKind::Nothing, "The object changed since it was scanned", action)
                            .with_description("reason=changed_since_scan"),
                    ));
                }
                Source::Done((200, error("Item does not exist", action)))
            }
            Err(f) => Source::Done(failed_before_change("objects.get", &f, action)),
        }
    }

    /// Runs `action` on `name` (already known to be inside the asset and not in quarantine).
    pub(super) async fn act(&self, name: &str, action: ItemAction) -> ActionAnswer {
        if matches!(action, ItemAction::Nothing | ItemAction::NotImplemented) {
            return (200, answer(StatusKind::Nothing, "No action configured", action));
        }
        let (resource, generation) = match self.source(name, action).await {
            Source::Found { resource, generation } => (resource, generation),
            Source::Done(a) => return a,
        };
        let generation = generation.as_deref();
        let at = format!("{}/{name}", self.asset.bucket);
        match action {
            ItemAction::Delete => match self.client.delete(&self.asset.bucket, name, generation).await {
                Ok(()) => (
                    200,
                    answer(StatusKind::Success, "Item deleted", action).with_description(format!("deleted={at}")),
                ),
                Err(f) => failed_before_change("objects.delete", &f, action),
            },
            ItemAction::Move => self.move_object(name, generation, &resource, None, action).await,
            ItemAction::Tag => {
                let current = metadata::of(&resource);
                let patch = metadata::verdict_patch(self.scan_time(), self.tag_engine.as_deref());
                if metadata::merged_size(&current, &patch) > metadata::MAX_BYTES {
                    return tag_limit(action);
                }
                match self
                    .client
                    .patch_metadata(&self.asset.bucket, name, generation, &patch)
                    .await
                {
                    Ok(()) => (
                        200,
                        answer(StatusKind::Success, "Item tagged", action).with_description(format!("tagged={at}")),
                    ),
                    Err(f) => failed_before_change("objects.patch", &f, action),
                }
            }
            ItemAction::MoveTag => {
                let current = metadata::of(&resource);
                let patch = metadata::verdict_patch(self.scan_time(), self.tag_engine.as_deref());
                if metadata::merged_size(&current, &patch) > metadata::MAX_BYTES {
                    return tag_limit(action);
                }
                let merged = metadata::merged(&current, &patch);
                self.move_object(name, generation, &resource, Some(merged), action)
                    .await
            }
            ItemAction::Nothing | ItemAction::NotImplemented => {
                (200, answer(StatusKind::Nothing, "No action configured", action))
            }
        }
    }

    fn scan_time(&self) -> Option<String> {
        self.tag_scan_time
            .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    /// Rewrites the source (at `generation`) to the first free quarantine name, following
    /// rewrite tokens until done, then deletes the source.
    async fn move_object(
        &self,
        name: &str,
        generation: Option<&str>,
        resource: &Value,
        new_metadata: Option<Map<String, Value>>,
        action: ItemAction,
    ) -> ActionAnswer {
        let tagged = new_metadata.is_some();
        let body = rewrite_body(resource, new_metadata);
        let base = self.quarantine.dest_name(name);
        let qbucket = &self.quarantine.bucket;
        let mut dest = None;
        'names: for n in 0..MAX_SUFFIX {
            let candidate = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            // A taken name is skipped before the rewrite; `ifGenerationMatch=0` still guards the
            // race with a writer in between (and stores that ignore the precondition are
            // never overwritten either).
            match self.client.get(qbucket, &candidate, None).await {
                Ok(_) => continue 'names,
                Err(f) if f.not_found() => {}
                Err(f) => return failed_before_change("checking the quarantine name", &f, action),
            }
            let mut token: Option<String> = None;
            for _ in 0..MAX_REWRITE_CALLS {
                match self
                    .client
                    .rewrite(
                        &self.asset.bucket,
                        name,
                        generation,
                        qbucket,
                        &candidate,
                        &body,
                        token.as_deref(),
                    )
                    .await
                {
                    Ok(r) if r.done => {
                        dest = Some(candidate);
                        break 'names;
                    }
                    Ok(r) => match r.rewrite_token.filter(|t| !t.is_empty()) {
                        Some(t) => token = Some(t),
                        None => {
                            let f = GcsFailure::local("the rewrite is not done and gave no rewriteToken");
                            return failed_before_change("objects.rewrite", &f, action);
                        }
                    },
                    // The name is taken (ifGenerationMatch=0): never overwrite, try the next.
                    Err(f) if f.status == Some(412) && token.is_none() => continue 'names,
                    Err(f) => return failed_before_change("objects.rewrite to quarantine", &f, action),
                }
            }
            let f = GcsFailure::local(format!("the rewrite did not finish in {MAX_REWRITE_CALLS} calls"));
            return failed_before_change("objects.rewrite", &f, action);
        }
        let Some(dest) = dest else {
            let f = GcsFailure::local(format!("no free quarantine name for {base} after {MAX_SUFFIX} tries"));
            return failed_before_change("finding a quarantine name", &f, action);
        };
        let moved_to = format!("{qbucket}/{dest}");
        match self.client.delete(&self.asset.bucket, name, generation).await {
            Ok(()) => (
                200,
                answer(
                    StatusKind::Success,
                    if tagged {
                        "Item moved to quarantine and tagged"
                    } else {
                        "Item moved to quarantine"
                    },
                    action,
                )
                .with_description(format!("moved_to={moved_to}")),
            ),
            Err(f) => (
                200,
                error(
                    "The item was copied to quarantine but its source could not be removed",
                    action,
                )
                .with_description(format!(
                    "moved_to={moved_to} source_not_removed={}",
                    if f.immutable() {
                        "immutable".to_string()
                    } else {
                        f.status.map_or_else(|| "unreachable".to_string(), |s| s.to_string())
                    }
                )),
            ),
        }
    }

    /// Writes a scan result as custom metadata of the scanned generation.
    pub(super) async fn write_result(&self, name: &str, tag: &ResultTag) -> ActionAnswer {
        let action = ItemAction::Tag;
        let bucket = &self.asset.bucket;
        let scanned = self.generations.get(name);
        let resource = match self.client.get(bucket, name, scanned.as_deref()).await {
            Ok(r) => r,
            // Moved or deleted by the item action (or replaced): nothing left to tag.
            Err(f) if f.not_found() => {
                return (200, answer(StatusKind::Nothing, "The object no longer exists", action));
            }
            Err(f) => return failed_before_change("objects.get", &f, action),
        };
        let generation = scanned.or_else(|| resource.get("generation").and_then(Value::as_str).map(str::to_string));
        let patch = metadata::result_patch(&tag.result, tag.reason.as_deref());
        if metadata::merged_size(&metadata::of(&resource), &patch) > metadata::MAX_BYTES {
            return tag_limit(action);
        }
        match self
            .client
            .patch_metadata(bucket, name, generation.as_deref(), &patch)
            .await
        {
            Ok(()) => (
                200,
                answer(StatusKind::Success, "Result tagged", action).with_description(format!(
                    "{}={}",
                    metadata::RESULT_KEY,
                    tag.result
                )),
            ),
            Err(f) => failed_before_change("objects.patch", &f, action),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_rewrite_body_carries_headers_class_and_metadata() {
        let src = json!({"name": "x", "contentType": "text/plain", "contentEncoding": "gzip",
            "cacheControl": "no-cache", "contentLanguage": "", "storageClass": "NEARLINE",
            "metadata": {"owner": "me"}, "size": "3", "acl": []});
        let body = rewrite_body(&src, None);
        assert_eq!(
            body,
            json!({"contentType": "text/plain", "contentEncoding": "gzip", "cacheControl": "no-cache",
                "storageClass": "NEARLINE", "metadata": {"owner": "me"}})
        );
        let mut m = Map::new();
        m.insert("Verdict".into(), json!("Malicious"));
        assert_eq!(rewrite_body(&src, Some(m))["metadata"], json!({"Verdict": "Malicious"}));
    }
}
