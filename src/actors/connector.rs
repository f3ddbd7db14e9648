//! ConnectorRegistry and ConnectorActor: registration, presence expiry and health sweeps
//! (docs/reference/CORE-API.md, "Registration and presence").
//!
//! The registry owns the registered set (in the store, mirrored in the [`RegistryView`] that
//! handlers read) and announces every change on the event bus. One ConnectorActor per
//! connector owns that connector's current model and answers health checks against it, so a
//! connector that re-registers with a new url is checked (and called) at the new url at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::backend::{BusEvent, StoreError};
use crate::connector_client::{ConnectorClients, Target};
use crate::core_state::Core;
use crate::model::{ConnectorInstanceModel, ConnectorUuid, now_ms};
use crate::registry_view::RegistryView;

/// Registers (or refreshes) a validated model under its uuid; answers whether it was a first
/// registration.
#[derive(Message)]
#[rtype(result = "Result<bool, RegisterError>")]
pub struct Register(pub ConnectorUuid, pub ConnectorInstanceModel);

/// Why a registration was not kept.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A new connector while `CONNECTORS__MAX_REGISTERED` are registered already.
    #[error("the registry holds its maximum of {0} connectors")]
    Full(usize),
    #[error("registry store: {0}")]
    Store(#[from] StoreError),
}

/// Removes a connector (idempotent), with the reason its `unregistered` event gives.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Unregister(pub ConnectorUuid, pub Option<&'static str>);

/// Replaces a connector actor's model.
#[derive(Message)]
#[rtype(result = "()")]
struct UpdateModel(ConnectorInstanceModel);

/// Brings the registered set in line with the shared store: another API process registered or
/// removed a connector (distributed backend).
#[derive(Message)]
#[rtype(result = "()")]
struct Resync;

/// Asks a connector actor whether its connector answers `healthz` (5 s cap).
#[derive(Message)]
#[rtype(result = "bool")]
struct CheckHealth;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ConnectorActor {
    model: ConnectorInstanceModel,
    clients: Arc<ConnectorClients>,
}

impl Actor for ConnectorActor {
    type Context = Context<Self>;
}

impl Handler<UpdateModel> for ConnectorActor {
    type Result = ();
    fn handle(&mut self, msg: UpdateModel, _: &mut Self::Context) {
        self.model = msg.0;
    }
}

impl Handler<CheckHealth> for ConnectorActor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, _: CheckHealth, _: &mut Self::Context) -> Self::Result {
        let clients = Arc::clone(&self.clients);
        let m = self.model.clone();
        Box::pin(async move {
            let Some(url) = m.url.clone() else { return false };
            matches!(
                clients
                    .proxy(
                        Method::GET,
                        Target {
                            base: &url,
                            uuid: m.connector_uuid(),
                            name: Some(&m.name),
                        },
                        "healthz",
                        "",
                        Some(HEALTH_TIMEOUT),
                    )
                    .await,
                Ok((s, _)) if s.is_success()
            )
        })
    }
}

pub struct ConnectorRegistry {
    core: Arc<Core>,
    actors: HashMap<ConnectorUuid, Addr<ConnectorActor>>,
    sweeping: bool,
    /// A resync is running, and whether another one was asked for meanwhile.
    resync: (bool, bool),
    /// New connectors whose registration is being stored: they count toward the cap before
    /// they reach the view, so concurrent registrations cannot overshoot it.
    pending: std::collections::HashSet<ConnectorUuid>,
}

fn event(kind: &str, m: &ConnectorInstanceModel, reason: Option<&str>) -> serde_json::Value {
    let mut v = json!({
        "type": kind,
        "uuid": m.uuid,
        "name": m.name,
        "url": if kind == "unregistered" { String::new() } else { m.url.clone().unwrap_or_default() },
        "ts": now_ms() as f64 / 1000.0,
    });
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

impl ConnectorRegistry {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            actors: HashMap::new(),
            sweeping: false,
            resync: (false, false),
            pending: std::collections::HashSet::new(),
        }
    }

    fn view(&self) -> &RegistryView {
        &self.core.registry_view
    }

    fn upsert_actor(&mut self, uuid: &ConnectorUuid, model: ConnectorInstanceModel) {
        match self.actors.get(uuid).filter(|a| a.connected()) {
            Some(a) => a.do_send(UpdateModel(model)),
            None => {
                let a = ConnectorActor {
                    model,
                    clients: Arc::clone(&self.core.clients),
                }
                .start();
                self.actors.insert(uuid.clone(), a);
            }
        }
    }

    /// Checks every connector whose presence expired (with `startup`: the ones known when the
    /// process started, whatever their expiry) and evicts the ones that do not answer.
    fn sweep(&mut self, startup: Option<Vec<ConnectorUuid>>, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let store = Arc::clone(&self.core.backend.registry);
        let ttl = self.core.settings.connectors.presence_ttl_secs;
        let actors = self.actors.clone();
        let startup_run = startup.is_some();
        let only = startup;
        let fut = async move {
            let all = store.all().await?;
            let now = now_ms();
            let mut evicted = Vec::new();
            for (model, expires) in all {
                let Some(uuid) = model.connector_uuid() else { continue };
                let due = match &only {
                    Some(known) => known.contains(&uuid),
                    None => expires <= now,
                };
                if !due {
                    continue;
                }
                let healthy = match actors.get(&uuid) {
                    Some(a) => a.send(CheckHealth).await.unwrap_or(false),
                    None => false,
                };
                if healthy {
                    store.renew(&uuid, ttl).await?;
                } else {
                    store.remove(&uuid).await?;
                    evicted.push((uuid, model));
                }
            }
            Ok::<_, StoreError>(evicted)
        };
        let reason = if startup_run {
            "startup_validation"
        } else {
            "health_check_failed"
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            act.sweeping = false;
            match res {
                Ok(evicted) => {
                    for (uuid, m) in evicted {
                        tracing::warn!(connector = %m.name, uuid = %uuid, reason, "connector evicted");
                        act.view().remove(&uuid);
                        act.actors.remove(&uuid);
                        act.core
                            .backend
                            .events
                            .publish(BusEvent::Connector(event("unregistered", &m, Some(reason))));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "connector sweep failed"),
            }
        }));
    }
}

impl Actor for ConnectorRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let store = Arc::clone(&self.core.backend.registry);
        ctx.wait(async move { store.all().await }.into_actor(self).map(|res, act, ctx| {
            let mut known = Vec::new();
            match res {
                Ok(all) => {
                    for (m, _) in all {
                        if let Some(uuid) = m.connector_uuid() {
                            act.view().put(&uuid, m.clone());
                            act.upsert_actor(&uuid, m);
                            known.push(uuid);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "loading stored connectors failed"),
            }
            if !known.is_empty() {
                act.sweep(Some(known), ctx);
            }
        }));
        let every = Duration::from_secs(self.core.settings.connectors.sweep_secs);
        ctx.run_interval(every, |act, ctx| act.sweep(None, ctx));
        // Distributed: registrations made through other API processes arrive as connector
        // events on the shared bus; each one brings this process's set up to date.
        if self.core.backend.kind == crate::backend::BackendKind::Redis {
            let mut events = self.core.backend.events.subscribe();
            let me = ctx.address();
            actix_rt::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match events.recv().await {
                        Ok(BusEvent::Connector(_)) | Err(RecvError::Lagged(_)) => me.do_send(Resync),
                        Ok(_) => {}
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
    }
}

impl Handler<Resync> for ConnectorRegistry {
    type Result = ();

    fn handle(&mut self, _: Resync, ctx: &mut Self::Context) {
        if self.resync.0 {
            self.resync.1 = true;
            return;
        }
        self.resync = (true, false);
        let store = Arc::clone(&self.core.backend.registry);
        ctx.spawn(async move { store.all().await }.into_actor(self).map(|res, act, ctx| {
            let again = act.resync.1;
            act.resync = (false, false);
            match res {
                Ok(all) => {
                    let live: HashMap<ConnectorUuid, ConnectorInstanceModel> = all
                        .into_iter()
                        .filter_map(|(m, _)| Some((m.connector_uuid()?, m)))
                        .collect();
                    for (uuid, m) in &live {
                        act.view().put(uuid, m.clone());
                        act.upsert_actor(uuid, m.clone());
                    }
                    let gone: Vec<ConnectorUuid> =
                        act.actors.keys().filter(|u| !live.contains_key(*u)).cloned().collect();
                    for uuid in gone {
                        act.view().remove(&uuid);
                        act.actors.remove(&uuid);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reloading the shared connector registry failed"),
            }
            if again {
                ctx.notify(Resync);
            }
        }));
    }
}

impl Handler<Register> for ConnectorRegistry {
    type Result = ResponseActFuture<Self, Result<bool, RegisterError>>;

    fn handle(&mut self, msg: Register, _: &mut Self::Context) -> Self::Result {
        let Register(uuid, model) = msg;
        let max = self.core.settings.connectors.max_registered;
        let new = !self.view().contains(&uuid) && !self.pending.contains(&uuid);
        // This process's own connectors are never locked out by a crowd of peers.
        if new && !self.core.trust.builtin().is_builtin(&uuid) && self.view().count() + self.pending.len() >= max {
            return Box::pin(actix::fut::ready(Err(RegisterError::Full(max))));
        }
        if new {
            self.pending.insert(uuid.clone());
        }
        let store = Arc::clone(&self.core.backend.registry);
        let ttl = self.core.settings.connectors.presence_ttl_secs;
        let m = model.clone();
        let u = uuid.clone();
        Box::pin(
            async move { store.upsert(&u, &m, ttl).await.map_err(RegisterError::from) }
                .into_actor(self)
                .map(move |res, act, _| {
                    act.pending.remove(&uuid);
                    if let Ok(first) = &res {
                        act.view().put(&uuid, model.clone());
                        act.upsert_actor(&uuid, model.clone());
                        let kind = if *first { "registered" } else { "refreshed" };
                        act.core
                            .backend
                            .events
                            .publish(BusEvent::Connector(event(kind, &model, None)));
                    }
                    res
                }),
        )
    }
}

impl Handler<Unregister> for ConnectorRegistry {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    fn handle(&mut self, msg: Unregister, _: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.core.backend.registry);
        let (uuid, reason) = (msg.0, msg.1);
        let u = uuid.clone();
        Box::pin(
            async move { store.remove(&u).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let removed = res?;
                    let known = act.view().remove(&uuid).or(removed);
                    if let Some(a) = act.actors.remove(&uuid) {
                        drop(a);
                    }
                    if let Some(m) = known {
                        act.core
                            .backend
                            .events
                            .publish(BusEvent::Connector(event("unregistered", &m, reason)));
                    }
                    Ok(())
                }),
        )
    }
}
