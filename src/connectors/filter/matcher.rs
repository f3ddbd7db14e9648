//! Matching compiled patterns against names and paths (docs/reference/FILTERS.md, "Wildcards",
//! "Fitting a pattern to a path").
//!
//! Two levels, both with the classic "greedy with backtrack to the last star" algorithm, which
//! is exact whenever every non-star element consumes exactly one unit:
//!
//! * inside a name, `*` is the star and `?`, `[…]` and literal characters consume one character
//!   (one Unicode scalar value, "Within one name");
//! * inside a path, `**` is the star and every other component consumes one name.
//!
//! Nothing here allocates: names are visited with copied [`Names`] iterators and characters
//! with `char_indices`, because these functions run for every entry of a large walk.

/// The names of a relative path, left to right: a small `Copy` stand-in for `str::split('/')`,
/// which is cheaper to clone when the path matcher backtracks and avoids a `memchr` call per
/// (typically short) name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Names<'a> {
    rest: Option<&'a str>,
}

impl<'a> Names<'a> {
    pub(super) fn new(path: &'a str) -> Names<'a> {
        Names { rest: Some(path) }
    }
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'/') {
            Some(i) => {
                // `/` is ASCII, so both slices are on character boundaries.
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Byte equality with an inline loop: names and pattern literals are short, and a call into
/// the C library's `memcmp` costs more than comparing them.
#[inline]
pub(super) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[inline]
fn starts_with_bytes(hay: &[u8], prefix: &[u8]) -> bool {
    hay.get(..prefix.len()).is_some_and(|h| eq_bytes(h, prefix))
}

#[inline]
fn ends_with_bytes(hay: &[u8], suffix: &[u8]) -> bool {
    hay.len()
        .checked_sub(suffix.len())
        .and_then(|start| hay.get(start..))
        .is_some_and(|h| eq_bytes(h, suffix))
}

/// A bracket expression ("Bracket expressions"): a set of code point ranges, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Class {
    pub negated: bool,
    /// Inclusive ranges; a single member `c` is `(c, c)`.
    pub ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// An element of a name pattern that consumes exactly one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Lit(char),
    /// `?`
    Any,
    Class(Class),
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Lit(l) => *l == c,
            Tok::Any => true,
            Tok::Class(class) => class.matches(c),
        }
    }
}

/// A run of one-character elements between two `*` of a name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub toks: Vec<Tok>,
    /// The same text when every element is a literal, so that `str` search can be used.
    pub lit: Option<String>,
}

impl Segment {
    pub(super) fn new(toks: Vec<Tok>) -> Segment {
        let lit = toks
            .iter()
            .map(|t| match t {
                Tok::Lit(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>();
        Segment { toks, lit }
    }

    /// Matches the segment at byte position `pos` of `hay`; returns the end position.
    fn match_at(&self, hay: &str, pos: usize) -> Option<usize> {
        let rest = hay.get(pos..)?;
        if let Some(lit) = &self.lit {
            return starts_with_bytes(rest.as_bytes(), lit.as_bytes()).then_some(pos + lit.len());
        }
        let mut chars = rest.char_indices();
        for tok in &self.toks {
            let (_, c) = chars.next()?;
            if !tok.matches(c) {
                return None;
            }
        }
        Some(pos + chars.offset())
    }

    /// Leftmost match starting at or after `from` and ending at or before `to`; returns the end
    /// position. Taking the leftmost match of each middle segment is what makes the star
    /// algorithm exact.
    fn find(&self, name: &str, from: usize, to: usize) -> Option<usize> {
        let hay = name.get(..to)?;
        let window = hay.get(from..)?;
        if let Some(lit) = &self.lit {
            return window.find(lit.as_str()).map(|i| from + i + lit.len());
        }
        window.char_indices().find_map(|(i, _)| self.match_at(hay, from + i))
    }

    /// Byte position where this segment must start to end exactly at the end of `name`.
    fn suffix_start(&self, name: &str) -> Option<usize> {
        if let Some(lit) = &self.lit {
            return ends_with_bytes(name.as_bytes(), lit.as_bytes()).then(|| name.len() - lit.len());
        }
        match self.toks.len() {
            0 => Some(name.len()),
            n => name.char_indices().rev().nth(n - 1).map(|(i, _)| i),
        }
    }
}

/// How one pattern component matches one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NameMatcher {
    /// No wildcard: plain string equality.
    Literal(String),
    /// Exactly `*`: every name, including the empty S3 name.
    AnyName,
    /// `segments[0] * segments[1] * … * segments[n-1]`; a single segment means no `*`.
    Glob(Vec<Segment>),
}

impl NameMatcher {
    pub(super) fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::Literal(l) => eq_bytes(l.as_bytes(), name.as_bytes()),
            NameMatcher::AnyName => true,
            NameMatcher::Glob(segs) => glob_matches(segs, name),
        }
    }
}

fn glob_matches(segs: &[Segment], name: &str) -> bool {
    let [first, middle @ .., last] = segs else {
        // One segment: no star, the segment must cover the whole name.
        return segs.first().is_some_and(|s| s.match_at(name, 0) == Some(name.len()));
    };
    let Some(mut pos) = first.match_at(name, 0) else {
        return false;
    };
    let Some(end) = last.suffix_start(name) else {
        return false;
    };
    // A literal last segment was fully checked by `suffix_start`.
    if end < pos || (last.lit.is_none() && last.match_at(name, end) != Some(name.len())) {
        return false;
    }
    for seg in middle {
        match seg.find(name, pos, end) {
            Some(next) => pos = next,
            None => return false,
        }
    }
    true
}

/// One component of a compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Comp {
    /// Matches exactly one name.
    Name(NameMatcher),
    /// Matches zero or more names. (A trailing `**`, which needs one or more, is compiled as
    /// `*` followed by `Globstar`.)
    Globstar,
}

/// Does `comps` fit the names of `path` ("Fitting a pattern to a path")?
///
/// * `float_start`: the pattern may start at any name (a floating pattern, "Anchoring"); because
///   every compiled pattern consumes at least one name, the tail it fits is never empty.
/// * `free_end`: the pattern may stop before the last name, i.e. it fits some prefix of the
///   path. This answers "does the pattern fit this path or one of its ancestors" in one pass.
pub(super) fn fits(comps: &[Comp], path: &str, float_start: bool, free_end: bool) -> bool {
    // Fast path for the most common shape, a floating one-component pattern (`-tmp`, `*.pdf`):
    // it fits a tail iff it matches the last name, and a prefix iff it matches any name.
    if let ([Comp::Name(m)], true) = (comps, float_start) {
        return if free_end {
            Names::new(path).any(|name| m.matches(name))
        } else {
            m.matches(path.rsplit_once('/').map_or(path, |(_, last)| last))
        };
    }
    let mut names = Names::new(path);
    let mut p = 0;
    // Where to resume after the last star: pattern index, and the names iterator positioned
    // after the names the star has absorbed so far.
    let mut star: Option<(usize, Names<'_>)> = float_start.then_some((0, names));
    loop {
        let comp = comps.get(p);
        if comp.is_none() && free_end {
            return true;
        }
        if let Some(Comp::Globstar) = comp {
            p += 1;
            star = Some((p, names));
            continue;
        }
        let mut ahead = names;
        let Some(name) = ahead.next() else {
            // Names exhausted: a success only if the pattern is exhausted too (a Globstar
            // would have been skipped above).
            return comp.is_none();
        };
        if let Some(Comp::Name(m)) = comp
            && m.matches(name)
        {
            p += 1;
            names = ahead;
            continue;
        }
        // Mismatch, or names left over: let the last star absorb one more name.
        let Some((resume, absorbed)) = star.as_mut() else {
            return false;
        };
        if absorbed.next().is_none() {
            return false;
        }
        p = *resume;
        names = *absorbed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> Segment {
        Segment::new(
            s.chars()
                .map(|c| if c == '?' { Tok::Any } else { Tok::Lit(c) })
                .collect(),
        )
    }

    fn glob(p: &str) -> NameMatcher {
        NameMatcher::Glob(p.split('*').map(seg).collect())
    }

    #[test]
    fn name_globs() {
        assert!(glob("*.pdf").matches("a.pdf"));
        assert!(glob("*.pdf").matches(".pdf"));
        assert!(!glob("*.pdf").matches("a.pdff"));
        assert!(glob("a*b*c").matches("abc"));
        assert!(glob("a*b*c").matches("axxbyyc"));
        assert!(!glob("a*b*c").matches("axxcyyb"));
        assert!(glob("a*a").matches("aa"));
        assert!(!glob("a*a").matches("a"));
        assert!(glob("caf?.txt").matches("café.txt"));
        assert!(!glob("caf?.txt").matches("cafe\u{301}.txt"));
        assert!(glob("*?").matches("é"));
        assert!(!glob("*??").matches("é"));
        assert!(glob("??*").matches("éé"));
        assert!(glob("*").matches(""));
        assert!(glob("?*?").matches("ab"));
        assert!(glob("*?b?*").matches("éb€"));
    }

    fn lit(s: &str) -> Comp {
        Comp::Name(NameMatcher::Literal(s.to_owned()))
    }

    #[test]
    fn path_fitting() {
        let any = Comp::Name(NameMatcher::AnyName);
        // `**/x/**` with the trailing `**` compiled as `*` + Globstar.
        let p = [Comp::Globstar, lit("x"), any.clone(), Comp::Globstar];
        assert!(fits(&p, "x/a", false, false));
        assert!(fits(&p, "a/b/x/c/d", false, false));
        assert!(!fits(&p, "a/x", false, false));
        let q = [lit("a"), lit("b")];
        assert!(fits(&q, "a/b", false, false));
        assert!(!fits(&q, "a/b/c", false, false));
        assert!(fits(&q, "a/b/c", false, true));
        assert!(fits(&q, "x/a/b", true, false));
        assert!(!fits(&q, "x/a/b/c", true, false));
        assert!(fits(&q, "x/a/b/c", true, true));
        assert!(!fits(&q, "a", true, true));
        assert!(fits(std::slice::from_ref(&any), "a//b", true, false));
        assert!(fits(&[lit("")], "a//b", true, true));
        assert!(!fits(&[lit("")], "a//b", false, true));
    }
}
