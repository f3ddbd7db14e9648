//! The identity stores the `token` and `user` commands act on: the Redis store when
//! `DSXCONNECT_REDIS_URL` is set, else the embedded database file (a running `serve` sees the
//! changes through SQLite's own locking). Their changes are audited as actor `cli`.

use std::sync::Arc;

use crate::auth::audit::{Actor, ActorKind, AuditRecord, Outcome};
use crate::backend::TokenStore;
use crate::backend::identity::{AttemptStore, AuditStore, SessionStore, UserStore};
use crate::backend::sqlite::sql::AuthFile;
use crate::config::Settings;

pub struct AuthStores {
    pub tokens: Arc<dyn TokenStore>,
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub attempts: Arc<dyn AttemptStore>,
    pub audit: Arc<dyn AuditStore>,
    retain: usize,
}

impl AuthStores {
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let retain = settings.auth.login.audit_retain;
        Ok(match &settings.redis_url {
            Some(url) => {
                let s = Arc::new(crate::app::redis_store(settings, url.expose())?);
                Self {
                    tokens: s.clone(),
                    users: s.clone(),
                    sessions: s.clone(),
                    attempts: s.clone(),
                    audit: s,
                    retain,
                }
            }
            None => {
                let s = Arc::new(AuthFile::open(&settings.data_dir)?);
                Self {
                    tokens: s.clone(),
                    users: s.clone(),
                    sessions: s.clone(),
                    attempts: s.clone(),
                    audit: s,
                    retain,
                }
            }
        })
    }

    /// Records a command's action (actor `cli`, named after the OS user when known).
    pub async fn audit(&self, action: &str, target: (&str, &str), result: Outcome, detail: Option<String>) {
        let who = std::env::var("USER").ok();
        let mut rec = AuditRecord::now(Actor::new(ActorKind::Cli, None, who.as_deref()), action, result)
            .target(target.0, target.1);
        if let Some(d) = detail {
            rec = rec.detail(d);
        }
        if let Err(e) = self.audit.append_audit(&rec, self.retain).await {
            eprintln!("warning: the audit record of {action} was not written: {e}");
        }
    }
}
