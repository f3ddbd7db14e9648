//! Full-scan enumeration (docs/reference/CONNECTORS.md, "Azure enumeration"): flat, paged List
//! Blobs under the asset prefix — or under each prefix hint of the filter — following
//! `NextMarker` lazily, with folder markers and the quarantine skipped and the filter deciding on
//! the name relative to the asset.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::asset::{AzAsset, Quarantine};
use super::client::BlobClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};
use crate::model::ItemIdentity;

/// Items buffered between the lister and the full scan.
const CHANNEL: usize = 2048;

pub struct ListPlan {
    pub client: Arc<BlobClient>,
    pub asset: AzAsset,
    pub quarantine: Quarantine,
    pub page_size: u32,
}

/// The listing prefixes: the asset's, or the asset's followed by each hint.
pub fn prefixes(asset: &AzAsset, filter: &Filter) -> Vec<String> {
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
            let mut marker: Option<String> = None;
            loop {
                let page = match plan
                    .client
                    .list_page(&plan.asset.container, &prefix, marker.as_deref(), plan.page_size)
                    .await
                {
                    Ok(p) => p,
                    Err(f) => {
                        let _ = tx
                            .send(Err(Unreadable {
                                what: format!("the listing of az://{}/{prefix}", plan.asset.container),
                                source: f.message.into(),
                            }))
                            .await;
                        return;
                    }
                };
                for b in page.blobs {
                    if b.folder || b.name.ends_with('/') || plan.quarantine.holds(&b.name) {
                        continue;
                    }
                    let Some(rel) = plan.asset.relative(&b.name) else {
                        continue;
                    };
                    if !filter.is_in_scope(rel) {
                        continue;
                    }
                    let item = Item {
                        metainfo: plan.asset.metainfo(&b.name),
                        location: b.name,
                        size: b.size,
                        identity: b.etag.map(|etag| ItemIdentity::Azure {
                            etag,
                            version_id: b.version_id,
                        }),
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return; // the scan stopped listening
                    }
                }
                match page.next_marker {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
        }
    });
    rx
}
