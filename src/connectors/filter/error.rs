//! Errors of the filter language (docs/reference/FILTERS.md, "Errors").
//!
//! An invalid filter must abort connector startup with a message that quotes the offending word (or
//! gives its character offset) and states the reason ("Scope of a filter"). Every variant therefore
//! carries the character offset (0-based, counted in Unicode scalar values of the raw filter text)
//! and, where there is one, the offending word or pattern. The caller adds the name of the setting
//! (`DSXCONNECTOR_FILTER` or the TOML key) because this module does not know where the text came
//! from.

/// Why a filter text is invalid. One variant per error code E1..E10 of "Errors".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// E1: a `'` or `"` quoted section is never closed.
    #[error("E1 unclosed {quote} quote at offset {offset}: a quoted section must end with a matching {quote}")]
    UnclosedQuote {
        /// The opening quote character, `'` or `"`.
        quote: char,
        /// Character offset of the opening quote.
        offset: usize,
    },

    /// E2: the text ends with a backslash, which has nothing left to escape.
    #[error(
        "E2 backslash at offset {offset} is the last character of the filter: a backslash must be followed by the character it escapes"
    )]
    TrailingBackslash {
        /// Character offset of the backslash.
        offset: usize,
    },

    /// E3: a word starts with a plain `--` but is not one of the four known directives.
    #[error(
        "E3 unknown directive '{word}' at offset {offset}: expected --exclude, --include, --exclude=…, --include=…"
    )]
    UnknownDirective {
        /// The word as written in the filter text.
        word: String,
        /// Character offset of the word.
        offset: usize,
    },

    /// E4: `--exclude`, `--include`, `-` or `+` is the last word, so it has no operand.
    #[error("E4 directive '{directive}' at offset {offset} has no operand: it must be followed by a pattern word")]
    MissingOperand {
        /// The directive word as written in the filter text.
        directive: String,
        /// Character offset of the directive word.
        offset: usize,
    },

    /// E5: an operand yields no pattern at all (`''`, `--exclude=`, `-,`).
    #[error("E5 operand '{word}' at offset {offset} contains no pattern: it is empty or only commas")]
    EmptyOperand {
        /// The word that holds the operand, as written in the filter text.
        word: String,
        /// Character offset of that word.
        offset: usize,
    },

    /// E6: a pattern has a `..` component.
    #[error(
        "E6 pattern '{pattern}' at offset {offset} has a '..' component: patterns cannot refer to a parent directory"
    )]
    DotDotComponent {
        /// The pattern (after unquoting), as given.
        pattern: String,
        /// Character offset of the pattern's first character.
        offset: usize,
    },

    /// E7: an exclude of the asset root (`-/`, `-.`, `-./`).
    #[error("E7 exclude '{pattern}' at offset {offset} names the asset root: it would exclude everything")]
    ExcludeRoot {
        /// The pattern (after unquoting), as given.
        pattern: String,
        /// Character offset of the pattern's first character.
        offset: usize,
    },

    /// E8: a `[` has no closing `]` in the same component.
    #[error(
        "E8 pattern '{pattern}' at offset {offset} has a '[' without a closing ']' in the same component (write [[] for a literal '[')"
    )]
    UnclosedBracket {
        /// The pattern (after unquoting), as given.
        pattern: String,
        /// Character offset of the pattern's first character.
        offset: usize,
    },

    /// E9: a bracket range `x-y` whose end is below its start.
    #[error("E9 pattern '{pattern}' at offset {offset} has the range '{range}' whose end is below its start")]
    InvalidRange {
        /// The pattern (after unquoting), as given.
        pattern: String,
        /// The offending range, e.g. `z-a`.
        range: String,
        /// Character offset of the pattern's first character.
        offset: usize,
    },

    /// E10: a NUL character anywhere in the text.
    #[error("E10 NUL character at offset {offset}: a filter cannot contain NUL")]
    NulCharacter {
        /// Character offset of the first NUL.
        offset: usize,
    },
}

impl FilterError {
    /// The error code of "Errors", `"E1"` to `"E10"`, for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            FilterError::UnclosedQuote { .. } => "E1",
            FilterError::TrailingBackslash { .. } => "E2",
            FilterError::UnknownDirective { .. } => "E3",
            FilterError::MissingOperand { .. } => "E4",
            FilterError::EmptyOperand { .. } => "E5",
            FilterError::DotDotComponent { .. } => "E6",
            FilterError::ExcludeRoot { .. } => "E7",
            FilterError::UnclosedBracket { .. } => "E8",
            FilterError::InvalidRange { .. } => "E9",
            FilterError::NulCharacter { .. } => "E10",
        }
    }

    /// Character offset in the raw filter text that the error points at.
    pub fn offset(&self) -> usize {
        match self {
            FilterError::UnclosedQuote { offset, .. }
            | FilterError::TrailingBackslash { offset }
            | FilterError::UnknownDirective { offset, .. }
            | FilterError::MissingOperand { offset, .. }
            | FilterError::EmptyOperand { offset, .. }
            | FilterError::DotDotComponent { offset, .. }
            | FilterError::ExcludeRoot { offset, .. }
            | FilterError::UnclosedBracket { offset, .. }
            | FilterError::InvalidRange { offset, .. }
            | FilterError::NulCharacter { offset } => *offset,
        }
    }
}
