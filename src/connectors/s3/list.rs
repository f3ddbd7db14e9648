//! Full-scan enumeration (docs/reference/CONNECTORS.md, "S3 enumeration"): paged ListObjectsV2,
//! one page ahead of the scan, under the asset prefix — or under each prefix hint of the filter,
//! which only narrows what is listed — with folder markers and the quarantine skipped and the
//! filter deciding on the key relative to the asset.

use std::sync::Arc;

use super::asset::{Quarantine, S3Asset};
use super::errors::S3Failure;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{ItemReceiver, Unreadable};
use crate::connectors::object_store::paged_listing::{self, Page, item_of, pages_under};
use crate::model::ItemIdentity;

/// Keys per ListObjectsV2 page (the S3 maximum).
const PAGE: i32 = 1000;

pub struct ListPlan {
    pub client: aws_sdk_s3::Client,
    pub asset: S3Asset,
    pub quarantine: Quarantine,
}

/// Lists in the background, one page ahead of the scan; the channel closes at the end (or after
/// a listing error, which is sent as the last entry).
pub fn spawn(plan: ListPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (client, bucket) = (plan.client.clone(), plan.asset.bucket.clone());
    let pages = pages_under(plan.asset.list_prefixes(&filter), move |prefix, token| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            let asked = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .max_keys(PAGE)
                .set_continuation_token(token.clone())
                .send()
                .await;
            match asked {
                // A repeated or empty token ends the prefix, as the SDK's paginator does.
                Ok(out) => Ok(Page {
                    next: out
                        .next_continuation_token
                        .filter(|t| !t.is_empty() && Some(t) != token.as_ref()),
                    entries: out.contents.unwrap_or_default(),
                }),
                Err(e) => Err(Unreadable {
                    what: format!("the listing of s3://{bucket}/{prefix}"),
                    source: S3Failure::of(&e).message.into(),
                }),
            }
        }
    });
    paged_listing::spawn(pages, move |obj| {
        let size = obj.size.and_then(|s| u64::try_from(s).ok());
        let identity = obj.e_tag().map(|etag| ItemIdentity::S3 {
            etag: etag.to_string(),
            version_id: None,
        });
        item_of(&plan.asset, &plan.quarantine, &filter, obj.key?, size, identity)
    })
}
