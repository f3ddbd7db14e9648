//! Tokenisation (docs/reference/FILTERS.md, "Tokenisation"): filter text → words → rule pieces.
//!
//! Quotes and backslashes only *protect* characters: a protected character never separates words,
//! never splits a comma list and never forms a directive. The flag is dropped once a piece has been
//! cut out, because it never changes how a wildcard behaves ("Quoting does not disable wildcards").

use super::error::FilterError;

/// One character of a word, with the provenance that "Words" says matters for directives and
/// comma lists.
#[derive(Debug, Clone, Copy)]
pub(super) struct WordChar {
    pub ch: char,
    /// Came from a quoted section or a backslash escape.
    pub protected: bool,
    /// Character offset in the raw text (for error messages).
    pub offset: usize,
}

/// A word of the filter text ("Words").
#[derive(Debug, Clone)]
pub(super) struct Word<'a> {
    pub chars: Vec<WordChar>,
    /// Character offset of the word's first character in the raw text.
    pub offset: usize,
    /// The word exactly as written (quotes and backslashes included), for error messages.
    pub raw: &'a str,
}

impl Word<'_> {
    /// "Exactly `s`", looking at plain characters only ("Rules and directives").
    fn is_exactly(&self, s: &str) -> bool {
        self.chars.len() == s.chars().count() && self.starts_with(s)
    }

    /// "Starts with `s`", looking at plain characters only ("Rules and directives"): a protected
    /// `-` or `+` is an ordinary character.
    fn starts_with(&self, s: &str) -> bool {
        let mut chars = self.chars.iter();
        s.chars()
            .all(|want| chars.next().is_some_and(|c| !c.protected && c.ch == want))
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Word under construction: its characters, character offset and byte offset of its start.
struct Partial {
    chars: Vec<WordChar>,
    offset: usize,
    byte_start: usize,
}

/// Cuts the text into words ("Words"). Errors: E1 (unclosed quote), E2 (trailing backslash).
pub(super) fn split_words<'a>(text: &'a str) -> Result<Vec<Word<'a>>, FilterError> {
    let mut words = Vec::new();
    // (character offset, byte offset, character)
    let mut it = text
        .char_indices()
        .enumerate()
        .map(|(coff, (boff, ch))| (coff, boff, ch))
        .peekable();
    let mut cur: Option<Partial> = None;

    let finish = |words: &mut Vec<Word<'a>>, p: Partial, byte_end: usize| {
        let raw = text.get(p.byte_start..byte_end).unwrap_or_default();
        words.push(Word {
            chars: p.chars,
            offset: p.offset,
            raw,
        });
    };

    while let Some((coff, boff, ch)) = it.next() {
        if is_space(ch) {
            if let Some(p) = cur.take() {
                finish(&mut words, p, boff);
            }
            continue;
        }
        // Any non-space character (including an empty quoted section) makes a word exist.
        let word = cur.get_or_insert_with(|| Partial {
            chars: Vec::new(),
            offset: coff,
            byte_start: boff,
        });
        let protect = |c: char, offset: usize| WordChar {
            ch: c,
            protected: true,
            offset,
        };
        match ch {
            '\'' => loop {
                match it.next() {
                    None => {
                        return Err(FilterError::UnclosedQuote {
                            quote: '\'',
                            offset: coff,
                        });
                    }
                    Some((_, _, '\'')) => break,
                    Some((o, _, c)) => word.chars.push(protect(c, o)),
                }
            },
            '"' => loop {
                match it.next() {
                    None => {
                        return Err(FilterError::UnclosedQuote {
                            quote: '"',
                            offset: coff,
                        });
                    }
                    Some((_, _, '"')) => break,
                    Some((o, _, '\\')) => {
                        // Only `\"` and `\\` are escapes inside double quotes ("Words").
                        match it.next_if(|&(_, _, c)| c == '"' || c == '\\') {
                            Some((o2, _, c)) => word.chars.push(protect(c, o2)),
                            None => word.chars.push(protect('\\', o)),
                        }
                    }
                    Some((o, _, c)) => word.chars.push(protect(c, o)),
                }
            },
            '\\' => match it.next() {
                None => return Err(FilterError::TrailingBackslash { offset: coff }),
                Some((o, _, c)) => word.chars.push(protect(c, o)),
            },
            c => word.chars.push(WordChar {
                ch: c,
                protected: false,
                offset: coff,
            }),
        }
    }
    if let Some(p) = cur.take() {
        finish(&mut words, p, text.len());
    }
    Ok(words)
}

/// Include or exclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Polarity {
    Include,
    Exclude,
}

/// One pattern of a rule, cut out of an operand at plain commas ("Rules and directives").
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub polarity: Polarity,
    pub text: String,
    /// Character offset of the piece's first character in the raw text.
    pub offset: usize,
}

/// Reads the words as rules ("Rules and directives") and hands every pattern piece to `each`, left
/// to right, so that the first error in text order is the one reported. Errors: E3, E4, E5 (and
/// whatever `each` returns).
pub(super) fn read_rules(
    words: &[Word<'_>],
    mut each: impl FnMut(Piece) -> Result<(), FilterError>,
) -> Result<(), FilterError> {
    let mut i = 0;
    while let Some(word) = words.get(i) {
        i += 1;
        // (polarity, the word that holds the operand, index of the operand's first char)
        let (polarity, holder, skip) = if let Some(pol) = separate_operand_directive(word) {
            let Some(next) = words.get(i) else {
                return Err(FilterError::MissingOperand {
                    directive: word.raw.to_owned(),
                    offset: word.offset,
                });
            };
            i += 1;
            (pol, next, 0)
        } else if word.starts_with("--exclude=") {
            (Polarity::Exclude, word, "--exclude=".len())
        } else if word.starts_with("--include=") {
            (Polarity::Include, word, "--include=".len())
        } else if word.starts_with("--") {
            return Err(FilterError::UnknownDirective {
                word: word.raw.to_owned(),
                offset: word.offset,
            });
        } else if word.starts_with("-") {
            (Polarity::Exclude, word, 1)
        } else if word.starts_with("+") {
            (Polarity::Include, word, 1)
        } else {
            (Polarity::Include, word, 0)
        };

        let operand = holder.chars.get(skip..).unwrap_or_default();
        let mut produced = false;
        for piece in operand.split(|c| c.ch == ',' && !c.protected) {
            let Some(first) = piece.first() else {
                continue; // empty pieces are dropped ("Rules and directives")
            };
            produced = true;
            each(Piece {
                polarity,
                text: piece.iter().map(|c| c.ch).collect(),
                offset: first.offset,
            })?;
        }
        if !produced {
            return Err(FilterError::EmptyOperand {
                word: holder.raw.to_owned(),
                offset: holder.offset,
            });
        }
    }
    Ok(())
}

/// The four directives whose operand is the next word ("Rules and directives" table).
fn separate_operand_directive(word: &Word<'_>) -> Option<Polarity> {
    if word.is_exactly("--exclude") || word.is_exactly("-") {
        Some(Polarity::Exclude)
    } else if word.is_exactly("--include") || word.is_exactly("+") {
        Some(Polarity::Include)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, Vec<bool>)> {
        split_words(text)
            .map(|ws| {
                ws.into_iter()
                    .map(|w| {
                        (
                            w.chars.iter().map(|c| c.ch).collect(),
                            w.chars.iter().map(|c| c.protected).collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(
            words(r#"-'not here' "my docs"/** a\ b"#)
                .iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>(),
            vec!["-not here", "my docs/**", "a b"]
        );
        assert_eq!(words(r#""a\"b\\c\d""#)[0].0, r#"a"b\c\d"#);
        assert_eq!(words("''")[0].0, "");
        assert_eq!(words("-''")[0].1, vec![false]);
        assert_eq!(words("\\-x")[0].1, vec![true, false]);
        assert_eq!(words(" \t\r\n ").len(), 0);
    }

    #[test]
    fn tokenisation_errors() {
        assert_eq!(
            split_words("ab 'x").err(),
            Some(FilterError::UnclosedQuote { quote: '\'', offset: 3 })
        );
        assert_eq!(
            split_words("\"x\\\"").err(),
            Some(FilterError::UnclosedQuote { quote: '"', offset: 0 })
        );
        assert_eq!(
            split_words("é\\").err(),
            Some(FilterError::TrailingBackslash { offset: 1 })
        );
    }
}
