//! Every reference in the repository resolves inside the repository (issue 16): a comment or a
//! document that names `docs/….md` names a file that exists, and a section title quoted after it
//! (`(docs/reference/CORE-API.md, "Job state machine")`) is a heading of that file. Nothing points
//! into the team's specification folder, which is not part of the repository, by path or by
//! section number.
//!
//! The texts are read the way a reader sees them: comment markers are dropped and lines joined,
//! so a reference wrapped over two comment lines is still one reference.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;
use walkdir::WalkDir;

/// The folders whose texts are checked, relative to the repository root.
const CHECKED: &[&str] = &["src", "tests", "static", "scripts", "bench", "fuzz", "docs", "docker"];
/// Single files checked besides those folders.
const CHECKED_FILES: &[&str] = &["README.md", "CHANGELOG.md", "SECURITY.md"];
/// Folders never read: third-party code and build output.
const SKIPPED_DIRS: &[&str] = &["node_modules", "target", ".git", "screenshots"];
/// Text files by extension; everything else (images, archives) is skipped.
const TEXT_EXTENSIONS: &[&str] = &[
    "rs", "js", "mjs", "css", "html", "svg", "md", "py", "sh", "lua", "toml", "json", "in", "txt", "yaml", "yml",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every checked text file with its content, as (path relative to the root, text).
fn texts() -> Vec<(String, String)> {
    let root = root();
    let mut paths: Vec<PathBuf> = CHECKED_FILES
        .iter()
        .map(|f| root.join(f))
        .filter(|p| p.is_file())
        .collect();
    for dir in CHECKED {
        let walk = WalkDir::new(root.join(dir)).into_iter().filter_entry(|e| {
            !(e.file_type().is_dir() && SKIPPED_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
        });
        for entry in walk.filter_map(Result::ok) {
            let is_text = entry
                .path()
                .extension()
                .is_some_and(|x| TEXT_EXTENSIONS.contains(&x.to_string_lossy().as_ref()));
            if entry.file_type().is_file() && is_text {
                paths.push(entry.into_path());
            }
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let text = fs::read_to_string(&p).ok()?;
            let rel = p.strip_prefix(&root).unwrap_or(&p).to_string_lossy().into_owned();
            Some((rel, text))
        })
        .collect()
}

/// The text as a reader sees it: comment markers dropped, lines joined by single spaces.
fn joined(text: &str) -> String {
    let marker = Regex::new(r"^\s*(?://[!/]?|/\*\*?|\*/?|--|#+|<!--)?\s*").unwrap();
    text.lines()
        .map(|l| marker.replace(l, "").into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headings of a Markdown file, each also without a trailing `(…)` and, when it has one,
/// as its part before `: `, so `"Audit"` finds `## Audit (src/auth/audit.rs, …)`.
fn headings(doc: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(doc).unwrap_or_default();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(title) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let title = title.trim_start_matches('#').trim();
        out.insert(title.to_string());
        if let Some(i) = title.find(" (") {
            out.insert(title[..i].to_string());
        }
        if let Some(i) = title.find(": ") {
            out.insert(title[..i].to_string());
        }
    }
    out
}

#[test]
fn every_docs_path_named_in_the_repository_exists_with_the_sections_it_quotes() {
    let reference = Regex::new(r#"\b(docs/[A-Za-z0-9_./-]+\.md)((?:[`)]*,\s*"[^"]{1,80}")*)"#).unwrap();
    let quoted = Regex::new(r#""([^"]{1,80})""#).unwrap();
    let mut known: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut problems = Vec::new();
    let mut seen = 0usize;
    for (file, text) in texts() {
        let text = joined(&text);
        for m in reference.captures_iter(&text) {
            seen += 1;
            let doc = &m[1];
            let path = root().join(doc);
            if !path.is_file() {
                problems.push(format!("{file}: {doc} does not exist"));
                continue;
            }
            let heads = known.entry(doc.to_string()).or_insert_with(|| headings(&path));
            for title in quoted.captures_iter(&m[2]) {
                let title = title[1].split_whitespace().collect::<Vec<_>>().join(" ");
                if !heads.contains(&title) {
                    problems.push(format!("{file}: {doc} has no section \"{title}\""));
                }
            }
        }
    }
    assert!(
        seen > 300,
        "only {seen} references found: is the walk reading the sources?"
    );
    assert!(
        problems.is_empty(),
        "references that do not resolve:\n{}",
        problems.join("\n")
    );
}

#[test]
fn nothing_points_into_the_specification_folder_outside_the_repository() {
    // Built from parts so that this file does not trip its own check.
    let folder = ["shared", "spec"].join("/");
    let section_number = Regex::new(&format!("{}[0-9]", '\u{a7}')).unwrap();
    let mut problems = Vec::new();
    for (file, text) in texts() {
        for (n, line) in text.lines().enumerate() {
            if line.contains(&folder) || section_number.is_match(line) {
                problems.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "references to documents outside the repository (write them against docs/reference/):\n{}",
        problems.join("\n")
    );
}
