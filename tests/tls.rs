//! HTTPS serving of the core and of connectors (`DSXCONNECT_USE_TLS`, `DSXCONNECTOR_USE_TLS`).

mod common;

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
