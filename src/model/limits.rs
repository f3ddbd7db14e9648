//! Size limits of every client-supplied text field the core keeps (issue 15, "bounded
//! everything keyed by client input").
//!
//! A registration is kept in the registry, mirrored in every API process and repeated in every
//! scan request the connector sends; a scan request is stored with its work item until the item
//! is finished. Without a bound per field one client could make each of those copies as large as
//! the 1 MiB body limit. The numbers leave room for every legitimate value: a display icon of the
//! 8192 characters connectors keep (docs/reference/CONNECTORS.md, "Display icon"; 4 bytes per
//! character at most), a Linux path of `PATH_MAX` bytes in its `dsx-bytes:` form (3 bytes per byte
//! at most), an S3 key of 1024 bytes.
//! Lengths are counted in bytes, the unit memory is paid in.

use serde_json::json;

use super::connector::ConnectorInstanceModel;
use super::validation::{Issue, Issues, Loc, loc};

/// `url` and `connector_url`: a callback base.
pub const URL_MAX: usize = 2 * 1024;
/// `name`, `display_name`, `last_repo_check_reason`.
pub const NAME_MAX: usize = 256;
/// `meta_info`, `asset`, `asset_display_name`, `item_action_move_metainfo`,
/// `last_repo_check_message`.
pub const TEXT_MAX: usize = 4 * 1024;
/// `display_icon`: 8192 characters of up to 4 bytes each.
pub const ICON_MAX: usize = 32 * 1024;
/// `filter`: a filter expression (docs/reference/FILTERS.md) may list many folders.
pub const FILTER_MAX: usize = 16 * 1024;
/// Entries of `capabilities`, and bytes of each entry.
pub const CAPABILITIES_MAX: usize = 32;
pub const CAPABILITY_MAX: usize = 64;
/// `location` and `metainfo` of a scan request: a `PATH_MAX` path percent-encoded.
pub const LOCATION_MAX: usize = 16 * 1024;

/// Reports `field` when its value is longer than `max` bytes.
pub fn check_len(value: Option<&str>, max: usize, at: Vec<Loc>, issues: &mut Issues) {
    if let Some(v) = value.filter(|v| v.len() > max) {
        issues.push(
            Issue::new("too_long", at, format!("Value should have at most {max} bytes"))
                .with_input(json!(format!("<{} bytes>", v.len()))),
        );
    }
}

/// Checks every text field of a connector model under `prefix` (the registration body, or the
/// `connector` object of a scan request).
pub fn check_connector(m: &ConnectorInstanceModel, prefix: &[Loc], issues: &mut Issues) {
    let fields: [(&str, Option<&str>, usize); 11] = [
        ("name", Some(&m.name), NAME_MAX),
        ("display_name", m.display_name.as_deref(), NAME_MAX),
        ("display_icon", m.display_icon.as_deref(), ICON_MAX),
        ("meta_info", m.meta_info.as_deref(), TEXT_MAX),
        ("url", m.url.as_deref(), URL_MAX),
        (
            "item_action_move_metainfo",
            Some(&m.item_action_move_metainfo),
            TEXT_MAX,
        ),
        ("asset", Some(&m.asset), TEXT_MAX),
        ("asset_display_name", m.asset_display_name.as_deref(), TEXT_MAX),
        ("filter", Some(&m.filter), FILTER_MAX),
        ("last_repo_check_reason", m.last_repo_check_reason.as_deref(), NAME_MAX),
        (
            "last_repo_check_message",
            m.last_repo_check_message.as_deref(),
            TEXT_MAX,
        ),
    ];
    for (field, value, max) in fields {
        check_len(value, max, loc(prefix, field), issues);
    }
    // The uuid is parsed on registration; inside a scan request it is only looked up.
    check_len(m.uuid.as_deref(), NAME_MAX, loc(prefix, "uuid"), issues);
    let Some(caps) = &m.capabilities else { return };
    if caps.len() > CAPABILITIES_MAX {
        issues.push(
            Issue::new(
                "too_long",
                loc(prefix, "capabilities"),
                format!("List should have at most {CAPABILITIES_MAX} items"),
            )
            .with_input(json!(format!("<{} items>", caps.len()))),
        );
        return;
    }
    for (i, c) in caps.iter().enumerate() {
        let mut at = loc(prefix, "capabilities");
        at.push(Loc::from(i));
        check_len(Some(c), CAPABILITY_MAX, at, issues);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oversized_field_is_reported_at_its_location_without_echoing_it() {
        let m = ConnectorInstanceModel {
            url: Some("h".repeat(URL_MAX + 1)),
            meta_info: Some("m".repeat(TEXT_MAX)),
            capabilities: Some(vec!["c".repeat(CAPABILITY_MAX + 1)]),
            ..ConnectorInstanceModel::default()
        };
        let mut issues = Issues::default();
        check_connector(&m, &[Loc::from("body")], &mut issues);
        let locs: Vec<_> = issues.0.iter().map(|i| serde_json::to_value(&i.loc).unwrap()).collect();
        assert_eq!(locs, [json!(["body", "url"]), json!(["body", "capabilities", 0])]);
        assert_eq!(
            issues.0[0].input,
            Some(json!("<2049 bytes>")),
            "the value is not echoed"
        );
    }

    #[test]
    fn too_many_capabilities_are_one_problem() {
        let m = ConnectorInstanceModel {
            capabilities: Some(vec!["x".into(); CAPABILITIES_MAX + 1]),
            ..ConnectorInstanceModel::default()
        };
        let mut issues = Issues::default();
        check_connector(&m, &[], &mut issues);
        assert_eq!(issues.0.len(), 1);
    }
}
