//! `dsx-connect token create|list|revoke`: API tokens in the configured store (the core may be
//! running; its token cache sees a change within 5 s).

use super::TokenCommand;
use super::auth_store::AuthStores;
use crate::auth::audit::Outcome;
use crate::auth::tokens::{self, TOKEN_PREFIX};
use crate::config::Settings;

fn date(secs: Option<i64>) -> String {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(|| "-".to_string(), |d| d.format("%Y-%m-%dT%H:%MZ").to_string())
}

/// Runs a token command; the exit code is 0 on success, 1 when refused (unknown id).
pub async fn run(settings: &Settings, cmd: TokenCommand) -> anyhow::Result<i32> {
    let stores = AuthStores::open(settings)?;
    let store = &stores.tokens;
    match cmd {
        TokenCommand::Create { name, role, expires } => {
            if !tokens::valid_name(&name) {
                anyhow::bail!("--name must be 1-64 letters, digits, '.', '_' or '-'");
            }
            let lifetime = match expires.as_deref() {
                Some(e) => tokens::parse_lifetime(e).map_err(anyhow::Error::msg)?,
                None => Some(settings.auth.token_default_days.saturating_mul(86_400)),
            };
            if lifetime.is_none() {
                eprintln!(
                    "warning: this token never expires; revoke it with `dsx-connect token revoke <id>` when it is no longer needed"
                );
            }
            let (token, rec) = tokens::create(&name, role, "cli", crate::auth::hmac::now_secs(), lifetime);
            store.put_token(&rec).await?;
            stores
                .audit(
                    "token.create",
                    ("token", &rec.id),
                    Outcome::Success,
                    Some(format!("role {}", rec.role.as_str())),
                )
                .await;
            eprintln!(
                "created token {} ({}, role {}, expires {}); it is shown once:",
                rec.id,
                rec.name,
                rec.role.as_str(),
                date(rec.expires_at)
            );
            println!("{token}");
            Ok(0)
        }
        TokenCommand::List => {
            println!(
                "{:<12}  {:<24}  {:<8}  {:<8}  {:<17}  {:<17}  LAST USED",
                "ID", "NAME", "ROLE", "PREFIX", "CREATED", "EXPIRES"
            );
            for t in store.tokens().await? {
                println!(
                    "{:<12}  {:<24}  {:<8}  {:<8}  {:<17}  {:<17}  {}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    t.prefix,
                    date(Some(t.created_at)),
                    date(t.expires_at),
                    date(t.last_used_at)
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { id } => {
            if store.delete_token(&id).await? {
                stores
                    .audit("token.revoke", ("token", &id), Outcome::Success, None)
                    .await;
                eprintln!("revoked token {id}");
                Ok(0)
            } else {
                eprintln!(
                    "no token with id {id} (ids are listed by `dsx-connect token list`; tokens start with {TOKEN_PREFIX})"
                );
                Ok(1)
            }
        }
    }
}
