//! Azurite (Microsoft's Azure Storage emulator, npm, tests/azurite) on loopback: one blob service
//! per test binary, shared by its tests through unique container names; the tests' own admin
//! calls to seed and inspect containers; and an in-process Azure Blob connector.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use dsx_connect::connectors::azure::AzureStorage;
use dsx_connect::connectors::azure::client::{BlobClient, Call};
use dsx_connect::connectors::azure::credentials::{Auth, Resolved};
use dsx_connect::connectors::azure::ops::parse_tags;
use dsx_connect::connectors::framework::server::start;
use dsx_connect::connectors::framework::settings::{ConnectorKind, ConnectorSettings, Overrides};
use dsx_connect::settings_source::Secret;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use sha2::Sha256;

use super::rsyslog::TestPki;
use super::{Threaded, init_logs};

pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const API_VERSION: &str = "2024-08-04";

/// Starts `azurite-blob` on a free port; it dies with the test process. Returns the blob service
/// URL (path-style: `http://127.0.0.1:<port>/devstoreaccount1`).
pub fn start_azurite() -> String {
    spawn_azurite(&[], "http")
}

/// `azurite-blob` on a free port with `extra` arguments, reached with `scheme`.
fn spawn_azurite(extra: &[String], scheme: &str) -> String {
    let bin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/azurite/node_modules/.bin/azurite-blob"
    );
    assert!(
        Path::new(bin).exists(),
        "Azurite is missing: run scripts/setup.sh (npm ci --prefix tests/azurite)"
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Azurite writes its debug log and extent files relative to its working directory.
    let dir = tempfile::tempdir().unwrap().keep();
    let extra = extra.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ])
        .args(&extra)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|_| ()).map_err(|e| e.to_string())).unwrap();
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv()
        .unwrap()
        .expect("azurite-blob runs (scripts/setup.sh installs it under tests/azurite)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "Azurite did not start within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    format!("{scheme}://127.0.0.1:{port}/{ACCOUNT}")
}

/// Azurite over HTTPS with a certificate of a test CA, accepting Entra bearer tokens
/// (`--oauth basic`: issuer, audience and lifetime are checked, not the signature).
pub struct OauthAzurite {
    /// `https://127.0.0.1:<port>/devstoreaccount1`.
    pub url: String,
    /// The test CA (for `DSXCONNECTOR_CA_BUNDLE`) and the server certificate it signed.
    pub pki: TestPki,
}

/// The test binary's shared Azurite on OAuth over HTTPS.
pub fn azurite_oauth() -> &'static OauthAzurite {
    static AZ: OnceLock<OauthAzurite> = OnceLock::new();
    AZ.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let pki = TestPki::generate(&dir);
        let args = [
            "--oauth".to_string(),
            "basic".to_string(),
            "--cert".to_string(),
            pki.server_cert.display().to_string(),
            "--key".to_string(),
            pki.server_key.display().to_string(),
        ];
        OauthAzurite {
            url: spawn_azurite(&args, "https"),
            pki,
        }
    })
}

/// The test binary's shared Azurite.
pub fn azurite() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start_azurite)
}

/// A container name no other test of this binary uses (3-63 lower-case letters, digits, `-`).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The tests' own client (Shared Key with the development account).
pub fn admin(endpoint: &str) -> BlobClient {
    admin_trusting(endpoint, None)
}

/// [`admin`] for an HTTPS endpoint whose certificate `ca` signed.
pub fn admin_trusting(endpoint: &str, ca: Option<&Path>) -> BlobClient {
    BlobClient::new(
        &Resolved {
            account: ACCOUNT.into(),
            endpoint: endpoint.into(),
            auth: Auth::SharedKey { key: Secret::new(KEY) },
        },
        API_VERSION,
        true,
        ca,
    )
    .unwrap()
}

pub async fn create_container(c: &BlobClient, container: &str) {
    c.send(&Call::new(
        Method::PUT,
        c.container_url(container, &[("restype", "container")]),
    ))
    .await
    .unwrap_or_else(|e| panic!("create container {container}: {}", e.message));
}

pub async fn delete_container(c: &BlobClient, container: &str) {
    c.send(&Call::new(
        Method::DELETE,
        c.container_url(container, &[("restype", "container")]),
    ))
    .await
    .unwrap_or_else(|e| panic!("delete container {container}: {}", e.message));
}

/// Put Blob (block blob) with extra headers (`x-ms-meta-*`, `x-ms-tags`, content headers).
pub async fn put_with(c: &BlobClient, container: &str, name: &str, body: &[u8], headers: &[(&str, &str)]) {
    let mut call = Call::new(Method::PUT, c.blob_url(container, name, &[])).header("x-ms-blob-type", "BlockBlob");
    let mut ct = "application/octet-stream".to_string();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-type") {
            ct = v.to_string();
        } else {
            call = call.header(k, *v);
        }
    }
    let call = call.body(&ct, body.to_vec());
    c.send(&call)
        .await
        .unwrap_or_else(|e| panic!("put {name}: {}", e.message));
}

pub async fn put(c: &BlobClient, container: &str, name: &str, body: &[u8]) {
    put_with(c, container, name, body, &[]).await
}

pub async fn get(c: &BlobClient, container: &str, name: &str) -> Option<Vec<u8>> {
    let r = c.get(container, name).await.ok()?;
    Some(r.bytes().await.unwrap().to_vec())
}

/// The response headers of Get Blob Properties (`None` when the blob does not exist).
pub async fn head(c: &BlobClient, container: &str, name: &str) -> Option<reqwest::header::HeaderMap> {
    let r = c
        .send(&Call::new(Method::HEAD, c.blob_url(container, name, &[])))
        .await
        .ok()?;
    Some(r.headers().clone())
}

pub async fn tags(c: &BlobClient, container: &str, name: &str) -> Vec<(String, String)> {
    let r = c
        .send(&Call::new(
            Method::GET,
            c.blob_url(container, name, &[("comp", "tags")]),
        ))
        .await
        .unwrap_or_else(|e| panic!("tags of {name}: {}", e.message));
    let mut t = parse_tags(&r.text().await.unwrap()).unwrap();
    t.sort();
    t
}

pub async fn snapshot(c: &BlobClient, container: &str, name: &str) {
    c.send(&Call::new(
        Method::PUT,
        c.blob_url(container, name, &[("comp", "snapshot")]),
    ))
    .await
    .unwrap_or_else(|e| panic!("snapshot {name}: {}", e.message));
}

/// Every blob name of a container (all pages).
pub async fn names(c: &BlobClient, container: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let p = c.list_page(container, "", marker.as_deref(), 5000).await.unwrap();
        out.extend(p.blobs.into_iter().map(|b| b.name));
        match p.next_marker {
            Some(m) => marker = Some(m),
            None => return out,
        }
    }
}

/// An account SAS (version 2019-02-02 form) for the development account, with permissions
/// `perms` on blob service containers and objects.
pub fn account_sas(perms: &str) -> String {
    let sv = "2019-02-02";
    let se = "2099-01-01T00:00:00Z";
    let to_sign = format!("{ACCOUNT}\n{perms}\nb\nsco\n\n{se}\n\nhttps,http\n{sv}\n");
    let key = base64::engine::general_purpose::STANDARD.decode(KEY).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "sv={sv}&ss=b&srt=sco&sp={perms}&se={}&spr=https,http&sig={}",
        enc(se),
        enc(&sig)
    )
}

/// The connection string of the development account at `endpoint`.
pub fn connection_string(endpoint: &str) -> String {
    format!("DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={endpoint};")
}

/// Connector settings pointing at `endpoint` with the development account's connection string.
pub fn azure_env(endpoint: &str) -> Vec<(String, String)> {
    vec![("AZURE_STORAGE_CONNECTION_STRING".into(), connection_string(endpoint))]
}

/// An in-process Azure Blob connector for `asset` (`container[/prefix]`) registering with
/// `core_url`; `env` replaces the default credential when it names one (an `AZURE_*` or
/// `IDENTITY_*` variable, or `DSXCONNECTOR_AZURE_AUTH`).
pub fn start_azure_connector(
    core_url: &str,
    endpoint: &str,
    asset: &str,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> (Threaded, String) {
    init_logs();
    let own_credential = env
        .iter()
        .any(|(k, _)| k.starts_with("AZURE_") || k.starts_with("IDENTITY_") || *k == "DSXCONNECTOR_AZURE_AUTH");
    let mut map: std::collections::BTreeMap<String, String> = if own_credential {
        Default::default()
    } else {
        azure_env(endpoint).into_iter().collect()
    };
    for (k, v) in env {
        map.insert(k.to_string(), v.to_string());
    }
    map.insert("DSXCONNECTOR_ASSET".into(), asset.into());
    map.insert("DSXCONNECTOR_DSX_CONNECT_URL".into(), core_url.into());
    map.insert("DSXCONNECTOR_DATA_DIR".into(), data_dir.display().to_string());
    map.entry("DSXCONNECTOR_CONNECTOR_URL".into())
        .or_insert("http://127.0.0.1:0".into());
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        ..Overrides::default()
    };
    let (settings, _) =
        ConnectorSettings::load(ConnectorKind::AzureBlob, &map, None, &overrides).expect("valid Azure settings");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let storage = Arc::new(AzureStorage::new(&settings).expect("Azure storage"));
            let listener = TcpListener::bind(settings.listen_addr).unwrap();
            let running = start(settings, storage, listener).await.expect("connector starts");
            let url = running.service.settings().callback_url();
            ready_tx.send((url, running.service.uuid().to_string())).unwrap();
            let _ = stop_rx.await;
            running.stop().await;
        });
    });
    let (url, uuid) = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("Azure connector ready");
    (
        Threaded {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        uuid,
    )
}
