//! The command line: `serve`, `scan`, `connector filesystem`.

pub mod auth_store;
pub mod builtin;
pub mod connector;
pub mod docs;
pub mod healthcheck;
pub mod role;
pub mod scan;
pub mod serve;
pub mod token;
pub mod user;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// dsx-connect: scan storage repositories with a malware scanning engine.
///
/// Start with `dsx-connect scan <folder>` for a one-off scan, or `dsx-connect serve --fs <folder>`
/// for the service with its web UI at http://127.0.0.1:8586/. Settings come from
/// `DSXCONNECT_*` variables (see docs/CONFIGURATION.md) or a TOML file given with --config.
#[derive(Debug, Parser)]
#[command(name = "dsx-connect", version = crate::LONG_VERSION, about, long_about)]
pub struct Cli {
    /// TOML settings file (environment variables override it).
    #[arg(long, global = true, value_name = "FILE", env = "DSXCONNECT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: API, web UI, scan workers and built-in connectors.
    Serve(ServeArgs),
    /// Scan folders, files, standard input or S3 prefixes once and print a summary (exit code 0
    /// clean, 1 malicious found, 2 errors only, 64 usage, 130 interrupted).
    Scan(ScanArgs),
    /// Scale-out: the API and web UI only, on the Redis backend (DSXCONNECT_REDIS_URL).
    Api,
    /// Scale-out: a worker pool only, on the Redis backend (DSXCONNECT_REDIS_URL); run as many
    /// as needed, on any host. Serves health endpoints on DSXCONNECT_HOST:DSXCONNECT_PORT.
    Worker,
    /// Run a standalone connector that registers with a dsx-connect core.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Manage API tokens (`Authorization: Bearer dsx_…`) in the configured store.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage local users (password sign-in to the web UI) in the configured store.
    #[command(subcommand)]
    User(UserCommand),
    /// Container health check: exit 0 when the service answers ready, 1 otherwise.
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, or write one page per subcommand into a folder.
    Man {
        /// Write `dsx-connect.1` and `dsx-connect-<subcommand>.1` here.
        #[arg(long, value_name = "DIR", env = "DSXCONNECT_MAN_DIR")]
        dir: Option<PathBuf>,
    },
    /// Rewrite the settings tables of docs/CONFIGURATION.md from the settings' declarations.
    #[command(hide = true)]
    ConfigDoc {
        /// The document (its prose is kept; tables sit between `<!-- settings:NAME -->` markers).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read twice from the terminal, or once from stdin.
    Add {
        /// 1-64 characters: a letter or digit, then letters, digits, `.`, `_`, `@`, `-`.
        username: String,
        /// viewer, operator or admin.
        #[arg(long, env = "DSXCONNECT_USER_ROLE")]
        role: crate::auth::tokens::Role,
        /// Read the password from the first line of standard input.
        #[arg(long, env = "DSXCONNECT_USER_PASSWORD_STDIN")]
        password_stdin: bool,
    },
    /// Set a new password (ends the user's sessions).
    Passwd {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long, env = "DSXCONNECT_USER_PASSWORD_STDIN")]
        password_stdin: bool,
    },
    /// Remove a user (ends their sessions; the last administrator cannot be removed).
    Remove { username: String },
    /// List users (name, role, state, created, password changed); never the hashes.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its digest is stored).
    Create {
        /// A name to recognise the token by: letters, digits, `.`, `_`, `-` (at most 64).
        #[arg(long, env = "DSXCONNECT_TOKEN_NAME")]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, env = "DSXCONNECT_TOKEN_ROLE")]
        role: crate::auth::tokens::Role,
        /// Lifetime: `<N>d`, `<N>h` or `never` (default DSXCONNECT_AUTH__TOKEN_DEFAULT_DAYS, 90 days).
        #[arg(long, env = "DSXCONNECT_TOKEN_EXPIRES")]
        expires: Option<String>,
    },
    /// List tokens (id, name, role, prefix, created, expires, last used); never the tokens.
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

/// What to do with malicious items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    /// Only report them.
    Nothing,
    /// Delete them.
    Delete,
    /// Move them to the quarantine folder, keeping their relative path.
    Move,
    /// Move them and tag them with the `user.dsx.verdict` extended attribute.
    Movetag,
    /// Tag them in place.
    Tag,
}

impl ActionArg {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionArg::Nothing => "nothing",
            ActionArg::Delete => "delete",
            ActionArg::Move => "move",
            ActionArg::Movetag => "movetag",
            ActionArg::Tag => "tag",
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve a folder with a built-in filesystem connector (repeatable).
    #[arg(long = "fs", value_name = "DIR", env = "DSXCONNECT_SERVE_FS", value_delimiter = ',')]
    pub fs: Vec<PathBuf>,
    /// Serve an S3 bucket or a prefix of one (`bucket[/prefix]`) with a built-in S3 connector
    /// (repeatable; endpoint, region and credentials from DSXCONNECTOR_S3_* and AWS_*).
    #[arg(
        long = "s3",
        value_name = "BUCKET[/PREFIX]",
        env = "DSXCONNECT_SERVE_S3",
        value_delimiter = ','
    )]
    pub s3: Vec<String>,
    /// Serve an Azure Blob container or a prefix of one (`container[/prefix]`) with a built-in
    /// Azure Blob connector (repeatable; endpoint and credentials from DSXCONNECTOR_AZURE_* and
    /// AZURE_*).
    #[arg(
        long = "azure",
        value_name = "CONTAINER[/PREFIX]",
        env = "DSXCONNECT_SERVE_AZURE",
        value_delimiter = ','
    )]
    pub azure: Vec<String>,
    /// Serve a Google Cloud Storage bucket or a prefix of one (`bucket[/prefix]`) with a built-in
    /// GCS connector (repeatable; endpoint and credentials from DSXCONNECTOR_GCS_*,
    /// GOOGLE_APPLICATION_CREDENTIALS or STORAGE_EMULATOR_HOST).
    #[arg(
        long = "gcs",
        value_name = "BUCKET[/PREFIX]",
        env = "DSXCONNECT_SERVE_GCS",
        value_delimiter = ','
    )]
    pub gcs: Vec<String>,
    /// Action of the built-in connectors on malicious items (default: each connector's own: move; Azure Blob nothing; GCS tag).
    #[arg(long, value_enum, env = "DSXCONNECT_SERVE_ACTION")]
    pub action: Option<ActionArg>,
    /// Quarantine folder of the built-in connectors (default: <folder>/dsxconnect-quarantine).
    #[arg(long, value_name = "DIR", env = "DSXCONNECT_SERVE_QUARANTINE")]
    pub quarantine: Option<PathBuf>,
    /// Start a full scan of every built-in connector as soon as it is registered.
    #[arg(long, env = "DSXCONNECT_SERVE_SCAN_NOW")]
    pub scan_now: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Folders, files, `-` for standard input, `s3://bucket[/prefix]`,
    /// `az://container[/prefix]` or `gs://bucket[/prefix]`, in any mix.
    #[arg(required = true, value_name = "PATH")]
    pub targets: Vec<String>,
    /// What to do with malicious items.
    #[arg(long, value_enum, default_value = "nothing", env = "DSXCONNECT_SCAN_ACTION")]
    pub action: ActionArg,
    /// Quarantine for move/movetag: a folder (default: <target>/dsxconnect-quarantine), or for
    /// S3 a prefix of the bucket or `s3://bucket[/prefix]`, for Azure a prefix of the container
    /// or `az://container[/prefix]` (default: dsxconnect-quarantine).
    #[arg(long, value_name = "DIR", env = "DSXCONNECT_SCAN_QUARANTINE")]
    pub quarantine: Option<String>,
    /// The engine: dsxa, clamd or embedded (the built-in test engine).
    #[arg(long, value_name = "ENGINE", env = "DSXCONNECT_SCANNER__ENGINE")]
    pub engine: Option<String>,
    /// Skip items matching this pattern (the connector filter's glob syntax; repeatable).
    #[arg(long, value_name = "PATTERN", env = "DSXCONNECT_SCAN_EXCLUDE", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Largest item scanned, in bytes or with K, M or G; larger items are reported not scanned.
    #[arg(long, value_name = "SIZE", env = "DSXCONNECT_SCANNER__MAX_FILE_SIZE")]
    pub max_filesize: Option<String>,
    /// Print only malicious and failed items (and nothing while scanning).
    #[arg(long, short, env = "DSXCONNECT_SCAN_QUIET")]
    pub quiet: bool,
    /// No progress bar or progress lines.
    #[arg(long, env = "DSXCONNECT_SCAN_NO_PROGRESS")]
    pub no_progress: bool,
    /// Report format: a text table, one JSON summary, or NDJSON (one line per finding as it
    /// happens, then the summary line).
    #[arg(long, value_enum, default_value = "text", env = "DSXCONNECT_SCAN_FORMAT")]
    pub format: ReportFormat,
    /// Same as `--format json`.
    #[arg(long, hide = true)]
    pub json: bool,
    /// Write the report to this file instead of standard output.
    #[arg(long, short, value_name = "FILE", env = "DSXCONNECT_SCAN_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Keep the scan's state here instead of a temporary folder. A later scan with the same
    /// folder reuses the verdicts of unchanged files (docs/SCAN-REUSE.md).
    #[arg(long, value_name = "DIR", env = "DSXCONNECT_SCAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Scan every file, even those unchanged since a scan remembered in `--data-dir`.
    #[arg(long, env = "DSXCONNECT_SCAN_RESCAN_ALL")]
    pub rescan_all: bool,
    /// Serve the web UI during the scan at this address (e.g. 127.0.0.1:8586) and keep it
    /// open afterwards until Ctrl-C.
    #[arg(long, value_name = "ADDR", env = "DSXCONNECT_SCAN_UI")]
    pub ui: Option<String>,
}

impl ScanArgs {
    /// The report format, `--json` included.
    pub fn report_format(&self) -> ReportFormat {
        if self.json { ReportFormat::Json } else { self.format }
    }
}

/// How `scan` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// The filesystem connector (settings: DSXCONNECTOR_* variables).
    Filesystem(ConnectorArgs),
    /// The AWS S3 connector (settings: DSXCONNECTOR_* and DSXCONNECTOR_S3_* variables, AWS_*).
    S3(ConnectorArgs),
    /// The Azure Blob Storage connector (settings: DSXCONNECTOR_* and DSXCONNECTOR_AZURE_*
    /// variables, AZURE_*).
    #[command(name = "azure-blob")]
    AzureBlob(ConnectorArgs),
    /// The Google Cloud Storage connector (settings: DSXCONNECTOR_* and DSXCONNECTOR_GCS_*
    /// variables, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST).
    Gcs(ConnectorArgs),
}

#[derive(Debug, Args)]
pub struct ConnectorArgs {
    /// Address to listen on (overrides DSXCONNECTOR_LISTEN_ADDR).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The folder, or for S3 `bucket[/prefix]`, to scan (overrides DSXCONNECTOR_ASSET).
    #[arg(long, value_name = "ASSET")]
    pub asset: Option<String>,
    /// The core's base URL (overrides DSXCONNECTOR_DSX_CONNECT_URL).
    #[arg(long, value_name = "URL")]
    pub core_url: Option<String>,
    /// The URL the core calls this connector back on (overrides DSXCONNECTOR_CONNECTOR_URL).
    #[arg(long, value_name = "URL")]
    pub connector_url: Option<String>,
    /// The connector's name (overrides DSXCONNECTOR_NAME).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// What to do with malicious items (overrides DSXCONNECTOR_ITEM_ACTION).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Quarantine folder for move/movetag (overrides DSXCONNECTOR_ITEM_ACTION_MOVE_METAINFO).
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<String>,
    /// Where the connector keeps its UUID (overrides DSXCONNECTOR_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
