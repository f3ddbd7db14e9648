//! Paged object-store listings (S3 ListObjectsV2, Azure List Blobs, GCS objects.list) fetched one
//! page ahead of their consumer. A lister that only asks for page n+1 once page n sits in the
//! item channel makes every request wait for the scan to drain that channel — with pages larger
//! than the channel (Azure's 5,000 against 2,048) the storage and the scan take turns instead of
//! working side by side. Here the next request leaves as soon as a page is handed over, and
//! never earlier than that: at most one page is held ahead of the one draining, so memory stays
//! bounded by two pages whatever the bucket's size.

use std::future::Future;

use futures_util::{Stream, StreamExt, stream};
use tokio::sync::mpsc;

use super::asset::{Asset, Quarantine, Store};
use crate::connectors::filter::Filter;
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};
use crate::model::ItemIdentity;

/// Items buffered between the lister and the full scan.
const CHANNEL: usize = 2048;

/// One page of a listing and the token that continues it (`None` on the last page).
pub struct Page<T> {
    pub entries: Vec<T>,
    pub next: Option<String>,
}

/// The pages under each of `prefixes` in turn, each prefix followed through its continuation
/// tokens: `fetch(prefix, token)` asks for one page. The listing ends after its first error.
pub fn pages_under<T, E, F, Fut>(prefixes: Vec<String>, fetch: F) -> impl Stream<Item = Result<Vec<T>, E>>
where
    F: FnMut(String, Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, E>>,
{
    /// Where the listing stands: the prefix being listed and its token, or finished.
    enum At {
        Prefix(usize, Option<String>),
        End,
    }
    stream::unfold((At::Prefix(0, None), fetch), move |(at, mut fetch)| {
        let prefix = match &at {
            At::Prefix(i, _) => prefixes.get(*i).cloned(),
            At::End => None,
        };
        async move {
            let (At::Prefix(i, token), Some(prefix)) = (at, prefix) else {
                return None;
            };
            match fetch(prefix, token).await {
                Ok(page) => {
                    let next = match page.next {
                        Some(t) => At::Prefix(i, Some(t)),
                        None => At::Prefix(i + 1, None),
                    };
                    Some((Ok(page.entries), (next, fetch)))
                }
                Err(e) => Some((Err(e), (At::End, fetch))),
            }
        }
    })
}

/// Lists in the background, one page ahead of the scan: `item` makes the item of an entry, or
/// skips it (`None`). The channel closes at the end, or after a listing error, which is sent as
/// the last entry.
pub fn spawn<T, S>(pages: S, mut item: impl FnMut(T) -> Option<Item> + Send + 'static) -> ItemReceiver
where
    T: Send + 'static,
    S: Stream<Item = Result<Vec<T>, Unreadable>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL);
    let mut pages = one_page_ahead(pages);
    tokio::spawn(async move {
        while let Some(page) = pages.recv().await {
            let entries = match page {
                Ok(entries) => entries,
                Err(unreadable) => {
                    let _ = tx.send(Err(unreadable)).await;
                    return;
                }
            };
            for entry in entries {
                let Some(item) = item(entry) else { continue };
                if tx.send(Ok(item)).await.is_err() {
                    return; // the scan stopped listening (limit reached, cancelled)
                }
            }
        }
    });
    rx
}

/// The item of a listed object, or `None` for a folder marker (a name ending in `/`), a name in
/// the quarantine or outside the asset, or one the filter leaves out (judged below the prefix).
/// `identity` is what the listing says of the object's content (docs/SCAN-REUSE.md).
pub fn item_of<S: Store>(
    asset: &Asset<S>,
    quarantine: &Quarantine<S>,
    filter: &Filter,
    name: String,
    size: Option<u64>,
    identity: Option<ItemIdentity>,
) -> Option<Item> {
    if name.ends_with('/') || quarantine.holds(&name) || !filter.is_in_scope(asset.relative(&name)?) {
        return None;
    }
    Some(Item {
        metainfo: asset.metainfo(&name),
        location: name,
        size,
        identity,
    })
}

/// Runs `pages` in a task of its own and hands its pages over in order. A slot is reserved
/// before each request, and the channel holds one page: the request for page n+2 leaves only
/// once page n+1 was taken, that is once page n is drained. Dropping the receiver ends the task
/// after the request in flight.
fn one_page_ahead<T, E>(
    pages: impl Stream<Item = Result<Vec<T>, E>> + Send + 'static,
) -> mpsc::Receiver<Result<Vec<T>, E>>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut pages = std::pin::pin!(pages);
        while let Ok(slot) = tx.reserve().await {
            match pages.next().await {
                Some(page) => slot.send(page),
                None => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Three prefixes of two pages each; the fetches are counted.
    fn counted(fetched: Arc<AtomicUsize>) -> impl Stream<Item = Result<Vec<String>, String>> {
        let prefixes = vec!["a/".to_string(), "b/".into(), "c/".into()];
        pages_under(prefixes, move |prefix, token| {
            let fetched = Arc::clone(&fetched);
            async move {
                fetched.fetch_add(1, Ordering::SeqCst);
                let (name, next) = match token.as_deref() {
                    None => ("1", Some("t1".to_string())),
                    Some("t1") => ("2", None),
                    Some(other) => return Err(format!("unexpected token {other}")),
                };
                Ok(Page {
                    entries: vec![format!("{prefix}{name}")],
                    next,
                })
            }
        })
    }

    #[tokio::test]
    async fn every_prefix_is_followed_through_its_tokens_in_order() {
        let all: Vec<_> = counted(Arc::default()).collect().await;
        let names: Vec<String> = all.into_iter().flat_map(Result::unwrap).collect();
        assert_eq!(names, ["a/1", "a/2", "b/1", "b/2", "c/1", "c/2"]);
    }

    #[test]
    fn items_leave_out_folder_markers_the_quarantine_and_filtered_names() {
        let asset = Asset::<crate::connectors::s3::asset::S3>::parse("b/pre").unwrap();
        let quarantine = Quarantine::parse("q", &asset, true).unwrap();
        let all = Filter::parse("").unwrap();
        let item = |filter: &Filter, name: &str| item_of(&asset, &quarantine, filter, name.to_string(), Some(3), None);
        assert_eq!(
            item(&all, "pre/sub/a b.txt"),
            Some(Item {
                location: "pre/sub/a b.txt".into(),
                metainfo: "b/pre/sub/a b.txt".into(),
                size: Some(3),
                identity: None,
            })
        );
        for skipped in ["pre/sub/", "q/pre/x", "prefix/x", "other/x"] {
            assert_eq!(item(&all, skipped), None, "{skipped}");
        }
        let whole = Asset::<crate::connectors::s3::asset::S3>::parse("b").unwrap();
        let in_bucket = Quarantine::parse("q", &whole, true).unwrap();
        assert_eq!(
            item_of(&whole, &in_bucket, &all, "q/x".into(), None, None),
            None,
            "the quarantine"
        );
        assert!(item_of(&whole, &in_bucket, &all, "qx/y".into(), None, None).is_some());
        let sub = Filter::parse("sub").unwrap();
        assert!(item(&sub, "pre/sub/a").is_some());
        assert_eq!(item(&sub, "pre/other/a"), None, "the filter");
    }

    #[tokio::test]
    async fn the_first_error_ends_the_listing() {
        let mut calls = 0;
        let pages = pages_under(vec!["a/".to_string(), "b/".into()], |_, _| {
            calls += 1;
            let n = calls;
            async move {
                if n == 2 {
                    Err("denied")
                } else {
                    Ok(Page {
                        entries: vec![n],
                        next: Some(format!("t{n}")),
                    })
                }
            }
        });
        let all: Vec<_> = pages.collect().await;
        assert_eq!(all, [Ok(vec![1]), Err("denied")]);
    }

    #[tokio::test]
    async fn the_next_page_is_fetched_while_one_drains_and_never_two_ahead() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let mut rx = one_page_ahead(counted(Arc::clone(&fetched)));
        assert_eq!(rx.recv().await.unwrap().unwrap(), ["a/1"]);
        // While page 1 drains, page 2 arrives in the channel; page 3 is not asked for until
        // page 2 is taken.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while rx.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "page 2 was never fetched ahead");
            tokio::task::yield_now().await;
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 2, "one page ahead, not two");
        let mut rest = Vec::new();
        while let Some(page) = rx.recv().await {
            rest.extend(page.unwrap());
        }
        assert_eq!(rest, ["a/2", "b/1", "b/2", "c/1", "c/2"]);
        assert_eq!(fetched.load(Ordering::SeqCst), 6);
    }
}
