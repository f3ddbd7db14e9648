//! Full-scan enumeration (docs/reference/CONNECTORS.md, "GCS connector"): paged objects.list
//! under the asset prefix — or under each prefix hint of the filter, which only narrows what is
//! listed — with folder markers and the quarantine skipped and the filter deciding on the name
//! relative to the asset.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::asset::{GcsAsset, Quarantine};
use super::client::GcsClient;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};
use crate::model::ItemIdentity;

/// Items buffered between the lister and the full scan (about two pages).
const CHANNEL: usize = 2048;

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

/// Lists in the background; the channel closes at the end (or after a listing error, which is
/// sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        for prefix in prefixes(&plan.asset, &filter) {
            let mut token: Option<String> = None;
            loop {
                let page = match plan
                    .client
                    .list(&plan.asset.bucket, &prefix, plan.page_size, token.as_deref())
                    .await
                {
                    Ok(p) => p,
                    Err(f) => {
                        let _ = tx
                            .send(Err(Unreadable {
                                what: format!("the listing of gs://{}/{prefix}", plan.asset.bucket),
                                source: Box::new(f),
                            }))
                            .await;
                        return;
                    }
                };
                for obj in page.items {
                    let name = obj.name;
                    if name.ends_with('/') || plan.quarantine.holds(&name) {
                        continue;
                    }
                    let Some(rel) = plan.asset.relative(&name) else {
                        continue;
                    };
                    if !filter.is_in_scope(rel) {
                        continue;
                    }
                    let item = Item {
                        metainfo: plan.asset.metainfo(&name),
                        size: obj.size.and_then(|s| s.parse().ok()),
                        identity: obj.generation.map(|generation| ItemIdentity::Gcs { generation }),
                        location: name,
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return; // the scan stopped listening (limit reached, cancelled)
                    }
                }
                match page.next_page_token.filter(|t| !t.is_empty()) {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
    });
    rx
}
