//! Fuzzing entry point (hidden from the docs): exercises parsing and every per-path function on
//! arbitrary bytes. It must never panic, whatever the input.

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
    let _ = filter.is_in_scope(&path);
    let _ = filter.s3_prefix_hints();
    for (i, _) in path.match_indices('/') {
        if let Some(dir) = path.get(..i) {
            let _ = filter.prune_dir(dir);
            let _ = filter.is_in_scope(dir);
        }
    }
    let _ = filter.prune_dir(&path);
}
