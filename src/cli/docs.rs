//! Shell completions and manual pages, generated from the command-line definition itself so
//! they never drift from `--help`.

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
}
