//! Certificate loading shared by every outbound client.

use std::path::Path;

/// Reads every certificate of a PEM bundle (a CA bundle setting).
pub fn load_certificates(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read CA bundle {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| anyhow::anyhow!("CA bundle {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("CA bundle {} contains no certificate", path.display());
    }
    Ok(certs)
}

/// A rustls server configuration from PEM files (certificate chain, private key).
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("TLS certificate {} contains no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("TLS certificate and key do not match: {e}"))
}
