//! ScanRequestModel (docs/reference/CORE-API.md, "Scan request", docs/reference/CONNECTORS.md,
//! "Scan request as sent") with field-precise validation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::connector::ConnectorInstanceModel;
use super::ids::JobId;
use super::item_identity::ItemIdentity;
use super::limits::{self, LOCATION_MAX, URL_MAX, check_len};
use super::validation::{Issue, Issues, Loc, loc};

/// One item to scan, as sent by a connector and forwarded back to it by the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRequestModel {
    pub location: String,
    pub metainfo: String,
    #[serde(default)]
    pub connector: Option<ConnectorInstanceModel>,
    #[serde(default)]
    pub connector_url: Option<String>,
    #[serde(default)]
    pub scan_job_id: Option<String>,
    #[serde(default)]
    pub size_in_bytes: Option<i64>,
    /// The item's identity as listed (docs/SCAN-REUSE.md): sent by our connectors only, so the
    /// original connectors' requests keep their shape and are always scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ItemIdentity>,
    /// Set by the connector on every request of a full scan started with `rescan_all`: the
    /// item is scanned even when a verdict for its identity is remembered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rescan: bool,
}

impl ScanRequestModel {
    pub fn new(location: impl Into<String>, metainfo: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            metainfo: metainfo.into(),
            connector: None,
            connector_url: None,
            scan_job_id: None,
            size_in_bytes: None,
            identity: None,
            rescan: false,
        }
    }

    /// Validates a JSON value field by field, reporting every problem with its `loc` under
    /// `prefix` (e.g. `["body"]` or `["body", 3]`). Unknown fields are ignored.
    pub fn from_value(v: &Value, prefix: &[Loc]) -> Result<Self, Issues> {
        let Some(obj) = v.as_object() else {
            return Err(Issues::one(
                Issue::new(
                    "model_attributes_type",
                    prefix.to_vec(),
                    "Input should be a valid dictionary or object",
                )
                .with_input(v.clone()),
            ));
        };
        let mut issues = Issues::default();
        let location = required_string(obj.get("location"), prefix, "location", &mut issues);
        let metainfo = required_string(obj.get("metainfo"), prefix, "metainfo", &mut issues);
        let connector_url = optional_string(obj.get("connector_url"), prefix, "connector_url", &mut issues);
        let scan_job_id = optional_string(obj.get("scan_job_id"), prefix, "scan_job_id", &mut issues);
        check_len(location.as_deref(), LOCATION_MAX, loc(prefix, "location"), &mut issues);
        check_len(metainfo.as_deref(), LOCATION_MAX, loc(prefix, "metainfo"), &mut issues);
        check_len(
            connector_url.as_deref(),
            URL_MAX,
            loc(prefix, "connector_url"),
            &mut issues,
        );
        if let Some(j) = scan_job_id.as_deref().filter(|j| !j.is_empty())
            && let Err(e) = JobId::parse(j)
        {
            issues.push(
                Issue::new("value_error", loc(prefix, "scan_job_id"), e.to_string())
                    .with_input(Value::String(j.to_string())),
            );
        }
        let size_in_bytes = match obj.get("size_in_bytes") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|x| x >= 0) => n.as_i64(),
            Some(other) => {
                issues.push(
                    Issue::new(
                        "int_parsing",
                        loc(prefix, "size_in_bytes"),
                        "Input should be a non-negative integer",
                    )
                    .with_input(other.clone()),
                );
                None
            }
        };
        let connector = match obj.get("connector") {
            None | Some(Value::Null) => None,
            Some(c) => match ConnectorInstanceModel::deserialize(c) {
                Ok(m) => {
                    limits::check_connector(&m, &loc(prefix, "connector"), &mut issues);
                    Some(m)
                }
                Err(e) => {
                    issues.push(Issue::new("model_type", loc(prefix, "connector"), e.to_string()));
                    None
                }
            },
        };
        let identity = match obj.get("identity") {
            None | Some(Value::Null) => None,
            Some(i) => match ItemIdentity::deserialize(i) {
                Ok(id) => Some(id),
                Err(e) => {
                    issues.push(Issue::new("model_type", loc(prefix, "identity"), e.to_string()));
                    None
                }
            },
        };
        let rescan = match obj.get("rescan") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                issues.push(
                    Issue::new("bool_type", loc(prefix, "rescan"), "Input should be a valid boolean")
                        .with_input(other.clone()),
                );
                false
            }
        };
        issues.into_result()?;
        Ok(Self {
            location: location.unwrap_or_default(),
            metainfo: metainfo.unwrap_or_default(),
            connector,
            connector_url,
            scan_job_id,
            size_in_bytes,
            identity,
            rescan,
        })
    }
}

fn required_string(v: Option<&Value>, prefix: &[Loc], field: &str, issues: &mut Issues) -> Option<String> {
    match v {
        None => {
            issues.push(Issue::missing(loc(prefix, field)));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            issues.push(
                Issue::new("string_type", loc(prefix, field), "Input should be a valid string")
                    .with_input(other.clone()),
            );
            None
        }
    }
}

fn optional_string(v: Option<&Value>, prefix: &[Loc], field: &str, issues: &mut Issues) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            issues.push(
                Issue::new("string_type", loc(prefix, field), "Input should be a valid string")
                    .with_input(other.clone()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Vec<Loc> {
        vec![Loc::from("body")]
    }

    #[test]
    fn a_missing_metainfo_is_reported_with_its_location() {
        let err = ScanRequestModel::from_value(&json!({"location": "a"}), &body()).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].kind, "missing");
        assert_eq!(
            serde_json::to_value(&err.0[0].loc).unwrap(),
            json!(["body", "metainfo"])
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = ScanRequestModel::from_value(
            &json!({"location": 1, "scan_job_id": "a:b", "size_in_bytes": -3}),
            &[Loc::from("body"), Loc::from(2usize)],
        )
        .unwrap_err();
        let kinds: Vec<_> = err.0.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["string_type", "missing", "value_error", "int_parsing"]);
        assert_eq!(
            serde_json::to_value(&err.0[0].loc).unwrap(),
            json!(["body", 2, "location"])
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r =
            ScanRequestModel::from_value(&json!({"location": "x", "metainfo": "y", "whatever": [1]}), &body()).unwrap();
        assert_eq!(r.location, "x");
        assert!(r.scan_job_id.is_none());
    }
}
