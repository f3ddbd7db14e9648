//! Connector credentials for admins (docs/AUTH.md, "Revocation"): list the records, request a
//! rotation, revoke, reset, or forget a connector. Authentication on only: with it off there
//! are no credentials and these routes answer `404 auth_disabled`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::HttpState;
use super::errors::ApiError;
use crate::actors::connector::Unregister;
use crate::auth::credentials::{self, CredentialRecord, CredentialState};
use crate::auth::hmac::now_secs;
use crate::model::ConnectorUuid;
use crate::trust::OperatorPrincipal;

/// Credential and token administration exists only with authentication on.
pub(super) fn enabled(state: &HttpState) -> Result<(), ApiError> {
    if state.core.settings.auth.enabled {
        Ok(())
    } else {
        Err(ApiError::not_found("auth_disabled"))
    }
}

/// A store failure: fail closed with 503, the cause in the log only.
pub(super) fn store_err(e: crate::backend::StoreError) -> ApiError {
    tracing::warn!(error = %super::errors::store_detail(&e), "auth store failure");
    ApiError::detail(StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
}

/// A path that is not a connector uuid names no record.
fn uuid(raw: &str) -> Result<ConnectorUuid, ApiError> {
    ConnectorUuid::parse(raw).map_err(|_| ApiError::not_found("connector_not_found"))
}

/// Epoch seconds as RFC 3339 (null for none).
pub(super) fn iso(s: Option<i64>) -> Value {
    s.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or(Value::Null, |d| json!(d.to_rfc3339()))
}

/// A record as admins see it: never a secret.
fn view(r: &CredentialRecord, present: bool) -> Value {
    json!({
        "connector_uuid": r.uuid,
        "name": r.name,
        "url": r.url,
        "state": r.state.as_str(),
        "key_id": r.hmac_key_id,
        "key_issued_at": iso(Some(r.key_issued_at)),
        "prev_valid_until": iso(r.prev_valid_until),
        "rotate_pending": r.rotate_pending,
        "enrolled_at": iso(Some(r.enrolled_at)),
        "last_registration_at": iso(Some(r.last_registration_at)),
        "revoked_at": iso(r.revoked_at),
        "revoked_by": r.revoked_by,
        "present": present,
    })
}

/// `GET /admin/connectors`.
pub async fn list(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let records = state.core.trust.store().credentials().await.map_err(store_err)?;
    let view_of = |r: &CredentialRecord| view(r, state.core.registry_view.get(&r.uuid).is_some());
    Ok(HttpResponse::Ok().json(records.iter().map(view_of).collect::<Vec<_>>()))
}

/// The credential record of `uuid`, or 404 `connector_not_found`.
async fn record(state: &HttpState, uuid: &ConnectorUuid) -> Result<CredentialRecord, ApiError> {
    state
        .core
        .trust
        .store()
        .credential(uuid)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::not_found("connector_not_found"))
}

#[derive(Clone, Copy)]
enum Action {
    Rotate,
    Revoke,
    Reset,
}

async fn act(state: &HttpState, req: &HttpRequest, raw: &str, action: Action) -> Result<HttpResponse, ApiError> {
    enabled(state)?;
    let uuid = uuid(raw)?;
    let trust = &state.core.trust;
    let by = actix_web::HttpMessage::extensions(req)
        .get::<OperatorPrincipal>()
        .map_or_else(|| "admin".to_string(), OperatorPrincipal::label);
    for _ in 0..5 {
        let rec = record(state, &uuid).await?;
        let next = match (action, rec.state) {
            (Action::Rotate | Action::Reset, CredentialState::Revoked) => {
                return Err(ApiError::detail(StatusCode::CONFLICT, "connector_revoked"));
            }
            (Action::Rotate, _) => credentials::request_rotation(&rec),
            (Action::Revoke, _) => credentials::revoke(&rec, now_secs(), &by),
            (Action::Reset, _) => credentials::reset(&rec),
        };
        if !trust
            .store()
            .put_credential(&next, Some(rec.version))
            .await
            .map_err(store_err)?
        {
            continue;
        }
        trust.invalidate(&rec);
        match action {
            Action::Revoke => {
                tracing::warn!(connector = %uuid, by = %by, "connector.revoke");
                let _ = state.connectors.send(Unregister(uuid.clone(), Some("revoked"))).await;
            }
            Action::Reset => tracing::warn!(connector = %uuid, by = %by, "connector.reset"),
            Action::Rotate => tracing::info!(connector = %uuid, by = %by, "connector.rotate requested"),
        }
        return Ok(HttpResponse::Ok().json(json!({
            "ok": true,
            "connector_uuid": uuid,
            "state": next.state.as_str(),
            "rotate_pending": next.rotate_pending,
        })));
    }
    Err(ApiError::detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "registry_unavailable",
    ))
}

/// `POST /admin/connectors/{uuid}/rotate`: a new key at the connector's next signed registration.
pub async fn rotate(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &req, &path, Action::Rotate).await
}

/// `POST /admin/connectors/{uuid}/revoke`: every key refused from now on; presence removed;
/// queued items pinned to it fail without a call.
pub async fn revoke(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &req, &path, Action::Revoke).await
}

/// `POST /admin/connectors/{uuid}/reset`: keys deleted at once; the same identity re-enrolls.
pub async fn reset(
    state: web::Data<HttpState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &req, &path, Action::Reset).await
}

/// `DELETE /admin/connectors/{uuid}`: the record is gone; the uuid may enroll anew, anywhere.
pub async fn forget(state: web::Data<HttpState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let uuid = uuid(&path)?;
    let trust = &state.core.trust;
    let rec = record(&state, &uuid).await?;
    trust.store().delete_credential(&uuid).await.map_err(store_err)?;
    trust.invalidate(&rec);
    let _ = state.connectors.send(Unregister(uuid.clone(), None)).await;
    tracing::warn!(connector = %uuid, "connector.forget");
    Ok(HttpResponse::NoContent().finish())
}
