//! Defences against web pages (docs/AUTH.md, "Browsers"): a page on another site must not drive
//! the core through the visitor's browser, and a DNS-rebound name must not reach a loopback core.
//!
//! - Host check: a request without an explicit credential must name an allowed `Host` — the
//!   public URL's, `DSXCONNECT_ALLOWED_HOSTS`, or a loopback name. With neither setting, a
//!   loopback listener allows only loopback names and any other listener skips the check.
//! - CSRF: a state-changing request without an explicit credential must come from our own
//!   origin, and when it looks like a browser's (an `Origin` or `Sec-Fetch-*` header, or a body
//!   type a form can send cross-site) it must be a non-simple request: JSON, or `X-DSX-CSRF`.
//!   Scripts and connectors (no such markers) are unaffected.

use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, HOST, HeaderMap, ORIGIN};

/// Which `Host` values a request without an explicit credential may name.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `None`: no check (a non-loopback listener without `PUBLIC_URL` / `ALLOWED_HOSTS`).
    allowed: Option<Vec<(String, Option<u16>)>>,
    /// The public URL's origin (`scheme://host[:port]`), when configured.
    public_origin: Option<String>,
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// `host[:port]` in lower case with the scheme's default port removed.
fn normalise(authority: &str, scheme: &str) -> (String, Option<u16>) {
    let a = authority.trim().to_ascii_lowercase();
    let (host, port) = match a.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (a.clone(), None), // bare IPv6
        Some((h, p)) => (h.to_string(), p.parse::<u16>().ok()),
        None => (a.clone(), None),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    (host, port.filter(|p| *p != default))
}

impl HostPolicy {
    pub fn new(public_url: Option<&url::Url>, allowed_hosts: &[String], loopback_listener: bool) -> Self {
        let public_origin = public_url.map(|u| u.origin().ascii_serialization());
        if allowed_hosts.iter().any(|h| h == "*") {
            return Self {
                allowed: None,
                public_origin,
            };
        }
        let mut allowed: Vec<(String, Option<u16>)> = LOOPBACK_NAMES.iter().map(|h| (h.to_string(), None)).collect();
        if let Some(u) = public_url {
            let port = u.port();
            allowed.push((
                u.host_str().unwrap_or_default().to_ascii_lowercase(),
                Some(port.unwrap_or(0)).filter(|p| *p != 0),
            ));
            if port.is_none() {
                // The default port may be written or not.
                allowed.push((u.host_str().unwrap_or_default().to_ascii_lowercase(), None));
            }
        }
        for h in allowed_hosts {
            let (host, port) = normalise(h, "http");
            allowed.push((host, port));
        }
        let configured = public_url.is_some() || !allowed_hosts.is_empty();
        Self {
            allowed: (configured || loopback_listener).then_some(allowed),
            public_origin,
        }
    }

    /// Whether the request's `Host` is allowed (missing `Host` fails when the check is on).
    pub fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(allowed) = &self.allowed else { return true };
        let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let (name, port) = normalise(host, "http");
        allowed
            .iter()
            .any(|(h, p)| *h == name && (p.is_none() || LOOPBACK_NAMES.contains(&h.as_str()) || *p == port))
    }

    /// The CSRF rule for a state-changing request without an explicit credential; `connector`
    /// routes (signed by machines) never need the non-simple marker. With a session, the
    /// `X-DSX-CSRF` marker must be that session's token.
    pub fn csrf_ok(
        &self,
        method: &Method,
        headers: &HeaderMap,
        connector_route: bool,
        session_cookie: bool,
        session_csrf: Option<&str>,
    ) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let origin_ok = match origin {
            Some("null") => false,
            Some(o) => {
                self.public_origin.as_deref() == Some(o)
                    || (url::Url::parse(o).ok().is_some_and(|u| {
                        let scheme = u.scheme().to_string();
                        let authority = match u.port() {
                            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
                            None => u.host_str().unwrap_or_default().to_string(),
                        };
                        let mine = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
                        normalise(&authority, &scheme) == normalise(mine, &scheme)
                    }) && self.host_allowed(headers))
            }
            None => fetch_site.is_none_or(|s| s == "same-origin" || s == "none"),
        };
        if !origin_ok {
            return false;
        }
        if connector_route {
            return true;
        }
        let media = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        // `Sec-Fetch-Mode` alone is not a browser: Node's fetch sends it on every request, while
        // a browser also sends `Sec-Fetch-Site` (and an `Origin` on every POST).
        let browser_like = session_cookie
            || origin.is_some()
            || ["sec-fetch-site", "sec-fetch-dest", "sec-fetch-user"]
                .iter()
                .any(|k| headers.contains_key(*k))
            || media.as_deref().is_some_and(|m| {
                ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"].contains(&m)
            });
        if !browser_like {
            return true;
        }
        let sent = headers.get("x-dsx-csrf").and_then(|v| v.to_str().ok());
        let marker = match (sent, session_csrf) {
            (Some(v), Some(token)) => constant_time_eq(v.as_bytes(), token.as_bytes()),
            (Some(v), None) => !v.is_empty() && v.len() <= 128,
            (None, _) => false,
        };
        media.as_deref() == Some("application/json") || marker
    }
}

/// Compares two secrets without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_loopback_listener_allows_loopback_names_only() {
        let p = HostPolicy::new(None, &[], true);
        assert!(p.host_allowed(&headers(&[("host", "localhost:8586")])));
        assert!(p.host_allowed(&headers(&[("host", "127.0.0.1:9")])));
        assert!(p.host_allowed(&headers(&[("host", "[::1]:8586")])));
        assert!(!p.host_allowed(&headers(&[("host", "evil.example:8586")])));
        assert!(!p.host_allowed(&headers(&[])));
        let open = HostPolicy::new(None, &[], false);
        assert!(open.host_allowed(&headers(&[("host", "anything:1")])));
    }

    #[test]
    fn public_url_and_allowed_hosts_extend_the_list() {
        let u = url::Url::parse("https://dsx.example.com/dsx").unwrap();
        let p = HostPolicy::new(Some(&u), &["scanner.lan".into(), "10.0.0.5:8586".into()], false);
        assert!(p.host_allowed(&headers(&[("host", "dsx.example.com")])));
        assert!(p.host_allowed(&headers(&[("host", "DSX.example.com:443")])));
        assert!(p.host_allowed(&headers(&[("host", "scanner.lan:1234")])));
        assert!(p.host_allowed(&headers(&[("host", "10.0.0.5:8586")])));
        assert!(!p.host_allowed(&headers(&[("host", "10.0.0.5:9999")])));
        assert!(!p.host_allowed(&headers(&[("host", "evil.example")])));
        assert!(HostPolicy::new(None, &["*".into()], true).host_allowed(&headers(&[("host", "x")])));
    }

    #[test]
    fn csrf_decision_table() {
        let p = HostPolicy::new(None, &[], true);
        let post = Method::POST;
        let same = [("host", "127.0.0.1:8586"), ("origin", "http://127.0.0.1:8586")];
        // Scripts: no browser markers, no body type → fine.
        assert!(p.csrf_ok(&post, &headers(&[("host", "127.0.0.1:8586")]), false, false, None));
        // Cross-site and null origins fail, whatever else is sent.
        assert!(!p.csrf_ok(
            &post,
            &headers(&[
                ("host", "127.0.0.1:8586"),
                ("origin", "http://evil.example"),
                ("content-type", "application/json")
            ]),
            false,
            false,
            None
        ));
        assert!(!p.csrf_ok(
            &post,
            &headers(&[("host", "127.0.0.1:8586"), ("origin", "null")]),
            false,
            false,
            None
        ));
        assert!(!p.csrf_ok(
            &post,
            &headers(&[("host", "127.0.0.1:8586"), ("sec-fetch-site", "cross-site")]),
            false,
            false,
            None
        ));
        // Same origin: needs JSON or the marker.
        assert!(!p.csrf_ok(&post, &headers(&same), false, false, None));
        let mut json = same.to_vec();
        json.push(("content-type", "application/json; charset=utf-8"));
        assert!(p.csrf_ok(&post, &headers(&json), false, false, None));
        let mut marked = same.to_vec();
        marked.push(("x-dsx-csrf", "1"));
        assert!(p.csrf_ok(&post, &headers(&marked), false, false, None));
        // A form body type from a script is browser-like too.
        assert!(!p.csrf_ok(
            &post,
            &headers(&[("host", "127.0.0.1:8586"), ("content-type", "text/plain")]),
            false,
            false,
            None
        ));
        // Node's fetch (Sec-Fetch-Mode only) is a script, not a browser.
        assert!(p.csrf_ok(
            &post,
            &headers(&[("host", "127.0.0.1:8586"), ("sec-fetch-mode", "cors")]),
            false,
            false,
            None
        ));
        assert!(!p.csrf_ok(
            &post,
            &headers(&[("host", "127.0.0.1:8586"), ("sec-fetch-site", "same-origin")]),
            false,
            false,
            None
        ));
        // Connector routes never need the marker, but still the origin.
        assert!(p.csrf_ok(&post, &headers(&same), true, false, None));
        assert!(p.csrf_ok(
            &Method::GET,
            &headers(&[("origin", "http://evil.example")]),
            false,
            false,
            None
        ));
        // With a session: the cookie alone makes it a browser's; the marker must be its token.
        let host = [("host", "127.0.0.1:8586")];
        assert!(!p.csrf_ok(&post, &headers(&host), false, true, Some("tok")));
        assert!(p.csrf_ok(
            &post,
            &headers(&[host[0], ("x-dsx-csrf", "tok")]),
            false,
            true,
            Some("tok")
        ));
        assert!(!p.csrf_ok(
            &post,
            &headers(&[host[0], ("x-dsx-csrf", "tox")]),
            false,
            true,
            Some("tok")
        ));
        assert!(p.csrf_ok(
            &post,
            &headers(&[host[0], ("content-type", "application/json")]),
            false,
            true,
            Some("tok")
        ));
    }
}
