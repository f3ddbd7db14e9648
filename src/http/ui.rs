//! The web UI: the files under `static/`, compiled into the binary so `serve` works from any
//! directory and offline (no CDN). With `DSXCONNECT_UI__STATIC_DIR` set, files are read from that folder
//! instead, so the UI can be developed without rebuilding.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

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

/// The security headers every UI response carries (docs/reference/UI.md, "Response headers"), 304s
/// included.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Answers a UI file. `Cache-Control: no-cache` makes the browser revalidate every use, so a
/// matching `If-None-Match` gets `304 Not Modified`: besides the bytes, that keeps the browser's
/// cached copy in place. Without it, Chromium re-fetched and re-parsed the icon sprite for every
/// batch of result rows carrying `<use href="static/img/icons.svg#…">` (20–50 ms of main thread
/// each, 60 times in a 20,000-result burst).
fn file_response(src: &UiSource, req: &HttpRequest, name: &str) -> HttpResponse {
    let found = match &src.0 {
        Some(dir) => from_dir(dir, name).map(|b| (content_type(name), std::borrow::Cow::Owned(b))),
        None => FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| (content_type(name), std::borrow::Cow::Borrowed(*b))),
    };
    let Some((ctype, bytes)) = found else {
        return HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"}));
    };
    let tag = etag(&bytes);
    let unchanged = not_modified(req, &tag);
    let mut resp = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Content-Security-Policy", CSP));
    if unchanged {
        return resp.finish();
    }
    resp.insert_header((header::CONTENT_TYPE, ctype))
        .body(bytes.into_owned())
}

/// Whether the request's `If-None-Match` names the current version (weak comparison, RFC 9110,
/// section 13.1.2); a malformed header counts as absent, so the full file is sent.
fn not_modified(req: &HttpRequest, current: &header::EntityTag) -> bool {
    match req.get_header::<header::IfNoneMatch>() {
        Some(header::IfNoneMatch::Any) => true,
        Some(header::IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(current)),
        None => false,
    }
}

/// A strong validator from the content.
fn etag(bytes: &[u8]) -> header::EntityTag {
    use sha2::Digest;
    header::EntityTag::new_strong(hex::encode(sha2::Sha256::digest(bytes))[..16].to_owned())
}

/// The original UI's address.
async fn legacy() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/"))
        .finish()
}

async fn index(src: web::Data<UiSource>, req: HttpRequest) -> HttpResponse {
    file_response(&src, &req, "index.html")
}

/// The sign-in page (docs/UI.md, "Signing in"): public like `/`, with the same headers.
async fn login(src: web::Data<UiSource>, req: HttpRequest) -> HttpResponse {
    file_response(&src, &req, "login.html")
}

/// The API docs page: public like `/` (it holds no data; the document it renders,
/// `/openapi.json`, needs a viewer when authentication is on).
async fn docs(src: web::Data<UiSource>, req: HttpRequest) -> HttpResponse {
    file_response(&src, &req, "docs.html")
}

async fn asset(src: web::Data<UiSource>, req: HttpRequest) -> HttpResponse {
    file_response(&src, &req, req.match_info().get("file").unwrap_or(""))
}

/// The UI routes, all public (docs/AUTH.md, "Routes by role"; HEAD is treated as GET); the app
/// provides a [`UiSource`] as app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/", web::head().to(index))
        .route("/login", web::get().to(login))
        .route("/login", web::head().to(login))
        .route("/docs", web::get().to(docs))
        .route("/docs", web::head().to(docs))
        .route("/static/html/dsx_connect.html", web::get().to(legacy))
        .route("/static/{file:.*}", web::get().to(asset))
        .route("/static/{file:.*}", web::head().to(asset));
}

#[cfg(test)]
mod tests {
    use actix_web::http::{StatusCode, header};
    use actix_web::{App, test, web};

    use super::{UiSource, routes};

    async fn get(path: &str, if_none_match: Option<&str>) -> (StatusCode, header::HeaderMap, usize) {
        let app = test::init_service(App::new().app_data(web::Data::new(UiSource(None))).configure(routes)).await;
        let mut req = test::TestRequest::get().uri(path);
        if let Some(tag) = if_none_match {
            req = req.insert_header((header::IF_NONE_MATCH, tag));
        }
        let resp = test::call_service(&app, req.to_request()).await;
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, test::read_body(resp).await.len())
    }

    #[actix_web::test]
    async fn a_matching_validator_gets_304_with_the_same_headers_and_no_body() {
        for path in [
            "/",
            "/login",
            "/docs",
            "/static/img/icons.svg",
            "/static/js/main.js",
            "/static/js/api-docs.js",
        ] {
            let (status, headers, len) = get(path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(len > 0);
            let tag = headers.get(header::ETAG).expect("ETag").to_str().unwrap().to_owned();
            assert!(tag.starts_with('"') && tag.ends_with('"'), "strong ETag: {tag}");
            let weak = format!("W/{tag}");
            for validator in [tag.as_str(), weak.as_str(), "*", &format!("\"other\", {tag}")] {
                let (status, h304, len) = get(path, Some(validator)).await;
                assert_eq!(status, StatusCode::NOT_MODIFIED, "{path} with {validator}");
                assert_eq!(len, 0);
                assert_eq!(h304.get(header::ETAG).unwrap().to_str().unwrap(), tag);
                for name in [
                    "cache-control",
                    "content-security-policy",
                    "x-content-type-options",
                    "referrer-policy",
                ] {
                    assert_eq!(h304.get(name), headers.get(name), "{path}: {name} on the 304");
                }
            }
        }
    }

    #[actix_web::test]
    async fn the_login_page_is_served_like_the_index_for_get_and_head() {
        let (status, headers, len) = get("/login", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(len > 0);
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "text/html; charset=utf-8");
        let (_, index, _) = get("/", None).await;
        for name in [
            "content-security-policy",
            "x-content-type-options",
            "referrer-policy",
            "cache-control",
        ] {
            assert_eq!(headers.get(name), index.get(name), "{name}");
        }
        let app = test::init_service(App::new().app_data(web::Data::new(UiSource(None))).configure(routes)).await;
        for path in ["/", "/login", "/docs"] {
            let req = test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(path)
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status(), StatusCode::OK, "HEAD {path}");
            assert!(resp.headers().contains_key("content-security-policy"), "HEAD {path}");
        }
    }

    #[actix_web::test]
    async fn another_or_malformed_validator_gets_the_file() {
        let (_, headers, full) = get("/static/img/icons.svg", None).await;
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        for validator in ["\"0000000000000000\"", "not-a-tag", ""] {
            let (status, headers, len) = get("/static/img/icons.svg", Some(validator)).await;
            assert_eq!(status, StatusCode::OK, "{validator:?}");
            assert_eq!(len, full);
            assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "image/svg+xml");
        }
    }
}
