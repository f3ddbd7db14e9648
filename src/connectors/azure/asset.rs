//! The Azure asset (`container[/prefix]`, docs/reference/CONNECTORS.md, "Azure asset") and the
//! quarantine destination ("Azure quarantine destination"): Azure's scheme, container names and
//! words; the rules are the shared ones of `object_store::asset` (a container is its bucket).

use crate::connectors::object_store::asset::{self, Store};

/// Azure Blob Storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Azure;

impl Store for Azure {
    const SCHEME: &'static str = "az";
    const BUCKET: &'static str = "container";
    const OBJECTS: &'static str = "blobs";
    const EXPECTED: &'static str = "expected container or container/prefix (container names are 3-63 lower-case letters, digits and single hyphens, or $root)";

    fn valid_bucket(c: &str) -> bool {
        valid_container(c)
    }
}

/// `$root`, or 3–63 lower-case letters, digits and single hyphens, starting and ending with a
/// letter or digit.
pub fn valid_container(c: &str) -> bool {
    if c == "$root" {
        return true;
    }
    let b = c.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || *x == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !c.contains("--")
}

/// `container[/prefix]`, optionally written `az://…`.
pub type AzAsset = asset::Asset<Azure>;
/// Where `move` and `movetag` put blobs (always in the asset's account).
pub type Quarantine = asset::Quarantine<Azure>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::object_store::asset::AssetError;

    #[test]
    fn container_names_follow_the_service_rules() {
        for ok in ["abc", "a-b-c", "data01", "$root", &"a".repeat(63)] {
            assert!(valid_container(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Bad_Container",
            "-abc",
            "abc-",
            "a--b",
            "ABC",
            &"a".repeat(64),
            "",
        ] {
            assert!(!valid_container(bad), "{bad}");
        }
    }

    #[test]
    fn assets_split_at_the_first_slash() {
        let a = AzAsset::parse("az://c01/a/b/").unwrap();
        assert_eq!((a.bucket.as_str(), a.prefix.as_str()), ("c01", "a/b"));
        assert_eq!(a.list_prefix(), "a/b/");
        assert_eq!(a.relative("a/b/c.txt"), Some("c.txt"));
        assert_eq!(a.relative("a/bc/x"), None);
        assert_eq!(a.metainfo("a/b/x"), "c01/a/b/x");
        assert!(AzAsset::parse("Bad_Container").is_err());
        assert!(AzAsset::parse("c01").unwrap().prefix.is_empty());
    }

    #[test]
    fn quarantine_destinations_and_start_up_rules() {
        let a = AzAsset::parse("cont/pre").unwrap();
        let q = Quarantine::parse("dsxconnect-quarantine", &a, true).unwrap();
        assert_eq!(q.dest_name("pre/x"), "dsxconnect-quarantine/pre/x");
        assert!(q.holds("dsxconnect-quarantine/pre/x"));
        let other = Quarantine::parse("az://qqq/held/", &a, true).unwrap();
        assert_eq!(
            (other.bucket.as_str(), other.dest_name("pre/x").as_str()),
            ("qqq", "held/pre/x")
        );
        assert!(!other.holds("held/pre/x"));
        assert_eq!(
            Quarantine::parse("az://cont", &a, true),
            Err(AssetError::QuarantineIsRoot {
                bucket: "container",
                objects: "blobs"
            })
        );
        assert!(Quarantine::parse("pre", &a, true).is_err());
        assert!(Quarantine::parse("az://Bad_Q", &a, true).is_err());
    }
}
