//! Full-scan enumeration (docs/reference/CONNECTORS.md, "GCS connector"): paged objects.list,
//! one page ahead of the scan, under the asset prefix — or under each prefix hint of the filter,
//! which only narrows what is listed — with folder markers and the quarantine skipped and the
//! filter deciding on the name relative to the asset.

use std::sync::Arc;

use super::asset::{GcsAsset, Quarantine};
use super::client::GcsClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{ItemReceiver, Unreadable};
use crate::connectors::object_store::paged_listing::{self, Page, item_of, pages_under};
use crate::model::ItemIdentity;

pub struct ListPlan {
    pub client: GcsClient,
    pub asset: GcsAsset,
    pub quarantine: Quarantine,
    pub page_size: u32,
}

/// Lists in the background, one page ahead of the scan; the channel closes at the end (or after
/// a listing error, which is sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (client, bucket, page_size) = (plan.client.clone(), plan.asset.bucket.clone(), plan.page_size);
    let pages = pages_under(plan.asset.list_prefixes(&filter), move |prefix, token| {
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
        let size = obj.size.and_then(|s| s.parse().ok());
        let identity = obj.generation.map(|generation| ItemIdentity::Gcs { generation });
        item_of(&plan.asset, &plan.quarantine, &filter, obj.name, size, identity)
    })
}
