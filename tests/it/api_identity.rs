//! Operator identity end to end (docs/AUTH.md, "Users and sessions", "Audit"): local users made
//! with the CLI, password sign-in with cookies, login limits, session ends, CSRF with sessions,
//! the audit trail, and the route-by-role matrix generated from the route table.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use dsx_connect::http::access::{Access, root_table, table};
use serde_json::{Value, json};

const PW: &str = "correct horse battery";

fn auth_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DSXCONNECT_AUTH__ENABLED", "true"),
        ("DSXCONNECT_AUTH__ENROLLMENT_TOKEN", "enrollment-token-0001"),
    ]
}

fn user_cli(data: &std::path::Path, args: &[&str], password: Option<&str>) -> std::process::Output {
    let args: Vec<&str> = std::iter::once("user").chain(args.iter().copied()).collect();
    let input = password.map(|p| format!("{p}\n"));
    dsx_cli(data, &args, input.as_deref())
}

fn add_user(data: &std::path::Path, name: &str, role: &str) {
    let out = user_cli(data, &["add", name, "--role", role, "--password-stdin"], Some(PW));
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn token(data: &std::path::Path, name: &str, role: &str) -> String {
    let out = dsx_cli(data, &["token", "create", "--name", name, "--role", role], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A browser-like client: keeps the session cookie and the CSRF token of its login.
struct Browser {
    base: String,
    origin: String,
    http: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

/// The `name=value` of a `Set-Cookie` header and its attributes.
fn set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("dsx_session"))
        .map(str::to_string)
}

impl Browser {
    fn new(core_url: &str) -> Self {
        Self {
            base: format!("{core_url}{API}"),
            origin: core_url.to_string(),
            http: reqwest::Client::new(),
            cookie: None,
            csrf: None,
        }
    }

    async fn login(&mut self, user: &str, password: &str) -> (u16, Value, Option<String>) {
        let r = self
            .http
            .post(format!("{}/auth/login", self.base))
            .header("origin", &self.origin)
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let sc = set_cookie(&r);
        if let Some(c) = &sc {
            self.cookie = c.split(';').next().map(str::to_string);
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status == 200 {
            self.csrf = body["csrf_token"].as_str().map(str::to_string);
        }
        (status, body, sc)
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            b = b.header("cookie", c);
        }
        b
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// A state-changing call as the UI makes it: JSON, the CSRF header, our Origin.
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let mut b = self.req(method, path).header("origin", &self.origin).json(&body);
        if let Some(t) = &self.csrf {
            b = b.header("x-dsx-csrf", t);
        }
        let r = b.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sign_in_with_argon2id_hashes_and_strict_cookies() {
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.extend([
        ("DSXCONNECT_AUTH__LOGIN_MAX_FAILURES", "1000"),
        ("DSXCONNECT_AUTH__LOGIN_IP_MAX_FAILURES", "100000"),
    ]);
    let core = start_core_in(data.path(), &env);
    add_user(data.path(), "Alice", "operator");
    // The same name again (any case) is refused with exit 1; a short password is a usage error.
    let again = user_cli(
        data.path(),
        &["add", "alice", "--role", "viewer", "--password-stdin"],
        Some(PW),
    );
    assert_eq!(again.status.code(), Some(1));
    let short = user_cli(
        data.path(),
        &["add", "bob", "--role", "viewer", "--password-stdin"],
        Some("short"),
    );
    assert_eq!(
        short.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let list = String::from_utf8(user_cli(data.path(), &["list"], None).stdout).unwrap();
    assert!(
        list.contains("alice") && list.contains("operator") && !list.contains("argon2"),
        "{list}"
    );
    if !common::redis::backend_is_redis() {
        let db = rusqlite::Connection::open(data.path().join("dsx-connect.db")).unwrap();
        let rec: String = db
            .query_row("SELECT record FROM users WHERE username = 'alice'", [], |r| r.get(0))
            .unwrap();
        let rec: Value = serde_json::from_str(&rec).unwrap();
        assert!(
            rec["password_hash"]
                .as_str()
                .unwrap()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{rec}"
        );
    }

    let mut b = Browser::new(&core.url);
    let (s, body, cookie) = b.login("alice", PW).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["role"], "operator");
    assert_eq!(body["csrf_token"].as_str().unwrap().len(), 43);
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("dsx_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure") && !cookie.contains("Domain") && !cookie.contains("Max-Age"),
        "{cookie}"
    );
    let (s, who) = b.get("/auth/session").await;
    assert_eq!(s, 200);
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["user"], "alice");
    assert_eq!(who["method"], "password");
    assert_eq!(who["csrf_token"], body["csrf_token"]);
    assert!(who["expires_at"].is_string());
    // Viewer routes work with the cookie; admin routes do not.
    assert_eq!(b.get("/scan/jobs").await.0, 200);
    let (s, e) = b.get("/admin/audit").await;
    assert_eq!((s, e["detail"].as_str()), (403, Some("insufficient_role")));

    // Wrong password and unknown user: one answer, and the same time (Argon2 either way).
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..20 {
        let mut x = Browser::new(&core.url);
        let t = Instant::now();
        let (s, body, _) = x.login("alice", "not the password!").await;
        wrong.push(t.elapsed());
        assert_eq!((s, body["detail"].as_str()), (401, Some("invalid_credentials")));
        let t = Instant::now();
        let (s, body, _) = x.login(&format!("nobody{i}"), "not the password!").await;
        unknown.push(t.elapsed());
        assert_eq!((s, body["detail"].as_str()), (401, Some("invalid_credentials")));
    }
    let (w, u) = (median(wrong).as_secs_f64(), median(unknown).as_secs_f64());
    assert!(
        (w - u).abs() <= 0.2 * w.max(u),
        "median wrong {w:.4}s vs unknown {u:.4}s"
    );

    // Logout: 204, cookie cleared, the old cookie is refused.
    let (s, _) = b.send(reqwest::Method::POST, "/auth/logout", json!({})).await;
    assert_eq!(s, 204);
    let (s, e) = b.get("/scan/jobs").await;
    assert_eq!((s, e["detail"].as_str()), (401, Some("session_expired")));
    drop(core);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_account_and_are_audited_once() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    add_user(data.path(), "carol", "admin");
    let mut b = Browser::new(&core.url);
    for _ in 0..5 {
        assert_eq!(b.login("carol", "wrong password!!").await.0, 401);
    }
    let r = reqwest::Client::new()
        .post(format!("{}{API}/auth/login", core.url))
        .json(&json!({"username": "carol", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "too_many_attempts");
    // An admin token reads the trail: one lockout record.
    let admin = Api::with_token(&core.url, &token(data.path(), "root", "admin"));
    let (s, page) = admin.get("/admin/audit?action=auth.lockout").await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["target"], json!({"type": "user", "id": "carol"}));
    assert_eq!(items[0]["result"], "denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_or_too_old() {
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.extend([
        ("DSXCONNECT_AUTH__SESSION_IDLE_SECS", "3"),
        ("DSXCONNECT_AUTH__SESSION_MAX_SECS", "6"),
    ]);
    let core = start_core_in(data.path(), &env);
    add_user(data.path(), "dave", "operator");
    add_user(data.path(), "erin", "admin");

    // Idle: unused for 3 s → 401 with a clearing cookie.
    let mut idle = Browser::new(&core.url);
    assert_eq!(idle.login("dave", PW).await.0, 200);
    let cleared = wait_for("idle session ends", Duration::from_secs(30), || async {
        let r = idle.req(reqwest::Method::GET, "/scan/jobs").send().await.unwrap();
        (r.status().as_u16() == 401).then(|| set_cookie(&r))
    })
    .await
    .expect("a clearing Set-Cookie");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("HttpOnly"),
        "{cleared}"
    );

    // Absolute: used every half second, it still ends 6 s after login.
    let mut busy = Browser::new(&core.url);
    assert_eq!(busy.login("dave", PW).await.0, 200);
    let started = Instant::now();
    loop {
        let (s, _) = busy.get("/scan/jobs").await;
        if s == 401 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "session never ended");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "ended after {:?}",
        started.elapsed()
    );
}

/// Sessions here last as long as the defaults say: the changes under test end them, not time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_or_role_change_ends_the_users_sessions_and_the_last_admin_stays() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    add_user(data.path(), "dave", "operator");
    add_user(data.path(), "erin", "admin");

    // A password change by an admin ends dave's sessions at once.
    let mut dave = Browser::new(&core.url);
    assert_eq!(dave.login("dave", PW).await.0, 200);
    let mut admin = Browser::new(&core.url);
    assert_eq!(admin.login("erin", PW).await.0, 200);
    let (s, u) = admin
        .send(
            reqwest::Method::PUT,
            "/admin/users/dave",
            json!({"password": "another long password"}),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert!(u.get("password_hash").is_none(), "{u}");
    assert_eq!(dave.get("/scan/jobs").await.0, 401);
    // So does a role change.
    assert_eq!(dave.login("dave", "another long password").await.0, 200);
    let (s, _) = admin
        .send(reqwest::Method::PUT, "/admin/users/dave", json!({"role": "viewer"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(dave.get("/scan/jobs").await.0, 401);
    // The last admin cannot demote or remove herself.
    let (s, e) = admin
        .send(reqwest::Method::PUT, "/admin/users/erin", json!({"role": "viewer"}))
        .await;
    assert_eq!((s, e["detail"].as_str()), (409, Some("last_admin")));
    let (s, e) = admin
        .send(reqwest::Method::DELETE, "/admin/users/erin", json!({}))
        .await;
    assert_eq!((s, e["detail"].as_str()), (409, Some("last_admin")));
    let out = user_cli(data.path(), &["remove", "erin"], None);
    assert_eq!(out.status.code(), Some(1));
    // Users made over HTTP sign in; duplicates and bad input are refused.
    let (s, u) = admin
        .send(
            reqwest::Method::POST,
            "/admin/users",
            json!({"username": "Frank", "password": PW, "role": "viewer"}),
        )
        .await;
    assert_eq!((s, u["username"].as_str()), (201, Some("frank")), "{u}");
    let (s, e) = admin
        .send(
            reqwest::Method::POST,
            "/admin/users",
            json!({"username": "frank", "password": PW, "role": "viewer"}),
        )
        .await;
    assert_eq!((s, e["detail"].as_str()), (409, Some("user_exists")));
    let (s, _) = admin
        .send(
            reqwest::Method::POST,
            "/admin/users",
            json!({"username": "gina", "password": PW, "role": "root"}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, list) = admin.get("/admin/users").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dave", "erin", "frank"]);
    assert!(!list.to_string().contains("argon2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_closes_soon_after_its_session_ends() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    add_user(data.path(), "vera", "viewer");
    let mut b = Browser::new(&core.url);
    assert_eq!(b.login("vera", PW).await.0, 200);
    let mut stream = b
        .req(reqwest::Method::GET, "/subscribe/scan-result")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut other = Browser::new(&core.url);
    other.cookie = b.cookie.clone();
    other.csrf = b.csrf.clone();
    assert_eq!(
        other.send(reqwest::Method::POST, "/auth/logout", json!({})).await.0,
        204
    );
    let closed = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stream stayed open after logout");
    assert_eq!(b.get("/subscribe/scan-result").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_requests_need_the_csrf_token_or_json_and_our_origin() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    add_user(data.path(), "olga", "operator");
    let mut b = Browser::new(&core.url);
    assert_eq!(b.login("olga", PW).await.0, 200);
    let pause = "/scan/jobs/job-1/pause";
    let post = |hdrs: Vec<(&'static str, String)>| {
        let mut r = b.req(reqwest::Method::POST, pause);
        for (k, v) in hdrs {
            r = r.header(k, v);
        }
        r
    };
    let status = |r: reqwest::RequestBuilder| async move {
        let r = r.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap_or(Value::Null)["detail"].clone())
    };
    let origin = ("origin", core.url.clone());
    // Matching Origin, no JSON, no token → refused; the session's token → through the gate.
    assert_eq!(status(post(vec![origin.clone()])).await, (403, json!("csrf_rejected")));
    let token = b.csrf.clone().unwrap();
    assert_eq!(
        status(post(vec![origin.clone(), ("x-dsx-csrf", token)])).await,
        (404, json!("job_not_found"))
    );
    assert_eq!(
        status(post(vec![origin.clone(), ("x-dsx-csrf", "not-the-token".into())])).await,
        (403, json!("csrf_rejected"))
    );
    // A form post from another site, even with the cookie → refused.
    assert_eq!(
        status(post(vec![
            ("origin", "http://evil.example".into()),
            ("content-type", "application/x-www-form-urlencoded".into()),
        ]))
        .await,
        (403, json!("csrf_rejected"))
    );
}

/// Every route of the table (API routes and the gated ones outside the prefix, such as
/// `/openapi.json`) × {anonymous, viewer, operator, admin, expired token, revoked token}.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_by_role_matrix_from_the_route_table() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    let viewer = token(data.path(), "v", "viewer");
    let operator = token(data.path(), "o", "operator");
    let admin = token(data.path(), "a", "admin");
    let revoked = token(data.path(), "r", "admin");
    let listed = String::from_utf8(dsx_cli(data.path(), &["token", "list"], None).stdout).unwrap();
    let revoked_id = listed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("r"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(
        dsx_cli(data.path(), &["token", "revoke", &revoked_id], None)
            .status
            .success()
    );
    let expired = expired_token(data.path()).await;

    let http = reqwest::Client::new();
    let principals: [(&str, Option<&str>, u8); 6] = [
        ("anonymous", None, 0),
        ("viewer", Some(&viewer), 1),
        ("operator", Some(&operator), 2),
        ("admin", Some(&admin), 3),
        ("expired", Some(&expired), 0),
        ("revoked", Some(&revoked), 0),
    ];
    let mut checked = 0;
    let routes = table().into_iter().map(|e| (API, e));
    for (prefix, e) in routes.chain(root_table().into_iter().map(|e| ("", e))) {
        let path = e
            .path
            .replace("{uuid}", "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41")
            .replace("{job_id}", "job-x")
            .replace("{task_id}", "task-x")
            .replace("{queue_type}", "scan_request")
            .replace("{id}", "0000")
            .replace("{username}", "nobody");
        let need: Option<u8> = match e.access {
            Access::Probe | Access::Public => None,
            Access::Enrollment => Some(9),
            Access::Viewer => Some(1),
            Access::Operator => Some(2),
            Access::Admin => Some(3),
            Access::ConnectorOr(r) => Some(match r.as_str() {
                "viewer" => 1,
                "operator" => 2,
                _ => 3,
            }),
        };
        for (who, tok, level) in principals {
            let method = reqwest::Method::from_bytes(e.method.to_ascii_uppercase().as_bytes()).unwrap();
            let mut r = http
                .request(method, format!("{}{prefix}{path}", core.url))
                .timeout(Duration::from_secs(20));
            if let Some(t) = tok {
                r = r.bearer_auth(t);
            }
            if e.access == Access::Enrollment {
                let uuid = "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41";
                r = r.json(&json!({"name": "x", "uuid": uuid, "url": "http://127.0.0.1:9/x", "status": "ready"}));
            } else if e.method != "get" {
                r = r.json(&json!({}));
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let expected_denial = match need {
                None => None,
                // Registration takes a signature or an enrollment token, never an operator.
                Some(9) => Some(401),
                Some(_) if tok.is_some() && level == 0 => Some(401),
                Some(_) if tok.is_none() => Some(401),
                Some(n) if level < n => Some(403),
                Some(_) => None,
            };
            match expected_denial {
                Some(d) => assert_eq!(status, d, "{} {} as {who}", e.method, e.path),
                None => assert!(
                    status != 401 && status != 403,
                    "{} {} as {who}: {status}",
                    e.method,
                    e.path
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 6 * 60, "{checked}");
    // The API docs page itself is public like the UI (it holds no data), with the UI's CSP.
    let page = http.get(format!("{}/docs", core.url)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers().contains_key("content-security-policy"));
    // A viewer reads the document, which names the credentials of each operation.
    let doc: Value = http
        .get(format!("{}/openapi.json", core.url))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["paths"][format!("{API}/admin/users")]["get"]["security"],
        json!([{"apiToken": []}, {"session": []}])
    );

    // `/metrics` (viewer): Prometheus text for a viewer's token, without any token or id in it.
    let r = http
        .get(format!("{}{API}/metrics", core.url))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE dsx_connect_http_requests counter"), "{text}");
    assert!(
        text.contains("route=\"/dsx-connect/api/v1/scan/jobs/{job_id}\""),
        "{text}"
    );
    for secret in [&viewer, &admin, "job-x", "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
    assert!(
        dsx_connect::http::access::worker_table()
            .iter()
            .any(|e| e.path == "/metrics" && e.access == Access::Viewer),
        "a worker serves /metrics to viewers"
    );
}

/// A token that expired a minute ago, written into the core's store as the CLI would.
async fn expired_token(data: &std::path::Path) -> String {
    use dsx_connect::auth::tokens::{Role, create};
    use dsx_connect::backend::TokenStore;
    let now = dsx_connect::auth::hmac::now_secs();
    let (t, rec) = create("old", Role::Admin, "test", now - 3600, Some(3540));
    if common::redis::backend_is_redis() {
        let settings = dsx_connect::config::Settings::from_map(
            &[("DSXCONNECT_REDIS_URL".to_string(), common::redis::url_for(data))]
                .into_iter()
                .collect(),
            None,
        )
        .unwrap()
        .settings;
        let store = dsx_connect::app::redis_store(&settings, &common::redis::url_for(data)).unwrap();
        store.put_token(&rec).await.unwrap();
    } else {
        let store = dsx_connect::backend::sqlite::sql::AuthFile::open(data).unwrap();
        store.put_token(&rec).await.unwrap();
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_session_appears_exactly_in_the_audit_trail_and_at_rsyslog() {
    let rs = common::rsyslog::Rsyslog::start(common::rsyslog::Input::Tcp);
    let port = rs.port.to_string();
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.extend([
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
    ]);
    let core = start_core_in(data.path(), &env);
    add_user(data.path(), "adam", "admin");
    let mut b = Browser::new(&core.url);
    assert_eq!(b.login("adam", PW).await.0, 200);
    // 49 more successful actions: tokens created and revoked, users created, changed, removed.
    let mut expected: Vec<(String, String)> = vec![("auth.login".into(), "success".into())];
    let mut push = |a: &str| expected.push((a.into(), "success".into()));
    for i in 0..12 {
        let (s, t) = b
            .send(
                reqwest::Method::POST,
                "/admin/tokens",
                json!({"name": format!("t{i}"), "role": "viewer", "expires_in_days": 1}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        push("token.create");
        let (s, _) = b
            .send(
                reqwest::Method::DELETE,
                &format!("/admin/tokens/{}", t["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(s, 204);
        push("token.revoke");
    }
    for i in 0..8 {
        let name = format!("u{i}");
        let (s, _) = b
            .send(
                reqwest::Method::POST,
                "/admin/users",
                json!({"username": name, "password": PW, "role": "viewer"}),
            )
            .await;
        assert_eq!(s, 201);
        push("user.create");
        let (s, _) = b
            .send(
                reqwest::Method::PUT,
                &format!("/admin/users/{name}"),
                json!({"role": "operator"}),
            )
            .await;
        assert_eq!(s, 200);
        push("user.update");
        let (s, _) = b
            .send(reqwest::Method::DELETE, &format!("/admin/users/{name}"), json!({}))
            .await;
        assert_eq!(s, 204);
        push("user.delete");
    }
    let (s, _) = b
        .send(reqwest::Method::POST, "/admin/dead-letter/requeue", json!({}))
        .await;
    assert_eq!(s, 200);
    push("dlq.requeue");
    assert_eq!(expected.len(), 50);
    // Reads are not audited.
    let _ = b.get("/scan/jobs").await;

    let mut items = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let q = match before {
            Some(id) => format!("/admin/audit?limit=7&before_id={id}"),
            None => "/admin/audit?limit=7".to_string(),
        };
        let (s, page) = b.get(&q).await;
        assert_eq!(s, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_before_id"].as_i64() {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    // The user add by the CLI is in the trail too, as actor `cli`.
    let cli: Vec<&Value> = items.iter().filter(|r| r["actor"]["type"] == "cli").collect();
    assert_eq!(cli.len(), 1, "{cli:?}");
    assert_eq!(cli[0]["action"], "user.create");
    let mine: Vec<(String, String)> = items
        .iter()
        .rev()
        .filter(|r| r["actor"]["name"] == "adam")
        .map(|r| {
            (
                r["action"].as_str().unwrap().into(),
                r["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(mine, expected);
    let keys: Vec<&str> = items[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "timestamp",
            "actor",
            "role",
            "action",
            "target",
            "result",
            "http_status",
            "method",
            "path",
            "source_ip",
            "detail",
            "count"
        ]
    );
    let update = items.iter().find(|r| r["action"] == "user.update").unwrap();
    assert_eq!(update["target"], json!({"type": "user", "id": "u7"}));
    assert_eq!(update["role"], "admin");
    assert_eq!(update["http_status"], 200);
    assert_eq!(update["path"], format!("{API}/admin/users/u7"));
    assert_eq!(update["source_ip"], "127.0.0.1");
    assert_eq!(update["detail"], "role operator");
    let created = items.iter().find(|r| r["action"] == "token.create").unwrap();
    assert_eq!(created["target"]["type"], "token");
    assert!(!created.to_string().contains("dsx_"), "{created}");
    // Filters: action prefix, result, actor.
    let (_, page) = b.get("/admin/audit?action=user.&limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_before_id"].is_i64());
    let (_, page) = b.get("/admin/audit?action=auth.login&actor=adam").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = b.get("/admin/audit?result=denied").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "{page}");
    assert_eq!(b.get("/admin/audit?result=maybe").await.0, 422);
    assert_eq!(b.get("/admin/audit?limit=1001").await.0, 422);

    // The same 50 records reached a real rsyslog as `audit` events, in order, each naming its
    // stored record; the CLI's record was written by the CLI (no superlog there).
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let ev: Vec<Value> = rs.lines().into_iter().filter(|l| l["msgid"] == "audit").collect();
        if ev.len() >= 50 || Instant::now() > deadline {
            break ev;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let msgs: Vec<Value> = events
        .iter()
        .map(|l| serde_json::from_str(l["msg"].as_str().unwrap()).unwrap())
        .collect();
    let sent: Vec<(String, String)> = msgs
        .iter()
        .map(|m| {
            (
                m["action"].as_str().unwrap().into(),
                m["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(sent, expected);
    for (m, r) in msgs
        .iter()
        .zip(items.iter().rev().filter(|r| r["actor"]["name"] == "adam"))
    {
        assert_eq!(m["event"], "audit");
        assert_eq!(m["audit_id"], r["id"]);
        assert_eq!(m["actor"], r["actor"]);
        assert_eq!(m["target"], r["target"]);
    }
    let revoke = msgs.iter().find(|m| m["action"] == "token.revoke").unwrap();
    assert_eq!(revoke["severity"], "notice");
    let line = events
        .iter()
        .find(|l| l["msg"].as_str().unwrap().contains("token.revoke"))
        .unwrap();
    assert!(
        line["sd"].as_str().unwrap().contains("action=\"token.revoke\""),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_refusals_from_one_address_are_coalesced() {
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.push(("DSXCONNECT_AUTH__AUDIT_COALESCE_SECS", "3"));
    let core = start_core_in(data.path(), &env);
    let anon = Api::new(&core.url);
    for _ in 0..100 {
        assert_eq!(anon.post("/scan/jobs/j/cancel", json!({})).await.0, 401);
    }
    let admin = Api::with_token(&core.url, &token(data.path(), "root", "admin"));
    let records = wait_for("the coalesced record", Duration::from_secs(60), || async {
        let (_, page) = admin.get("/admin/audit?action=job.cancel").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then_some(items)
    })
    .await;
    assert_eq!(records[1]["count"], 1);
    assert_eq!(records[0]["count"], 99);
    assert_eq!(records[0]["actor"]["type"], "anonymous");
    assert_eq!(records[0]["detail"], "not_authenticated");
}

#[tokio::test]
async fn with_auth_off_identity_routes_are_absent_and_the_trail_is_open() {
    let (core, _dir) = start_core(&[]);
    let api = Api::new(&core.url);
    let (s, e) = api
        .post(
            "/admin/users",
            json!({"username": "x", "password": PW, "role": "admin"}),
        )
        .await;
    assert_eq!((s, e["detail"].as_str()), (404, Some("auth_disabled")));
    let (s, e) = api.post("/auth/login", json!({"username": "x", "password": PW})).await;
    assert_eq!((s, e["detail"].as_str()), (404, Some("auth_disabled")));
    let (s, who) = api.get("/auth/session").await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            who["authenticated"].as_bool(),
            who["auth_enabled"].as_bool(),
            who["role"].as_str(),
            who["method"].as_str()
        ),
        (Some(false), Some(false), Some("admin"), Some("none"))
    );
    assert_eq!(api.post("/admin/dead-letter/requeue", json!({})).await.0, 200);
    let (s, page) = api.get("/admin/audit").await;
    assert_eq!(s, 200);
    let first = &page["items"][0];
    assert_eq!(
        (first["action"].as_str(), first["actor"]["type"].as_str()),
        (Some("dlq.requeue"), Some("anonymous"))
    );
}

/// `u` with query parameter `name` set to `value`.
fn with_param(mut u: url::Url, name: &str, value: &str) -> url::Url {
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u
}

/// Runs the browser part of a sign-in up to our callback URL (not requested yet).
async fn to_callback(
    b: &mut common::oidc::Browser,
    core_url: &str,
    user: &str,
    tamper: impl Fn(url::Url) -> url::Url,
) -> String {
    let r = b
        .send(reqwest::Method::GET, &format!("{core_url}{API}/auth/oidc/login"), None)
        .await;
    assert_eq!(r.status().as_u16(), 302);
    let auth = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<String, String> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "dsx");
    assert_eq!(
        (q["state"].len(), q["nonce"].len(), q["code_challenge"].len()),
        (43, 43, 43)
    );
    assert_eq!(b.cookie(core_url, "dsx_oidc").as_deref(), Some(q["state"].as_str()));
    let auth = tamper(auth);
    let callback = format!("{core_url}{API}/auth/oidc/callback");
    let (page, interaction) = b.follow(auth.as_str(), |n| n.starts_with(&callback)).await;
    assert_eq!(page.status().as_u16(), 200, "the provider's login form");
    let next = b.sign_in_at_provider(&interaction, user).await;
    let (_, at) = b.follow(&next, |n| n.starts_with(&callback)).await;
    assert!(at.starts_with(&callback), "{at}");
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_against_a_real_openid_provider() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let core_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let callback = format!("{core_url}{API}/auth/oidc/callback");
    let provider = common::oidc::Provider::start(
        &json!([{"client_id": "dsx", "client_secret": "client-secret-for-tests", "redirect_uris": [callback]}]),
        &[],
    );
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.extend([
        ("DSXCONNECT_AUTH__OIDC__ISSUER", provider.issuer.as_str()),
        ("DSXCONNECT_AUTH__OIDC__CLIENT_ID", "dsx"),
        ("DSXCONNECT_AUTH__OIDC__CLIENT_SECRET", "client-secret-for-tests"),
        ("DSXCONNECT_AUTH__OIDC__REDIRECT_URL", callback.as_str()),
        (
            "DSXCONNECT_AUTH__OIDC__ROLE_MAP",
            "dsx-admins=admin,dsx-operators=operator,dsx-viewers=viewer",
        ),
        ("DSXCONNECT_AUTH__AUDIT_COALESCE_SECS", "1"),
    ]);
    let core = start_core_on(data.path(), &env, listener);
    let (_, who) = Api::new(&core.url).get("/auth/session").await;
    assert_eq!(who["methods"], json!(["password", "oidc"]));

    // alice is in dsx-admins: a session with role admin.
    let mut b = common::oidc::Browser::new();
    let at = to_callback(&mut b, &core.url, "alice", |u| u).await;
    let r = b.send(reqwest::Method::GET, &at, None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("url=../../../../../"));
    assert!(b.cookie(&core.url, "dsx_oidc").is_none(), "the state cookie is cleared");
    let session = b.cookie(&core.url, "dsx_session").expect("a session cookie");
    let me = reqwest::Client::new()
        .get(format!("{}{API}/auth/session", core.url))
        .header("cookie", format!("dsx_session={session}"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        (me["user"].as_str(), me["role"].as_str(), me["method"].as_str()),
        (Some("alice"), Some("admin"), Some("oidc"))
    );
    // The same callback again: the state was used.
    let again = b.send(reqwest::Method::GET, &at, None).await;
    assert_eq!(again.status().as_u16(), 401);

    // nora has no mapped group: 403 no_role_mapped, no session.
    let mut b = common::oidc::Browser::new();
    let at = to_callback(&mut b, &core.url, "nora", |u| u).await;
    let r = b.send(reqwest::Method::GET, &at, None).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "no_role_mapped");
    assert!(b.cookie(&core.url, "dsx_session").is_none());

    // A foreign state in the callback → 401 oidc_failed.
    let mut b = common::oidc::Browser::new();
    let at = to_callback(&mut b, &core.url, "oscar", |u| u).await;
    let forged = with_param(url::Url::parse(&at).unwrap(), "state", &"A".repeat(43));
    let r = b.send(reqwest::Method::GET, forged.as_str(), None).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["detail"], "oidc_failed");

    // A nonce changed on the way to the provider → the ID token does not match → 401.
    let mut b = common::oidc::Browser::new();
    let at = to_callback(&mut b, &core.url, "victor", |u| with_param(u, "nonce", &"B".repeat(43))).await;
    let r = b.send(reqwest::Method::GET, &at, None).await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(b.cookie(&core.url, "dsx_session").is_none());

    // oscar, untampered, is an operator.
    let mut b = common::oidc::Browser::new();
    let at = to_callback(&mut b, &core.url, "oscar", |u| u).await;
    assert_eq!(b.send(reqwest::Method::GET, &at, None).await.status().as_u16(), 200);

    // The trail has each sign-in (repeated refusals coalesced: their counts add up).
    let admin = Api::with_token(&core.url, &token(data.path(), "root", "admin"));
    let items = wait_for("six sign-ins in the trail", Duration::from_secs(30), || async {
        let (_, page) = admin.get("/admin/audit?action=auth.oidc_login").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let total: u64 = items.iter().map(|r| r["count"].as_u64().unwrap()).sum();
        (total == 6).then_some(items)
    })
    .await;
    let count = |result: &str, detail: Option<&str>| -> u64 {
        items
            .iter()
            .filter(|r| r["result"] == result && r["detail"].as_str() == detail)
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(count("success", None), 2);
    assert_eq!(count("denied", Some("oidc_failed")), 3);
    assert_eq!(count("denied", Some("no_role_mapped")), 1);
    drop(provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_enrollment_tokens_blocks_the_address() {
    let data = tempfile::tempdir().unwrap();
    let mut env = auth_env();
    env.push(("DSXCONNECT_AUTH__LOGIN_IP_MAX_FAILURES", "3"));
    let core = start_core_in(data.path(), &env);
    add_user(data.path(), "ivan", "viewer");
    let http = reqwest::Client::new();
    let register = |token: &'static str| {
        http.post(format!("{}{API}/connectors/register", core.url))
            .header("x-enrollment-token", token)
            .json(&json!({"name": "x", "uuid": "3f2b6c1e-8d2a-4c55-9a1e-6b7f0c2d9e41",
                          "url": "http://127.0.0.1:9/x", "status": "ready"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(register("wrong-token-0000000000").await.unwrap().status().as_u16(), 401);
    }
    // Blocked: even the right token, and logins from the same address.
    let r = register("enrollment-token-0001").await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let mut b = Browser::new(&core.url);
    assert_eq!(b.login("ivan", PW).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_every_session_of_the_user() {
    let data = tempfile::tempdir().unwrap();
    let core = start_core_in(data.path(), &auth_env());
    add_user(data.path(), "wendy", "viewer");
    let mut laptop = Browser::new(&core.url);
    let mut phone = Browser::new(&core.url);
    assert_eq!(laptop.login("wendy", PW).await.0, 200);
    assert_eq!(phone.login("wendy", PW).await.0, 200);
    let (s, _) = laptop
        .send(reqwest::Method::POST, "/auth/logout?everywhere=true", json!({}))
        .await;
    assert_eq!(s, 204);
    assert_eq!(phone.get("/scan/jobs").await.0, 401);
    assert_eq!(laptop.get("/scan/jobs").await.0, 401);
}
