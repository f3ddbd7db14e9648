//! The asset of an object-store connector (`bucket[/prefix]`, written with or without the
//! store's `s3://`, `gs://` or `az://`) and its quarantine destination (docs/reference/CONNECTORS.md,
//! "S3 asset", "S3 quarantine destination" and their Azure and GCS counterparts): which names
//! belong to the asset, which are quarantine, where a move goes. The three stores differ only in
//! their scheme, their bucket naming rule and the words of their messages ([`Store`]); the
//! confinement rules are one and the same, so they live here once.

use std::marker::PhantomData;

use crate::connectors::filter::Filter;

/// What sets one object store apart in an asset.
pub trait Store {
    /// `s3`, `gs` or `az`: assets may be written `<scheme>://…`.
    const SCHEME: &'static str;
    /// What the store calls a bucket (`container` on Azure), in messages.
    const BUCKET: &'static str;
    /// What the store calls its objects (`blobs` on Azure), in messages.
    const OBJECTS: &'static str;
    /// The end of the message of an invalid asset, after `'<raw>' is not valid: `.
    const EXPECTED: &'static str;
    /// Whether `name` is a valid bucket (container) name of the store.
    fn valid_bucket(name: &str) -> bool;
}

/// `bucket[/prefix]` of store `S` (a marker type deriving the same traits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset<S> {
    /// The bucket (Azure: the container).
    pub bucket: String,
    /// Without leading or trailing `/`; empty for a whole bucket.
    pub prefix: String,
    store: PhantomData<S>,
}

/// Why an asset or quarantine setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error("'{raw}' is not valid: {expected}")]
    Asset { raw: String, expected: &'static str },
    #[error("'{raw}' names no valid {bucket}")]
    QuarantineBucket { raw: String, bucket: &'static str },
    #[error("the quarantine is the asset's {bucket} root: {objects} would be copied onto themselves")]
    QuarantineIsRoot {
        bucket: &'static str,
        objects: &'static str,
    },
    #[error("the asset prefix '{asset}' lies in the quarantine '{quarantine}': everything would be quarantine")]
    AssetInQuarantine { asset: String, quarantine: String },
}

/// `rest` split at its first `/` into a bucket and a prefix without outer slashes.
fn split(rest: &str) -> (&str, String) {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (bucket, prefix.trim_matches('/').to_string())
}

/// `<scheme>://bucket[/prefix]`.
fn url<S: Store>(bucket: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{}://{bucket}", S::SCHEME)
    } else {
        format!("{}://{bucket}/{prefix}", S::SCHEME)
    }
}

/// `<scheme>://` stripped from `v`, if there.
fn strip_scheme<S: Store>(v: &str) -> Option<&str> {
    v.strip_prefix(S::SCHEME)?.strip_prefix("://")
}

impl<S: Store> Asset<S> {
    pub fn parse(raw: &str) -> Result<Self, AssetError> {
        let v = raw.trim();
        let (bucket, prefix) = split(strip_scheme::<S>(v).unwrap_or(v));
        if !S::valid_bucket(bucket) {
            return Err(AssetError::Asset {
                raw: raw.to_string(),
                expected: S::EXPECTED,
            });
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
            store: PhantomData,
        })
    }

    /// The prefix of a listing of the whole asset: `p/`, or nothing for a whole bucket.
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The prefixes a full scan lists: the asset's, or the asset's followed by each prefix hint
    /// of the filter (which only narrows what is listed).
    pub fn list_prefixes(&self, filter: &Filter) -> Vec<String> {
        let base = self.list_prefix();
        match filter.s3_prefix_hints() {
            None => vec![base],
            Some(hints) => hints.iter().map(|h| format!("{base}{h}")).collect(),
        }
    }

    /// The name relative to the asset prefix (what the filter sees), or `None` outside the asset.
    pub fn relative<'a>(&self, name: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(name)
        } else {
            name.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// `<scheme>://bucket[/prefix]`.
    pub fn display(&self) -> String {
        url::<S>(&self.bucket, &self.prefix)
    }

    /// `metainfo` of an object: `<bucket>/<name>`.
    pub fn metainfo(&self, name: &str) -> String {
        format!("{}/{name}", self.bucket)
    }
}

/// Where `move` and `movetag` put objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine<S> {
    /// The bucket (Azure: the container).
    pub bucket: String,
    /// Relative to the bucket root; without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// Whether the destination is the asset's bucket (then its names are out of every scan).
    same_bucket: bool,
    store: PhantomData<S>,
}

impl<S: Store> Quarantine<S> {
    /// Reads `DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO` (`<scheme>://bucket[/prefix]`, or a prefix
    /// in the asset's bucket) and applies the start-up rules when objects are moved.
    pub fn parse(raw: &str, asset: &Asset<S>, moves: bool) -> Result<Self, AssetError> {
        let v = raw.trim();
        let (bucket, prefix) = match strip_scheme::<S>(v) {
            Some(rest) => {
                let (b, p) = split(rest);
                if !S::valid_bucket(b) {
                    return Err(AssetError::QuarantineBucket {
                        raw: raw.to_string(),
                        bucket: S::BUCKET,
                    });
                }
                (b.to_string(), p)
            }
            None => (asset.bucket.clone(), v.trim_matches('/').to_string()),
        };
        let q = Self {
            same_bucket: bucket == asset.bucket,
            bucket,
            prefix,
            store: PhantomData,
        };
        if moves && q.same_bucket {
            if q.prefix.is_empty() {
                return Err(AssetError::QuarantineIsRoot {
                    bucket: S::BUCKET,
                    objects: S::OBJECTS,
                });
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

    /// Whether a name of the asset's bucket is in the quarantine area ("The quarantine rule").
    pub fn holds(&self, name: &str) -> bool {
        self.same_bucket
            && !self.prefix.is_empty()
            && name
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|r| r.starts_with('/'))
    }

    /// The destination name of a source name, before a free name is looked for.
    pub fn dest_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// `<scheme>://bucket[/prefix]`.
    pub fn display(&self) -> String {
        url::<S>(&self.bucket, &self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose buckets are lower-case words.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Words;

    impl Store for Words {
        const SCHEME: &'static str = "w";
        const BUCKET: &'static str = "shelf";
        const OBJECTS: &'static str = "books";
        const EXPECTED: &'static str = "expected shelf or shelf/prefix";
        fn valid_bucket(name: &str) -> bool {
            !name.is_empty() && name.bytes().all(|c| c.is_ascii_lowercase())
        }
    }

    #[test]
    fn the_store_words_make_the_messages() {
        assert_eq!(
            Asset::<Words>::parse("w://Bad/x").unwrap_err().to_string(),
            "'w://Bad/x' is not valid: expected shelf or shelf/prefix"
        );
        let a = Asset::<Words>::parse(" w://top/in/ ").unwrap();
        assert_eq!(
            (a.bucket.as_str(), a.prefix.as_str(), a.display().as_str()),
            ("top", "in", "w://top/in")
        );
        assert_eq!(
            Quarantine::parse("w://top", &a, true).unwrap_err().to_string(),
            "the quarantine is the asset's shelf root: books would be copied onto themselves"
        );
        assert_eq!(
            Quarantine::parse("w://Q", &a, true).unwrap_err().to_string(),
            "'w://Q' names no valid shelf"
        );
        assert_eq!(
            Quarantine::parse("in", &a, true).unwrap_err().to_string(),
            "the asset prefix 'in' lies in the quarantine 'in': everything would be quarantine"
        );
    }

    #[test]
    fn a_scheme_is_only_stripped_whole() {
        // `wx://…` is not this store's scheme: the bucket is `wx:`, which is invalid.
        assert!(Asset::<Words>::parse("wx://top").is_err());
        assert_eq!(Asset::<Words>::parse("top").unwrap().display(), "w://top");
    }
}
