//! Confinement of locations to the asset (docs/reference/CONNECTORS.md, "Containment").
//!
//! A location from a request is accepted only if, lexically and after resolving every symbolic
//! link, it lies in the asset. What is then done to it goes through directory descriptors
//! ([`super::beneath::Dir`]), so a link swapped in after the check cannot lead outside either.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a location was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Outside the asset: 403.
    Outside(String),
    /// The asset itself is not available: 503.
    AssetUnavailable(String),
}

/// A location that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confined {
    /// The path with every link resolved (for paths that exist), below the asset root.
    pub real: PathBuf,
    /// `real` relative to the asset root.
    pub rel: PathBuf,
}

/// Removes `.` and resolves `..` textually.
pub fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Resolves every link of `p`; for a path that does not exist, of its deepest existing ancestor
/// (the rest appended as is).
fn resolve(p: &Path) -> io::Result<PathBuf> {
    let mut missing = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        match std::fs::canonicalize(&cur) {
            Ok(mut real) => {
                for m in missing.iter().rev() {
                    real.push(m);
                }
                return Ok(real);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(name) = cur.file_name().map(|n| n.to_os_string()) else {
                    return Err(e);
                };
                missing.push(name);
                if !cur.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies "Containment" to `given` (a location already decoded to its path bytes, see
/// [`super::location`]) for an asset at `asset_path` (lexical) whose links resolve to
/// `asset_root`.
pub fn confine(given: &Path, asset_path: &Path, asset_root: &Path) -> Result<Confined, Refused> {
    let location = super::location::encode(given);
    if given.as_os_str().as_bytes().contains(&0) {
        return Err(Refused::Outside("location contains a NUL character".into()));
    }
    let joined = if given.is_absolute() {
        given.to_path_buf()
    } else {
        asset_path.join(given)
    };
    let lexical = lexical_normalize(&joined);
    if !(lexical.starts_with(asset_path) || lexical.starts_with(asset_root)) {
        return Err(Refused::Outside(format!("{location} is outside the asset")));
    }
    let real = resolve(&lexical).map_err(|e| Refused::Outside(format!("{location} cannot be resolved: {e}")))?;
    let Ok(rel) = real.strip_prefix(asset_root).map(Path::to_path_buf) else {
        return Err(Refused::Outside(format!("{location} resolves outside the asset")));
    };
    Ok(Confined { real, rel })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_is_textual() {
        assert_eq!(lexical_normalize(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(lexical_normalize(Path::new("/a/../../x")), PathBuf::from("/x"));
    }

    #[test]
    fn escapes_are_refused_and_inside_paths_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let asset = root.join("asset");
        std::fs::create_dir_all(asset.join("sub")).unwrap();
        std::fs::write(asset.join("sub/a.txt"), "a").unwrap();
        std::fs::write(root.join("outside.txt"), "o").unwrap();
        std::os::unix::fs::symlink(root.join("outside.txt"), asset.join("link")).unwrap();
        let confine = |l: &str, a: &Path, r: &Path| confine(Path::new(l), a, r);
        let ok = confine("sub/a.txt", &asset, &asset).unwrap();
        assert_eq!(ok.rel, PathBuf::from("sub/a.txt"));
        for bad in [
            "/etc/hostname",
            "../outside.txt",
            "sub/../../outside.txt",
            "link",
            "a\0b",
        ] {
            assert!(
                matches!(confine(bad, &asset, &asset), Err(Refused::Outside(_))),
                "{bad}"
            );
        }
        // A missing file inside is fine here (existence is checked later).
        assert!(confine("sub/missing.txt", &asset, &asset).is_ok());
    }
}
