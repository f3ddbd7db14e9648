//! What `scan` was asked to scan: folders, single files, standard input and S3 prefixes, turned
//! into built-in connectors (one per folder or prefix) with the filter that selects the named
//! files and leaves out the `--exclude` patterns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::connectors::framework::settings::ConnectorKind;

/// What `-` is shown as.
pub const STDIN_NAME: &str = "stdin";

/// One built-in connector's worth of scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: ConnectorKind,
    /// A folder, or `bucket[/prefix]`.
    pub asset: String,
    /// As the user named it (for the report).
    pub shown: String,
    /// Only these files of the folder (names relative to it); empty = the whole asset.
    pub only: Vec<String>,
    /// The folder holding standard input's bytes (shown as `stdin`).
    pub stdin: bool,
}

impl Target {
    /// The connector filter: the named files, anchored and literal, and the excludes.
    pub fn filter(&self, excludes: &[String]) -> String {
        let mut words: Vec<String> = self.only.iter().map(|n| quoted(&format!("/{}", literal(n)))).collect();
        words.extend(excludes.iter().map(|e| format!("--exclude {}", quoted(e))));
        words.join(" ")
    }
}

/// Targets that could not be resolved, with the reason (reported; the others are scanned).
pub type Refused = Vec<(String, String)>;

/// Resolves the command line's paths. Files of the same folder share one target; `-` must be
/// given at most once and is read into `stdin_dir` by the caller (passed here as the folder).
pub fn resolve(paths: &[String], stdin_dir: Option<&Path>) -> (Vec<Target>, Refused) {
    let mut targets: Vec<Target> = Vec::new();
    let mut files: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut refused = Vec::new();
    for p in paths {
        if p == "-" {
            match stdin_dir {
                Some(dir) => targets.push(Target {
                    kind: ConnectorKind::Filesystem,
                    asset: dir.display().to_string(),
                    shown: STDIN_NAME.into(),
                    only: vec![STDIN_NAME.into()],
                    stdin: true,
                }),
                None => refused.push((p.clone(), "standard input can be scanned once".into())),
            }
            continue;
        }
        let bucket = p
            .strip_prefix("s3://")
            .map(|r| (ConnectorKind::S3, r))
            .or_else(|| p.strip_prefix("gs://").map(|r| (ConnectorKind::Gcs, r)));
        if let Some((kind, rest)) = bucket {
            if rest.trim_matches('/').is_empty() {
                refused.push((p.clone(), "no bucket named".into()));
            } else {
                targets.push(Target {
                    kind,
                    asset: rest.trim_end_matches('/').to_string(),
                    shown: p.clone(),
                    only: Vec::new(),
                    stdin: false,
                });
            }
            continue;
        }
        if let Some(rest) = p.strip_prefix("az://") {
            if rest.trim_matches('/').is_empty() {
                refused.push((p.clone(), "no container named".into()));
            } else {
                targets.push(Target {
                    kind: ConnectorKind::AzureBlob,
                    asset: rest.trim_end_matches('/').to_string(),
                    shown: p.clone(),
                    only: Vec::new(),
                    stdin: false,
                });
            }
            continue;
        }
        let path = match std::fs::canonicalize(p) {
            Ok(path) => path,
            Err(e) => {
                refused.push((p.clone(), e.to_string()));
                continue;
            }
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                refused.push((p.clone(), e.to_string()));
                continue;
            }
        };
        if meta.is_dir() {
            targets.push(Target {
                kind: ConnectorKind::Filesystem,
                asset: path.display().to_string(),
                shown: path.display().to_string(),
                only: Vec::new(),
                stdin: false,
            });
        } else if meta.is_file() {
            match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
                (Some(dir), Some(name)) => files.entry(dir.to_path_buf()).or_default().push(name.to_string()),
                _ => refused.push((p.clone(), "not a file name the connector can carry".into())),
            }
        } else {
            refused.push((p.clone(), "not a regular file or a folder".into()));
        }
    }
    for (dir, mut names) in files {
        names.sort();
        names.dedup();
        let shown = names
            .iter()
            .map(|n| dir.join(n).display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        targets.push(Target {
            kind: ConnectorKind::Filesystem,
            asset: dir.display().to_string(),
            shown,
            only: names,
            stdin: false,
        });
    }
    (targets, refused)
}

/// A name as a literal pattern: the wildcard characters in brackets.
fn literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

/// One filter word whatever the text holds: double quotes, with `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::filter::Filter;

    #[test]
    fn files_of_one_folder_share_a_target_whose_filter_selects_exactly_them() {
        let dir = tempfile::tempdir().unwrap();
        let odd = ["a b.txt", "x*?[1].bin", "q\"uote\\s,comma.txt", "-dash", "+plus"];
        for n in odd.iter().chain(["other.txt", "sub/a b.txt"].iter()) {
            let p = dir.path().join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let args: Vec<String> = odd.iter().map(|n| dir.path().join(n).display().to_string()).collect();
        let (targets, refused) = resolve(&args, None);
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(targets.len(), 1, "{targets:?}");
        let filter = Filter::parse(&targets[0].filter(&[])).unwrap();
        for n in odd {
            assert!(filter.is_in_scope(n), "{n} is selected");
        }
        for n in ["other.txt", "sub/a b.txt", "x1.bin", "xa?[1].bin"] {
            assert!(!filter.is_in_scope(n), "{n} is not selected");
        }
    }

    #[test]
    fn folders_buckets_and_stdin_are_targets_and_missing_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let stdin = tempfile::tempdir().unwrap();
        let args = [
            dir.path().display().to_string(),
            "s3://bucket/pre/".into(),
            "gs://gbucket/pre".into(),
            "-".into(),
            "/definitely/not/here".into(),
            "s3://".into(),
        ];
        let (targets, refused) = resolve(&args, Some(stdin.path()));
        let kinds: Vec<(ConnectorKind, &str)> = targets.iter().map(|t| (t.kind, t.asset.as_str())).collect();
        assert_eq!(kinds.len(), 4);
        assert_eq!(kinds[1], (ConnectorKind::S3, "bucket/pre"));
        assert_eq!(kinds[2], (ConnectorKind::Gcs, "gbucket/pre"));
        assert!(targets[3].stdin && targets[3].only == ["stdin"]);
        let names: Vec<&str> = refused.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["/definitely/not/here", "s3://"]);
    }

    #[test]
    fn excludes_keep_their_wildcards() {
        let t = Target {
            kind: ConnectorKind::Filesystem,
            asset: "/x".into(),
            shown: "/x".into(),
            only: Vec::new(),
            stdin: false,
        };
        let filter = Filter::parse(&t.filter(&["*.log".into(), "cache/".into()])).unwrap();
        assert!(!filter.is_in_scope("a/b.log"));
        assert!(!filter.is_in_scope("cache/x.txt"));
        assert!(filter.is_in_scope("a/b.txt"));
    }
}
