//! ConnectorInstanceModel (docs/reference/CORE-API.md, "Connector model",
//! docs/reference/CONNECTORS.md, "Connector model as sent") and connector events.

use serde::{Deserialize, Serialize};

use super::ids::ConnectorUuid;

/// Connector lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorStatus {
    Ready,
    #[default]
    Starting,
    Stopped,
    Failed,
}

/// The registration body, presence value and list item. `uuid` and `url` are optional here
/// because the same shape is embedded in scan requests, where they are not validated; the
/// registry validates them on registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectorInstanceModel {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub display_icon: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub meta_info: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub status: ConnectorStatus,
    #[serde(default)]
    pub item_action_move_metainfo: String,
    #[serde(default)]
    pub asset: String,
    #[serde(default)]
    pub asset_display_name: Option<String>,
    #[serde(default)]
    pub filter: String,
    #[serde(default)]
    pub last_repo_check_ts: Option<f64>,
    #[serde(default)]
    pub last_repo_check_reason: Option<String>,
    #[serde(default)]
    pub last_repo_check_message: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
}

fn default_name() -> String {
    "connector".to_string()
}

impl Default for ConnectorInstanceModel {
    fn default() -> Self {
        Self {
            name: default_name(),
            display_name: None,
            display_icon: None,
            uuid: None,
            meta_info: None,
            url: None,
            status: ConnectorStatus::Starting,
            item_action_move_metainfo: String::new(),
            asset: String::new(),
            asset_display_name: None,
            filter: String::new(),
            last_repo_check_ts: None,
            last_repo_check_reason: None,
            last_repo_check_message: None,
            capabilities: None,
        }
    }
}

/// Capability advertised by connectors that always post `enqueue_done` (rule I of
/// docs/reference/CORE-API.md, "Job state machine").
pub const CAP_ENQUEUE_DONE: &str = "enqueue_done";
/// Capability advertised by connectors that use the batch intake endpoint.
pub const CAP_SCAN_REQUEST_BATCH: &str = "scan_request_batch";
/// The connector records every scan result on the item itself (`PUT <url>/result_tag`).
pub const CAP_RESULT_TAGS: &str = "result_tags";

impl ConnectorInstanceModel {
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.as_ref().is_some_and(|c| c.iter().any(|x| x == cap))
    }

    /// The connector's uuid, typed: `None` when the model carries none or one that is not a
    /// UUID (the registry refuses such a registration, so a registered model always has one).
    pub fn connector_uuid(&self) -> Option<ConnectorUuid> {
        self.uuid.as_deref().and_then(|u| ConnectorUuid::parse(u).ok())
    }
}

/// Events relayed on the connector SSE stream (docs/reference/CORE-API.md, "The connector stream").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorEvent {
    #[serde(rename = "type")]
    pub kind: ConnectorEventKind,
    pub uuid: String,
    pub name: String,
    pub url: String,
    pub ts: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorEventKind {
    Registered,
    Refreshed,
    Unregistered,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_their_defaults_and_output_has_explicit_nulls() {
        let m: ConnectorInstanceModel = serde_json::from_str(r#"{"extra":1}"#).unwrap();
        assert_eq!(m.name, "connector");
        assert_eq!(m.status, ConnectorStatus::Starting);
        let v = serde_json::to_value(&m).unwrap();
        assert!(v.get("display_name").unwrap().is_null());
        assert!(v.get("capabilities").unwrap().is_null());
        assert_eq!(v.as_object().unwrap().len(), 15);
    }
}
