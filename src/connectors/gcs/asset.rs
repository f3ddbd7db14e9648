//! The GCS asset (`[gs://]bucket[/prefix]`, docs/reference/CONNECTORS.md, "GCS connector") and
//! the quarantine destination: which object names belong to the asset, which are quarantine,
//! where a move goes.

/// `bucket[/prefix]`, optionally written `gs://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsAsset {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for a whole bucket.
    pub prefix: String,
}

/// Cloud Storage bucket names: 3–63 characters (up to 222 with dots) of lower-case letters,
/// digits, `-`, `_` and `.`, starting and ending with a letter or digit.
pub fn valid_bucket(b: &str) -> bool {
    let max = if b.contains('.') { 222 } else { 63 };
    let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=max).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-_".contains(&c))
        && edge(b.bytes().next())
        && edge(b.bytes().last())
}

/// Why an asset or quarantine setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error(
        "'{0}' is not valid: expected [gs://]bucket[/prefix]; bucket names are 3-63 lower-case letters, digits, '-', '_' and '.'"
    )]
    Asset(String),
    #[error("'{0}' names no valid bucket")]
    QuarantineBucket(String),
    #[error("the quarantine is the asset's bucket root: objects would be copied onto themselves")]
    QuarantineIsRoot,
    #[error("the asset prefix '{asset}' lies in the quarantine '{quarantine}': everything would be quarantine")]
    AssetInQuarantine { asset: String, quarantine: String },
}

impl GcsAsset {
    pub fn parse(raw: &str) -> Result<Self, AssetError> {
        let v = raw.trim();
        let v = v.strip_prefix("gs://").unwrap_or(v);
        let (bucket, prefix) = v.split_once('/').unwrap_or((v, ""));
        if !valid_bucket(bucket) {
            return Err(AssetError::Asset(raw.to_string()));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The `Prefix` of a listing of the whole asset: `p/`, or nothing for a whole bucket.
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The key relative to the asset prefix (what the filter sees), or `None` outside the asset.
    pub fn relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// `gs://bucket[/prefix]`.
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }

    /// `metainfo` of a key: `<bucket>/<key>`.
    pub fn metainfo(&self, key: &str) -> String {
        format!("{}/{key}", self.bucket)
    }
}

/// Where `move` and `movetag` put objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub bucket: String,
    /// Relative to the bucket root; without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// Whether the destination is the asset's bucket (then its keys are out of every scan).
    same_bucket: bool,
}

impl Quarantine {
    /// Reads `DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO` (a prefix of the asset's bucket, or
    /// `gs://bucket[/prefix]`) and applies the start-up rules when objects are moved.
    pub fn parse(raw: &str, asset: &GcsAsset, moves: bool) -> Result<Self, AssetError> {
        let v = raw.trim();
        let (bucket, prefix) = match v.strip_prefix("gs://") {
            Some(rest) => {
                let (b, p) = rest.split_once('/').unwrap_or((rest, ""));
                if !valid_bucket(b) {
                    return Err(AssetError::QuarantineBucket(raw.to_string()));
                }
                (b.to_string(), p.trim_matches('/').to_string())
            }
            None => (asset.bucket.clone(), v.trim_matches('/').to_string()),
        };
        let q = Self {
            same_bucket: bucket == asset.bucket,
            bucket,
            prefix,
        };
        if moves && q.same_bucket {
            if q.prefix.is_empty() {
                return Err(AssetError::QuarantineIsRoot);
            }
            if asset.prefix == q.prefix || asset.prefix.starts_with(&format!("{}/", q.prefix)) {
                return Err(AssetError::AssetInQuarantine {
                    asset: asset.prefix.clone(),
                    quarantine: q.prefix.clone(),
                });
            }
        }
        Ok(q)
    }

    /// Whether a key of the asset's bucket is in the quarantine area ("The quarantine rule").
    pub fn holds(&self, key: &str) -> bool {
        self.same_bucket
            && !self.prefix.is_empty()
            && key
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|r| r.starts_with('/'))
    }

    /// The destination key of a source key, before a free name is looked for.
    pub fn dest_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("gs://{}", self.bucket)
        } else {
            format!("gs://{}/{}", self.bucket, self.prefix)
        }
    }
}

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
        assert_eq!(q.dest_key("data/x.exe"), "dsxconnect-quarantine/data/x.exe");
        assert!(q.holds("dsxconnect-quarantine/data/x.exe"));
        let other = Quarantine::parse("gs://qbkt/held/", &a, true).unwrap();
        assert_eq!((other.bucket.as_str(), other.prefix.as_str()), ("qbkt", "held"));
        assert!(!other.holds("held/x"));
        assert!(Quarantine::parse("gs://bkt", &a, true).is_err());
        assert!(Quarantine::parse("gs://Q", &a, true).is_err(), "not a bucket name");
        assert!(Quarantine::parse("data", &a, true).is_err());
    }
}
