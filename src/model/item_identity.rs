//! What makes one version of an item this version (docs/SCAN-REUSE.md): the facts a connector
//! already has from listing, without reading the content. Two identities are equal only when
//! every field is; a scan's verdict is reused for an item only while its identity stays equal.

use serde::{Deserialize, Serialize};

/// The identity of an item's current content, as its connector lists it. Sent by our connectors
/// on scan requests (`identity`); requests without one are always scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemIdentity {
    /// From the `lstat` of the listing. Writing a file changes its mtime and ctime (the latter
    /// cannot be set back by a user); replacing it changes the inode.
    File {
        dev: u64,
        ino: u64,
        size: u64,
        mtime_ns: i64,
        ctime_ns: i64,
    },
    /// S3: the ETag, and the version id on a versioned bucket.
    S3 {
        etag: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
    },
    /// Azure Blob: the ETag, and the version id when versioning is on.
    Azure {
        etag: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
    },
    /// Google Cloud Storage: the object generation (a new one on every write).
    Gcs { generation: String },
}

impl ItemIdentity {
    /// A file's identity from the metadata its listing already holds (no further syscall).
    pub fn of_file(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nsec: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsec);
        ItemIdentity::File {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    /// One line that differs whenever the identity does (part of the memory key).
    pub fn key_text(&self) -> String {
        match self {
            ItemIdentity::File {
                dev,
                ino,
                size,
                mtime_ns,
                ctime_ns,
            } => format!("file:{dev}:{ino}:{size}:{mtime_ns}:{ctime_ns}"),
            ItemIdentity::S3 { etag, version_id } => {
                format!("s3:{}:{etag}", version_id.as_deref().unwrap_or(""))
            }
            ItemIdentity::Azure { etag, version_id } => {
                format!("azure:{}:{etag}", version_id.as_deref().unwrap_or(""))
            }
            ItemIdentity::Gcs { generation } => format!("gcs:{generation}"),
        }
    }

    /// When a file last changed (epoch ns, the later of mtime and ctime); `None` for object
    /// stores, whose identities change with every write whatever the clock says.
    pub fn changed_at_ns(&self) -> Option<i64> {
        match self {
            ItemIdentity::File { mtime_ns, ctime_ns, .. } => Some((*mtime_ns).max(*ctime_ns)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, mtime_ns: i64, ctime_ns: i64) -> ItemIdentity {
        ItemIdentity::File {
            dev: 1,
            ino: 2,
            size,
            mtime_ns,
            ctime_ns,
        }
    }

    #[test]
    fn any_changed_field_makes_another_identity() {
        let a = file(10, 100, 200);
        assert_eq!(a, file(10, 100, 200));
        assert_eq!(a.key_text(), file(10, 100, 200).key_text());
        for other in [file(11, 100, 200), file(10, 101, 200), file(10, 100, 201)] {
            assert_ne!(a, other);
            assert_ne!(a.key_text(), other.key_text());
        }
        let moved = ItemIdentity::File {
            dev: 1,
            ino: 3,
            size: 10,
            mtime_ns: 100,
            ctime_ns: 200,
        };
        assert_ne!(a.key_text(), moved.key_text());
    }

    #[test]
    fn object_identities_differ_by_kind_version_and_etag() {
        let s3 = |etag: &str, v: Option<&str>| ItemIdentity::S3 {
            etag: etag.into(),
            version_id: v.map(str::to_string),
        };
        let az = ItemIdentity::Azure {
            etag: "e".into(),
            version_id: None,
        };
        assert_ne!(s3("e", None).key_text(), az.key_text());
        assert_ne!(s3("e", None).key_text(), s3("e", Some("v1")).key_text());
        assert_ne!(s3("e", Some("v1")).key_text(), s3("e", Some("v2")).key_text());
        assert_ne!(s3("e", None).key_text(), s3("f", None).key_text());
        let g = |n: &str| ItemIdentity::Gcs { generation: n.into() };
        assert_ne!(g("1").key_text(), g("2").key_text());
    }

    #[test]
    fn the_wire_form_is_tagged_and_round_trips() {
        let a = file(10, 100, 200);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["kind"], "file");
        assert_eq!(serde_json::from_value::<ItemIdentity>(v).unwrap(), a);
        assert_eq!(file(1, 5, 9).changed_at_ns(), Some(9));
        assert_eq!(ItemIdentity::Gcs { generation: "1".into() }.changed_at_ns(), None);
    }
}
