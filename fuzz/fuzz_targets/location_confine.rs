//! Arbitrary bytes as a location and as a path (docs/reference/CONNECTORS.md, "Containment", issue
//! 15): decoding never panics, every absolute path survives `encode` then `decode` byte for byte,
//! lexical normalisation leaves no `.` or `..`, and whatever `confine` accepts lies in the asset,
//! also after every link is resolved.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

// The service's own location and confinement code, compiled here on its own (`confine` reaches
// `location` as `super::location`, so both sit at the crate root).
#[allow(dead_code)]
#[path = "../../src/connectors/filesystem/location.rs"]
mod location;
#[allow(dead_code)]
#[path = "../../src/connectors/filesystem/confine.rs"]
mod confine;

/// A real asset folder with the links an attacker would plant: to its parent, to `/etc`, to
/// itself, and to a file outside. Made once per process and reused by later runs.
fn asset() -> &'static Path {
    static ASSET: OnceLock<PathBuf> = OnceLock::new();
    ASSET.get_or_init(|| {
        let top = std::env::temp_dir().join("dsx-fuzz-confine");
        let asset = top.join("asset");
        std::fs::create_dir_all(asset.join("sub/deeper")).expect("asset folder");
        std::fs::write(asset.join("sub/a.txt"), b"a").expect("asset file");
        std::fs::write(top.join("outside.txt"), b"o").expect("outside file");
        for (link, to) in [("up", ".."), ("out", "/etc"), ("loop", "loop"), ("sub/leak", "../../outside.txt")] {
            let _ = std::os::unix::fs::symlink(to, asset.join(link));
        }
        std::fs::canonicalize(&asset).expect("asset resolves")
    })
}

fn check_confined(path: &Path) {
    let root = asset();
    if let Ok(c) = confine::confine(path, root, root) {
        assert!(c.real.starts_with(root), "{path:?} confined to {:?}", c.real);
        assert_eq!(root.join(&c.rel), c.real, "{path:?}");
        if let Ok(real) = std::fs::canonicalize(&c.real) {
            assert!(real.starts_with(root), "{path:?} resolves to {real:?}");
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A location as a request carries it.
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = location::decode(&text) {
        check_confined(Path::new(&p));
    }
    // Any absolute path round-trips, and its location is printable ASCII unless it is UTF-8.
    let mut abs = b"/".to_vec();
    abs.extend_from_slice(data);
    let abs = OsStr::from_bytes(&abs);
    let loc = location::encode(Path::new(abs));
    assert!(std::str::from_utf8(abs.as_bytes()).is_ok() || loc.bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert_eq!(location::decode(&loc).expect("own encoding decodes"), abs);
    // The raw bytes as a path.
    let raw = Path::new(OsStr::from_bytes(data));
    let norm = confine::lexical_normalize(raw);
    assert!(
        norm.components().all(|c| !matches!(c, Component::ParentDir | Component::CurDir)),
        "{raw:?} normalised to {norm:?}"
    );
    assert_eq!(norm.is_absolute(), raw.is_absolute(), "{raw:?} normalised to {norm:?}");
    check_confined(raw);
});
