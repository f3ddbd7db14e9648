//! Enumeration of the asset folder (docs/reference/CONNECTORS.md, "Filesystem enumeration"): depth
//! first, entries in byte order, pruned by the filter and the quarantine rule, produced lazily into
//! a bounded channel by a blocking thread so memory does not grow with the size of the tree.
//!
//! Every name is enumerated, whatever its bytes: a path that is not valid UTF-8 travels in the
//! `dsx-bytes:` form of [`super::location`], and the filter sees its lossy text (invalid bytes
//! as U+FFFD). Symbolic links are never followed, so a link loop is simply not entered. A folder
//! that cannot be listed is sent as an error, which the full scan counts as unreadable.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
use walkdir::WalkDir;

use super::location;
use crate::connectors::filter::Filter;
use crate::connectors::framework::{Item, ItemReceiver, Unreadable};
use crate::model::ItemIdentity;

/// Items buffered ahead of the sender.
const CHANNEL_BOUND: usize = 2048;

/// What the walk needs to know.
#[derive(Debug, Clone)]
pub struct WalkPlan {
    pub asset_path: PathBuf,
    /// Real path of the quarantine folder (pruned when it lies in the tree).
    pub quarantine_real: Option<PathBuf>,
    pub quarantine_lexical: Option<PathBuf>,
}

/// Starts the walk; the receiver yields items in order and closes at the end.
pub fn spawn(plan: WalkPlan, filter: Arc<Filter>) -> ItemReceiver {
    let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
    std::thread::Builder::new()
        .name("fs-walk".into())
        .spawn(move || walk(&plan, &filter, &tx))
        .map_err(|e| tracing::error!(error = %e, "cannot start the enumeration thread"))
        .ok();
    rx
}

/// The path relative to the asset as the filter sees it.
fn rel_of(path: &Path, base: &Path) -> Option<String> {
    Some(location::filter_text(path.strip_prefix(base).ok()?).into_owned())
}

fn is_quarantine(plan: &WalkPlan, path: &Path) -> bool {
    if plan.quarantine_lexical.as_deref() == Some(path) {
        return true;
    }
    match &plan.quarantine_real {
        Some(q) => std::fs::canonicalize(path).is_ok_and(|r| r == *q),
        None => false,
    }
}

fn walk(plan: &WalkPlan, filter: &Filter, tx: &mpsc::Sender<Result<Item, Unreadable>>) {
    let base = &plan.asset_path;
    let it = WalkDir::new(base)
        .follow_links(false)
        .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()))
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 || !e.file_type().is_dir() {
                return true;
            }
            let Some(rel) = rel_of(e.path(), base) else { return true };
            !filter.prune_dir(&rel) && !is_quarantine(plan, e.path())
        });
    for entry in it {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                // An unreadable folder is reported (and counted) and the walk continues.
                if tx
                    .blocking_send(Err(Unreadable {
                        what: e.path().map(location::encode).unwrap_or_default(),
                        source: Box::new(e),
                    }))
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel_path) = entry.path().strip_prefix(base) else {
            continue; // below the base by construction
        };
        let rel = location::filter_text(rel_path);
        if !filter.is_in_scope(&rel) {
            continue;
        }
        // The walk does not follow links, so this is the entry's `lstat`, which it already holds.
        let meta = entry.metadata().ok();
        let metainfo = entry.file_name().to_string_lossy().into_owned();
        let item = Item {
            location: location::below(base, rel_path),
            metainfo,
            size: meta.as_ref().map(std::fs::Metadata::len),
            identity: meta.as_ref().map(ItemIdentity::of_file),
        };
        if tx.blocking_send(Ok(item)).is_err() {
            return; // the consumer stopped (limit reached, cancelled)
        }
    }
}
