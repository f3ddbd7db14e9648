//! The Azure asset (`container[/prefix]`, docs/reference/CONNECTORS.md, "Azure asset") and the
//! quarantine destination ("Azure quarantine destination"): which blob names belong to the
//! asset, which are quarantine, where a move goes.

/// `container[/prefix]`, optionally written `az://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzAsset {
    pub container: String,
    /// Without leading or trailing `/`; empty for a whole container.
    pub prefix: String,
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

/// Why an asset or quarantine setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    #[error(
        "'{0}' is not valid: expected container or container/prefix (container names are 3-63 lower-case letters, digits and single hyphens, or $root)"
    )]
    Asset(String),
    #[error("'{0}' names no valid container")]
    QuarantineContainer(String),
    #[error("the quarantine is the asset's container root: blobs would be copied onto themselves")]
    QuarantineIsRoot,
    #[error("the asset prefix '{asset}' lies in the quarantine '{quarantine}': everything would be quarantine")]
    AssetInQuarantine { asset: String, quarantine: String },
}

impl AzAsset {
    pub fn parse(raw: &str) -> Result<Self, AssetError> {
        let v = raw.trim();
        let v = v.strip_prefix("az://").unwrap_or(v);
        let (container, prefix) = v.split_once('/').unwrap_or((v, ""));
        if !valid_container(container) {
            return Err(AssetError::Asset(raw.to_string()));
        }
        Ok(Self {
            container: container.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The `prefix` of a listing of the whole asset: `p/`, or nothing for a whole container.
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The name relative to the asset prefix (what the filter sees), or `None` outside it.
    pub fn relative<'a>(&self, name: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(name)
        } else {
            name.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    /// `az://container[/prefix]`.
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("az://{}", self.container)
        } else {
            format!("az://{}/{}", self.container, self.prefix)
        }
    }

    /// `metainfo` of a blob: `<container>/<name>`.
    pub fn metainfo(&self, name: &str) -> String {
        format!("{}/{name}", self.container)
    }
}

/// Where `move` and `movetag` put blobs (always in the asset's account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub container: String,
    /// Relative to the container root; without leading or trailing `/`; may be empty.
    pub prefix: String,
    same_container: bool,
}

impl Quarantine {
    /// Reads `DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO`: `az://<container>[/<prefix>]`, or a
    /// prefix in the asset's container; applies the start-up rules when blobs are moved.
    pub fn parse(raw: &str, asset: &AzAsset, moves: bool) -> Result<Self, AssetError> {
        let v = raw.trim();
        let (container, prefix) = match v.strip_prefix("az://") {
            Some(rest) => {
                let (c, p) = rest.split_once('/').unwrap_or((rest, ""));
                if !valid_container(c) {
                    return Err(AssetError::QuarantineContainer(raw.to_string()));
                }
                (c.to_string(), p.trim_matches('/').to_string())
            }
            None => (asset.container.clone(), v.trim_matches('/').to_string()),
        };
        let q = Self {
            same_container: container == asset.container,
            container,
            prefix,
        };
        if moves && q.same_container {
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

    /// Whether a blob of the asset's container lies in the quarantine area.
    pub fn holds(&self, name: &str) -> bool {
        self.same_container
            && !self.prefix.is_empty()
            && name
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|r| r.starts_with('/'))
    }

    /// The destination name of a source blob, before a free name is looked for.
    pub fn dest_name(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            format!("az://{}", self.container)
        } else {
            format!("az://{}/{}", self.container, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((a.container.as_str(), a.prefix.as_str()), ("c01", "a/b"));
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
            (other.container.as_str(), other.dest_name("pre/x").as_str()),
            ("qqq", "held/pre/x")
        );
        assert!(!other.holds("held/pre/x"));
        assert_eq!(
            Quarantine::parse("az://cont", &a, true),
            Err(AssetError::QuarantineIsRoot)
        );
        assert!(Quarantine::parse("pre", &a, true).is_err());
        assert!(Quarantine::parse("az://Bad_Q", &a, true).is_err());
    }
}
