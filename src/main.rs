//! `dsx-connect`: parse the command line, load and validate settings, start the role.

use std::process::ExitCode;

use clap::Parser;
use dsx_connect::app::Role;
use dsx_connect::cli::{Cli, Command, ConnectorCommand, connector, healthcheck, role, scan, serve, token, user};
use dsx_connect::config::Settings;
use dsx_connect::connectors::framework::settings::ConnectorKind;
use dsx_connect::telemetry;

/// Invalid settings exit with 2 before anything listens (docs/reference/CORE-API.md,
/// "Settings rules").
fn config_failure(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("dsx-connect: {e}");
    ExitCode::from(2)
}

/// Usage errors (unknown flag, missing argument): `EX_USAGE`, distinct from scan outcomes.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let system = actix_rt::System::new();
    match cli.command {
        Command::Connector(cmd) => {
            let (kind, args) = match cmd {
                ConnectorCommand::Filesystem(a) => (ConnectorKind::Filesystem, a),
                ConnectorCommand::S3(a) => (ConnectorKind::S3, a),
                ConnectorCommand::AzureBlob(a) => (ConnectorKind::AzureBlob, a),
                ConnectorCommand::Gcs(a) => (ConnectorKind::Gcs, a),
            };
            let (settings, warnings) = match connector::load(kind, cli.config.as_deref(), &args) {
                Ok(x) => x,
                Err(e) => return config_failure(e),
            };
            telemetry::init(
                &settings.log_level,
                settings.log_format == dsx_connect::config::core::LogFormat::Json,
            );
            for w in warnings {
                tracing::warn!("{w}");
            }
            finish(system.block_on(connector::run(settings)).map(|_| 0))
        }
        Command::Serve(args) => {
            let loaded = match Settings::from_env(cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            let s = loaded.settings;
            telemetry::init(&s.log_level, s.log_format == dsx_connect::config::core::LogFormat::Json);
            for w in loaded.warnings {
                tracing::warn!("{w}");
            }
            finish(system.block_on(serve::run(s, args)).map(|_| 0))
        }
        Command::Api | Command::Worker => {
            let role = if matches!(cli.command, Command::Api) {
                Role::Api
            } else {
                Role::Worker
            };
            let loaded = match Settings::from_env(cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            let s = loaded.settings;
            if s.redis_url.is_none() {
                return config_failure(
                    "DSXCONNECT_REDIS_URL is required for `api` and `worker` (they share a Redis store); use `serve` for one process",
                );
            }
            telemetry::init(&s.log_level, s.log_format == dsx_connect::config::core::LogFormat::Json);
            for w in loaded.warnings {
                tracing::warn!("{w}");
            }
            finish(system.block_on(role::run(s, role)).map(|_| 0))
        }
        Command::Token(cmd) => {
            let loaded = match Settings::from_env(cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            telemetry::init("warn", false);
            finish(system.block_on(token::run(&loaded.settings, cmd)))
        }
        Command::User(cmd) => {
            let loaded = match Settings::from_env(cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            telemetry::init("warn", false);
            finish(system.block_on(user::run(&loaded.settings, cmd)))
        }
        Command::Healthcheck(args) => {
            let loaded = match Settings::from_env(cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            finish(system.block_on(healthcheck::run(&loaded.settings, args)))
        }
        Command::Completions { shell } => {
            dsx_connect::cli::docs::completions(shell);
            ExitCode::SUCCESS
        }
        Command::Man { dir } => finish(dsx_connect::cli::docs::man(dir.as_deref()).map(|_| 0)),
        Command::ConfigDoc { file } => finish(dsx_connect::cli::docs::configuration(&file).map(|_| 0)),
        Command::Scan(args) => {
            // `--engine` and `--max-filesize` are the scanner settings of the same names.
            let mut env = dsx_connect::settings_source::process_env();
            if let Some(e) = &args.engine {
                env.insert("DSXCONNECT_SCANNER__ENGINE".into(), e.clone());
            }
            if let Some(m) = &args.max_filesize {
                env.insert("DSXCONNECT_SCANNER__MAX_FILE_SIZE".into(), m.clone());
            }
            let loaded = match Settings::from_map(&env, cli.config.as_deref()) {
                Ok(l) => l,
                Err(e) => return config_failure(e),
            };
            let s = loaded.settings;
            // A one-off scan keeps the terminal for its progress bar: warnings and errors only.
            let level = if std::env::var_os("DSXCONNECT_LOG_LEVEL").is_some() {
                s.log_level.clone()
            } else {
                "warn".into()
            };
            telemetry::init(&level, s.log_format == dsx_connect::config::core::LogFormat::Json);
            for w in loaded.warnings {
                tracing::warn!("{w}");
            }
            finish(system.block_on(scan::run(s, args)))
        }
    }
}

fn finish(r: anyhow::Result<i32>) -> ExitCode {
    match r {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("dsx-connect: {e:#}");
            ExitCode::from(2)
        }
    }
}
