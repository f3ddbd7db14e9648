//! Full-scan enumeration (docs/reference/CONNECTORS.md, "Azure enumeration"): flat, paged List
//! Blobs under the asset prefix — or under each prefix hint of the filter — following
//! `NextMarker` one page ahead of the scan, with folder markers and the quarantine skipped and
//! the filter deciding on the name relative to the asset.

use std::sync::Arc;

use super::asset::{AzAsset, Quarantine};
use super::client::BlobClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::paged_listing::{self, Page, pages_under};
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};

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

/// Lists in the background, one page ahead of the scan; the channel closes at the end (or after
/// a listing error, which is sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (client, container, page_size) = (Arc::clone(&plan.client), plan.asset.container.clone(), plan.page_size);
    let pages = pages_under(prefixes(&plan.asset, &filter), move |prefix, marker| {
        let (client, container) = (Arc::clone(&client), container.clone());
        async move {
            match client
                .list_page(&container, &prefix, marker.as_deref(), page_size)
                .await
            {
                Ok(p) => Ok(Page {
                    entries: p.blobs,
                    next: p.next_marker,
                }),
                Err(f) => Err(Unreadable {
                    what: format!("the listing of az://{container}/{prefix}"),
                    source: f.message.into(),
                }),
            }
        }
    });
    paged_listing::spawn(pages, move |b| {
        if b.folder || b.name.ends_with('/') || plan.quarantine.holds(&b.name) {
            return None;
        }
        if !filter.is_in_scope(plan.asset.relative(&b.name)?) {
            return None;
        }
        Some(Item {
            metainfo: plan.asset.metainfo(&b.name),
            location: b.name,
            size: b.size,
        })
    })
}
