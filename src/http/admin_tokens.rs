//! API tokens for admins over HTTP (docs/AUTH.md, "API tokens"): list, create (the token is in
//! this one answer only), revoke. Authentication on only: with it off these routes answer
//! `404 auth_disabled`, so nobody can plant a token that becomes valid when it is switched on.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::admin_connectors::{enabled, iso, store_err};
use super::errors::{ApiError, SINGLE_BODY_LIMIT, no_store, parse_json, read_body};
use crate::auth::tokens::{self, ApiToken, Role};
use crate::model::validation::{Issue, Issues, Loc};
use crate::trust::OperatorPrincipal;

/// A token as admins see it: never the token, never its digest.
fn view(t: &ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "role": t.role.as_str(),
        "prefix": t.prefix,
        "created_at": iso(Some(t.created_at)),
        "created_by": t.created_by,
        "expires_at": iso(t.expires_at),
        "last_used_at": iso(t.last_used_at),
    })
}

/// `GET /admin/tokens`.
pub async fn list(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let all = state.core.backend.tokens.tokens().await.map_err(store_err)?;
    Ok(HttpResponse::Ok().json(all.iter().map(view).collect::<Vec<_>>()))
}

/// `POST /admin/tokens` `{"name", "role", "expires_in_days": int | null}`: 201 with the token.
pub async fn create(
    state: web::Data<HttpState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let loc = |k: &str| vec![Loc::from("body"), Loc::from(k)];
    let mut issues = Issues::default();
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    if !tokens::valid_name(&name) {
        issues.push(
            Issue::new("value_error", loc("name"), "1-64 letters, digits, '.', '_' or '-'")
                .with_input(body["name"].clone()),
        );
    }
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .and_then(|r| r.parse::<Role>().ok());
    if role.is_none() {
        issues.push(
            Issue::new("enum", loc("role"), "Input should be 'viewer', 'operator' or 'admin'")
                .with_input(body["role"].clone()),
        );
    }
    let days = match body.get("expires_in_days") {
        None => Some(state.core.settings.auth.token_default_days),
        Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|d| (1..=3650).contains(d)) {
            Some(d) => Some(d),
            None => {
                issues.push(
                    Issue::new(
                        "value_error",
                        loc("expires_in_days"),
                        "an integer from 1 to 3650, or null",
                    )
                    .with_input(v.clone()),
                );
                None
            }
        },
    };
    issues.into_result()?;
    let by = actix_web::HttpMessage::extensions(&req)
        .get::<OperatorPrincipal>()
        .map_or_else(|| "admin".to_string(), OperatorPrincipal::label);
    let role = role.unwrap_or(Role::Viewer);
    let (token, rec) = tokens::create(
        &name,
        role,
        &by,
        crate::auth::hmac::now_secs(),
        days.map(|d| d * 86_400),
    );
    state.core.backend.tokens.put_token(&rec).await.map_err(store_err)?;
    tracing::info!(id = %rec.id, name = %rec.name, role = role.as_str(), by = %by, "token.create");
    let mut v = view(&rec);
    v["token"] = json!(token);
    let mut resp = HttpResponse::Created().insert_header(no_store()).json(v);
    resp.extensions_mut().insert(
        super::audit::AuditNote::default()
            .target("token", &rec.id)
            .detail(format!("{} ({})", rec.name, role.as_str())),
    );
    Ok(resp)
}

/// `DELETE /admin/tokens/{id}`: 204, or 404 `token_not_found`.
pub async fn revoke(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    if state.core.backend.tokens.delete_token(&path).await.map_err(store_err)? {
        state.core.trust.forget_tokens();
        tracing::info!(id = %path.as_str(), "token.revoke");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("token_not_found"))
    }
}
