//! HTTPS serving of the core and of connectors (`DSXCONNECT_USE_TLS`, `DSXCONNECTOR_USE_TLS`).

use crate::common;

use common::*;

fn cert(dir: &std::path::Path) -> (String, String, reqwest::Certificate) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, ck.cert.pem()).unwrap();
    std::fs::write(&k, ck.signing_key.serialize_pem()).unwrap();
    let ca = reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap();
    (c.display().to_string(), k.display().to_string(), ca)
}

#[tokio::test]
async fn the_core_serves_https_with_the_configured_certificate() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (c, k, ca) = cert(dir.path());
    let (core, _d) = start_core(&[
        ("DSXCONNECT_USE_TLS", "true"),
        ("DSXCONNECT_TLS_CERTFILE", &c),
        ("DSXCONNECT_TLS_KEYFILE", &k),
    ]);
    assert!(core.url.starts_with("https://"), "{}", core.url);
    let client = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let r = client.get(format!("{}{API}/healthz", core.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Plain HTTP on the TLS port does not work.
    let plain = core.url.replace("https://", "http://");
    assert!(
        !reqwest::get(format!("{plain}{API}/healthz"))
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    );
}

#[test]
fn tls_without_its_files_is_a_start_up_error() {
    let out = run_for(
        std::process::Command::new(env!("CARGO_BIN_EXE_dsx-connect"))
            .arg("serve")
            .env("DSXCONNECT_USE_TLS", "true"),
        30,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DSXCONNECT_TLS_CERTFILE"));
}

/// The core's calls to a connector over HTTPS: every connector client clones one TLS
/// configuration built at start, which trusts the platform roots plus
/// `DSXCONNECT_CONNECTORS__CA_BUNDLE`, or anything with `DSXCONNECT_CONNECTORS__VERIFY_TLS=false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_calls_an_https_connector_trusted_through_its_ca_bundle_only() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (c, k, _) = cert(dir.path());
    let (core, _d) = start_core(&[("DSXCONNECT_CONNECTORS__CA_BUNDLE", &c)]);
    let asset = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (conn, uuid) = start_fs_connector(
        &core.url,
        asset.path(),
        data.path(),
        &[
            ("DSXCONNECTOR_USE_TLS", "true"),
            ("DSXCONNECTOR_TLS_CERTFILE", &c),
            ("DSXCONNECTOR_TLS_KEYFILE", &k),
            ("DSXCONNECTOR_CONNECTOR_URL", "https://127.0.0.1:0"),
        ],
    );
    assert!(conn.url.starts_with("https://"), "{}", conn.url);
    let api = Api::new(&core.url);
    api.wait_registered(&uuid).await;
    let (s, v) = api.get(&format!("/connectors/healthz/{uuid}")).await;
    assert_eq!(s, 200, "trusted through the CA bundle: {v}");

    let other = "3f0c2b2e-1111-4222-8333-777777777777";
    let register = serde_json::json!({"name": "tls", "uuid": other, "url": conn.url});
    let (untrusting, _d2) = start_core(&[]);
    let api = Api::new(&untrusting.url);
    assert_eq!(api.post("/connectors/register", register.clone()).await.0, 201);
    let (s, v) = api.get(&format!("/connectors/healthz/{other}")).await;
    assert_eq!(s, 502, "{v}");
    assert_eq!(v["detail"], "Connector service unavailable: TLSError");

    let (lenient, _d3) = start_core(&[("DSXCONNECT_CONNECTORS__VERIFY_TLS", "false")]);
    let api = Api::new(&lenient.url);
    assert_eq!(api.post("/connectors/register", register).await.0, 201);
    assert_eq!(api.get(&format!("/connectors/healthz/{other}")).await.0, 200);
}
