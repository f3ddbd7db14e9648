//! The connector filter language (`DSXCONNECTOR_FILTER`), as described in
//! docs/reference/FILTERS.md; section titles quoted in this module are that document's.
//!
//! One matcher decides every "is this item in scope?" question of every connector (full scan,
//! preview, estimate, monitor, webhooks), so that they can never disagree ("Scope of a filter").
//! The filter is parsed once at startup ([`Filter::parse`]); an invalid filter is a
//! [`FilterError`] that the caller must turn into a startup failure naming the setting.
//!
//! Layout:
//! * `tokenize`: text → words → rule pieces ("Tokenisation");
//! * `pattern`: normalisation, anchoring and compilation of each piece ("Pattern normalisation",
//!   "Wildcards", "Anchoring");
//! * `matcher`: the allocation-free name and path matcher ("Wildcards",
//!   "Fitting a pattern to a path");
//! * this file: the decision ("Semantics"), pruning ("Pruning walks") and S3 prefix hints
//!   ("S3 prefix hints").

mod error;
mod matcher;
mod pattern;
mod tokenize;

#[doc(hidden)]
pub mod fuzzing;

use std::str::FromStr;

pub use error::FilterError;
use matcher::{Comp, NameMatcher, Names, fits};
use pattern::{Normalised, Pattern};
use tokenize::Polarity;

/// A parsed filter: the rules of one connector's `DSXCONNECTOR_FILTER`.
///
/// Cheap to share across threads (`Send + Sync`, no interior mutability); clone it or put it in
/// an `Arc`. The default value is the empty filter, which puts everything in scope.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    raw: String,
    /// Number of pattern pieces read from the text (0 = no rules at all).
    rules: usize,
    /// Some include rule exists ("Includes": without one, every item is a candidate).
    has_includes: bool,
    /// Some include is the everything pattern (`.`, `/`, `./`).
    everything: bool,
    includes: Vec<Include>,
    excludes: Vec<Pattern>,
    /// Precomputed hints ("S3 prefix hints").
    hints: Option<Vec<String>>,
    /// A second filter every item must also pass (a full scan narrowed by its caller, e.g. a
    /// schedule's filter on top of the connector's own).
    and: Option<Box<Filter>>,
}

/// An include rule, compiled into the exact shape it selects ("Includes").
#[derive(Debug, Clone)]
struct Include {
    /// For a directory-only include `X/`, this is `X` followed by `*` + `Globstar` (`X/**`).
    comps: Vec<Comp>,
    anchored: bool,
    /// A literal include selects that path *and everything below it*, i.e. it only has to fit a
    /// prefix of the item's path.
    free_end: bool,
    /// Leading components before the first `Globstar` (for [`Filter::prune_dir`]).
    lead: usize,
}

impl Include {
    fn from_pattern(p: &Pattern) -> Include {
        let mut comps = p.comps.clone();
        if p.dir_only {
            // "Includes": `X/` is read as `X/**`: every item strictly below a directory that X
            // fits.
            comps.push(Comp::Name(NameMatcher::AnyName));
            comps.push(Comp::Globstar);
        }
        let lead = comps
            .iter()
            .position(|c| matches!(c, Comp::Globstar))
            .unwrap_or(comps.len());
        Include {
            comps,
            anchored: p.anchored,
            free_end: p.literal && !p.dir_only,
            lead,
        }
    }

    fn selects(&self, path: &str) -> bool {
        fits(&self.comps, path, !self.anchored, self.free_end)
    }

    /// Could this include select some item strictly below the directory `dir`? Exact for
    /// anchored includes (assuming every component can match some name), `true` for floating
    /// ones, whose match can always start below `dir`.
    fn could_select_below(&self, dir: &str) -> bool {
        if !self.anchored {
            return true;
        }
        let mut depth = 0;
        for name in Names::new(dir) {
            if depth < self.lead {
                match self.comps.get(depth) {
                    Some(Comp::Name(m)) if m.matches(name) => {}
                    _ => return false,
                }
            }
            depth += 1;
        }
        // Fewer names than the leading components: the rest of the pattern can match below.
        // Otherwise a Globstar (if any) absorbs the remaining names of `dir` and can go on
        // below it; without one, only a literal include selects a whole subtree.
        depth < self.lead || self.lead < self.comps.len() || self.free_end
    }
}

impl Filter {
    /// Parses a filter text ("Tokenisation" to "Anchoring"). The empty text and whitespace-only
    /// texts are valid and put everything in scope. Errors report the first problem in text order
    /// (E10 first: a NUL anywhere makes the text unusable).
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if let Some(offset) = text.chars().position(|c| c == '\0') {
            return Err(FilterError::NulCharacter { offset });
        }
        let words = tokenize::split_words(text)?;
        let mut filter = Filter {
            raw: text.to_owned(),
            ..Filter::default()
        };
        let mut include_patterns = Vec::new();
        tokenize::read_rules(&words, |piece| {
            filter.rules += 1;
            let normalised = pattern::normalise(&piece)?;
            match (piece.polarity, normalised) {
                (Polarity::Include, Normalised::Everything) => {
                    filter.has_includes = true;
                    filter.everything = true;
                }
                (Polarity::Include, Normalised::Pattern(p)) => {
                    filter.has_includes = true;
                    filter.includes.push(Include::from_pattern(&p));
                    include_patterns.push(p);
                }
                (Polarity::Exclude, Normalised::Pattern(p)) => filter.excludes.push(p),
                // `normalise` reports E7 for this case; kept total without a panic path.
                (Polarity::Exclude, Normalised::Everything) => {}
            }
            Ok(())
        })?;
        filter.hints = if filter.everything {
            None
        } else {
            compute_hints(&include_patterns)
        };
        Ok(filter)
    }

    /// The original filter text.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// True when the filter has no rules at all (empty or whitespace-only text).
    pub fn is_empty(&self) -> bool {
        self.rules == 0 && self.and.as_ref().is_none_or(|f| f.is_empty())
    }

    /// The item decision ("Decision") on a relative path: names separated by `/`, never a leading
    /// `/`; S3 paths may contain empty names (`a//b`). In scope means: selected by an include
    /// (or there is no include), and neither the path nor any ancestor removed by an exclude.
    pub fn is_in_scope(&self, rel_path: &str) -> bool {
        self.is_candidate(rel_path)
            && !self.is_excluded(rel_path)
            && self.and.as_ref().is_none_or(|f| f.is_in_scope(rel_path))
    }

    /// This filter narrowed by `other`: an item is in scope when both put it in scope. The
    /// text shown stays this filter's.
    pub fn narrowed_by(&self, other: Filter) -> Filter {
        let and = match &self.and {
            Some(inner) => inner.narrowed_by(other),
            None => other,
        };
        Filter {
            and: Some(Box::new(and)),
            ..self.clone()
        }
    }

    /// True when a walker must or may skip the directory with this relative path: an exclude fits
    /// it or one of its ancestors ("Excludes": must prune), or no include could select anything
    /// below it ("Pruning walks": may skip). Skipping never changes the set of in-scope items. The
    /// empty path is the asset root, which is never pruned.
    pub fn prune_dir(&self, dir_rel_path: &str) -> bool {
        if dir_rel_path.is_empty() {
            return false;
        }
        if self.and.as_ref().is_some_and(|f| f.prune_dir(dir_rel_path)) {
            return true;
        }
        if self
            .excludes
            .iter()
            .any(|e| fits(&e.comps, dir_rel_path, !e.anchored, true))
        {
            return true;
        }
        self.has_includes && !self.everything && !self.includes.iter().any(|i| i.could_select_below(dir_rel_path))
    }

    /// S3 prefix hints ("S3 prefix hints"): `None` means "list the whole asset prefix"; otherwise
    /// the sorted, deduplicated hints, none of which starts with another, so no key is listed
    /// twice. Every in-scope key starts with one of them; listed keys still go through
    /// [`Filter::is_in_scope`].
    pub fn s3_prefix_hints(&self) -> Option<Vec<String>> {
        // Every in-scope key passes both filters, so either one's hints cover it.
        self.hints
            .clone()
            .or_else(|| self.and.as_ref().and_then(|f| f.s3_prefix_hints()))
    }

    /// "Includes": selected by some include, or there is no include at all.
    fn is_candidate(&self, path: &str) -> bool {
        !self.has_includes || self.everything || self.includes.iter().any(|i| i.selects(path))
    }

    /// "Excludes": a non-directory-only exclude fits the path, or any exclude fits an ancestor.
    ///
    /// "Fits the path or one of its ancestors" is "fits some prefix of the path", which the
    /// matcher answers in one pass (`free_end`); a directory-only exclude only looks at the
    /// prefixes of the parent.
    fn is_excluded(&self, path: &str) -> bool {
        if self.excludes.is_empty() {
            return false;
        }
        let parent = path.rfind('/').and_then(|i| path.get(..i));
        self.excludes.iter().any(|e| {
            if e.dir_only {
                parent.is_some_and(|dir| fits(&e.comps, dir, !e.anchored, true))
            } else {
                fits(&e.comps, path, !e.anchored, true)
            }
        })
    }
}

/// "S3 prefix hints": one hint per include (all anchored), or none at all.
fn compute_hints(includes: &[Pattern]) -> Option<Vec<String>> {
    if includes.is_empty() || includes.iter().any(|p| !p.anchored) {
        return None;
    }
    let mut hints = Vec::with_capacity(includes.len());
    for p in includes {
        // A directory-only include `X/` is the glob `X/**`; a literal keeps no trailing slash
        // so that its hint covers the object `X` as well as the keys below `X/`.
        let full = if p.dir_only {
            format!("{}/**", p.text)
        } else {
            p.text.clone()
        };
        let cut = full.find(['*', '?', '[']).unwrap_or(full.len());
        let hint = full.get(..cut).unwrap_or_default();
        if hint.is_empty() {
            return None;
        }
        hints.push(hint.to_owned());
    }
    hints.sort();
    hints.dedup();
    // After sorting, a hint that starts with another comes after a hint it starts with, and
    // after every hint in between (which also start with that prefix).
    let mut kept: Vec<String> = Vec::with_capacity(hints.len());
    for h in hints {
        if !kept.last().is_some_and(|k| h.starts_with(k.as_str())) {
            kept.push(h);
        }
    }
    Some(kept)
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}
