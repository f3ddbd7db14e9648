//! Credentials toward Google APIs (docs/reference/CONNECTORS.md, "GCS connector"): inline JSON,
//! a credential file, application default credentials (gcloud's file, then the metadata server)
//! or none at all (emulators), through Google's `google-cloud-auth`.

use google_cloud_auth::credentials::{
    Builder, CacheableResource, Credentials, external_account, service_account, user_account,
};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::errors::GcsFailure;
use super::settings::{AuthMode, GcsSettings};

/// Full control of objects (read, write, delete, metadata).
pub const STORAGE_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// Pulling and acknowledging messages.
pub const PUBSUB_SCOPE: &str = "https://www.googleapis.com/auth/pubsub";

/// Why the credentials cannot be built (a start-up error naming the variable, never a secret).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{var}: cannot read {path}")]
    Unreadable {
        var: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{var}: not a credential JSON document")]
    NotJson {
        var: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{var}: credentials of type '{kind}' are not supported (service_account, authorized_user, external_account)"
    )]
    UnknownType { var: &'static str, kind: String },
    #[error("{var}: the credentials cannot be used")]
    Build {
        var: &'static str,
        #[source]
        source: google_cloud_auth::build_errors::Error,
    },
    #[error(
        "DSXCONNECTOR_GCS_AUTH=service_account needs DSXCONNECTOR_GCS_CREDENTIALS_JSON, DSXCONNECTOR_GCS_CREDENTIALS_FILE or GOOGLE_APPLICATION_CREDENTIALS"
    )]
    NoServiceAccount,
}

/// Who the connector is toward Google: anonymous for emulators, else Google credentials.
#[derive(Clone, Debug)]
pub struct Auth {
    creds: Option<Credentials>,
    /// The mode as configured or found (`/config` `auth`; never a secret).
    pub mode: &'static str,
}

fn from_json(json: Value, var: &'static str) -> Result<Credentials, AuthError> {
    let kind = json.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    let scopes = [STORAGE_SCOPE, PUBSUB_SCOPE];
    let built = match kind.as_str() {
        "service_account" => service_account::Builder::new(json)
            .with_access_specifier(service_account::AccessSpecifier::from_scopes(scopes))
            .build(),
        "authorized_user" => user_account::Builder::new(json).with_scopes(scopes).build(),
        "external_account" => external_account::Builder::new(json).with_scopes(scopes).build(),
        _ => return Err(AuthError::UnknownType { var, kind }),
    };
    built.map_err(|source| AuthError::Build { var, source })
}

fn parse(text: &str, var: &'static str) -> Result<Value, AuthError> {
    serde_json::from_str(text).map_err(|source| AuthError::NotJson { var, source })
}

impl Auth {
    /// Builds the credentials the settings ask for; missing or unreadable inputs are errors.
    pub fn new(s: &GcsSettings) -> Result<Self, AuthError> {
        let explicit = || -> Result<Option<(Credentials, &'static str)>, AuthError> {
            if let Some(j) = &s.credentials_json {
                let var = "DSXCONNECTOR_GCS_CREDENTIALS_JSON";
                return Ok(Some((from_json(parse(j.expose(), var)?, var)?, "credentials_json")));
            }
            if let Some(path) = &s.credentials_file {
                let var = "DSXCONNECTOR_GCS_CREDENTIALS_FILE";
                let text = std::fs::read_to_string(path).map_err(|source| AuthError::Unreadable {
                    var,
                    path: path.clone(),
                    source,
                })?;
                return Ok(Some((from_json(parse(&text, var)?, var)?, "credentials_file")));
            }
            Ok(None)
        };
        let adc = || -> Result<Credentials, AuthError> {
            Builder::default()
                .with_scopes([STORAGE_SCOPE, PUBSUB_SCOPE])
                .build()
                .map_err(|source| AuthError::Build {
                    var: "GOOGLE_APPLICATION_CREDENTIALS",
                    source,
                })
        };
        let anonymous = Self {
            creds: None,
            mode: "anonymous",
        };
        Ok(match s.auth {
            AuthMode::Anonymous => anonymous,
            // Toward an emulator Google's libraries send no credentials unless told to.
            AuthMode::Auto if s.emulator => anonymous,
            AuthMode::Auto => match explicit()? {
                Some((c, mode)) => Self { creds: Some(c), mode },
                None => Self {
                    creds: Some(adc()?),
                    mode: "adc",
                },
            },
            AuthMode::ServiceAccount => match explicit()? {
                Some((c, mode)) => Self { creds: Some(c), mode },
                None => return Err(AuthError::NoServiceAccount),
            },
            AuthMode::Adc => Self {
                creds: Some(adc()?),
                mode: "adc",
            },
        })
    }

    /// Anonymous credentials (emulators without authentication, such as Pub/Sub's).
    pub fn anonymous() -> Self {
        Self {
            creds: None,
            mode: "anonymous",
        }
    }

    /// The headers that authenticate one request (none when anonymous). Tokens are cached and
    /// refreshed by the library.
    pub async fn headers(&self) -> Result<HeaderMap, GcsFailure> {
        let Some(c) = &self.creds else {
            return Ok(HeaderMap::new());
        };
        match c.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(HeaderMap::new()),
            Err(e) => Err(GcsFailure {
                status: Some(401),
                reason: Some("credentials".into()),
                message: format!("cannot obtain credentials: {}", crate::error_chain::error_chain(&e)),
                transient: e.is_transient(),
                unreachable: false,
                retry_after: None,
            }),
        }
    }
}
