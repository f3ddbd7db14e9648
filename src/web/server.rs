//! What every HTTP server of this binary sets on its connections and requests (the core and each
//! connector): the header size limit, the time to send the head, and `TCP_NODELAY`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

/// Longest time a client may take to send the request line and headers.
pub const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest total size of request headers accepted (a 4xx beyond, never a crash).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with 431.
pub async fn limit_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<actix_web::body::BoxBody>>, actix_web::Error> {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        let resp = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .json(json!({"detail": "request_header_fields_too_large"}));
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// Disables Nagle's algorithm on accepted connections: a response written as headers then
/// body (streamed files, small JSON) must not wait for the peer's delayed ACK (~40 ms).
pub fn no_delay(conn: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(s) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = s.set_nodelay(true)
    {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}
