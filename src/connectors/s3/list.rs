//! Full-scan enumeration (docs/reference/CONNECTORS.md, "S3 enumeration"): paged ListObjectsV2
//! under the asset prefix — or under each prefix hint of the filter, which only narrows what is
//! listed — with folder markers and the quarantine skipped and the filter deciding on the key
//! relative to the asset.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::asset::{Quarantine, S3Asset};
use super::errors::S3Failure;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};
use crate::model::ItemIdentity;

/// Items buffered between the lister and the full scan (about two pages).
const CHANNEL: usize = 2048;
/// Keys per ListObjectsV2 page (the S3 maximum).
const PAGE: i32 = 1000;

pub struct ListPlan {
    pub client: aws_sdk_s3::Client,
    pub asset: S3Asset,
    pub quarantine: Quarantine,
}

/// The listing prefixes: the asset's, or the asset's followed by each hint.
pub fn prefixes(asset: &S3Asset, filter: &Filter) -> Vec<String> {
    let base = asset.list_prefix();
    match filter.s3_prefix_hints() {
        None => vec![base],
        Some(hints) => hints.iter().map(|h| format!("{base}{h}")).collect(),
    }
}

/// Lists in the background; the channel closes at the end (or after a listing error, which is
/// sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        for prefix in prefixes(&plan.asset, &filter) {
            let mut pages = plan
                .client
                .list_objects_v2()
                .bucket(&plan.asset.bucket)
                .prefix(&prefix)
                .max_keys(PAGE)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        let f = S3Failure::of(&e);
                        let _ = tx
                            .send(Err(Unreadable {
                                what: format!("the listing of s3://{}/{prefix}", plan.asset.bucket),
                                source: f.message.into(),
                            }))
                            .await;
                        return;
                    }
                };
                for obj in page.contents() {
                    let Some(key) = obj.key() else { continue };
                    if key.ends_with('/') || plan.quarantine.holds(key) {
                        continue;
                    }
                    let Some(rel) = plan.asset.relative(key) else { continue };
                    if !filter.is_in_scope(rel) {
                        continue;
                    }
                    let item = Item {
                        location: key.to_string(),
                        metainfo: plan.asset.metainfo(key),
                        size: obj.size().and_then(|s| u64::try_from(s).ok()),
                        identity: obj.e_tag().map(|etag| ItemIdentity::S3 {
                            etag: etag.to_string(),
                            version_id: None,
                        }),
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return; // the scan stopped listening (limit reached, cancelled)
                    }
                }
            }
        }
    });
    rx
}
