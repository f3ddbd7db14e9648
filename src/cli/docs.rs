//! Shell completions and manual pages, generated from the command-line definition itself so
//! they never drift from `--help`; and docs/CONFIGURATION.md's settings tables, generated from
//! the settings' declarations (`settings_source::setting`).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// Prints the completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "dsx-connect", &mut std::io::stdout());
}

/// Writes `dsx-connect.1` and a page per subcommand (`dsx-connect-scan.1`, …) into `dir`, or the
/// main page on stdout when no folder is given.
pub fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        std::io::stdout().write_all(&out)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cmd, dir)?;
    Ok(())
}

/// Every generated table of docs/CONFIGURATION.md: the core's, superlog's and the connectors'.
fn configuration_tables() -> Vec<(&'static str, String)> {
    let mut tables = crate::config::docs::core_tables();
    tables.extend(crate::superlog::config::table::doc_tables());
    tables.extend(crate::connectors::framework::settings_table::doc_tables());
    tables
}

/// Rewrites the settings tables of `file` (docs/CONFIGURATION.md) from the declarations,
/// keeping the prose around them (`dsx-connect config-doc docs/CONFIGURATION.md`).
pub fn configuration(file: &Path) -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(file)?;
    let fresh = crate::config::docs::regenerate(&doc, &configuration_tables())?;
    if fresh != doc {
        std::fs::write(file, fresh)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_every_page_is_generated() {
        Cli::command().debug_assert();
        let dir = tempfile::tempdir().unwrap();
        man(Some(dir.path())).unwrap();
        for page in [
            "dsx-connect.1",
            "dsx-connect-scan.1",
            "dsx-connect-serve.1",
            "dsx-connect-healthcheck.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}");
        }
        let scan = std::fs::read_to_string(dir.path().join("dsx-connect-scan.1")).unwrap();
        assert!(scan.contains("DSXCONNECT_SCAN_FORMAT"), "the page names the variables");
    }

    #[test]
    fn configuration_md_lists_what_the_declarations_say() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md");
        let doc = std::fs::read_to_string(path).expect("docs/CONFIGURATION.md is readable");
        let fresh = crate::config::docs::regenerate(&doc, &configuration_tables()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            doc == fresh,
            "docs/CONFIGURATION.md is stale: its settings tables differ from the declarations \
             (src/config/*_table.rs, src/config/oidc.rs, src/superlog/config/*table.rs, src/superlog/config/webhook.rs, src/connectors/framework/settings_table.rs, \
             src/connectors/s3/settings.rs, src/connectors/gcs/settings.rs); regenerate them with \
             `cargo run -- config-doc docs/CONFIGURATION.md` and commit the result"
        );
    }
}
