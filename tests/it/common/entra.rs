//! Token servers for Entra ID credentials (the TK rig of docs/reference/CONNECTORS.md, "Test
//! fakes"), over HTTPS with a certificate of the test CA, on loopback:
//!
//! - an Entra authority (`AZURE_AUTHORITY_HOST`): the v2.0 token endpoint
//!   `POST /<tenant>/oauth2/v2.0/token` with the client credentials grant, authenticated by a
//!   client secret or by a client assertion (workload identity's federated token), for the one
//!   scope `https://storage.azure.com/.default`; errors as Entra words them (`invalid_client`,
//!   `invalid_scope`, … with `AADSTS` descriptions);
//! - a managed-identity endpoint (`IDENTITY_ENDPOINT`, App Service / Container Apps form):
//!   `GET /msi/token?resource=…&api-version=2019-08-01` with the `X-IDENTITY-HEADER` secret;
//! - the instance metadata service's token endpoint (`AZURE_POD_IDENTITY_AUTHORITY_HOST`):
//!   `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` with
//!   `Metadata: true`, answering with string-valued `expires_in` / `expires_on` as IMDS does.
//!
//! Tokens are RS256 JWTs with audience `https://storage.azure.com`, issuer
//! `https://sts.windows.net/<tenant>/` and a lifetime the test picks, which Azurite with
//! `--oauth basic` accepts (it checks issuer, audience and lifetime). Every token request is
//! recorded; the server can be told to answer 401 to everything.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use serde_json::json;

use super::Threaded;
use super::rsyslog::TestPki;

pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Who may get tokens, and for how long they live.
#[derive(Debug, Clone)]
pub struct Identities {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// The federated token workload identity presents as its client assertion.
    pub federated_assertion: String,
    /// The `IDENTITY_HEADER` secret of the managed-identity endpoint.
    pub identity_header: String,
    /// `expires_in` of every token, and its `exp` claim.
    pub lifetime: Duration,
}

impl Identities {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            tenant: uuid::Uuid::new_v4().to_string(),
            client_id: uuid::Uuid::new_v4().to_string(),
            client_secret: format!("tk~{}", uuid::Uuid::new_v4().simple()),
            federated_assertion: format!(
                "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(json!({"sub": "system:serviceaccount:dsx:connector"}).to_string())
            ),
            identity_header: uuid::Uuid::new_v4().to_string(),
            lifetime,
        }
    }
}

/// One token request as the server judged it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `client_secret`, `client_assertion` or `managed_identity`.
    pub grant: &'static str,
    /// The scope (token endpoint) or resource (managed identity) asked for.
    pub scope: String,
    pub granted: bool,
    pub at: Instant,
}

struct State {
    ids: Identities,
    key: KeyPair,
    requests: Vec<TokenRequest>,
    refuse: bool,
}

pub struct TokenServer {
    /// `https://127.0.0.1:<port>`, for `AZURE_AUTHORITY_HOST`.
    pub authority: String,
    /// `https://127.0.0.1:<port>/msi/token`, for `IDENTITY_ENDPOINT`.
    pub identity_endpoint: String,
    pub ids: Identities,
    state: Arc<Mutex<State>>,
    _server: Threaded,
}

impl TokenServer {
    /// Serves HTTPS with `pki`'s server certificate.
    pub fn start(pki: &TestPki, ids: Identities) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let tls = dsx_connect::tls::server_config(&pki.server_cert, &pki.server_key).unwrap();
        let state = Arc::new(Mutex::new(State {
            ids: ids.clone(),
            key: KeyPair::generate(KeySize::Rsa2048).unwrap(),
            requests: Vec::new(),
            refuse: false,
        }));
        let shared = Arc::clone(&state);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                        .workers(1)
                        .disable_signals()
                        .listen_rustls_0_23(listener, tls)
                        .unwrap()
                        .run();
                let h = server.handle();
                actix_rt::spawn(server);
                tx.send(()).unwrap();
                let _ = stop_rx.await;
                h.stop(false).await;
            });
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let authority = format!("https://127.0.0.1:{port}");
        Self {
            identity_endpoint: format!("{authority}/msi/token"),
            authority,
            ids,
            state,
            _server: Threaded {
                url: String::new(),
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        }
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// From now on every request is answered 401 (`invalid_client`).
    pub fn refuse_all(&self) {
        self.state.lock().unwrap().refuse = true;
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An RS256 JWT for the blob service, as Entra issues it (v1 access token claims).
fn mint(st: &State) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = now_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "tk-test-key"});
    let claims = json!({
        "aud": STORAGE_RESOURCE,
        "iss": format!("https://sts.windows.net/{}/", st.ids.tenant),
        "iat": now,
        "nbf": now,
        "exp": now + st.ids.lifetime.as_secs(),
        "appid": st.ids.client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": uuid::Uuid::new_v4().to_string(),
        "sub": uuid::Uuid::new_v4().to_string(),
        "tid": st.ids.tenant,
        "uti": uuid::Uuid::new_v4().simple().to_string(),
        "ver": "1.0",
    });
    let signing_input = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
    let mut sig = vec![0u8; st.key.public_modulus_len()];
    st.key
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .unwrap();
    format!("{signing_input}.{}", b64.encode(sig))
}

/// An error answer in Entra's form.
fn entra_error(status: u16, error: &str, code: u32, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}"),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    }))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let mut st = state.lock().unwrap();
    if req.method() == actix_web::http::Method::GET && req.path() == "/msi/token" {
        return managed_identity(&req, &mut st);
    }
    if req.method() == actix_web::http::Method::GET && req.path() == "/metadata/identity/oauth2/token" {
        return instance_metadata(&req, &mut st);
    }
    let token_path = format!("/{}/oauth2/v2.0/token", st.ids.tenant);
    if req.method() != actix_web::http::Method::POST || !req.path().ends_with("/oauth2/v2.0/token") {
        return HttpResponse::NotFound().finish();
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let grant = if field("client_assertion").is_some() {
        "client_assertion"
    } else {
        "client_secret"
    };
    let scope = field("scope").unwrap_or_default().to_string();
    let mut record = TokenRequest {
        grant,
        scope: scope.clone(),
        granted: false,
        at: Instant::now(),
    };
    let answer = if st.refuse {
        entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    } else if req.path() != token_path {
        entra_error(400, "invalid_request", 90002, "Tenant not found.")
    } else if field("grant_type") != Some("client_credentials") {
        entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        )
    } else if field("client_id") != Some(st.ids.client_id.as_str()) {
        entra_error(
            400,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        )
    } else if scope != STORAGE_SCOPE {
        entra_error(
            400,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        )
    } else if grant == "client_secret" && field("client_secret") != Some(st.ids.client_secret.as_str()) {
        entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    } else if grant == "client_assertion"
        && (field("client_assertion_type") != Some(JWT_BEARER)
            || field("client_assertion") != Some(st.ids.federated_assertion.as_str()))
    {
        entra_error(
            400,
            "invalid_client",
            70021,
            "No matching federated identity record found for presented assertion.",
        )
    } else {
        record.granted = true;
        let lifetime = st.ids.lifetime.as_secs();
        HttpResponse::Ok().json(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": mint(&st),
        }))
    };
    st.requests.push(record);
    answer
}

/// The App Service / Container Apps managed-identity protocol (api-version 2019-08-01).
fn managed_identity(req: &HttpRequest, st: &mut State) -> HttpResponse {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let resource = param("resource").unwrap_or_default().to_string();
    let header_ok =
        req.headers().get("x-identity-header").and_then(|v| v.to_str().ok()) == Some(st.ids.identity_header.as_str());
    let mut record = TokenRequest {
        grant: "managed_identity",
        scope: resource.clone(),
        granted: false,
        at: Instant::now(),
    };
    let answer = if st.refuse || !header_ok {
        HttpResponse::Unauthorized()
            .json(json!({"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER is missing or wrong"}))
    } else if param("api-version") != Some("2019-08-01") || resource != STORAGE_RESOURCE {
        HttpResponse::BadRequest()
            .json(json!({"statusCode": 400, "message": "the resource or api-version is not supported"}))
    } else {
        record.granted = true;
        HttpResponse::Ok().json(json!({
            "access_token": mint(st),
            "expires_on": (now_secs() + st.ids.lifetime.as_secs()).to_string(),
            "resource": STORAGE_RESOURCE,
            "token_type": "Bearer",
            "client_id": st.ids.client_id,
        }))
    };
    st.requests.push(record);
    answer
}

/// The instance metadata service's managed-identity protocol (api-version 2018-02-01): the
/// `Metadata: true` header is required (it keeps server-side request forgery out), numbers are
/// strings.
fn instance_metadata(req: &HttpRequest, st: &mut State) -> HttpResponse {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let resource = param("resource").unwrap_or_default().to_string();
    let mut record = TokenRequest {
        grant: "imds",
        scope: resource.clone(),
        granted: false,
        at: Instant::now(),
    };
    let metadata = req.headers().get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    let answer = if !metadata {
        HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}))
    } else if st.refuse {
        HttpResponse::BadRequest().json(json!({"error": "invalid_request", "error_description": "Identity not found"}))
    } else if param("api-version") != Some("2018-02-01") || resource != STORAGE_RESOURCE {
        HttpResponse::BadRequest().json(
            json!({"error": "invalid_resource", "error_description": "the resource or api-version is not supported"}),
        )
    } else {
        record.granted = true;
        let lifetime = st.ids.lifetime.as_secs();
        HttpResponse::Ok().json(json!({
            "access_token": mint(st),
            "client_id": st.ids.client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": (now_secs() + lifetime).to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now_secs().to_string(),
            "resource": STORAGE_RESOURCE,
            "token_type": "Bearer",
        }))
    };
    st.requests.push(record);
    answer
}
