//! GCS credentials on the wire: a service-account key (in `DSXCONNECTOR_GCS_CREDENTIALS_FILE` or
//! `GOOGLE_APPLICATION_CREDENTIALS`) makes every request carry a JWT the connector signed with
//! that key, checked by the recording proxy against the key's public half; application default
//! credentials from a metadata server (`GCE_METADATA_HOST`, answering only with
//! `Metadata-Flavor: Google`) make the repository check succeed with its token
//! (docs/reference/CONNECTORS.md, "GCS client and credentials").

use crate::common;
use crate::connector_gcs::rig_on;

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use common::fake_core::FakeCore;
use common::gce_metadata::MetadataServer;
use common::gcs::*;
use common::gcs_proxy::Proxy;
use common::*;
use serde_json::{Value, json};

/// A freshly generated service-account key: its JSON document and its public key (`RSAPublicKey`
/// DER).
struct TestKey {
    json: Value,
    email: String,
    key_id: String,
    public: Vec<u8>,
}

impl TestKey {
    fn generate(email: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let key_id = format!("kid-{}", &email[..email.find('@').unwrap()]);
        Self {
            json: json!({
                "type": "service_account",
                "project_id": "dsx-test",
                "private_key_id": key_id,
                "private_key": pem,
                "client_email": email,
                "client_id": "1234567890",
                "token_uri": "https://oauth2.googleapis.com/token",
            }),
            email: email.to_string(),
            key_id,
            public: pair.public_key().as_ref().to_vec(),
        }
    }

    fn private_pem(&self) -> &str {
        self.json["private_key"].as_str().unwrap()
    }
}

/// The JWT's header and claims when its signature verifies with `public`, else the reason.
fn verified(token: &str, public: &[u8]) -> Result<(Value, Value), String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let [head, claims, sig] = parts[..] else {
        return Err(format!("not a JWS: {} parts", parts.len()));
    };
    let signature = b64.decode(sig).map_err(|e| e.to_string())?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{head}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify".to_string())?;
    let decode = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&b64.decode(p).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    };
    Ok((decode(head)?, decode(claims)?))
}

fn bearer(s: &common::gcs_proxy::Seen) -> String {
    let auth = s.headers.get("authorization").cloned().unwrap_or_default();
    auth.strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("no bearer token: {s:?}"))
        .to_string()
}

/// With a service-account key file (in either variable, auth `auto`, a non-emulator endpoint),
/// every request the recording proxy sees — listing, media read, metadata read and patch,
/// repository check — carries a bearer JWT with `iss` = `sub` = the key's `client_email`, the
/// key's id, the storage scope and a one-hour lifetime, whose RS256 signature verifies with the
/// key's public half (and not with another key's). `/config` names the mode, never the key.
#[tokio::test]
async fn a_service_account_key_signs_every_request_with_its_own_jwt() {
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("sa");
    gcs.create_bucket(&bucket).await;
    gcs.put(&bucket, "pre/a.txt", b"a").await;
    gcs.put(&bucket, "pre/sub/b.txt", b"b").await;
    let rp = Proxy::start(fake_gcs());
    let other = TestKey::generate("someone-else@dsx-test.iam.gserviceaccount.com");
    let dir = tempfile::tempdir().unwrap();
    for var in ["DSXCONNECTOR_GCS_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS"] {
        let short = if var.starts_with("DSX") { "file-sa" } else { "adc-sa" };
        let key = TestKey::generate(&format!("{short}@dsx-test.iam.gserviceaccount.com"));
        let path = dir.path().join(format!("{short}.json"));
        std::fs::write(&path, key.json.to_string()).unwrap();
        rp.clear();
        let r = rig_on(
            Admin::new(fake_gcs()),
            bucket.clone(),
            "pre",
            &[
                // Not an emulator: `auto` takes the key rather than going anonymous.
                ("STORAGE_EMULATOR_HOST", ""),
                ("DSXCONNECTOR_GCS_ENDPOINT_URL", rp.url.as_str()),
                (var, path.to_str().unwrap()),
                ("DSXCONNECTOR_ITEM_ACTION", "tag"),
            ],
        )
        .await;
        let items = r.full_scan(&format!("SA-{short}")).await;
        assert_eq!(items.len(), 2, "{var}: {items:?}");
        let resp = r.read("pre/a.txt").await;
        assert_eq!(resp.status().as_u16(), 200, "{var}");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), b"a");
        let (_, v) = r.action("pre/a.txt").await;
        assert_eq!(v["status"], "success", "{var}: {v}");
        let rc: Value = r
            .http
            .get(r.url("/repo_check"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rc["status"], "success", "{var}: {rc}");
        let cfg = r.http.get(r.url("/config")).send().await.unwrap().text().await.unwrap();
        assert!(cfg.contains("credentials_file"), "{var}: {cfg}");
        assert!(!cfg.contains("PRIVATE KEY"), "{var}: the key is never shown");

        let seen = rp.seen();
        for method in ["GET", "PATCH"] {
            assert!(
                seen.iter().any(|s| s.method == method),
                "{var}: a {method} went through: {seen:?}"
            );
        }
        assert!(
            seen.iter().any(|s| s.query.contains("alt=media")),
            "{var}: the read went through"
        );
        let mut tokens = std::collections::BTreeSet::new();
        for s in &seen {
            let token = bearer(s);
            let (head, claims) = verified(&token, &key.public).unwrap_or_else(|e| panic!("{var}: {e}: {s:?}"));
            assert_eq!(head["alg"], "RS256", "{head}");
            assert_eq!(head["kid"], key.key_id.as_str(), "{head}");
            assert_eq!(claims["iss"], key.email.as_str(), "{claims}");
            assert_eq!(claims["sub"], key.email.as_str(), "{claims}");
            assert!(
                claims["scope"]
                    .as_str()
                    .unwrap_or_default()
                    .split(' ')
                    .any(|s| s == "https://www.googleapis.com/auth/devstorage.read_write"),
                "{claims}"
            );
            let life = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
            assert!((3600..=3700).contains(&life), "{claims}");
            assert!(verified(&token, &other.public).is_err(), "another key cannot verify it");
            assert!(!cfg.contains(&token), "{var}: no token in /config");
            tokens.insert(token);
        }
        // One token, cached for its lifetime, signs every request.
        assert_eq!(tokens.len(), 1, "{var}: {tokens:?}");
        assert!(!cfg.contains(&key.private_pem()[40..100]));
    }
}

/// Application default credentials from the metadata server: `dsx-connect connector gcs` with
/// `DSXCONNECTOR_GCS_AUTH=adc`, no key file and no gcloud credentials, and `GCE_METADATA_HOST`
/// pointing at a metadata server that answers only requests with `Metadata-Flavor: Google`:
/// the repository check succeeds, every storage request carries the server's access token, and
/// every request to the metadata server carried the header and asked for the storage scope.
#[tokio::test]
async fn adc_from_the_metadata_server_makes_the_repository_check_succeed() {
    const TOKEN: &str = "ya29.tk-metadata-token-1";
    let gcs = Admin::new(fake_gcs());
    let bucket = unique_bucket("mds");
    gcs.create_bucket(&bucket).await;
    gcs.put(&bucket, "pre/a.txt", b"a").await;
    let rp = Proxy::start(fake_gcs());
    let tk = MetadataServer::start(TOKEN);
    let bare = reqwest::get(format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
        tk.host
    ))
    .await
    .unwrap();
    assert_eq!(bare.status().as_u16(), 403, "the metadata server wants Metadata-Flavor");
    let fc = FakeCore::start();
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
        .args(["connector", "gcs"])
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("DSXCONNECTOR_GCS_CREDENTIALS_FILE")
        .env_remove("DSXCONNECTOR_GCS_CREDENTIALS_JSON")
        .env_remove("CLOUDSDK_CONFIG")
        .env("HOME", home.path())
        .env("GCE_METADATA_HOST", &tk.host)
        .env("STORAGE_EMULATOR_HOST", &rp.url)
        .env("DSXCONNECTOR_GCS_AUTH", "adc")
        .env("DSXCONNECTOR_ASSET", format!("{bucket}/pre"))
        .env("DSXCONNECTOR_DSX_CONNECT_URL", &fc.url)
        .env("DSXCONNECTOR_CONNECTOR_URL", format!("http://127.0.0.1:{port}"))
        .env("DSXCONNECTOR_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DSXCONNECTOR_DATA_DIR", data.path())
        .env("DSXCONNECTOR_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/google-cloud-storage-connector");
    let http = reqwest::Client::new();
    wait_for("the connector ready", Duration::from_secs(60), || async {
        let s = http.get(format!("{base}/readyz")).send().await.ok()?.status().as_u16();
        (s == 200).then_some(())
    })
    .await;
    rp.clear();
    let rc: Value = http
        .get(format!("{base}/repo_check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cfg: Value = http
        .get(format!("{base}/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(rc["status"], "success", "{rc}");
    assert!(cfg.to_string().contains("\"adc\""), "{cfg}");
    assert!(!cfg.to_string().contains(TOKEN), "{cfg}");
    let seen = rp.seen();
    assert_eq!(seen.len(), 1, "one objects.list: {seen:?}");
    assert_eq!(
        seen[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {TOKEN}").as_str()),
        "{seen:?}"
    );
    // The first request was the test's own, without the header.
    let asked: Vec<_> = tk.seen().into_iter().skip(1).collect();
    let token_requests: Vec<_> = asked.iter().filter(|r| r.path.ends_with("/token")).collect();
    assert!(!token_requests.is_empty(), "{asked:?}");
    assert!(
        asked.iter().all(|r| r.flavor.as_deref() == Some("Google")),
        "every metadata request carries Metadata-Flavor: Google: {asked:?}"
    );
    assert!(
        token_requests.iter().all(|r| r.query.contains("devstorage.read_write")),
        "{asked:?}"
    );
}
