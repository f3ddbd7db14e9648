//! Item actions on blobs (docs/reference/CONNECTORS.md, "Azure item actions"): a source check
//! on the scanned version, then delete (with snapshots, and the scanned version where versions
//! are kept), move (server-side copy that keeps metadata, content headers, index tags and tier,
//! never overwrites, and completes before the source is deleted), tag (merged blob index tags,
//! never user metadata) and movetag.

use std::time::{Duration, Instant};

use super::errors::AzFailure;
use super::ops::{Props, Tags};
use super::{AzureStorage, Scanned};
use crate::connectors::framework::ActionAnswer;
use crate::connectors::s3::tags::{self as tagsets, TagLimit};
use crate::model::{ItemAction, ItemActionStatusResponse, StatusKind};

/// How many `.n` suffixes a move tries before it gives up.
const MAX_SUFFIX: u32 = 10_000;
/// Copy polling starts at this interval and doubles up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(5);

fn answer(status: StatusKind, message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    ItemActionStatusResponse::new(status, message, action)
}

fn error(message: impl Into<String>, action: ItemAction) -> ItemActionStatusResponse {
    answer(StatusKind::Error, message, action)
}

/// A failed step before anything changed: 503 when it may work later, else 200 `error` (with
/// the documented reasons for archived and immutable blobs).
pub(super) fn failed_before_change(what: &str, f: &AzFailure, action: ItemAction) -> ActionAnswer {
    if f.transient {
        return (503, error(format!("{what} failed: {}", f.message), action));
    }
    let r = error(format!("{what} failed: {}", f.message), action);
    let r = if f.archived() {
        r.with_description("reason=archived")
    } else if f.immutable() {
        r.with_description("reason=immutable")
    } else {
        r
    };
    (200, r)
}

fn changed_since_scan(action: ItemAction) -> ActionAnswer {
    (
        200,
        answer(
            StatusKind::Nothing,
            "The blob changed after its scan; the new content gets its own scan",
            action,
        )
        .with_description("reason=changed_since_scan"),
    )
}

fn tag_limit(action: ItemAction) -> ActionAnswer {
    (
        200,
        error("The blob already has 10 index tags; Verdict cannot be added", action)
            .with_description("reason=tag_limit"),
    )
}

fn tags_unsupported() -> ActionAnswer {
    (
        200,
        answer(
            StatusKind::Nothing,
            "The storage account does not support blob index tags",
            ItemAction::NotImplemented,
        )
        .with_description("reason=tags_unsupported"),
    )
}

/// What the source check found: the version to act on and the ETag to condition on.
struct Source {
    /// The scanned version when one was recorded, else the current one (if versions are kept).
    version: Option<String>,
    /// Whether the scanned version is still the current blob.
    current: bool,
    /// The scanned ETag, for `If-Match` when no version was recorded.
    etag: Option<String>,
    props: Props,
}

enum DeleteOutcome {
    Done(Option<String>),
    Changed,
    Missing,
    Failed(AzFailure),
}

impl AzureStorage {
    /// Runs `action` on `name` (already known to be inside the asset and not in quarantine).
    pub(super) async fn act(&self, name: &str, action: ItemAction) -> ActionAnswer {
        if matches!(action, ItemAction::Nothing | ItemAction::NotImplemented) {
            return (200, answer(StatusKind::Nothing, "No action configured", action));
        }
        let scanned = self.scanned.get(name);
        let src = match self.source_check(name, scanned.as_ref()).await {
            Ok(s) => s,
            Err(f) if f.blob_not_found() => return (200, error("Item does not exist", action)),
            Err(f) if f.status == Some(412) => return changed_since_scan(action),
            Err(f) => return failed_before_change("Get Blob Properties", &f, action),
        };
        let at = self.asset.metainfo(name);
        match action {
            ItemAction::Delete => match self.delete_source(name, &src).await {
                DeleteOutcome::Done(v) => {
                    self.scanned.forget(name);
                    let mut d = format!("deleted={at}");
                    if let Some(v) = v {
                        d.push_str(&format!(" version={v}"));
                    }
                    (
                        200,
                        answer(StatusKind::Success, "Item deleted", action).with_description(d),
                    )
                }
                DeleteOutcome::Changed => changed_since_scan(action),
                DeleteOutcome::Missing => (200, error("Item does not exist", action)),
                DeleteOutcome::Failed(f) => failed_before_change("Delete Blob", &f, action),
            },
            ItemAction::Move => {
                let tags = match self
                    .client
                    .get_tags(&self.asset.bucket, name, src.version.as_deref())
                    .await
                {
                    Ok(t) => Some(t),
                    Err(f) if f.tags_unsupported() => None,
                    Err(f) => return failed_before_change("Get Blob Tags", &f, action),
                };
                self.move_blob(name, &src, tags, false, action).await
            }
            ItemAction::Tag => {
                let current = match self
                    .client
                    .get_tags(&self.asset.bucket, name, src.version.as_deref())
                    .await
                {
                    Ok(t) => t,
                    Err(f) if f.tags_unsupported() => return tags_unsupported(),
                    Err(f) => return failed_before_change("Get Blob Tags", &f, action),
                };
                let merged = match tagsets::with_verdict(&current, self.scan_time_tag(), self.tag_engine.as_deref()) {
                    Ok(t) => t,
                    Err(TagLimit) => return tag_limit(action),
                };
                match self
                    .client
                    .set_tags(&self.asset.bucket, name, src.version.as_deref(), &merged)
                    .await
                {
                    Ok(()) => (
                        200,
                        answer(StatusKind::Success, "Item tagged", action).with_description(format!("tagged={at}")),
                    ),
                    Err(f) if f.tags_unsupported() => tags_unsupported(),
                    Err(f) => failed_before_change("Set Blob Tags", &f, action),
                }
            }
            ItemAction::MoveTag => {
                let (tags, supported) = match self
                    .client
                    .get_tags(&self.asset.bucket, name, src.version.as_deref())
                    .await
                {
                    Ok(t) => match tagsets::with_verdict(&t, self.scan_time_tag(), self.tag_engine.as_deref()) {
                        Ok(m) => (Some(m), true),
                        Err(TagLimit) => return tag_limit(action),
                    },
                    Err(f) if f.tags_unsupported() => (None, false),
                    Err(f) => return failed_before_change("Get Blob Tags", &f, action),
                };
                if supported {
                    self.move_blob(name, &src, tags, true, action).await
                } else {
                    let (code, mut r) = self.move_blob(name, &src, None, false, ItemAction::Move).await;
                    r.description = Some(match r.description.take() {
                        Some(d) => format!("{d} reason=tags_unsupported"),
                        None => "reason=tags_unsupported".into(),
                    });
                    (code, r)
                }
            }
            ItemAction::Nothing | ItemAction::NotImplemented => {
                (200, answer(StatusKind::Nothing, "No action configured", action))
            }
        }
    }

    pub(super) fn scan_time_tag(&self) -> Option<String> {
        self.tag_scan_time
            .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    /// Get Blob Properties on the scanned version, or conditioned on the scanned ETag.
    async fn source_check(&self, name: &str, scanned: Option<&Scanned>) -> Result<Source, AzFailure> {
        let v = scanned.and_then(|s| s.version.clone());
        let e = scanned.and_then(|s| s.etag.clone());
        let if_match = if v.is_none() { e.as_deref() } else { None };
        let props = self
            .client
            .properties(&self.asset.bucket, name, v.as_deref(), if_match)
            .await?;
        let current = v.is_none() || props.is_current != Some(false);
        Ok(Source {
            version: v.or_else(|| props.version_id.clone()),
            current,
            etag: e,
            props,
        })
    }

    /// Deletes the base blob (with its snapshots) while the scanned version is current, and the
    /// scanned version itself where versions are kept and purging is on.
    async fn delete_source(&self, name: &str, src: &Source) -> DeleteOutcome {
        let c = &self.asset.bucket;
        if src.current {
            match self.client.delete(c, name, None, src.etag.as_deref()).await {
                Ok(()) => {}
                Err(f) if f.status == Some(412) => return DeleteOutcome::Changed,
                Err(f) if f.blob_not_found() => return DeleteOutcome::Missing,
                Err(f) => return DeleteOutcome::Failed(f),
            }
        }
        let keeps_versions = src.props.version_id.is_some();
        match (&src.version, keeps_versions && self.settings.purge_versions) {
            (Some(v), true) => match self.client.delete(c, name, Some(v), None).await {
                Ok(()) => DeleteOutcome::Done(Some(v.clone())),
                // Already gone with the base blob (accounts without versioning answer so).
                Err(f) if f.status == Some(404) && src.current => DeleteOutcome::Done(None),
                Err(f) if !src.current => DeleteOutcome::Failed(f),
                Err(f) => {
                    tracing::warn!(blob = name, error = %f.message, "the scanned version could not be purged");
                    DeleteOutcome::Done(None)
                }
            },
            _ => DeleteOutcome::Done(None),
        }
    }

    /// Copies to the first free quarantine name, waits for the copy to finish, then deletes the
    /// source.
    async fn move_blob(
        &self,
        name: &str,
        src: &Source,
        tags: Option<Tags>,
        tagged: bool,
        action: ItemAction,
    ) -> ActionAnswer {
        let q = &self.quarantine;
        let base = q.dest_name(name);
        let source_url = self
            .client
            .copy_source(&self.asset.bucket, name, src.version.as_deref());
        let source_if_match = if src.version.is_none() {
            src.etag.as_deref()
        } else {
            None
        };
        let tier = src
            .props
            .tier
            .as_deref()
            .filter(|t| matches!(*t, "Hot" | "Cool" | "Cold"));
        let mut started = None;
        for n in 0..MAX_SUFFIX {
            let dest = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            match self
                .client
                .copy(&q.bucket, &dest, &source_url, source_if_match, tags.as_deref(), tier)
                .await
            {
                Ok((status, id)) => {
                    started = Some((dest, status, id));
                    break;
                }
                Err(f) if f.is_code(&["SourceConditionNotMet"]) => return changed_since_scan(action),
                Err(f) if f.is_code(&["BlobAlreadyExists"]) || f.status == Some(412) => continue,
                Err(f) if f.blob_not_found() && f.is_code(&["CannotVerifyCopySource"]) => {
                    return (200, error("Item does not exist", action));
                }
                Err(f) => return failed_before_change("Copy Blob", &f, action),
            }
        }
        let Some((dest, status, copy_id)) = started else {
            return (
                200,
                error(
                    format!("no free quarantine name for {base} after {MAX_SUFFIX} tries"),
                    action,
                ),
            );
        };
        if let Err(why) = self.wait_for_copy(&dest, status, copy_id).await {
            return (
                200,
                error(format!("The copy to quarantine did not complete: {why}"), action),
            );
        }
        let moved_to = format!("{}/{dest}", q.bucket);
        match self.delete_source(name, src).await {
            DeleteOutcome::Done(_) => {
                self.scanned.forget(name);
                (
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
                )
            }
            other => {
                let why = match other {
                    DeleteOutcome::Changed => "changed_since_scan".to_string(),
                    DeleteOutcome::Missing => "missing".to_string(),
                    DeleteOutcome::Failed(f) => f.code.unwrap_or_else(|| "error".into()),
                    DeleteOutcome::Done(_) => String::new(),
                };
                (
                    200,
                    error(
                        "The item was copied to quarantine but its source could not be removed",
                        action,
                    )
                    .with_description(format!("moved_to={moved_to} source_not_removed={why}")),
                )
            }
        }
    }

    /// Polls a pending copy until it succeeds; on `failed`, `aborted` or timeout it aborts the
    /// copy and deletes the destination, so the source stays the only copy.
    async fn wait_for_copy(&self, dest: &str, status: Option<String>, copy_id: Option<String>) -> Result<(), String> {
        let c = &self.quarantine.bucket;
        let deadline = Instant::now() + self.settings.copy_timeout;
        let mut status = status.unwrap_or_else(|| "success".into());
        let mut copy_id = copy_id;
        let mut wait = POLL_FIRST;
        while status == "pending" && Instant::now() < deadline {
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
            wait = (wait * 2).min(POLL_MAX);
            match self.client.properties(c, dest, None, None).await {
                Ok(p) => {
                    status = p.copy_status.unwrap_or_else(|| "success".into());
                    copy_id = p.copy_id.or(copy_id);
                }
                Err(f) if f.transient => continue,
                Err(f) => {
                    status = format!("unknown ({})", f.message);
                    break;
                }
            }
        }
        if status == "success" {
            return Ok(());
        }
        let why = if status == "pending" {
            "timed out".to_string()
        } else {
            status
        };
        if let Some(id) = &copy_id
            && let Err(f) = self.client.abort_copy(c, dest, id).await
        {
            tracing::debug!(blob = dest, error = %f.message, "abort copy");
        }
        if let Err(f) = self.client.delete(c, dest, None, None).await
            && !f.blob_not_found()
        {
            tracing::warn!(blob = dest, error = %f.message, "cannot delete an incomplete quarantine copy");
        }
        Err(why)
    }
}
