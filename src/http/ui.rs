//! The web UI: static files compiled into the binary, so `serve` works from any directory and
//! offline (no CDN).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// `(path, content type, bytes)` of every UI file.
const FILES: &[(&str, &str, &[u8])] = &[(
    "index.html",
    "text/html; charset=utf-8",
    include_bytes!("../../static/index.html"),
)];

fn find(name: &str) -> Option<&'static (&'static str, &'static str, &'static [u8])> {
    FILES.iter().find(|(n, _, _)| *n == name)
}

async fn index() -> HttpResponse {
    file_response("index.html")
}

async fn asset(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("file").unwrap_or("");
    file_response(name)
}

fn file_response(name: &str) -> HttpResponse {
    match find(name) {
        Some((_, ctype, bytes)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *ctype))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(*bytes),
        None => HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"})),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/static/{file:.*}", web::get().to(asset));
}
