//! The web UI: the files under `static/`, compiled into the binary so `serve` works from any
//! directory and offline (no CDN). With `DSXCONNECT_UI__STATIC_DIR` set, files are read from that folder
//! instead, so the UI can be developed without rebuilding.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

include!(concat!(env!("OUT_DIR"), "/static_files.rs"));

/// Where UI files come from.
#[derive(Clone)]
pub struct UiSource(pub Option<PathBuf>);

/// The content type of a UI file, from its extension (also for files served from disk).
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file from disk, for names made only of normal components below `dir`.
fn from_dir(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let rel = Path::new(name);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    std::fs::read(dir.join(rel)).ok()
}

fn file_response(src: &UiSource, name: &str) -> HttpResponse {
    let found = match &src.0 {
        Some(dir) => from_dir(dir, name).map(|b| (content_type(name), std::borrow::Cow::Owned(b))),
        None => FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| (content_type(name), std::borrow::Cow::Borrowed(*b))),
    };
    match found {
        Some((ctype, bytes)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, ctype))
            .insert_header((header::ETAG, etag(&bytes)))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ))
            .body(bytes.into_owned()),
        None => HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"})),
    }
}

/// A strong validator from the content.
fn etag(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("\"{}\"", &hex::encode(sha2::Sha256::digest(bytes))[..16])
}

/// The original UI's address.
async fn legacy() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/"))
        .finish()
}

async fn index(src: web::Data<UiSource>) -> HttpResponse {
    file_response(&src, "index.html")
}

async fn asset(src: web::Data<UiSource>, req: HttpRequest) -> HttpResponse {
    file_response(&src, req.match_info().get("file").unwrap_or(""))
}

/// The UI routes; the app provides a [`UiSource`] as app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/static/html/dsx_connect.html", web::get().to(legacy))
        .route("/static/{file:.*}", web::get().to(asset))
        .route("/static/{file:.*}", web::head().to(asset));
}
