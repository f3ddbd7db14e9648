//! Full-scan enumeration (docs/reference/CONNECTORS.md, "Azure enumeration"): flat, paged List
//! Blobs under the asset prefix — or under each prefix hint of the filter — following
//! `NextMarker` one page ahead of the scan, with folder markers and the quarantine skipped and
//! the filter deciding on the name relative to the asset.

use std::sync::Arc;

use super::asset::{AzAsset, Quarantine};
use super::client::BlobClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{ItemReceiver, Unreadable};
use crate::connectors::object_store::paged_listing::{self, Page, item_of, pages_under};
use crate::model::ItemIdentity;

pub struct ListPlan {
    pub client: Arc<BlobClient>,
    pub asset: AzAsset,
    pub quarantine: Quarantine,
    pub page_size: u32,
}

/// Lists in the background, one page ahead of the scan; the channel closes at the end (or after
/// a listing error, which is sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (client, container, page_size) = (Arc::clone(&plan.client), plan.asset.bucket.clone(), plan.page_size);
    let pages = pages_under(plan.asset.list_prefixes(&filter), move |prefix, marker| {
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
        if b.folder {
            return None; // an `hdi_isfolder` marker
        }
        let identity = b.etag.map(|etag| ItemIdentity::Azure {
            etag,
            version_id: b.version_id,
        });
        item_of(&plan.asset, &plan.quarantine, &filter, b.name, b.size, identity)
    })
}
