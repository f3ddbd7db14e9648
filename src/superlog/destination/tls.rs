//! rustls client configuration for syslog over TLS (docs/reference/SUPERLOG.md, "TLS").

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// A TLS setting that cannot be used; the caller names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("CA file: {0}")]
    Ca(String),
    #[error("client certificate: {0}")]
    Cert(String),
    #[error("client key: {0}")]
    Key(String),
    #[error("client certificate and key do not match: {0}")]
    Mismatch(String),
}

/// Where the client's trust and identity come from.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles<'a> {
    pub ca: Option<&'a Path>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub insecure: bool,
}

/// Builds the client configuration: exactly the CA file's certificates as anchors (or the
/// platform store), optional client authentication, TLS 1.2 and 1.3.
pub fn client_config(files: &TlsFiles<'_>) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Ca(e.to_string()))?;
    let builder = if files.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAnyServer(provider)))
    } else {
        builder.with_root_certificates(roots(files.ca)?)
    };
    match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| TlsError::Cert(format!("{}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(TlsError::Cert(format!("{}: no certificate", cert.display())));
            }
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Mismatch(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn roots(ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| TlsError::Ca(format!("{}: {e}", path.display())))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::Ca(format!("{}: no usable certificate", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    Ok(store)
}

/// Human text for a TLS failure, naming the reason (never key material).
pub fn describe(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            rustls::CertificateError::UnknownIssuer => "TLS: server certificate not trusted (unknown issuer)".into(),
            rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. } => {
                "TLS: server certificate not valid for the server name".into()
            }
            other => format!("TLS: server certificate rejected ({other:?})"),
        },
        Some(rustls::Error::AlertReceived(a)) => format!("TLS: the server refused the handshake ({a:?})"),
        Some(other) => format!("TLS: {other}"),
        None => format!("TLS: {e}"),
    }
}
