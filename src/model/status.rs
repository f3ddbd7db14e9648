//! StatusResponse, ItemAction and the item-action answer (docs/reference/CORE-API.md,
//! "Item actions and status answers", docs/reference/CONNECTORS.md, "Wire models").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `status` of a StatusResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Success,
    Error,
    Nothing,
}

/// The answer shape shared by the core and the connectors; all five keys are always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    pub status: StatusKind,
    pub message: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub preview: Option<Vec<String>>,
}

impl StatusResponse {
    pub fn new(status: StatusKind, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            description: None,
            id: None,
            preview: None,
        }
    }

    pub fn success(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Success, message)
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Error, message)
    }

    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// What a connector does with a malicious item ("Item actions and status answers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemAction {
    NotImplemented,
    Nothing,
    Delete,
    Move,
    Tag,
    MoveTag,
}

impl ItemAction {
    pub const ALL: [ItemAction; 6] = [
        ItemAction::NotImplemented,
        ItemAction::Nothing,
        ItemAction::Delete,
        ItemAction::Move,
        ItemAction::Tag,
        ItemAction::MoveTag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemAction::NotImplemented => "not implemented",
            ItemAction::Nothing => "nothing",
            ItemAction::Delete => "delete",
            ItemAction::Move => "move",
            ItemAction::Tag => "tag",
            ItemAction::MoveTag => "movetag",
        }
    }

    /// Whether the action moves the item to the quarantine area.
    pub fn moves(self) -> bool {
        matches!(self, ItemAction::Move | ItemAction::MoveTag)
    }
}

impl fmt::Display for ItemAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown item action '{0}': expected one of not implemented, nothing, delete, move, tag, movetag")]
pub struct UnknownItemAction(pub String);

impl FromStr for ItemAction {
    type Err = UnknownItemAction;

    /// Accepts any letter case, surrounding whitespace and `move_tag`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase();
        Ok(match norm.as_str() {
            "not implemented" | "not_implemented" => ItemAction::NotImplemented,
            "nothing" => ItemAction::Nothing,
            "delete" => ItemAction::Delete,
            "move" => ItemAction::Move,
            "tag" => ItemAction::Tag,
            "movetag" | "move_tag" => ItemAction::MoveTag,
            _ => return Err(UnknownItemAction(s.to_string())),
        })
    }
}

impl Serialize for ItemAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ItemAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// StatusResponse plus the action that was (or was not) taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemActionStatusResponse {
    pub status: StatusKind,
    pub message: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub preview: Option<Vec<String>>,
    #[serde(default = "default_action")]
    pub item_action: ItemAction,
}

fn default_action() -> ItemAction {
    ItemAction::Nothing
}

impl ItemActionStatusResponse {
    /// The stored default when no action was requested (docs/reference/CORE-API.md,
    /// "Item actions and status answers").
    pub fn no_action() -> Self {
        Self::new(StatusKind::Nothing, "No action taken", ItemAction::Nothing)
    }

    pub fn new(status: StatusKind, message: impl Into<String>, action: ItemAction) -> Self {
        Self {
            status,
            message: message.into(),
            description: None,
            id: None,
            preview: None,
            item_action: action,
        }
    }

    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
}

/// `confidence` of an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Exact,
    Unknown,
}

/// `{"count", "confidence"}`; `count` is null exactly when the confidence is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Estimate {
    pub count: Option<u64>,
    pub confidence: Confidence,
}

impl Estimate {
    pub const UNKNOWN: Estimate = Estimate {
        count: None,
        confidence: Confidence::Unknown,
    };

    pub fn exact(n: u64) -> Self {
        Self {
            count: Some(n),
            confidence: Confidence::Exact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_actions_parse_any_case_and_the_move_tag_alias() {
        assert_eq!(" MoveTag ".parse::<ItemAction>().unwrap(), ItemAction::MoveTag);
        assert_eq!("move_tag".parse::<ItemAction>().unwrap(), ItemAction::MoveTag);
        assert_eq!("MOVE".parse::<ItemAction>().unwrap(), ItemAction::Move);
        assert_eq!(
            "Not Implemented".parse::<ItemAction>().unwrap(),
            ItemAction::NotImplemented
        );
        assert!("bogus".parse::<ItemAction>().is_err());
    }

    #[test]
    fn status_response_always_has_all_five_keys() {
        let v = serde_json::to_value(StatusResponse::success("ok")).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["status", "message", "description", "id", "preview"]);
    }
}
