//! Browser sign-in over HTTP (docs/AUTH.md, "Sessions"): `POST /auth/login`, `POST
//! /auth/logout`, `GET /auth/session`, and the session cookie's attributes.
//!
//! The cookie is HttpOnly (scripts never see it) and SameSite=Strict (other sites' pages never
//! send it); under TLS it is `Secure` and named `__Host-dsx_session`, which browsers only accept
//! from a secure origin, for the whole host, without a `Domain`.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::admin_connectors::{iso, store_err};
use super::audit::AuditNote;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, no_store, parse_json, read_body};
use crate::auth::audit::{Actor, ActorKind};
use crate::auth::sessions::Session;
use crate::config::Settings;
use crate::identity::LoginError;
use crate::trust::OperatorPrincipal;

/// The session a request came with (set by the gate).
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub session: Session,
}

/// The client's address as the gate determined it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

/// Whether the UI is reached over TLS: the listener's own, or an https public URL (a proxy).
pub fn under_tls(s: &Settings) -> bool {
    s.use_tls || s.auth.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
}

pub fn cookie_name(s: &Settings) -> &'static str {
    if under_tls(s) {
        "__Host-dsx_session"
    } else {
        "dsx_session"
    }
}

/// The session cookie carrying `value`.
pub fn session_cookie(s: &Settings, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(s), value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(under_tls(s))
        .finish()
}

/// A `Set-Cookie` that deletes the session cookie (same attributes, `Max-Age=0`).
pub fn clearing_cookie(s: &Settings) -> Cookie<'static> {
    let mut c = session_cookie(s, String::new());
    c.set_max_age(CookieDuration::ZERO);
    c
}

fn auth_off() -> ApiError {
    ApiError::not_found("auth_disabled")
}

/// `POST /auth/login` `{"username", "password"}`.
pub async fn login(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.core.settings;
    if !settings.auth.enabled {
        return Err(auth_off());
    }
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(username), Some(password)) = (field("username"), field("password")) else {
        return Err(ApiError::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "username and password are required strings",
        ));
    };
    let shown = crate::auth::users::normalise_username(&username).unwrap_or_else(|_| "(invalid)".into());
    let ip = req.extensions().get::<ClientAddr>().and_then(|a| a.0);
    let ip_text = ip.map(|i| i.to_string());
    let mut note = AuditNote::default().target("user", &shown);
    let identity = &state.core.identity;
    match identity.login(&username, &password, ip_text.as_deref()).await {
        Ok((value, s)) => {
            // A session presented with the login is discarded (no fixation).
            let old = req
                .extensions()
                .get::<SessionContext>()
                .map(|c| c.session.sha256.clone());
            if let Some(old) = old {
                let _ = identity.logout(&old).await;
            }
            note.actor = Some(Actor::new(ActorKind::User, Some(&s.user), Some(&s.user)));
            note.role = Some(s.role.as_str());
            let mut resp = HttpResponse::Ok()
                .insert_header(no_store())
                .cookie(session_cookie(settings, value))
                .json(json!({"user": s.user, "role": s.role.as_str(), "csrf_token": s.csrf}));
            resp.extensions_mut().insert(note);
            Ok(resp)
        }
        Err(LoginError::Invalid { locked_now }) => {
            if locked_now {
                let mut rec = crate::auth::audit::AuditRecord::now(
                    Actor::anonymous(),
                    "auth.lockout",
                    crate::auth::audit::Outcome::Denied,
                )
                .target("user", &shown)
                .detail("too_many_attempts");
                rec.source_ip = ip_text.clone();
                rec.http_status = Some(429);
                state.core.auditor.record(rec).await;
            }
            let mut resp = super::errors::unauthorized("invalid_credentials", "Bearer realm=\"dsx-connect\"".into());
            resp.extensions_mut().insert(note.detail("invalid_credentials"));
            Ok(resp)
        }
        Err(LoginError::Locked { retry_after }) => {
            let mut resp = HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", retry_after.max(1).to_string()))
                .json(json!({"detail": "too_many_attempts"}));
            resp.extensions_mut().insert(note.detail("too_many_attempts"));
            Ok(resp)
        }
        Err(LoginError::Store(e)) => Err(store_err(e)),
    }
}

/// `POST /auth/logout[?everywhere=true]`: 204, the session (or every session of its user)
/// deleted and the cookie cleared.
pub async fn logout(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let settings = &state.core.settings;
    let mut note = AuditNote::default();
    let everywhere = super::errors::query_get(&super::errors::query_pairs(&req), "everywhere") == Some("true");
    let session = req.extensions().get::<SessionContext>().map(|c| c.session.clone());
    if let Some(s) = session {
        if everywhere {
            let n = state
                .core
                .identity
                .logout_everywhere(&s.user)
                .await
                .map_err(store_err)?;
            note = note.detail(format!("{n} sessions ended"));
        } else {
            state.core.identity.logout(&s.sha256).await.map_err(store_err)?;
        }
        note = note.target("user", &s.user);
    }
    let mut resp = HttpResponse::NoContent().cookie(clearing_cookie(settings)).finish();
    resp.extensions_mut().insert(note);
    Ok(resp)
}

/// `GET /auth/session`: who is signed in, how, and the CSRF token the UI sends back.
pub async fn session(state: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    let settings = &state.core.settings;
    let methods = if state.core.oidc.is_some() {
        json!(["password", "oidc"])
    } else {
        json!(["password"])
    };
    let body = if !settings.auth.enabled {
        json!({
            "authenticated": false, "auth_enabled": false, "user": null, "role": "admin", "method": "none",
            "csrf_token": null, "expires_at": null, "methods": methods,
        })
    } else if let Some(ctx) = req.extensions().get::<SessionContext>() {
        let s = &ctx.session;
        json!({
            "authenticated": true, "auth_enabled": true, "user": s.user, "role": s.role.as_str(),
            "method": s.method.as_str(), "csrf_token": s.csrf,
            "expires_at": iso(Some(s.expires_at(state.core.identity.lifetimes()))), "methods": methods,
        })
    } else if let Some(p) = req.extensions().get::<OperatorPrincipal>() {
        json!({
            "authenticated": true, "auth_enabled": true, "user": p.name, "role": p.role.as_str(),
            "method": "token", "csrf_token": null, "expires_at": null, "methods": methods,
        })
    } else {
        json!({
            "authenticated": false, "auth_enabled": true, "user": null, "role": null, "method": null,
            "csrf_token": null, "expires_at": null, "methods": methods,
        })
    };
    HttpResponse::Ok().insert_header(no_store()).json(body)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&env, None).unwrap().settings
    }

    #[test]
    fn under_tls_the_cookie_is_secure_and_host_prefixed() {
        let plain = session_cookie(&settings(&[]), "v".into()).to_string();
        assert_eq!(plain, "dsx_session=v; HttpOnly; SameSite=Strict; Path=/");
        let https = settings(&[("DSXCONNECT_PUBLIC_URL", "https://dsx.example.com/")]);
        let c = session_cookie(&https, "v".into()).to_string();
        assert_eq!(c, "__Host-dsx_session=v; HttpOnly; SameSite=Strict; Secure; Path=/");
        let cleared = clearing_cookie(&https).to_string();
        assert!(
            cleared.starts_with("__Host-dsx_session=;") && cleared.contains("Max-Age=0") && cleared.contains("Secure"),
            "{cleared}"
        );
    }
}
