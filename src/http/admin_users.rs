//! Local users for admins over HTTP (docs/AUTH.md, "Users"): list, create, change (role,
//! password, disabled) and remove. Authentication on only, like tokens: with it off these
//! routes answer `404 auth_disabled`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::admin_connectors::{enabled, iso, store_err};
use super::audit::AuditNote;
use super::errors::{ApiError, SINGLE_BODY_LIMIT, parse_json, read_body};
use crate::auth::tokens::Role;
use crate::auth::users::User;
use crate::identity::{UserChange, UserError};
use crate::model::validation::{Issue, Issues, Loc};

/// A user as admins see it: never the hash.
fn view(u: &User) -> Value {
    json!({
        "username": u.username,
        "role": u.role.as_str(),
        "disabled": u.disabled,
        "created_at": iso(Some(u.created_at)),
        "password_changed_at": iso(Some(u.password_changed_at)),
    })
}

fn user_err(e: UserError) -> ApiError {
    match e {
        UserError::Exists => ApiError::detail(StatusCode::CONFLICT, "user_exists"),
        UserError::NotFound => ApiError::not_found("user_not_found"),
        UserError::LastAdmin => ApiError::detail(StatusCode::CONFLICT, "last_admin"),
        UserError::Invalid(m) => ApiError::invalid(Issue::new("value_error", vec![Loc::from("body")], m.to_string())),
        UserError::Store(e) => store_err(e),
    }
}

fn role_of(body: &Value, issues: &mut Issues) -> Option<Role> {
    let v = body.get("role")?;
    let r = v.as_str().and_then(|r| r.parse::<Role>().ok());
    if r.is_none() {
        issues.push(
            Issue::new(
                "enum",
                vec![Loc::from("body"), Loc::from("role")],
                "Input should be 'viewer', 'operator' or 'admin'",
            )
            .with_input(v.clone()),
        );
    }
    r
}

fn string_of(body: &Value, key: &str, issues: &mut Issues) -> Option<String> {
    let v = body.get(key)?;
    match v.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            issues.push(
                Issue::new(
                    "string_type",
                    vec![Loc::from("body"), Loc::from(key)],
                    "Input should be a valid string",
                )
                .with_input(if key == "password" { json!("***") } else { v.clone() }),
            );
            None
        }
    }
}

/// `GET /admin/users`.
pub async fn list(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let all = state.core.identity.users().users().await.map_err(store_err)?;
    Ok(HttpResponse::Ok().json(all.iter().map(view).collect::<Vec<_>>()))
}

/// `POST /admin/users` `{"username", "password", "role"}`: 201 with the user.
pub async fn create(state: web::Data<HttpState>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let mut issues = Issues::default();
    let username = string_of(&body, "username", &mut issues);
    let password = string_of(&body, "password", &mut issues);
    let role = role_of(&body, &mut issues);
    for (k, missing) in [
        ("username", username.is_none()),
        ("password", password.is_none()),
        ("role", role.is_none()),
    ] {
        if missing && body.get(k).is_none() {
            issues.push(Issue::new(
                "missing",
                vec![Loc::from("body"), Loc::from(k)],
                "Field required",
            ));
        }
    }
    issues.into_result()?;
    let (Some(username), Some(password), Some(role)) = (username, password, role) else {
        return Err(ApiError::detail(StatusCode::UNPROCESSABLE_ENTITY, "invalid user"));
    };
    let u = state
        .core
        .identity
        .create_user(&username, &password, role)
        .await
        .map_err(user_err)?;
    let mut resp = HttpResponse::Created().json(view(&u));
    resp.extensions_mut().insert(
        AuditNote::default()
            .target("user", &u.username)
            .detail(format!("role {}", u.role.as_str())),
    );
    Ok(resp)
}

/// `PUT /admin/users/{username}` with any of `{"role", "password", "disabled"}`.
pub async fn update(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let body = parse_json(&read_body(payload, SINGLE_BODY_LIMIT).await?)?;
    let mut issues = Issues::default();
    let change = UserChange {
        role: role_of(&body, &mut issues),
        password: string_of(&body, "password", &mut issues),
        disabled: match body.get("disabled") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                issues.push(
                    Issue::new(
                        "bool_type",
                        vec![Loc::from("body"), Loc::from("disabled")],
                        "Input should be a valid boolean",
                    )
                    .with_input(v.clone()),
                );
                None
            }
        },
    };
    issues.into_result()?;
    let password_only = change.password.is_some() && change.role.is_none() && change.disabled.is_none();
    let mut changed: Vec<String> = Vec::new();
    if let Some(r) = change.role {
        changed.push(format!("role {}", r.as_str()));
    }
    if let Some(d) = change.disabled {
        changed.push(if d { "disabled".into() } else { "enabled".into() });
    }
    if change.password.is_some() {
        changed.push("password changed".into());
    }
    let u = state
        .core
        .identity
        .update_user(&path.into_inner(), change)
        .await
        .map_err(user_err)?;
    let mut note = AuditNote::default()
        .target("user", &u.username)
        .detail(changed.join(", "));
    if password_only {
        note = note.action("user.password");
    }
    let mut resp = HttpResponse::Ok().json(view(&u));
    resp.extensions_mut().insert(note);
    Ok(resp)
}

/// `DELETE /admin/users/{username}`: 204.
pub async fn remove(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    state
        .core
        .identity
        .delete_user(&path.into_inner())
        .await
        .map_err(user_err)?;
    Ok(HttpResponse::NoContent().finish())
}
