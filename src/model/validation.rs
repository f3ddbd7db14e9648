//! Request validation problems in the FastAPI shape (docs/reference/CORE-API.md, "Error answers",
//! docs/reference/CONNECTORS.md, "Error answers").
//!
//! Each problem becomes one entry of `{"detail":[{"type","loc","msg","input"}]}` with status 422,
//! so clients written for the original keep parsing our answers.

use serde::Serialize;
use serde_json::Value;

/// One element of a `loc` path: a field name or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Self {
        Loc::Key(s.to_string())
    }
}

impl From<usize> for Loc {
    fn from(i: usize) -> Self {
        Loc::Index(i)
    }
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Loc>,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl Issue {
    pub fn new(kind: &'static str, loc: Vec<Loc>, msg: impl Into<String>) -> Self {
        Self {
            kind,
            loc,
            msg: msg.into(),
            input: None,
        }
    }

    pub fn with_input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    pub fn missing(loc: Vec<Loc>) -> Self {
        Self::new("missing", loc, "Field required")
    }

    pub fn json_invalid(msg: impl Into<String>) -> Self {
        Self::new("json_invalid", vec![Loc::from("body")], msg)
    }
}

/// A list of problems; non-empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Default, thiserror::Error)]
#[error("{} validation problem(s): {}", .0.len(), .0.iter().map(|i| i.msg.as_str()).collect::<Vec<_>>().join("; "))]
pub struct Issues(pub Vec<Issue>);

impl Issues {
    pub fn one(issue: Issue) -> Self {
        Self(vec![issue])
    }

    pub fn push(&mut self, issue: Issue) {
        self.0.push(issue);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, so callers can use `?`.
    pub fn into_result(self) -> Result<(), Issues> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Builds a loc path from a prefix and a field name.
pub fn loc(prefix: &[Loc], field: &str) -> Vec<Loc> {
    let mut v = prefix.to_vec();
    v.push(Loc::from(field));
    v
}
