//! FILTERS.md §12 test vectors: one test per row of §12 (F1–F115), §12.1 (X1–X15) and §12.2
//! (Y1–Y5), plus the §8.2 hint table and error-message checks.
//!
//! A §12 row says what a full scan does, so besides `is_in_scope` every row also checks the two
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

macro_rules! vectors {
    ($($name:ident: $filter:expr, $path:expr => $expected:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($filter, $path, $expected);
            }
        )*

        /// Every §12 row, for the real-walk test below.
        const ROWS: &[(&str, &str, &str, bool)] = &[$((stringify!($name), $filter, $path, $expected),)*];
    };
}

/// CONNECTORS §13 line 36: for every §12 row, a real filesystem walk (the one a full scan uses,
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

vectors! {
    f1_no_filter_everything: "", "a/b.txt" => IN;
    f2_dot_names_are_not_special: "", ".hidden/h.txt" => IN;
    f3_star_alone_selects_root_files: "*", "top.txt" => IN;
    f4_star_matches_a_leading_dot: "*", ".dot.txt" => IN;
    f5_star_alone_is_anchored_top_level_only: "*", "sub1/a.txt" => OUT;
    f6_literal_include_the_subtree: "sub1", "sub1/a.txt" => IN;
    f7_literal_include_or_a_file_with_that: "sub1", "sub1" => IN;
    f8_whole_components_only: "sub1", "sub1x/a.txt" => OUT;
    f9_literal_includes_are_anchored_at_the_root: "sub1", "d1/sub1/deep.txt" => OUT;
    f10_a_bare_file_name_include_is_anchored: "a.txt", "sub1/a.txt" => OUT;
    f11_multi_segment_literal_subtree: "sub1/nested", "sub1/nested/c.txt" => IN;
    f12_component_boundary: "sub1/nested", "sub1/nestedx/c.txt" => OUT;
    f13_includes_are_a_union: "sub1 sub1/nested", "sub1/a.txt" => IN;
    f14_comma_list_of_literals: "sub1,d1", "d1/a.txt" => IN;
    f15_leading_slash_on_a_literal_same_meaning: "/sub1", "sub1/a.txt" => IN;
    f16_leading_dot_slash_anchors_like_slash: "./sub1", "sub1/a.txt" => IN;
    f17_dot_is_the_whole_asset: ".", "a/b.txt" => IN;
    f18_direct_child_of_root_sub1: "sub1/*", "sub1/a.txt" => IN;
    f19_star_never_crosses_slash: "sub1/*", "sub1/nested/c.txt" => OUT;
    f20_p_everything_below_p: "sub1/", "sub1/a.txt" => IN;
    f21_p_does_not_select_a_file_named: "sub1/", "sub1" => OUT;
    f22_p_with_literal_p_is_anchored: "sub1/", "d1/sub1/deep.txt" => OUT;
    f23_anchored_directory_form: "/sub1/", "sub1/a.txt" => IN;
    f24_p_starstar_at_depth_5_no_depth_limit: "sub1/**", "sub1/a/b/c/d/e.txt" => IN;
    f25_trailing_starstar_needs_at_least_one_component: "sub1/**", "sub1" => OUT;
    f26_one_component_glob_last_component_any_depth: "*.pdf", "PDF/sub/TMP/z.pdf" => IN;
    f27_case_sensitive: "*.pdf", "top.PDF" => OUT;
    f28_leading_slash_anchors_a_glob: "/*.pdf", "top.pdf" => IN;
    f29_anchored_glob_root_level_only: "/*.pdf", "PDF/x.pdf" => OUT;
    f30_leading_starstar_matches_zero_components: "**/*.pdf", "top.pdf" => IN;
    f31_starstar_alone_everything: "**", "a/b/c.txt" => IN;
    f32_glob_includes_select_files_never_subtrees: "*.txt", "dir.txt/a.pdf" => OUT;
    f33_a_glob_that_matches_a_directory_selects: "test/2025*", "test/2025-01-15/ok.txt" => OUT;
    f34_same_rule_for_a_one_component_glob: "sub?", "sub1/a.txt" => OUT;
    f35_add_starstar_to_select_the_subtree: "sub?/**", "sub1/a.txt" => IN;
    f36_wildcard_first_component_matches_at_any_depth: "sub?/**", "d1/sub1/deep.txt" => IN;
    f37_path_glob: "test/2025*/*", "test/2025-01-15/ok.txt" => IN;
    f38_star_never_crosses_slash: "test/2025*/*", "test/2025-01-15/sub2/no.txt" => OUT;
    f39_literal_first_component_anchors_the_pattern: "test/2025*/*", "x/test/2025-01-15/ok.txt" => OUT;
    f40_wildcard_first_component_suffix_match: "*/tmp/*", "a/tmp/t2.txt" => IN;
    f41_suffix_match_at_depth_3: "*/tmp/*", "x/y/tmp/z.txt" => IN;
    f42_star_needs_one_component_before_tmp: "*/tmp/*", "tmp/t.txt" => OUT;
    f43_leading_starstar_may_be_empty: "**/tmp/**", "tmp/t.txt" => IN;
    f44_a_named_subtree_at_any_depth: "**/sub1/**", "d1/sub1/deep.txt" => IN;
    f45_unanchored_directory_glob: "2025*/**", "test/2025-01-15/ok.txt" => IN;
    f46_inner_starstar_matches_zero_components: "x/**/*.bak", "x/z.bak" => IN;
    f47_inner_starstar_matches_several: "x/**/*.bak", "x/y/w/z.bak" => IN;
    f48_anchored_at_the_root_sub1: "sub1/**/c.txt", "d1/sub1/q/c.txt" => OUT;
    f49_an_unquoted_comma_separates_patterns: "*.zip,*.docx", "a/x.zip" => IN;
    f50_second_pattern_of_the_list: "*.zip,*.docx", "b.docx" => IN;
    f51_comma_then_space_empty_piece_dropped: "*.pdf, *.docx", "d/e.docx" => IN;
    f52_a_quoted_comma_is_literal_one_pattern: "'*.zip,*.docx'", "x.zip" => OUT;
    f53_which_matches_this_odd_name: "'*.zip,*.docx'", "a.zip,b.docx" => IN;
    f54_comma_inside_quotes: "'a,b.txt'", "a,b.txt" => IN;
    f55_backslash_escaped_comma: r#"a\,b.txt"#, "a,b.txt" => IN;
    f56_quoted_space: "'scan here' -'not here'", "scan here/k.txt" => IN;
    f57_quoted_exclude_operand: "'scan here' -'not here'", "not here/d.txt" => OUT;
    f58_unquoted_space_two_patterns_scan_here: "scan here", "scan here/k.txt" => OUT;
    f59_backslash_escaped_space: r#"scan\ here/*"#, "scan here/k.txt" => IN;
    f60_quotes_cover_part_of_a_word: r#""my docs"/**"#, "my docs/a/b/c/d/e.pdf" => IN;
    f61_quoting_never_disables_wildcards: "-'*.tmp'", "a/b.tmp" => OUT;
    f62_plus_marks_an_include: "+sub1", "sub1/a.txt" => IN;
    f63_include_directive_with_a_separate_operand: "--include sub1", "sub1/a.txt" => IN;
    f64_equals_forms_exclude_wins: "--include=*.pdf --exclude=PDF", "PDF/x.pdf" => OUT;
    f65_equals_forms_include: "--include=*.pdf --exclude=PDF", "top.pdf" => IN;
    f66_lone_dash_applies_to_the_next_word: "- tmp", "tmp/t.txt" => OUT;
    f67_lone_dash_is_an_exclude_only: "- tmp", "sub1/a.txt" => IN;
    f68_lone_plus_and_lone_dash: "+ sub1 - tmp", "sub1/tmp/t.txt" => OUT;
    f69_a_quoted_dash_is_literal: "'-x'", "-x" => IN;
    f70_quoted_dash_word_is_an_include: "'-x'", "top.txt" => OUT;
    f71_an_escaped_dash_is_literal: r#"\-x"#, "-x" => IN;
    f72_a_trailing_plus_is_literal: "file+", "file+" => IN;
    f73_bare_name_exclude: "PDF -tmp", "PDF/tmp/y.pdf" => OUT;
    f74_excludes_are_case_sensitive_too: "PDF -tmp", "PDF/sub/TMP/z.pdf" => IN;
    f75_bare_name_directory_pruned_at_any_depth: "-tmp", "a/b/tmp/c/d.txt" => OUT;
    f76_whole_components_only: "-tmp", "tmpx/a.txt" => IN;
    f77_bare_name_a_file_with_that_name: "-tmp", "x/tmp" => OUT;
    f78_same_combined_with_an_include: "sub1 -tmp", "sub1/tmp" => OUT;
    f79_trailing_slash_directories_only: "-tmp/", "a/tmp" => IN;
    f80_trailing_slash_pruned_at_any_depth: "-tmp/", "a/tmp/t.txt" => OUT;
    f81_anchored_exclude: "-/tmp", "tmp/t.txt" => OUT;
    f82_anchored_exclude_root_only: "-/tmp", "a/tmp/t2.txt" => IN;
    f83_literal_first_component_anchored: "-tmp/**", "tmp/t.txt" => OUT;
    f84_anchored_so_a_deeper_tmp_is_kept: "-tmp/**", "a/tmp/t2.txt" => IN;
    f85_multi_segment_literal_exclude_prunes: "-sub1/tmp", "sub1/tmp/t.txt" => OUT;
    f86_multi_segment_literal_exclude_is_anchored: "-sub1/tmp", "x/sub1/tmp/t.txt" => IN;
    f87_bare_name_at_any_depth: "-sub1", "d1/sub1/deep.txt" => OUT;
    f88_directory_only_exclude_keeps_a_file_named: "-sub1/", "sub1" => IN;
    f89_deep_literal_exclude: "-a/b/c/d/e", "a/b/c/d/e/f.txt" => OUT;
    f90_glob_exclude_files: "-*.bak", "x/y/z.bak" => OUT;
    f91_glob_exclude_matching_directories_are_pruned: "-*.bak", "old.bak/keep.txt" => OUT;
    f92_recursive_exclude: "-**/cache/**", "a/cache/b.txt" => OUT;
    f93_trailing_starstar_needs_a_component_below_cache: "-**/cache/**", "cache" => IN;
    f94_dash_star_excludes_everything: "-*", "top.txt" => OUT;
    f95_dot_directory: "-.hidden", ".hidden/h.txt" => OUT;
    f96_excludes_also_apply_with_star: "* -foo.bak", "foo.bak" => OUT;
    f97_other_top_level_files_stay: "* -foo.bak", "top.txt" => IN;
    f98_exclude_directive_operand: "sub1 -tmp --exclude sub2", "sub1/sub2/no.txt" => OUT;
    f99_included_nothing_excludes_it: "sub1 -tmp --exclude sub2", "sub1/a.txt" => IN;
    f100_comma_list_in_an_exclude_operand: "--exclude tmp,cache", "cache/c.txt" => OUT;
    f101_comma_list_after_dash_both_are_excludes: "-tmp,cache", "cache/c.txt" => OUT;
    f102_only_excludes_everything_else_is_included: "-tmp,cache", "top.txt" => IN;
    f103_exclude_matches_whole_components: "*.txt -sub1", "sub1x/a.txt" => IN;
    f104_excludes_win_over_includes: "*.txt -sub1", "sub1/a.txt" => OUT;
    f105_ordinary_bare_name_exclude: "-dsxconnect-quarantine", "dsxconnect-quarantine/q.txt" => OUT;
    f106_non_ascii_literal: "über/*", "über/straße.txt" => IN;
    f107_question_mark_is_one_character_nfc: "caf?.txt", "caf\u{e9}.txt" => IN;
    f108_no_unicode_normalisation_nfd_is_two_characters: "caf?.txt", "cafe\u{301}.txt" => OUT;
    f109_question_mark_matches_one_non_ascii_character: "?.txt", "é.txt" => IN;
    f110_range: "[a-c]*.txt", "b.txt" => IN;
    f111_negated_class_with_bang: "[!a]*.txt", "a.txt" => OUT;
    f112_negated_class_with_caret: "[^a]*.txt", "b.txt" => IN;
    f113_brackets_form_a_class: "file[1].txt", "file[1].txt" => OUT;
    f114_which_matches_file1_txt: "file[1].txt", "file1.txt" => IN;
    f115_a_literal_bracket_written_as_a_class: "[[]x].txt", "a/[x].txt" => IN;
}

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
    // §9 examples beyond §12.1.
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

/// §8.2 hint table.
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

/// §1.3: the message quotes the offending word or gives its offset, and states the reason.
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

/// S3 keys may contain empty names (§2.3): `*` matches them, `?` and literals do not.
#[test]
fn s3_empty_names() {
    assert!(parse("a/*/b").is_in_scope("a//b"));
    assert!(!parse("a/?/b").is_in_scope("a//b"));
    assert!(parse("a/**/b").is_in_scope("a//b"));
    assert!(parse("-a/*/").is_in_scope("a/b"));
    assert!(!parse("-a/*/").is_in_scope("a//b"));
    assert!(parse("a").is_in_scope("a//b"));
}

/// Bracket details of §5.2.
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

/// Anchoring of directory-only includes and of `*`-containing directory forms (§6, §7.2).
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
