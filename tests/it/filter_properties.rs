//! Property tests for the filter language.
//!
//! Filters come from a small grammar (`Rule`) that renders each rule as text *and* keeps its
//! structure, so that an independent, deliberately naive reading of docs/reference/FILTERS.md,
//! "Anchoring", "Semantics" (plain recursion, no pruning, no precompilation) can serve as the
//! oracle for `is_in_scope`. On top of that: walking a random tree with `prune_dir` skipping gives
//! exactly the files `is_in_scope` accepts, S3 prefix hints never drop an in-scope key, and the
//! fuzz entry point never panics.

use std::collections::BTreeSet;

use dsx_connect::connectors::filter::{Filter, fuzzing};
use proptest::prelude::*;
use proptest::sample::select;

// ------------------------------------------------------------------------------------------
// Grammar
// ------------------------------------------------------------------------------------------

/// Pattern components: literals, one-component globs, star runs, classes and `**`.
const PATTERN_COMPS: &[&str] = &[
    "a", "b", "tmp", "x.pdf", ".h", "*", "**", "?", "*.pdf", "a*", "[ab]", "[!a]*", "[a-c]", "a**", "*b*", "[[]x]",
    "?.*",
];

/// Names in generated paths (filesystem names are never empty).
const NAMES: &[&str] = &["a", "b", "c", "ab", "tmp", "x.pdf", "a.txt", ".h", "[x]", "é", "ba"];

#[derive(Debug, Clone)]
struct Rule {
    exclude: bool,
    /// Which directive spelling to use (see `text`).
    form: usize,
    /// 0: none, 1: `/`, 2: `./`, 3: `/./` (explicit anchor).
    lead: usize,
    /// Empty: the everything pattern (includes only).
    comps: Vec<&'static str>,
    /// Separators between components: `/`, `//` or `/./` (all normalise to `/`).
    joiners: Vec<&'static str>,
    /// Trailing `/` (directory-only).
    dir: bool,
}

impl Rule {
    fn text(&self) -> String {
        let prefix = if self.exclude {
            ["-", "- ", "--exclude ", "--exclude=", "-"][self.form % 5]
        } else {
            ["", "+", "+ ", "--include ", "--include="][self.form % 5]
        };
        let mut s = String::from(prefix);
        if self.comps.is_empty() {
            s.push_str([".", "/", "./", "/./"][self.lead % 4]);
            return s;
        }
        s.push_str(["", "/", "./", "/./"][self.lead % 4]);
        for (i, c) in self.comps.iter().enumerate() {
            if i > 0 {
                s.push_str(self.joiners.get(i).copied().unwrap_or("/"));
            }
            s.push_str(c);
        }
        if self.dir {
            s.push('/');
        }
        s
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        any::<bool>(),
        0usize..5,
        prop_oneof![6 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize)],
        prop::collection::vec(select(PATTERN_COMPS), 0..4),
        prop::collection::vec(prop_oneof![8 => Just("/"), 1 => Just("//"), 1 => Just("/./")], 4),
        prop_oneof![4 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(exclude, form, lead, comps, joiners, dir)| {
            // The root cannot be excluded (E7), so an empty exclude gets a component.
            let comps = if exclude && comps.is_empty() {
                vec!["tmp"]
            } else {
                comps
            };
            Rule {
                exclude,
                form,
                lead,
                comps,
                joiners,
                dir,
            }
        })
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(rule(), 0..4)
}

fn filter_text(rules: &[Rule]) -> String {
    rules.iter().map(Rule::text).collect::<Vec<_>>().join(" ")
}

fn path(max_depth: usize, names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(select(names), 1..=max_depth).prop_map(|v| v.join("/"))
}

/// Names for S3 keys: empty intermediate names are possible.
const S3_NAMES: &[&str] = &["a", "b", "tmp", "x.pdf", "", "ab", "[x]", "a.txt"];

fn s3_key() -> impl Strategy<Value = String> {
    (path(4, S3_NAMES), select(NAMES)).prop_map(|(p, last)| format!("{p}/{last}"))
}

// ------------------------------------------------------------------------------------------
// Naive oracle (docs/reference/FILTERS.md, "Wildcards", "Anchoring", "Semantics", read literally)
// ------------------------------------------------------------------------------------------

fn is_glob(c: &str) -> bool {
    c.contains(['*', '?', '['])
}

/// "Within one name", "Bracket expressions" by plain recursion over characters.
fn name_glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| name_glob(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && name_glob(&p[1..], &s[1..]),
        Some('[') => {
            let mut i = 1;
            let neg = matches!(p.get(i), Some('!' | '^'));
            if neg {
                i += 1;
            }
            let mut members: Vec<(char, char)> = Vec::new();
            let mut first = true;
            loop {
                let c = p[i];
                if c == ']' && !first {
                    break;
                }
                first = false;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
                    members.push((c, p[i + 2]));
                    i += 3;
                } else {
                    members.push((c, c));
                    i += 1;
                }
            }
            let Some(&ch) = s.first() else { return false };
            let hit = members.iter().any(|&(lo, hi)| lo <= ch && ch <= hi);
            hit != neg && name_glob(&p[i + 1..], &s[1..])
        }
        Some(c) => s.first() == Some(c) && name_glob(&p[1..], &s[1..]),
    }
}

fn name_matches(comp: &str, name: &str) -> bool {
    let p: Vec<char> = comp.chars().collect();
    let s: Vec<char> = name.chars().collect();
    name_glob(&p, &s)
}

/// "fits" of "Fitting a pattern to a path": components against all of `names`; a last `**` needs
/// one or more names.
fn fit(p: &[&str], n: &[&str]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(&"**") if p.len() == 1 => !n.is_empty(),
        Some(&"**") => (0..=n.len()).any(|i| fit(&p[1..], &n[i..])),
        Some(c) => !n.is_empty() && name_matches(c, n[0]) && fit(&p[1..], &n[1..]),
    }
}

/// The table of "Anchoring".
fn anchored(r: &Rule) -> bool {
    let first_literal = !is_glob(r.comps[0]);
    r.lead != 0
        || match (r.comps.len(), r.exclude) {
            (1, false) => first_literal || r.comps[0] == "*",
            (1, true) => false,
            _ => first_literal,
        }
}

fn fits_path(r: &Rule, names: &[&str]) -> bool {
    if anchored(r) {
        fit(&r.comps, names)
    } else {
        (0..names.len()).any(|i| fit(&r.comps, &names[i..]))
    }
}

fn oracle(rules: &[Rule], path: &str) -> bool {
    let names: Vec<&str> = path.split('/').collect();
    let m = names.len();
    let includes: Vec<&Rule> = rules.iter().filter(|r| !r.exclude).collect();
    let candidate = includes.is_empty()
        || includes.iter().any(|r| {
            if r.comps.is_empty() {
                true
            } else if r.dir {
                // `X/` = every item strictly below a directory that X fits.
                (1..m).any(|j| fits_path(r, &names[..j]))
            } else if !r.comps.iter().any(|c| is_glob(c)) {
                let k = r.comps.len();
                m >= k && names[..k] == r.comps[..]
            } else {
                fits_path(r, &names)
            }
        });
    let excluded = rules
        .iter()
        .filter(|r| r.exclude)
        .any(|r| (!r.dir && fits_path(r, &names)) || (1..m).any(|j| fits_path(r, &names[..j])));
    candidate && !excluded
}

fn parse(text: &str) -> Filter {
    match Filter::parse(text) {
        Ok(f) => f,
        Err(e) => panic!("generated filter {text:?} is invalid: {e}"),
    }
}

// ------------------------------------------------------------------------------------------
// Walking
// ------------------------------------------------------------------------------------------

/// A filesystem tree given by its files; a name cannot be both a file and a directory, so
/// files that are also directory paths are dropped.
fn tree(paths: &[String]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut dirs = BTreeSet::new();
    for p in paths {
        for (i, _) in p.match_indices('/') {
            dirs.insert(p[..i].to_owned());
        }
    }
    let files = paths.iter().filter(|p| !dirs.contains(*p)).cloned().collect();
    (dirs, files)
}

fn parent(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

fn walk(f: &Filter, dirs: &BTreeSet<String>, files: &BTreeSet<String>, dir: &str, out: &mut BTreeSet<String>) {
    for file in files.iter().filter(|p| parent(p) == dir) {
        if f.is_in_scope(file) {
            out.insert(file.clone());
        }
    }
    for sub in dirs.iter().filter(|d| parent(d) == dir) {
        if !f.prune_dir(sub) {
            walk(f, dirs, files, sub, out);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Properties
// ------------------------------------------------------------------------------------------

/// 1000 cases per property by default; set `PROPTEST_CASES` for a deeper run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `is_in_scope` agrees with a literal reading of "Semantics" on filesystem-like paths.
    #[test]
    fn matches_the_naive_oracle(rules in rules(), paths in prop::collection::vec(path(5, NAMES), 1..20)) {
        let text = filter_text(&rules);
        let f = parse(&text);
        for p in &paths {
            prop_assert_eq!(f.is_in_scope(p), oracle(&rules, p), "filter {:?} path {:?}", text, p);
        }
    }

    /// Same on S3 keys, which may contain empty names.
    #[test]
    fn matches_the_naive_oracle_on_s3_keys(rules in rules(), keys in prop::collection::vec(s3_key(), 1..20)) {
        let text = filter_text(&rules);
        let f = parse(&text);
        for k in &keys {
            prop_assert_eq!(f.is_in_scope(k), oracle(&rules, k), "filter {:?} key {:?}", text, k);
        }
    }

    /// `is_in_scope` is a pure function of (filter text, path): repeated calls, clones and
    /// re-parsing the raw text all give the same answer.
    #[test]
    fn decision_is_pure(rules in rules(), paths in prop::collection::vec(path(5, NAMES), 1..10)) {
        let f = parse(&filter_text(&rules));
        let g = f.clone();
        let h = parse(f.raw());
        for p in &paths {
            let d = f.is_in_scope(p);
            prop_assert_eq!(d, f.is_in_scope(p));
            prop_assert_eq!(d, g.is_in_scope(p));
            prop_assert_eq!(d, h.is_in_scope(p));
        }
    }

    /// A pruned directory has nothing in scope below it.
    #[test]
    fn pruned_directories_hold_nothing_in_scope(rules in rules(), p in path(6, NAMES)) {
        let f = parse(&filter_text(&rules));
        if f.is_in_scope(&p) {
            for (i, _) in p.match_indices('/') {
                prop_assert!(!f.prune_dir(&p[..i]), "filter {:?} prunes {:?} above in-scope {:?}", f.raw(), &p[..i], p);
            }
        }
    }

    /// Walking with `prune_dir` gives exactly the set of files that `is_in_scope` accepts.
    #[test]
    fn pruning_never_changes_results(rules in rules(), paths in prop::collection::vec(path(5, NAMES), 1..40)) {
        let f = parse(&filter_text(&rules));
        let (dirs, files) = tree(&paths);
        let mut walked = BTreeSet::new();
        walk(&f, &dirs, &files, "", &mut walked);
        let expected: BTreeSet<String> = files.iter().filter(|p| f.is_in_scope(p)).cloned().collect();
        prop_assert_eq!(walked, expected, "filter {:?}", f.raw());
    }

    /// "S3 prefix hints": every in-scope key starts with a hint; hints are sorted, unique,
    /// non-overlapping.
    #[test]
    fn s3_hints_never_drop_an_in_scope_key(rules in rules(), keys in prop::collection::vec(s3_key(), 1..30)) {
        let f = parse(&filter_text(&rules));
        if let Some(hints) = f.s3_prefix_hints() {
            prop_assert!(!hints.is_empty());
            for w in hints.windows(2) {
                prop_assert!(w[0] < w[1]);
            }
            for (i, a) in hints.iter().enumerate() {
                prop_assert!(!a.is_empty());
                for (j, b) in hints.iter().enumerate() {
                    prop_assert!(i == j || !b.starts_with(a.as_str()), "{:?} overlaps {:?}", a, b);
                }
            }
            for k in &keys {
                if f.is_in_scope(k) {
                    prop_assert!(hints.iter().any(|h| k.starts_with(h.as_str())),
                        "filter {:?}: key {:?} not covered by {:?}", f.raw(), k, hints);
                }
            }
        }
    }

    /// The fuzz entry point never panics on arbitrary bytes.
    #[test]
    fn fuzz_entry_never_panics_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::fuzz_parse_and_match(&data);
    }

    /// ... nor on bytes built from the language's own punctuation, which reach the matcher far
    /// more often than random bytes do.
    #[test]
    fn fuzz_entry_never_panics_on_filter_like_bytes(
        parts in prop::collection::vec(
            select(&[
                "*", "**", "?", "[", "]", "!", "^", "-", "+", ",", "/", ".", "..", "'", "\"", "\\",
                " ", "\n", "a", "b", "é", "--exclude", "--include=", "\u{0}", "\u{ff}", "z-a", "a-z",
            ][..]),
            0..30,
        ),
        sep in 0usize..30,
        path in s3_key(),
    ) {
        let mut text = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i == sep {
                text.push_str("'x'");
            }
            text.push_str(p);
        }
        let mut data = text.into_bytes();
        data.push(0xFF);
        data.extend_from_slice(path.as_bytes());
        fuzzing::fuzz_parse_and_match(&data);
        // Whatever parses must also be consistent between its decision and its pruning.
        let text = String::from_utf8_lossy(&data[..data.len() - path.len() - 1]).into_owned();
        if let Ok(f) = Filter::parse(&text)
            && f.is_in_scope(&path)
        {
            for (i, _) in path.match_indices('/') {
                prop_assert!(!f.prune_dir(&path[..i]) || path[..i].is_empty());
            }
            if let Some(h) = f.s3_prefix_hints() {
                prop_assert!(h.iter().any(|h| path.starts_with(h.as_str())));
            }
        }
    }
}
