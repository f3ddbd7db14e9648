//! The settings tables of docs/CONFIGURATION.md, rendered from the declarations.
//!
//! The document keeps its hand-written prose; each table sits between two markers,
//! `<!-- settings:NAME -->` and `<!-- /settings:NAME -->`, and is replaced as a whole. The test
//! below fails when the document differs from what the declarations render, and rewrites it
//! when run with `UPDATE_DOCS=1` (`UPDATE_DOCS=1 cargo test --lib config::docs`).

use super::oidc::OidcSettings;
use super::setting::{Entry, Row, Section};

/// The tables the document holds: marker name and section.
const TABLES: &[(&str, Section)] = &[
    ("core", Section::Core),
    ("auth", Section::Auth),
    ("oidc", Section::Oidc),
    ("scanner", Section::Scanner),
    ("workers", Section::Workers),
    ("connector-calls", Section::ConnectorCalls),
];

/// Every documented row, in declaration order.
fn rows() -> Vec<Row> {
    let core = super::core_table::VIEW.iter().filter_map(|e| e.row("DSXCONNECT_"));
    let oidc = super::oidc::TABLE
        .iter()
        .filter_map(|e: &&dyn Entry<OidcSettings>| e.row("DSXCONNECT_"));
    core.chain(oidc).collect()
}

/// The Markdown table of one section.
fn table(section: Section) -> String {
    let mut out = String::from("| Variable | Default | Accepted | Meaning |\n|---|---|---|---|\n");
    for r in rows().into_iter().filter(|r| r.section == section) {
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.variable),
            cell(&r.default),
            cell(&r.accepted),
            cell(&r.meaning)
        ));
    }
    out
}

/// A marker pair that is missing or out of order.
#[derive(Debug, thiserror::Error)]
#[error("docs/CONFIGURATION.md lacks the markers <!-- settings:{0} --> … <!-- /settings:{0} -->")]
pub struct MissingMarker(&'static str);

/// `doc` with every generated table replaced by what the declarations render now.
pub fn regenerate(doc: &str) -> Result<String, MissingMarker> {
    let mut out = doc.to_string();
    for (name, section) in TABLES {
        let begin = format!("<!-- settings:{name} -->\n");
        let end = format!("<!-- /settings:{name} -->");
        let start = out.find(&begin).ok_or(MissingMarker(name))? + begin.len();
        let stop = out[start..].find(&end).ok_or(MissingMarker(name))? + start;
        out.replace_range(start..stop, &table(*section));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::config::Settings;
    use crate::config::core_table::VIEW;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md");

    #[test]
    fn configuration_md_lists_what_the_declarations_say() {
        let doc = std::fs::read_to_string(DOC).expect("docs/CONFIGURATION.md is readable");
        let fresh = regenerate(&doc).unwrap_or_else(|e| panic!("{e}"));
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(DOC, &fresh).expect("docs/CONFIGURATION.md is writable");
            return;
        }
        assert!(
            doc == fresh,
            "docs/CONFIGURATION.md is stale: its settings tables differ from the declarations in \
             src/config/*_table.rs and src/config/oidc.rs; regenerate it with \
             `UPDATE_DOCS=1 cargo test --lib config::docs` and commit the result"
        );
    }

    #[test]
    fn every_variable_is_declared_once() {
        let mut seen = BTreeSet::new();
        for r in rows() {
            assert!(seen.insert(r.variable.clone()), "{} is declared twice", r.variable);
        }
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
