//! Pattern normalisation and compilation (docs/reference/FILTERS.md, "Pattern normalisation",
//! "Bracket expressions", "Double star", "Anchoring").
//!
//! Everything that can be decided once is decided here, at parse time: anchoring, the
//! directory-only marker, the compiled form of every component and the S3 prefix hint, so that
//! the per-path functions only run the matcher.

use super::error::FilterError;
use super::matcher::{Class, Comp, NameMatcher, Segment, Tok};
use super::tokenize::{Piece, Polarity};

/// A normalised, compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    /// Compiled components; a trailing `**` is already expanded to `*` + `Globstar`.
    pub comps: Vec<Comp>,
    /// Anchored at the root ("Anchoring"); otherwise floating.
    pub anchored: bool,
    /// Written with a trailing `/` ("Pattern normalisation").
    pub dir_only: bool,
    /// No component contains `*`, `?` or `[` ("Pattern normalisation").
    pub literal: bool,
    /// The normalised components joined with `/` (star runs collapsed), for S3 hints.
    pub text: String,
}

/// Result of normalising one piece.
#[derive(Debug)]
pub(super) enum Normalised {
    /// The include `.`, `/`, `./`: every item ("Pattern normalisation").
    Everything,
    Pattern(Pattern),
}

/// Normalises and compiles one piece ("Pattern normalisation"). Errors: E6, E7, E8, E9.
pub(super) fn normalise(piece: &Piece) -> Result<Normalised, FilterError> {
    let mut s = piece.text.as_str();

    // "Pattern normalisation", step 1, leading anchor: slashes, then any number of `.` / `./` (with
    // following slashes).
    let mut explicit = false;
    if s.starts_with('/') {
        explicit = true;
        s = s.trim_start_matches('/');
    }
    loop {
        if s == "." {
            explicit = true;
            s = "";
        } else if let Some(rest) = s.strip_prefix("./") {
            explicit = true;
            s = rest.trim_start_matches('/');
        } else {
            break;
        }
    }

    // Step 2, directory marker.
    let dir_only = s.ends_with('/');
    let s = s.trim_end_matches('/');

    // Step 3, components.
    let raw_comps: Vec<&str> = s.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if raw_comps.contains(&"..") {
        return Err(FilterError::DotDotComponent {
            pattern: piece.text.clone(),
            offset: piece.offset,
        });
    }

    // Step 4, empty pattern.
    if raw_comps.is_empty() {
        return match piece.polarity {
            Polarity::Include => Ok(Normalised::Everything),
            Polarity::Exclude => Err(FilterError::ExcludeRoot {
                pattern: piece.text.clone(),
                offset: piece.offset,
            }),
        };
    }

    // Step 5, star runs.
    let texts: Vec<String> = raw_comps.iter().map(|c| collapse_stars(c)).collect();

    // Step 6, syntax check and compilation ("Double star": a trailing `**` needs one or more
    // names).
    let mut comps = Vec::with_capacity(texts.len() + 1);
    for (i, text) in texts.iter().enumerate() {
        if text == "**" {
            if i + 1 == texts.len() {
                comps.push(Comp::Name(NameMatcher::AnyName));
            }
            comps.push(Comp::Globstar);
        } else {
            comps.push(Comp::Name(compile_name(text, piece)?));
        }
    }

    // Step 7, literal or glob; then anchoring ("Anchoring").
    let literal = !texts.iter().any(|t| has_wildcard(t));
    let first_literal = texts.first().is_some_and(|t| !has_wildcard(t));
    let anchored = explicit
        || match (texts.len(), piece.polarity) {
            (1, Polarity::Include) => first_literal || texts.first().is_some_and(|t| t == "*"),
            (1, Polarity::Exclude) => false,
            _ => first_literal,
        };

    Ok(Normalised::Pattern(Pattern {
        comps,
        anchored,
        dir_only,
        literal,
        text: texts.join("/"),
    }))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// "Pattern normalisation", step 5: a run of `*` is one `*`, except in the component that is
/// exactly `**`.
fn collapse_stars(c: &str) -> String {
    if c == "**" {
        return c.to_owned();
    }
    let mut out = String::with_capacity(c.len());
    for ch in c.chars() {
        if !(ch == '*' && out.ends_with('*')) {
            out.push(ch);
        }
    }
    out
}

/// Compiles one component (not `**`) into a name matcher ("Within one name",
/// "Bracket expressions").
fn compile_name(text: &str, piece: &Piece) -> Result<NameMatcher, FilterError> {
    if !has_wildcard(text) {
        return Ok(NameMatcher::Literal(text.to_owned()));
    }
    if text == "*" {
        return Ok(NameMatcher::AnyName);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut segments = Vec::new();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' => segments.push(Segment::new(std::mem::take(&mut toks))),
            '?' => toks.push(Tok::Any),
            '[' => {
                let (class, next) = parse_class(&chars, i, piece)?;
                toks.push(Tok::Class(class));
                i = next;
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    segments.push(Segment::new(toks));
    Ok(NameMatcher::Glob(segments))
}

/// Parses a bracket expression whose `[` is just before `start`; returns the class and the
/// index after its closing `]`. Errors: E8 (no closing `]`), E9 (reversed range).
fn parse_class(chars: &[char], start: usize, piece: &Piece) -> Result<(Class, usize), FilterError> {
    let unclosed = || FilterError::UnclosedBracket {
        pattern: piece.text.clone(),
        offset: piece.offset,
    };
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let &c = chars.get(i).ok_or_else(unclosed)?;
        if c == ']' && !first {
            return Ok((Class { negated, ranges }, i + 1));
        }
        first = false;
        // `x-y` is a range unless the `-` is the last member (followed by `]`).
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                if hi < c {
                    return Err(FilterError::InvalidRange {
                        pattern: piece.text.clone(),
                        range: format!("{c}-{hi}"),
                        offset: piece.offset,
                    });
                }
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(pol: Polarity, text: &str) -> Result<Normalised, FilterError> {
        normalise(&Piece {
            polarity: pol,
            text: text.to_owned(),
            offset: 0,
        })
    }

    fn pat(pol: Polarity, text: &str) -> Pattern {
        match norm(pol, text) {
            Ok(Normalised::Pattern(p)) => p,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn anchors_and_markers() {
        for t in ["/sub1", "//sub1", "./sub1", "/./sub1", ".//./sub1"] {
            let p = pat(Polarity::Exclude, t);
            assert!(p.anchored && !p.dir_only && p.literal, "{t}");
            assert_eq!(p.text, "sub1");
        }
        let p = pat(Polarity::Exclude, "tmp/");
        assert!(!p.anchored && p.dir_only);
        let p = pat(Polarity::Include, "a/./b//c/");
        assert!(p.anchored && p.dir_only && p.text == "a/b/c");
        assert!(pat(Polarity::Include, "*").anchored);
        assert!(pat(Polarity::Include, "***").anchored);
        assert!(!pat(Polarity::Include, "**").anchored);
        assert!(!pat(Polarity::Include, "*.pdf").anchored);
        assert!(!pat(Polarity::Exclude, "*").anchored);
        assert!(pat(Polarity::Include, ".hidden").anchored);
        assert_eq!(pat(Polarity::Include, "a**b").text, "a*b");
        for t in [".", "/", "./", "/./", "//"] {
            assert!(matches!(norm(Polarity::Include, t), Ok(Normalised::Everything)));
            assert_eq!(norm(Polarity::Exclude, t).map(|_| ()).unwrap_err().code(), "E7");
        }
    }

    #[test]
    fn classes() {
        let code = |t: &str| norm(Polarity::Include, t).err().map(|e| e.code());
        assert_eq!(code("[]]"), None);
        assert_eq!(code("[!]]"), None);
        assert_eq!(code("[]"), Some("E8"));
        assert_eq!(code("[!]"), Some("E8"));
        assert_eq!(code("[a-]"), None);
        assert_eq!(code("[-a]"), None);
        assert_eq!(code("[a-a]"), None);
        assert_eq!(code("[b-a]"), Some("E9"));
        assert_eq!(code("x/["), Some("E8"));
        assert_eq!(code("a/../b"), Some("E6"));
        assert_eq!(code("..."), None);
    }
}
