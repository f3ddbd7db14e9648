//! A real OpenID Connect provider on loopback (panva's `oidc-provider`, tests/oidc), started
//! per test with the clients it needs, and a headless browser for its login form.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Provider {
    pub issuer: String,
    child: Child,
}

impl Provider {
    /// Starts `tests/oidc/provider.mjs` with `clients` (JSON) and extra env; waits for READY.
    pub fn start(clients: &serde_json::Value, env: &[(&str, &str)]) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
        assert!(
            std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
            "tests/oidc/node_modules is missing: run scripts/setup.sh (npm ci --prefix tests/oidc)"
        );
        let mut cmd = Command::new("node");
        cmd.arg(format!("{dir}/provider.mjs"))
            .env("OIDC_CLIENTS", clients.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("node runs the OIDC provider");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("OIDC_READY ") {
                    let _ = tx.send(issuer.trim().to_string());
                }
            }
        });
        let issuer = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the OIDC provider is ready");
        Self { issuer, child }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless browser: one cookie jar per origin, redirects followed by hand.
pub struct Browser {
    pub http: reqwest::Client,
    jars: HashMap<String, HashMap<String, String>>,
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jars: HashMap::new(),
        }
    }

    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let u = url::Url::parse(url).unwrap();
        self.jars.get(&origin(&u)).and_then(|j| j.get(name)).cloned()
    }

    fn remember(&mut self, u: &url::Url, r: &reqwest::Response) {
        let jar = self.jars.entry(origin(u)).or_default();
        for v in r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                if v.contains("Max-Age=0") || val.is_empty() {
                    jar.remove(k.trim());
                } else {
                    jar.insert(k.trim().to_string(), val.to_string());
                }
            }
        }
    }

    /// One request with this origin's cookies; the response (not followed).
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> reqwest::Response {
        let u = url::Url::parse(url).unwrap();
        let mut b = self.http.request(method, u.clone());
        if let Some(jar) = self.jars.get(&origin(&u)) {
            let c: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !c.is_empty() {
                b = b.header("cookie", c.join("; "));
            }
        }
        if let Some(f) = form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(f)
                .finish();
            b = b.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let r = b.send().await.unwrap();
        self.remember(&u, &r);
        r
    }

    /// GETs `url` and follows redirects until a non-redirect answer or `stop(url)` is true for
    /// the next location; returns the last response and its URL.
    pub async fn follow(&mut self, url: &str, stop: impl Fn(&str) -> bool) -> (reqwest::Response, String) {
        let mut current = url.to_string();
        for _ in 0..20 {
            let r = self.send(reqwest::Method::GET, &current, None).await;
            if !r.status().is_redirection() {
                return (r, current);
            }
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let next = url::Url::parse(&current).unwrap().join(&loc).unwrap().to_string();
            if stop(&next) {
                return (r, next);
            }
            current = next;
        }
        panic!("too many redirects from {url}");
    }

    /// Fills the provider's login form at `interaction` with `user` and the test password;
    /// returns the next location.
    pub async fn sign_in_at_provider(&mut self, interaction: &str, user: &str) -> String {
        let r = self
            .send(
                reqwest::Method::POST,
                interaction,
                Some(&[("username", user), ("password", "correct horse battery")]),
            )
            .await;
        assert!(r.status().is_redirection(), "provider login: {}", r.status());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        url::Url::parse(interaction).unwrap().join(&loc).unwrap().to_string()
    }
}
