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
