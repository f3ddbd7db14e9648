//! `dsx-connect user add|passwd|remove|list`: local users in the configured store (docs/AUTH.md,
//! "Users"). Passwords come from the terminal (twice, without echo) or from standard input with
//! `--password-stdin`; they never appear in arguments, where other users could read them.

use std::io::{BufRead, IsTerminal};

use super::UserCommand;
use super::auth_store::AuthStores;
use crate::auth::audit::Outcome;
use crate::config::Settings;
use crate::identity::{Identity, UserChange, UserError};

/// Why no new password could be read.
#[derive(Debug, thiserror::Error)]
enum PasswordInput {
    #[error("cannot read the password from standard input")]
    Stdin(#[source] std::io::Error),
    #[error("no terminal to read the password from: use --password-stdin")]
    NoTerminal,
    #[error("cannot read the password from the terminal")]
    Terminal(#[source] std::io::Error),
    #[error("the two passwords differ")]
    Differ,
}

/// Reads the new password: one line from stdin, or twice from the terminal.
fn read_password(from_stdin: bool) -> Result<String, PasswordInput> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(PasswordInput::Stdin)?;
        return Ok(line
            .strip_suffix('\n')
            .unwrap_or(&line)
            .trim_end_matches('\r')
            .to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(PasswordInput::NoTerminal);
    }
    let first = rpassword::prompt_password("New password: ").map_err(PasswordInput::Terminal)?;
    let again = rpassword::prompt_password("Repeat it: ").map_err(PasswordInput::Terminal)?;
    if first != again {
        return Err(PasswordInput::Differ);
    }
    Ok(first)
}

fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(|| "-".into(), |d| d.format("%Y-%m-%dT%H:%MZ").to_string())
}

/// The exit code of a refused change: 1 for refusals, 2 for invalid input.
fn refused(e: UserError, name: &str) -> anyhow::Result<i32> {
    match e {
        UserError::Exists => eprintln!("user {name} already exists"),
        UserError::NotFound => eprintln!("no user {name} (see `dsx-connect user list`)"),
        UserError::LastAdmin => eprintln!("refused: {name} is the last administrator"),
        UserError::Invalid(m) => {
            eprintln!("{m}");
            return Ok(2);
        }
        UserError::Store(e) => return Err(e.into()),
    }
    Ok(1)
}

/// Runs a user command: 0 done, 1 refused (exists, unknown, last admin), 2 invalid input.
pub async fn run(settings: &Settings, cmd: UserCommand) -> anyhow::Result<i32> {
    let stores = AuthStores::open(settings)?;
    let identity = Identity::new(
        stores.users.clone(),
        stores.sessions.clone(),
        stores.attempts.clone(),
        settings.auth.login.clone(),
        settings.auth.oidc.as_ref().is_some_and(|o| o.can_yield_admin()),
    );
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let pw = match read_password(password_stdin) {
                Ok(p) => p,
                Err(m) => {
                    eprintln!("{}", crate::error_chain::error_chain(&m));
                    return Ok(2);
                }
            };
            match identity.create_user(&username, &pw, role).await {
                Ok(u) => {
                    let detail = Some(format!("role {}", u.role.as_str()));
                    stores
                        .audit("user.create", ("user", &u.username), Outcome::Success, detail)
                        .await;
                    eprintln!("created user {} with role {}", u.username, u.role.as_str());
                    Ok(0)
                }
                Err(e) => refused(e, &username),
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let pw = match read_password(password_stdin) {
                Ok(p) => p,
                Err(m) => {
                    eprintln!("{}", crate::error_chain::error_chain(&m));
                    return Ok(2);
                }
            };
            let change = UserChange {
                password: Some(pw),
                ..UserChange::default()
            };
            match identity.update_user(&username, change).await {
                Ok(u) => {
                    stores
                        .audit("user.password", ("user", &u.username), Outcome::Success, None)
                        .await;
                    eprintln!("changed the password of {}; their sessions have ended", u.username);
                    Ok(0)
                }
                Err(e) => refused(e, &username),
            }
        }
        UserCommand::Remove { username } => match identity.delete_user(&username).await {
            Ok(()) => {
                stores
                    .audit(
                        "user.delete",
                        ("user", &username.to_ascii_lowercase()),
                        Outcome::Success,
                        None,
                    )
                    .await;
                eprintln!("removed user {username}");
                Ok(0)
            }
            Err(e) => refused(e, &username),
        },
        UserCommand::List => {
            println!(
                "{:<32}  {:<8}  {:<8}  {:<17}  PASSWORD CHANGED",
                "USERNAME", "ROLE", "STATE", "CREATED"
            );
            for u in stores.users.users().await? {
                println!(
                    "{:<32}  {:<8}  {:<8}  {:<17}  {}",
                    u.username,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "enabled" },
                    date(u.created_at),
                    date(u.password_changed_at)
                );
            }
            Ok(0)
        }
    }
}
