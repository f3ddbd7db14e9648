//! The settings tables of docs/CONFIGURATION.md, rendered from the declarations.
//!
//! The document keeps its hand-written prose; each table sits between two markers,
//! `<!-- settings:NAME -->` and `<!-- /settings:NAME -->`, and is replaced as a whole
//! (`dsx-connect config-doc docs/CONFIGURATION.md`, `cli::docs`). A test there fails when the
//! document differs from what the declarations render.

use super::core::Settings;
use super::oidc::OidcSettings;
use crate::settings_source::setting::Section;
pub use crate::settings_source::setting::{rows, table};

/// The core's tables: marker name and Markdown.
pub fn core_tables() -> Vec<(&'static str, String)> {
    let core = |section| rows::<Settings>(super::core_table::VIEW, "DSXCONNECT_", section);
    vec![
        ("core", table(core(Section::Core))),
        ("auth", table(core(Section::Auth))),
        (
            "oidc",
            table(rows::<OidcSettings>(super::oidc::TABLE, "DSXCONNECT_", Section::Oidc)),
        ),
        ("scanner", table(core(Section::Scanner))),
        ("workers", table(core(Section::Workers))),
        ("connector-calls", table(core(Section::ConnectorCalls))),
    ]
}

/// A marker pair that is missing or out of order.
#[derive(Debug, thiserror::Error)]
#[error("the document lacks the markers <!-- settings:{0} --> … <!-- /settings:{0} -->")]
pub struct MissingMarker(String);

/// `doc` with each named table replaced between its markers.
pub fn regenerate(doc: &str, tables: &[(&str, String)]) -> Result<String, MissingMarker> {
    let mut out = doc.to_string();
    for (name, table) in tables {
        let begin = format!("<!-- settings:{name} -->\n");
        let end = format!("<!-- /settings:{name} -->");
        let missing = || MissingMarker(name.to_string());
        let start = out.find(&begin).ok_or_else(missing)? + begin.len();
        let stop = out[start..].find(&end).ok_or_else(missing)? + start;
        out.replace_range(start..stop, table);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::core_table::VIEW;

    #[test]
    fn every_variable_is_declared_once() {
        let mut seen = BTreeSet::new();
        let all = VIEW
            .iter()
            .filter_map(|e| e.row("DSXCONNECT_"))
            .chain(super::super::oidc::TABLE.iter().filter_map(|e| e.row("DSXCONNECT_")));
        for r in all {
            assert!(seen.insert(r.variable.clone()), "{} is declared twice", r.variable);
        }
    }

    #[test]
    fn a_table_is_replaced_between_its_markers_and_the_prose_kept() {
        let doc = "intro\n<!-- settings:core -->\nold\n<!-- /settings:core -->\noutro\n";
        let new = regenerate(doc, &[("core", "new\n".into())]).unwrap();
        assert_eq!(
            new,
            "intro\n<!-- settings:core -->\nnew\n<!-- /settings:core -->\noutro\n"
        );
        assert!(regenerate(doc, &[("auth", String::new())]).is_err());
    }

    #[test]
    fn every_declared_variable_is_read() {
        // An unread variable would warn as unknown: each declaration must have a reader.
        let keys: Vec<&str> = VIEW.iter().filter_map(|e| e.key()).collect();
        let oidc: Vec<&str> = crate::config::oidc::TABLE.iter().filter_map(|e| e.key()).collect();
        for key in keys.into_iter().chain(oidc) {
            // Single sign-on settings are read only when single sign-on is on.
            let mut env: BTreeMap<String, String> = [
                ("DSXCONNECT_AUTH__OIDC__ISSUER", "https://idp.example"),
                ("DSXCONNECT_AUTH__OIDC__CLIENT_ID", "dsx-connect"),
                ("DSXCONNECT_PUBLIC_URL", "https://dsx.example"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
            let name = format!("DSXCONNECT_{key}");
            env.entry(name.clone()).or_default();
            let warnings = Settings::from_map(&env, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .warnings;
            assert!(
                !warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{name} is not a known setting"))),
                "{name} is declared but not read: {warnings:?}"
            );
        }
    }

    #[test]
    fn no_declared_secret_reaches_the_config_view() {
        const SENTINEL: &str = "Sentinel-Secret-0123456789";
        let value = |key: &str| match key {
            "REDIS_URL" | "RESULTS_DB" => format!("redis://user:{SENTINEL}@127.0.0.1:6379/0"),
            "CONNECTORS__API_KEYS" => format!("some-connector={SENTINEL}"),
            _ => SENTINEL.to_string(),
        };
        let env: BTreeMap<String, String> = VIEW
            .iter()
            .filter(|e| e.is_secret())
            .filter_map(|e| e.key())
            .map(|k| (format!("DSXCONNECT_{k}"), value(k)))
            .collect();
        assert!(env.len() >= 8, "{env:?}");
        let loaded = Settings::from_map(&env, None).unwrap_or_else(|e| panic!("{e}"));
        let view = loaded.settings.view().to_string();
        assert!(!view.contains(SENTINEL), "{view}");
        assert!(view.contains("***"), "{view}");
    }
}
