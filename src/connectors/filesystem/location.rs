//! How a filesystem path travels as a location string.
//!
//! Linux names are bytes, but locations are JSON text. A path whose bytes are valid UTF-8 is sent
//! as it is, so every location that worked before keeps its exact form. Any other path is sent
//! as `dsx-bytes:` followed by its bytes with these percent-encoded as `%XX` (upper-case hex):
//! `%` itself, every control byte (0x00–0x1F and 0x7F) and every byte from 0x80 up. All other
//! bytes (printable ASCII) stand for themselves. The result is printable ASCII, so it survives
//! JSON, the UI and the CLI unchanged, and decoding it gives back the exact bytes.
//!
//! A connector's own locations are absolute paths (they begin with `/`), so they never begin with
//! the prefix by accident.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// Marks a location whose path is not valid UTF-8.
pub const PREFIX: &str = "dsx-bytes:";

/// A `dsx-bytes:` location that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {PREFIX} location: {0}")]
pub struct Malformed(String);

fn needs_escape(b: u8) -> bool {
    b == b'%' || !(0x20..0x7f).contains(&b)
}

/// The location of `path`: the path itself when it is UTF-8, else its `dsx-bytes:` form.
pub fn encode(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    let mut out = String::with_capacity(PREFIX.len() + bytes.len() * 3);
    out.push_str(PREFIX);
    for &b in bytes {
        if needs_escape(b) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// The text the filter matches for a relative path: the path itself when it is UTF-8, else its
/// lossy form (each invalid sequence as U+FFFD), so include and exclude rules still apply.
pub fn filter_text(rel: &Path) -> Cow<'_, str> {
    String::from_utf8_lossy(rel.as_os_str().as_bytes())
}

/// The location of `rel` below the asset path `base`: `<base>/<rel>`, encoded as a whole (the
/// form every enumerated or monitored item has).
pub fn below(base: &Path, rel: &Path) -> String {
    let mut full = base.as_os_str().to_os_string();
    full.push("/");
    full.push(rel.as_os_str());
    encode(Path::new(&full))
}

/// The path a location names: the `dsx-bytes:` form decoded to its bytes, any other location
/// taken as it is. A `%` not followed by two hex digits is refused.
pub fn decode(location: &str) -> Result<OsString, Malformed> {
    let Some(rest) = location.strip_prefix(PREFIX) else {
        return Ok(OsString::from(location));
    };
    let src = rest.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] != b'%' {
            out.push(src[i]);
            i += 1;
            continue;
        }
        let hex = |k: usize| src.get(k).and_then(|c| char::from(*c).to_digit(16));
        match (hex(i + 1), hex(i + 2)) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => return Err(Malformed(format!("bad escape at byte {}", PREFIX.len() + i))),
        }
        i += 3;
    }
    Ok(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf8_paths_are_unchanged() {
        for p in ["/data/a.txt", "/data/ünïcode/名前", "/data/100%/x", "/d/line\nbreak"] {
            assert_eq!(encode(Path::new(p)), p);
            assert_eq!(decode(p).unwrap(), OsString::from(p));
        }
    }

    #[test]
    fn other_bytes_are_escaped_exactly() {
        let p = OsString::from_vec(b"/d/a\xff b%\x01\x7f~.bin".to_vec());
        assert_eq!(encode(Path::new(&p)), "dsx-bytes:/d/a%FF b%25%01%7F~.bin");
        assert_eq!(decode("dsx-bytes:/d/a%FF b%25%01%7F~.bin").unwrap(), p);
        // Lower-case hex is accepted too.
        assert_eq!(decode("dsx-bytes:/d/a%ff b%25%01%7f~.bin").unwrap(), p);
    }

    #[test]
    fn bad_escapes_are_refused() {
        for bad in [
            "dsx-bytes:/a%",
            "dsx-bytes:/a%4",
            "dsx-bytes:/a%G0",
            "dsx-bytes:/a%%41",
            "dsx-bytes:%é0",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_path_round_trips(bytes in proptest::collection::vec(1u8..=255, 0..64)) {
            let mut raw = b"/".to_vec();
            raw.extend(bytes);
            let path = OsString::from_vec(raw);
            let loc = encode(Path::new(&path));
            prop_assert!(loc.bytes().all(|b| (0x20..0x7f).contains(&b)) || std::str::from_utf8(path.as_bytes()).is_ok());
            prop_assert_eq!(decode(&loc).unwrap(), path);
        }
    }
}
