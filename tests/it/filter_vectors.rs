//! The filter test vectors (docs/reference/FILTERS.md, "Test vectors"): one test per row of
//! `tests/data/filter_rows.in` (f1–f115), the invalid filters x1–x15 and the valid edge cases
//! y1–y5, plus the hint examples of "S3 prefix hints" and error-message checks.
//!
//! A row says what a full scan does, so besides `is_in_scope` every row also checks the two
//! optimisations a scan uses: an in-scope item is never hidden by `prune_dir` on one of its
//! ancestors (filesystem walk) and always starts with an S3 prefix hint (S3 listing).

use dsx_connect::connectors::filter::Filter;

const IN: bool = true;
const OUT: bool = false;

fn parse(text: &str) -> Filter {
    match Filter::parse(text) {
        Ok(f) => f,
        Err(e) => panic!("filter {text:?} should be valid: {e}"),
    }
}

/// Every proper prefix of `path` (its ancestors), shortest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

fn check(text: &str, path: &str, expected: bool) {
    let f = parse(text);
    assert_eq!(
        f.is_in_scope(path),
        expected,
        "filter {text:?}, path {path:?}: expected {}",
        if expected { "include" } else { "exclude" }
    );
    // What a walker sees: the item is reached only if no ancestor is pruned.
    let reached = ancestors(path).all(|dir| !f.prune_dir(dir));
    assert_eq!(
        reached && f.is_in_scope(path),
        expected,
        "filter {text:?}, path {path:?}: walk with pruning disagrees"
    );
    if let Some(hints) = f.s3_prefix_hints() {
        assert!(
            !expected || hints.iter().any(|h| path.starts_with(h.as_str())),
            "filter {text:?}, path {path:?}: hints {hints:?} drop an in-scope key"
        );
    }
}

macro_rules! rows {
    ($($name:ident: $filter:expr, $path:expr => $expected:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($filter, $path, $expected);
            }
        )*

        /// Every row, for the real-walk test below.
        const ROWS: &[(&str, &str, &str, bool)] = &[$((stringify!($name), $filter, $path, $expected),)*];
    };
}

/// For every row, a real filesystem walk (the one a full scan uses,
/// with directory pruning) yields the path iff the row says include.
#[tokio::test]
async fn every_row_holds_for_a_real_walk_of_the_filesystem_connector() {
    use dsx_connect::connectors::filesystem::FilesystemStorage;
    use dsx_connect::connectors::framework::Storage;
    use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
    use std::sync::Arc;

    assert!(ROWS.len() >= 115);
    for (name, text, path, expected) in ROWS {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"x").unwrap();
        let env = [
            ("DSXCONNECTOR_ASSET".to_string(), dir.path().display().to_string()),
            ("DSXCONNECTOR_FILTER".to_string(), text.to_string()),
        ]
        .into_iter()
        .collect();
        let (settings, _) = ConnectorSettings::load(ConnectorKind::Filesystem, &env, None, &Overrides::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let storage = FilesystemStorage::new(&settings).unwrap();
        let mut rx = storage.enumerate(Arc::new(parse(text)));
        let mut found = Vec::new();
        while let Some(item) = rx.recv().await {
            found.push(item.unwrap_or_else(|e| panic!("{name}: {e:?}")).location);
        }
        let want = format!("{}/{path}", dir.path().display());
        assert_eq!(
            found.contains(&want),
            *expected,
            "{name}: filter {text:?}, path {path:?}: walk found {found:?}"
        );
        assert!(found.len() <= 1, "{name}: only one file exists: {found:?}");
    }
}

include!("../data/filter_rows.in");

fn check_error(text: &str, code: &str) {
    match Filter::parse(text) {
        Ok(f) => panic!("filter {text:?} should be invalid ({code}), parsed as {f:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "filter {text:?}: {e}");
            assert!(
                e.to_string().starts_with(&format!("{code} ")),
                "message should start with the code: {e}"
            );
        }
    }
}

macro_rules! invalid {
    ($($name:ident: $filter:expr => $code:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check_error($filter, $code);
            }
        )*
    };
}

invalid! {
    x1_unbalanced_single_quote: "'unbalanced" => "E1";
    x2_unbalanced_double_quote: "\"also" => "E1";
    x3_trailing_backslash: "a\\" => "E2";
    x4_misspelt_directive: "--exlude tmp" => "E3";
    x5_triple_dash: "---x" => "E3";
    x6_dangling_exclude: "sub1 --exclude" => "E4";
    x7_lone_dash: "-" => "E4";
    x8_empty_quoted_word: "''" => "E5";
    x9_empty_equals_operand: "--exclude=" => "E5";
    x10_only_a_comma: "-," => "E5";
    x11_dot_dot_component: "../x" => "E6";
    x12_exclude_of_the_root: "-/" => "E7";
    x13_unclosed_bracket: "[abc" => "E8";
    x14_slash_inside_brackets: "[a/b]" => "E8";
    x15_reversed_range: "[z-a]" => "E9";
    // Examples of "Errors" beyond x1–x15.
    e1_unclosed_quote_after_a_word: "sub1 \"x" => "E1";
    e3_bare_double_dash: "--" => "E3";
    e3_protected_equals_is_no_directive: "--exclude\\=x" => "E3";
    e4_lone_plus: "+" => "E4";
    e4_dangling_include: "a --include" => "E4";
    e5_empty_operand_after_separate_directive: "- ''" => "E5";
    e6_inner_dot_dot: "a/../b" => "E6";
    e7_exclude_dot: "-." => "E7";
    e7_exclude_dot_slash: "-./" => "E7";
    e8_bracket_at_component_end: "x/[" => "E8";
    e10_nul: "a\0b" => "E10";
    e10_nul_inside_quotes: "'a\0b'" => "E10";
}

#[test]
fn y1_repeated_commas() {
    let f = parse("x,,y");
    assert!(f.is_in_scope("x") && f.is_in_scope("x/a") && f.is_in_scope("y/b"));
    assert!(!f.is_in_scope("z") && !f.is_in_scope(",") && !f.is_in_scope("x,,y"));
}

#[test]
fn y2_three_spaces_no_rules() {
    let f = parse("   ");
    assert!(f.is_empty());
    assert_eq!(f.raw(), "   ");
    assert!(f.is_in_scope("a/b.txt") && f.is_in_scope(".hidden/h.txt"));
    assert!(!f.prune_dir("a"));
    assert_eq!(f.s3_prefix_hints(), None);
}

#[test]
fn y3_line_feed_separates_words() {
    let f = parse("sub1\n-tmp");
    let g = parse("sub1 -tmp");
    for p in ["sub1/a.txt", "sub1/tmp", "sub1/tmp/x", "tmp", "other/a", "sub1"] {
        assert_eq!(f.is_in_scope(p), g.is_in_scope(p), "{p}");
    }
    assert!(f.is_in_scope("sub1/a.txt") && !f.is_in_scope("sub1/tmp/x"));
}

#[test]
fn y4_equals_form_with_quoted_operand() {
    let f = parse("--include='a b'");
    assert!(f.is_in_scope("a b") && f.is_in_scope("a b/c"));
    assert!(!f.is_in_scope("a") && !f.is_in_scope("b"));
}

#[test]
fn y5_bang_is_literal() {
    let f = parse("!x");
    assert!(f.is_in_scope("!x") && f.is_in_scope("!x/y"));
    assert!(!f.is_in_scope("x"));
}

/// The examples of "S3 prefix hints".
#[test]
fn s3_hint_table() {
    let hints = |text: &str| parse(text).s3_prefix_hints();
    let some = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(hints("sub1"), some(&["sub1"]));
    for t in ["sub1/*", "sub1/", "/sub1/"] {
        assert_eq!(hints(t), some(&["sub1/"]), "{t}");
    }
    assert_eq!(hints("test/2025*/*"), some(&["test/2025"]));
    assert_eq!(hints("sub1 d1/x"), some(&["d1/x", "sub1"]));
    assert_eq!(hints("sub1 sub1/nested"), some(&["sub1"]));
    assert_eq!(hints("sub1 -tmp"), some(&["sub1"]));
    assert_eq!(hints("'my docs'/**"), some(&["my docs/"]));
    for t in ["*", "*.pdf", "**/x", "sub?/**", "sub1 *.pdf", ".", "-tmp", "", "/*.pdf"] {
        assert_eq!(hints(t), None, "{t:?}");
    }
    assert_eq!(hints("sub1 sub10 sub1 a/b a"), some(&["a", "sub1"]));
}

/// "Scope of a filter": the message quotes the offending word or gives its offset, and states the
/// reason.
#[test]
fn error_messages_quote_the_word() {
    let msg = |t: &str| Filter::parse(t).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        msg("--exlude tmp"),
        "E3 unknown directive '--exlude' at offset 0: expected --exclude, --include, --exclude=…, --include=…"
    );
    assert!(msg("sub1 --exclude").contains("'--exclude' at offset 5"));
    assert!(msg("a ../x").contains("'../x' at offset 2"));
    assert!(msg("ab 'cd").contains("offset 3"));
    assert!(msg("[z-a]").contains("'z-a'"));
    assert!(msg("ok -/").contains("'/' at offset 4"));
    assert!(msg("x --exclude=").contains("'--exclude=' at offset 2"));
    let e = Filter::parse("é\0").err();
    assert_eq!(e.map(|e| e.offset()), Some(1));
}

#[test]
fn first_error_in_text_order_wins() {
    let code = |t: &str| Filter::parse(t).err().map(|e| e.code());
    assert_eq!(code("[abc --exlude"), Some("E8"));
    assert_eq!(code("--exlude [abc"), Some("E3"));
    assert_eq!(code("../x -/"), Some("E6"));
}

#[test]
fn from_str_default_and_raw() {
    let f: Filter = match "sub1 -tmp".parse() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(f.raw(), "sub1 -tmp");
    assert!(!f.is_empty());
    let d = Filter::default();
    assert!(d.is_empty() && d.raw().is_empty() && d.is_in_scope("a/b"));
    assert!("'x".parse::<Filter>().is_err());
}

#[test]
fn filter_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<Filter>();
}

/// Adversarial inputs must stay polynomial (the matchers backtrack only to the last star).
#[test]
fn pathological_inputs_stay_fast() {
    let deep = vec!["a"; 300].join("/");
    let f = parse("**/a/**/a/**/a/**/a/**/b -**/a/**/a/**/a/**/c/**");
    assert!(!f.is_in_scope(&deep));
    assert!(!f.prune_dir(&deep));
    let long = "a".repeat(20_000);
    let g = parse("*a*a*a*a*a*a*b -[!b]*a*a*a*a?*c");
    assert!(!g.is_in_scope(&long));
    assert!(g.is_in_scope(&format!("{long}b")));
}

/// Paths the API promises never to get (leading `/`, empty) are answered without panicking.
#[test]
fn odd_paths_do_not_panic() {
    for text in ["", "*", "sub1 -tmp", "**/x/**", "-*", "/a/b/"] {
        let f = parse(text);
        for p in ["", "/", "//", "/a", "a/", "a//b", "é/", "/é"] {
            let _ = f.is_in_scope(p);
            let _ = f.prune_dir(p);
        }
    }
    assert!(!parse("sub1").prune_dir(""));
}

/// S3 keys may contain empty names ("The path being matched"): `*` matches them, `?` and literals
/// do not.
#[test]
fn s3_empty_names() {
    assert!(parse("a/*/b").is_in_scope("a//b"));
    assert!(!parse("a/?/b").is_in_scope("a//b"));
    assert!(parse("a/**/b").is_in_scope("a//b"));
    assert!(parse("-a/*/").is_in_scope("a/b"));
    assert!(!parse("-a/*/").is_in_scope("a//b"));
    assert!(parse("a").is_in_scope("a//b"));
}

/// Bracket details of "Bracket expressions".
#[test]
fn bracket_expressions() {
    let m = |pat: &str, name: &str| parse(pat).is_in_scope(name);
    assert!(m("[]]x", "]x") && !m("[]]x", "ax"));
    assert!(m("[!]]x", "ax") && !m("[!]]x", "]x"));
    assert!(m("[a-]x", "-x") && m("[-a]x", "-x") && !m("[a-]x", "bx"));
    assert!(m("[*]", "*") && !m("[*]", "a"));
    assert!(m("[?]x", "?x") && !m("[?]x", "ax"));
    // POSIX classes are not supported: `[[:alpha:]]` is `[[:alph]` followed by `]`.
    assert!(m("[[:alpha:]]", "a]") && !m("[[:alpha:]]", "b]"));
    assert!(m("[é-ü]", "ö") && !m("[é-ü]", "e"));
    assert!(m("[a-c-e]", "-") && m("[a-c-e]", "e") && !m("[a-c-e]", "d"));
    // Star runs collapse inside a component; `***` is `*` (anchored, like `*`).
    assert!(m("a**b", "axyb") && m("***", "top") && !m("***", "a/top"));
}

/// Anchoring of directory-only includes and of `*`-containing directory forms ("Anchoring",
/// "Includes").
#[test]
fn directory_only_includes() {
    let f = parse("*/");
    assert!(f.is_in_scope("a/b") && f.is_in_scope("a/b/c") && !f.is_in_scope("a"));
    let g = parse("sub?/");
    assert!(g.is_in_scope("x/sub1/f") && !g.is_in_scope("sub1"));
    // `X/` selects every item strictly below a directory that X fits; X = `a/**` keeps its
    // trailing "one or more" meaning.
    let h = parse("a/**/");
    assert!(h.is_in_scope("a/b/c") && !h.is_in_scope("a/b"));
    assert_eq!(h.s3_prefix_hints(), Some(vec!["a/".to_owned()]));
}
