//! Item actions on objects (docs/reference/CONNECTORS.md, "S3 item actions") and result tags:
//! delete, move (copy keeping metadata, content type, storage class and tags, then delete), tag
//! (merged, never dropping a tag), movetag. On a versioned bucket each acts on the version that was
//! scanned.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective, Tag, Tagging, TaggingDirective};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::S3Storage;
use super::errors::S3Failure;
use super::tags::{self, TagLimit, Tags};
use crate::connectors::framework::ActionAnswer;
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// Characters left as they are in a `CopySource` key: unreserved ones and `/`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Parts of a multipart copy are at most this large (S3 allows up to 5 GiB per part).
const MAX_PART: u64 = 1024 * 1024 * 1024;
/// How many `.n` suffixes a move tries before it gives up.
const MAX_SUFFIX: u32 = 10_000;

fn answer(status: StatusKind, message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    ItemActionStatusResponse::new(status, message, action)
}

fn error(message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    answer(StatusKind::Error, message, action)
}

/// A failed first step: 503 when it may work later (nothing was changed yet), else 200 `error`.
fn failed_before_change(what: &str, f: &S3Failure, action: ItemAction) -> ActionAnswer {
    (
        if f.transient { 503 } else { 200 },
        error(format!("{what} failed: {}", f.message), action),
    )
}

fn to_sdk_tags(t: &[(String, String)]) -> Vec<Tag> {
    t.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

impl S3Storage {
    /// Runs `action` on `key` (already known to be inside the asset and not in quarantine).
    pub(super) async fn act(&self, key: &str, action: ItemAction) -> ActionAnswer {
        let version = self.versions.get(key);
        let head = match self
            .client
            .head_object()
            .bucket(&self.asset.bucket)
            .key(key)
            .set_version_id(version.clone())
            .send()
            .await
        {
            Ok(h) => h,
            Err(e) => {
                let f = S3Failure::of(&e);
                if f.not_found() {
                    return (200, error("Item does not exist", action));
                }
                return failed_before_change("HeadObject", &f, action);
            }
        };
        let at = format!("{}/{key}", self.asset.bucket);
        match action {
            ItemAction::Delete => match self.delete_source(key, version.as_deref()).await {
                Ok(()) => (
                    200,
                    answer(StatusKind::Success, "Item deleted", action).with_description(format!("deleted={at}")),
                ),
                Err(f) => failed_before_change("DeleteObject", &f, action),
            },
            ItemAction::Move => self.move_object(key, version.as_deref(), &head, None, action).await,
            ItemAction::Tag => {
                let current = match self.get_tags(&self.asset.bucket, key, version.as_deref()).await {
                    Ok(t) => t,
                    Err(f) => return failed_before_change("GetObjectTagging", &f, action),
                };
                let merged = match tags::with_verdict(&current, self.scan_time_tag(), self.tag_engine.as_deref()) {
                    Ok(t) => t,
                    Err(TagLimit) => return tag_limit(action),
                };
                match self.put_tags(key, version.as_deref(), &merged).await {
                    Ok(()) => (
                        200,
                        answer(StatusKind::Success, "Item tagged", action).with_description(format!("tagged={at}")),
                    ),
                    Err(f) => failed_before_change("PutObjectTagging", &f, action),
                }
            }
            ItemAction::MoveTag => {
                let current = match self.get_tags(&self.asset.bucket, key, version.as_deref()).await {
                    Ok(t) => t,
                    Err(f) => return failed_before_change("GetObjectTagging", &f, action),
                };
                let merged = match tags::with_verdict(&current, self.scan_time_tag(), self.tag_engine.as_deref()) {
                    Ok(t) => t,
                    Err(TagLimit) => return tag_limit(action),
                };
                self.move_object(key, version.as_deref(), &head, Some(merged), action)
                    .await
            }
            ItemAction::Nothing | ItemAction::NotImplemented => {
                (200, answer(StatusKind::Nothing, "No action configured", action))
            }
        }
    }

    fn scan_time_tag(&self) -> Option<String> {
        self.tag_scan_time
            .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    pub(super) async fn get_tags(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<Tags, S3Failure> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| S3Failure::of(&e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    pub(super) async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        t: &[(String, String)],
    ) -> Result<(), S3Failure> {
        let tagging = Tagging::builder()
            .set_tag_set(Some(to_sdk_tags(t)))
            .build()
            .map_err(|e| S3Failure {
                status: None,
                code: None,
                message: e.to_string(),
                transient: false,
                unreachable: false,
            })?;
        self.client
            .put_object_tagging()
            .bucket(&self.asset.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Failure::of(&e))
    }

    async fn delete_source(&self, key: &str, version: Option<&str>) -> Result<(), S3Failure> {
        self.client
            .delete_object()
            .bucket(&self.asset.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| S3Failure::of(&e))
    }

    /// The first destination key that holds nothing: `k`, `k.1`, `k.2`, …
    async fn free_destination(&self, key: &str) -> Result<String, S3Failure> {
        let base = self.quarantine.dest_name(key);
        for n in 0..MAX_SUFFIX {
            let candidate = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            match self
                .client
                .head_object()
                .bucket(&self.quarantine.bucket)
                .key(&candidate)
                .send()
                .await
            {
                Ok(_) => continue,
                Err(e) => {
                    let f = S3Failure::of(&e);
                    if f.not_found() {
                        return Ok(candidate);
                    }
                    return Err(f);
                }
            }
        }
        Err(S3Failure {
            status: None,
            code: None,
            message: format!("no free quarantine name for {base} after {MAX_SUFFIX} tries"),
            transient: false,
            unreachable: false,
        })
    }

    /// Copy to the quarantine (with `tags` replacing the source's, for movetag), then delete the
    /// source; the outcomes of "S3 item actions" **move**.
    async fn move_object(
        &self,
        key: &str,
        version: Option<&str>,
        head: &HeadObjectOutput,
        new_tags: Option<Tags>,
        action: ItemAction,
    ) -> ActionAnswer {
        let dest = match self.free_destination(key).await {
            Ok(d) => d,
            Err(f) => return failed_before_change("finding a quarantine name", &f, action),
        };
        let size = head.content_length().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        let copied = if size >= self.settings.multipart_copy_threshold {
            self.multipart_copy(key, version, head, &dest, new_tags.as_deref(), size)
                .await
        } else {
            self.single_copy(key, version, head, &dest, new_tags.as_deref()).await
        };
        if let Err(f) = copied {
            return failed_before_change("copying to quarantine", &f, action);
        }
        let moved_to = format!("{}/{dest}", self.quarantine.bucket);
        match self.delete_source(key, version).await {
            Ok(()) => (
                200,
                answer(
                    StatusKind::Success,
                    if new_tags.is_some() {
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
                    f.code.unwrap_or_else(|| "error".into())
                )),
            ),
        }
    }

    fn copy_source(&self, key: &str, version: Option<&str>) -> String {
        let mut s = format!("{}/{}", self.asset.bucket, utf8_percent_encode(key, COPY_SOURCE));
        if let Some(v) = version {
            s.push_str("?versionId=");
            s.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
        }
        s
    }

    async fn single_copy(
        &self,
        key: &str,
        version: Option<&str>,
        head: &HeadObjectOutput,
        dest: &str,
        new_tags: Option<&[(String, String)]>,
    ) -> Result<(), S3Failure> {
        let mut req = self
            .client
            .copy_object()
            .bucket(&self.quarantine.bucket)
            .key(dest)
            .copy_source(self.copy_source(key, version))
            .metadata_directive(MetadataDirective::Copy)
            .set_storage_class(head.storage_class().cloned());
        req = match new_tags {
            Some(t) => req
                .tagging_directive(TaggingDirective::Replace)
                .tagging(tags::header(t)),
            None => req.tagging_directive(TaggingDirective::Copy),
        };
        req.send().await.map(|_| ()).map_err(|e| S3Failure::of(&e))
    }

    /// Objects over the single-copy limit: a multipart copy that carries over the metadata, content
    /// headers and tags explicitly ("S3 item actions", move, step 2). Aborted on any failure.
    async fn multipart_copy(
        &self,
        key: &str,
        version: Option<&str>,
        head: &HeadObjectOutput,
        dest: &str,
        new_tags: Option<&[(String, String)]>,
        size: u64,
    ) -> Result<(), S3Failure> {
        let tag_set = match new_tags {
            Some(t) => t.to_vec(),
            None => self.get_tags(&self.asset.bucket, key, version).await?,
        };
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.quarantine.bucket)
            .key(dest)
            .set_metadata(head.metadata().cloned())
            .set_content_type(head.content_type().map(str::to_string))
            .set_content_encoding(head.content_encoding().map(str::to_string))
            .set_content_disposition(head.content_disposition().map(str::to_string))
            .set_content_language(head.content_language().map(str::to_string))
            .set_cache_control(head.cache_control().map(str::to_string))
            .set_expires(head.expires_string().and_then(|e| {
                aws_smithy_types::DateTime::from_str(e, aws_smithy_types::date_time::Format::HttpDate).ok()
            }))
            .set_storage_class(head.storage_class().cloned())
            .set_tagging((!tag_set.is_empty()).then(|| tags::header(&tag_set)))
            .send()
            .await
            .map_err(|e| S3Failure::of(&e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let part_size = self.settings.multipart_copy_threshold.clamp(5 * 1024 * 1024, MAX_PART);
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut number = 1;
            while start < size {
                let end = (start + part_size).min(size) - 1;
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.quarantine.bucket)
                    .key(dest)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(self.copy_source(key, version))
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| S3Failure::of(&e))?;
                let etag = out.copy_part_result().and_then(|r| r.e_tag()).map(str::to_string);
                parts.push(CompletedPart::builder().part_number(number).set_e_tag(etag).build());
                start = end + 1;
                number += 1;
            }
            let completed = self
                .client
                .complete_multipart_upload()
                .bucket(&self.quarantine.bucket)
                .key(dest)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| S3Failure::of(&e));
            match completed {
                // A 200 whose body the SDK cannot read (some S3-compatible stores name the
                // result element differently): the object itself says whether it is complete.
                Err(f) if f.status == Some(200) => {
                    let head = self
                        .client
                        .head_object()
                        .bucket(&self.quarantine.bucket)
                        .key(dest)
                        .send()
                        .await
                        .map_err(|e| S3Failure::of(&e))?;
                    if head.content_length().and_then(|n| u64::try_from(n).ok()) == Some(size) {
                        Ok(())
                    } else {
                        Err(f)
                    }
                }
                other => other,
            }
        }
        .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.quarantine.bucket)
                .key(dest)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

fn tag_limit(action: ItemAction) -> ActionAnswer {
    (
        200,
        error("The object already has 10 tags; Verdict cannot be added", action).with_description("reason=tag_limit"),
    )
}
