//! The GCS asset (`[gs://]bucket[/prefix]`, docs/reference/CONNECTORS.md, "GCS connector") and
//! the quarantine destination: Cloud Storage's scheme, bucket names and words; the rules are the
//! shared ones of `object_store::asset`.

use crate::connectors::object_store::asset::{self, Store};

/// Google Cloud Storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gcs;

impl Store for Gcs {
    const SCHEME: &'static str = "gs";
    const BUCKET: &'static str = "bucket";
    const OBJECTS: &'static str = "objects";
    const EXPECTED: &'static str =
        "expected [gs://]bucket[/prefix]; bucket names are 3-63 lower-case letters, digits, '-', '_' and '.'";

    /// Cloud Storage bucket names: 3–63 characters (up to 222 with dots) of lower-case letters,
    /// digits, `-`, `_` and `.`, starting and ending with a letter or digit.
    fn valid_bucket(b: &str) -> bool {
        let max = if b.contains('.') { 222 } else { 63 };
        let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        (3..=max).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-_".contains(&c))
            && edge(b.bytes().next())
            && edge(b.bytes().last())
    }
}

/// `bucket[/prefix]`, optionally written `gs://…`.
pub type GcsAsset = asset::Asset<Gcs>;
/// Where `move` and `movetag` put objects.
pub type Quarantine = asset::Quarantine<Gcs>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_split_at_the_first_slash() {
        let a = GcsAsset::parse("gs://bkt/a/b/").unwrap();
        assert_eq!((a.bucket.as_str(), a.prefix.as_str()), ("bkt", "a/b"));
        assert_eq!(a.list_prefix(), "a/b/");
        assert_eq!(a.relative("a/b/c.txt"), Some("c.txt"));
        assert_eq!(a.relative("a/bc/x"), None);
        assert_eq!(a.display(), "gs://bkt/a/b");
        let whole = GcsAsset::parse("my_bucket.example.com").unwrap();
        assert_eq!(whole.list_prefix(), "");
    }

    #[test]
    fn bucket_names_follow_the_cloud_storage_rules() {
        for bad in ["", "ab", "Bad_Bucket", "-abc", "abc-", "a b c", &"a".repeat(64)] {
            assert!(GcsAsset::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(GcsAsset::parse(&format!("{}.{}", "a".repeat(60), "b".repeat(60))).is_ok());
        assert!(GcsAsset::parse("a_1-b").is_ok());
    }

    #[test]
    fn quarantine_destinations_and_start_up_rules() {
        let a = GcsAsset::parse("bkt/data").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &a, true).unwrap();
        assert_eq!(q.dest_name("data/x.exe"), "dsxconnect-quarantine/data/x.exe");
        assert!(q.holds("dsxconnect-quarantine/data/x.exe"));
        let other = Quarantine::parse("gs://qbkt/held/", &a, true).unwrap();
        assert_eq!((other.bucket.as_str(), other.prefix.as_str()), ("qbkt", "held"));
        assert!(!other.holds("held/x"));
        assert!(Quarantine::parse("gs://bkt", &a, true).is_err());
        assert!(Quarantine::parse("gs://Q", &a, true).is_err(), "not a bucket name");
        assert!(Quarantine::parse("data", &a, true).is_err());
    }
}
