//! Full-scan enumeration (docs/reference/CONNECTORS.md, "GCS connector"): paged objects.list,
//! one page ahead of the scan, under the asset prefix — or under each prefix hint of the filter,
//! which only narrows what is listed — with folder markers and the quarantine skipped and the
//! filter deciding on the name relative to the asset.

use std::sync::Arc;

use super::asset::{GcsAsset, Quarantine};
use super::client::GcsClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::paged_listing::{self, Page, pages_under};
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};

pub struct ListPlan {
    pub client: GcsClient,
    pub asset: GcsAsset,
    pub quarantine: Quarantine,
    pub page_size: u32,
}

/// The listing prefixes: the asset's, or the asset's followed by each hint.
pub fn prefixes(asset: &GcsAsset, filter: &Filter) -> Vec<String> {
    let base = asset.list_prefix();
    match filter.s3_prefix_hints() {
        None => vec![base],
        Some(hints) => hints.iter().map(|h| format!("{base}{h}")).collect(),
    }
}

/// Lists in the background, one page ahead of the scan; the channel closes at the end (or after
/// a listing error, which is sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (client, bucket, page_size) = (plan.client.clone(), plan.asset.bucket.clone(), plan.page_size);
    let pages = pages_under(prefixes(&plan.asset, &filter), move |prefix, token| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            match client.list(&bucket, &prefix, page_size, token.as_deref()).await {
                Ok(p) => Ok(Page {
                    entries: p.items,
                    next: p.next_page_token.filter(|t| !t.is_empty()),
                }),
                Err(f) => Err(Unreadable {
                    what: format!("the listing of gs://{bucket}/{prefix}"),
                    source: Box::new(f),
                }),
            }
        }
    });
    paged_listing::spawn(pages, move |obj| {
        let name = obj.name;
        if name.ends_with('/') || plan.quarantine.holds(&name) {
            return None;
        }
        if !filter.is_in_scope(plan.asset.relative(&name)?) {
            return None;
        }
        Some(Item {
            metainfo: plan.asset.metainfo(&name),
            size: obj.size.and_then(|s| s.parse().ok()),
            location: name,
        })
    })
}
