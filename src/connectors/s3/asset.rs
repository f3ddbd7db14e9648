//! The S3 asset (`bucket` or `bucket/prefix`, docs/reference/CONNECTORS.md, "S3 asset") and the
//! quarantine destination ("S3 quarantine destination"): which keys belong to the asset, which are
//! quarantine, where a move goes.

/// `bucket[/prefix]`, optionally written `s3://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Asset {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for a whole bucket.
    pub prefix: String,
}

fn valid_bucket(b: &str) -> bool {
    !b.is_empty() && b.len() <= 255 && b.bytes().all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
}

/// Why an asset or quarantine setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error("'{0}' is not valid: expected bucket or bucket/prefix (bucket names use letters, digits, '.', '-', '_')")]
    Asset(String),
    #[error("'{0}' names no valid bucket")]
    QuarantineBucket(String),
    #[error("the quarantine is the asset's bucket root: objects would be copied onto themselves")]
    QuarantineIsRoot,
    #[error("the asset prefix '{asset}' lies in the quarantine '{quarantine}': everything would be quarantine")]
    AssetInQuarantine { asset: String, quarantine: String },
}

impl S3Asset {
    pub fn parse(raw: &str) -> Result<Self, AssetError> {
        let v = raw.trim();
        let v = v.strip_prefix("s3://").unwrap_or(v);
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

    /// `s3://bucket[/prefix]`.
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
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
    /// Reads `DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO` ("S3 quarantine destination") and applies the
    /// start-up rules ("S3 quarantine destination") when objects are moved.
    pub fn parse(raw: &str, asset: &S3Asset, moves: bool) -> Result<Self, AssetError> {
        let v = raw.trim();
        let (bucket, prefix) = match v.strip_prefix("s3://") {
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
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

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
        assert_eq!(q.dest_key("data/x.exe"), "dsxconnect-quarantine/data/x.exe");
        assert!(q.holds("dsxconnect-quarantine/data/x.exe"));
        assert!(!q.holds("dsxconnect-quarantine.txt"));
        let other = Quarantine::parse("s3://Q/quar/", &a, true).unwrap();
        assert_eq!((other.bucket.as_str(), other.prefix.as_str()), ("Q", "quar"));
        assert!(!other.holds("quar/x"), "another bucket's keys are never in this asset");
        let root = Quarantine::parse("s3://Q", &a, true).unwrap();
        assert_eq!(root.dest_key("data/x"), "data/x");
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
