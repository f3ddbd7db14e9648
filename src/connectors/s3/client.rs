//! The AWS SDK clients (docs/reference/CONNECTORS.md, "S3 client"): the standard credential and
//! region chain (or credentials from the connector's settings), a custom endpoint with path-style
//! addressing for S3-compatible stores, and TLS toward that endpoint (verification on by default; a
//! CA bundle when given; off only when asked).

use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use super::settings::S3Settings;

/// The shared SDK configuration of the S3 and SQS clients.
pub async fn sdk_config(s: &S3Settings, ca_bundle: Option<&Path>) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    loader = match &s.region {
        Some(r) => loader.region(Region::new(r.clone())),
        None => loader.region(
            aws_config::meta::region::RegionProviderChain::default_provider().or_else(Region::from_static("us-east-1")),
        ),
    };
    if let Some(c) = &s.credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_string(),
            c.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "dsx-connect-settings",
        ));
    }
    if let Some(url) = &s.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if !s.endpoint_verify {
        tracing::warn!("DSXCONNECTOR_S3_ENDPOINT_VERIFY=false: TLS certificates of the S3 endpoint are not checked");
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the S3 HTTP client: {e}"))?;
        loader = loader.http_client(SharedHttpClient::new(Reqwest(client)));
    } else if let Some(ca) = ca_bundle {
        let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("DSXCONNECTOR_CA_BUNDLE {}: {e}", ca.display()))?;
        use aws_smithy_http_client::tls;
        let trust = tls::TrustStore::empty()
            .with_native_roots(true)
            .with_pem_certificate(pem);
        let context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| anyhow::anyhow!("DSXCONNECTOR_CA_BUNDLE {}: {e}", ca.display()))?;
        let client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context)
            .build_https();
        loader = loader.http_client(client);
    }
    Ok(loader.load().await)
}

/// The S3 client: path-style when asked; for S3-compatible stores, checksums only where S3
/// requires them (several stores reject the SDK's default trailing checksums).
pub fn s3_client(conf: &SdkConfig, s: &S3Settings) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf).force_path_style(s.force_path_style);
    if s.endpoint_url.is_some() {
        b = b
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

pub fn sqs_client(conf: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(conf)
}

/// An SDK HTTP client on reqwest, used when certificate checks toward the endpoint are off
/// (the SDK's own client has no switch for that).
#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client);

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let req = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(reqwest::Body::wrap(body))
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        ConnectorError::timeout(e.into())
                    } else {
                        ConnectorError::io(e.into())
                    }
                })?;
            let (parts, body) = http::Response::<reqwest::Body>::from(resp).into_parts();
            HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from_body_1_x(body)))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for Reqwest {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
