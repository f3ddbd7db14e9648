//! The S3 asset (`bucket` or `bucket/prefix`, docs/reference/CONNECTORS.md, "S3 asset") and the
//! quarantine destination ("S3 quarantine destination"): S3's scheme, bucket names and words;
//! the rules are the shared ones of `object_store::asset`.

use crate::connectors::object_store::asset::{self, Store};

/// Amazon S3 (and S3-compatible servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3;

impl Store for S3 {
    const SCHEME: &'static str = "s3";
    const BUCKET: &'static str = "bucket";
    const OBJECTS: &'static str = "objects";
    const EXPECTED: &'static str = "expected bucket or bucket/prefix (bucket names use letters, digits, '.', '-', '_')";

    fn valid_bucket(b: &str) -> bool {
        !b.is_empty() && b.len() <= 255 && b.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
    }
}

/// `bucket[/prefix]`, optionally written `s3://…`.
pub type S3Asset = asset::Asset<S3>;
/// Where `move` and `movetag` put objects.
pub type Quarantine = asset::Quarantine<S3>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_split_at_the_first_slash() {
        let a = S3Asset::parse("s3://b/a/b/").unwrap();
        assert_eq!((a.bucket.as_str(), a.prefix.as_str()), ("b", "a/b"));
        assert_eq!(a.list_prefix(), "a/b/");
        assert_eq!(a.relative("a/b/c.txt"), Some("c.txt"));
        assert_eq!(a.relative("a/bc/x"), None);
        assert_eq!(a.relative("a/b"), None);
        let whole = S3Asset::parse("bucket").unwrap();
        assert_eq!((whole.prefix.as_str(), whole.list_prefix().as_str()), ("", ""));
        assert_eq!(whole.relative("x/y"), Some("x/y"));
        assert!(S3Asset::parse("").is_err());
        assert!(S3Asset::parse("/prefix").is_err());
        assert!(S3Asset::parse("bad bucket/x").is_err());
    }

    #[test]
    fn quarantine_destinations_and_start_up_rules() {
        let a = S3Asset::parse("b/data").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &a, true).unwrap();
        assert_eq!((q.bucket.as_str(), q.prefix.as_str()), ("b", "dsxconnect-quarantine"));
        assert_eq!(q.dest_name("data/x.exe"), "dsxconnect-quarantine/data/x.exe");
        assert!(q.holds("dsxconnect-quarantine/data/x.exe"));
        assert!(!q.holds("dsxconnect-quarantine.txt"));
        let other = Quarantine::parse("s3://Q/quar/", &a, true).unwrap();
        assert_eq!((other.bucket.as_str(), other.prefix.as_str()), ("Q", "quar"));
        assert!(!other.holds("quar/x"), "another bucket's keys are never in this asset");
        let root = Quarantine::parse("s3://Q", &a, true).unwrap();
        assert_eq!(root.dest_name("data/x"), "data/x");
        assert!(Quarantine::parse("s3://b", &a, true).is_err(), "onto themselves");
        assert!(Quarantine::parse("data", &a, true).is_err());
        assert!(Quarantine::parse("da", &a, true).is_ok());
        let below = S3Asset::parse("b/quar/in").unwrap();
        assert!(Quarantine::parse("quar", &below, true).is_err());
        assert!(
            Quarantine::parse("quar", &below, false).is_ok(),
            "only moves need a sane quarantine"
        );
    }
}
