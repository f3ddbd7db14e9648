//! Single sign-on over HTTP (docs/AUTH.md, "Single sign-on"): `GET /auth/oidc/login` sends the
//! browser to the provider; `GET /auth/oidc/callback` turns its answer into a session.
//!
//! `state` travels in a short-lived cookie (SameSite=Lax: the provider's redirect back is a
//! top-level cross-site navigation) and must match the query and a pending login in the store,
//! once. The verifier and nonce never leave the store.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use super::HttpState;
use super::admin_connectors::store_err;
use super::auth_session::{ClientAddr, under_tls};
use super::errors::{ApiError, query_get, query_pairs};
use crate::auth::audit::{Actor, ActorKind, AuditRecord, Outcome};
use crate::auth::sessions::{Method, digest};
use crate::backend::identity::OidcPending;
use crate::oidc::Oidc;

const STATE_COOKIE: &str = "dsx_oidc";
/// How long a started sign-in may take.
const PENDING_SECS: i64 = 600;

fn enabled(state: &HttpState) -> Result<&Oidc, ApiError> {
    if !state.core.settings.auth.enabled {
        return Err(ApiError::not_found("auth_disabled"));
    }
    state
        .core
        .oidc
        .as_deref()
        .ok_or_else(|| ApiError::not_found("oidc_disabled"))
}

fn state_cookie(state: &HttpState, value: String, max_age: i64) -> Cookie<'static> {
    Cookie::build(STATE_COOKIE, value)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(under_tls(&state.core.settings))
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// `GET /auth/oidc/login`: 302 to the provider's authorization endpoint.
pub async fn login(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    let oidc = enabled(&state)?;
    let begun = oidc.begin().await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on cannot start");
        ApiError::detail(StatusCode::BAD_GATEWAY, "oidc_unavailable")
    })?;
    let pending = OidcPending {
        verifier: begun.verifier,
        nonce: begun.nonce,
        created_at: crate::auth::hmac::now_secs(),
    };
    state
        .core
        .backend
        .sessions
        .put_oidc_pending(&digest(&begun.state), &pending, PENDING_SECS)
        .await
        .map_err(store_err)?;
    Ok(HttpResponse::Found()
        .insert_header(("Location", begun.url.to_string()))
        .insert_header(super::errors::no_store())
        .cookie(state_cookie(&state, begun.state, PENDING_SECS))
        .finish())
}

fn failed(why: &str) -> ApiError {
    tracing::warn!(reason = %crate::auth::relay::sanitize(why), "single sign-on refused");
    ApiError::detail(StatusCode::UNAUTHORIZED, "oidc_failed")
}

/// `GET /auth/oidc/callback?code&state`: a session and a same-site page that loads the UI.
pub async fn callback(state: web::Data<HttpState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let oidc = enabled(&state)?;
    let q = query_pairs(&req);
    let ip = req
        .extensions()
        .get::<ClientAddr>()
        .and_then(|a| a.0)
        .map(|i| i.to_string());
    let audit = |result: Outcome, status: u16, actor: Actor, role: Option<&str>, detail: Option<&str>| {
        let mut rec = AuditRecord::now(actor, "auth.oidc_login", result);
        rec.role = role.map(str::to_string);
        rec.http_status = Some(status);
        rec.method = Some("GET".into());
        rec.path = Some(req.path().to_string());
        rec.source_ip = ip.clone();
        if let Some(d) = detail {
            rec = rec.detail(d);
        }
        rec
    };
    let outcome = finish(&state, oidc, &req, &q).await;
    match outcome {
        Ok((user, role, cookie)) => {
            let actor = Actor::new(ActorKind::User, Some(&user), Some(&user));
            let rec = audit(Outcome::Success, 200, actor, Some(role.as_str()), None).target("user", &user);
            state.core.auditor.record(rec).await;
            let settings = &state.core.settings;
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header(super::errors::no_store())
                .cookie(super::auth_session::session_cookie(settings, cookie))
                .cookie(state_cookie(&state, String::new(), 0))
                .body("<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=../../../../../\">"))
        }
        Err((e, user)) => {
            let status = actix_web::ResponseError::status_code(&e).as_u16();
            let detail = if status == 403 { "no_role_mapped" } else { "oidc_failed" };
            let mut rec = audit(
                Outcome::of_status(status),
                status,
                Actor::anonymous(),
                None,
                Some(detail),
            );
            if let Some(u) = user {
                rec = rec.target("user", &u);
            }
            state.core.auditor.record(rec).await;
            if wants_html(&req) {
                return Ok(failure_page(&e, detail));
            }
            Err(e)
        }
    }
}

/// A browser navigation (the provider's redirect back), as opposed to an API client.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The same status for a browser, as a page that goes on to the login page, which explains
/// `detail` (a fixed code of ours). No script, nothing from the request.
fn failure_page(e: &ApiError, detail: &str) -> HttpResponse {
    let to = format!("../../../../../login?error={detail}");
    HttpResponse::build(actix_web::ResponseError::status_code(e))
        .content_type("text/html; charset=utf-8")
        .insert_header(super::errors::no_store())
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .body(format!(
            "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Sign-in failed</title>\
             <p>Sign-in failed ({detail}). <a href=\"{to}\">Back to sign-in</a></p>"
        ))
}

/// The checks of a callback; the user name when known (for the audit record of a refusal).
async fn finish(
    state: &HttpState,
    oidc: &Oidc,
    req: &HttpRequest,
    q: &[(String, String)],
) -> Result<(String, crate::auth::tokens::Role, String), (ApiError, Option<String>)> {
    if let Some(err) = query_get(q, "error") {
        return Err((failed(&format!("provider answered error {err}")), None));
    }
    let (Some(code), Some(sent_state)) = (query_get(q, "code"), query_get(q, "state")) else {
        return Err((failed("callback without code or state"), None));
    };
    let cookie = req.cookie(STATE_COOKIE).map(|c| c.value().to_string());
    if cookie.as_deref() != Some(sent_state) {
        return Err((failed("state does not match the browser's"), None));
    }
    let pending = state
        .core
        .backend
        .sessions
        .take_oidc_pending(&digest(sent_state))
        .await
        .map_err(|e| (store_err(e), None))?
        .ok_or_else(|| (failed("unknown or used state"), None))?;
    let who = oidc
        .finish(code, &pending.verifier, &pending.nonce)
        .await
        .map_err(|e| (failed(&e.to_string()), None))?;
    let Some(role) = who.role else {
        return Err((
            ApiError::detail(StatusCode::FORBIDDEN, "no_role_mapped"),
            Some(who.username),
        ));
    };
    let (cookie, _) = state
        .core
        .identity
        .open_session(&who.username, role, Method::Oidc)
        .await
        .map_err(|e| (store_err(e), Some(who.username.clone())))?;
    Ok((who.username, role, cookie))
}
