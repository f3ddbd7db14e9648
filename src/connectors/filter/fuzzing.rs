//! Fuzzing entry point (hidden from the docs): exercises parsing and every per-path function on
//! arbitrary bytes. It must never panic, whatever the input, and the promises walkers rely on must
//! hold: nothing below a pruned directory is in scope (docs/reference/FILTERS.md, "Pruning walks"),
//! and every in-scope path starts with an S3 prefix hint ("S3 prefix hints").

use super::Filter;

/// Interprets `data` as `filter text 0xFF path` (split at the first `0xFF` byte; without one the
/// path is empty), decodes both lossily as UTF-8, parses the filter and, if it is valid, asks
/// every question a connector asks about the path and each of its ancestors.
pub fn fuzz_parse_and_match(data: &[u8]) {
    let (text, path) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], data.get(i + 1..).unwrap_or_default()),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let path = String::from_utf8_lossy(path);
    let Ok(filter) = Filter::parse(&text) else {
        return;
    };
    let _ = filter.raw();
    let _ = filter.is_empty();
    let in_scope = filter.is_in_scope(&path);
    let hints = filter.s3_prefix_hints();
    // The promises hold for the relative paths walkers produce: names joined by `/`.
    let walkable = !path.is_empty() && path.split('/').all(|n| !n.is_empty() && n != "." && n != "..");
    for (i, _) in path.match_indices('/') {
        if let Some(dir) = path.get(..i) {
            let pruned = filter.prune_dir(dir);
            let _ = filter.is_in_scope(dir);
            assert!(
                !(walkable && pruned && in_scope),
                "filter {:?} prunes {dir:?} above the in-scope {path:?}",
                filter.raw()
            );
        }
    }
    let _ = filter.prune_dir(&path);
    if let (true, true, Some(hints)) = (walkable, in_scope, hints) {
        assert!(
            hints.iter().any(|h| path.starts_with(h.as_str())),
            "filter {:?}: in-scope {path:?} is under none of the hints {hints:?}",
            filter.raw()
        );
    }
}
