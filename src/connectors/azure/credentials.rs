//! Which account, endpoint and credential the connector uses (docs/reference/CONNECTORS.md,
//! "Azure client and credentials"): connection strings (plain, quoted, `\;`-escaped or base64,
//! as the original accepted them), account name + key, SAS tokens, and Entra identities
//! (client secret, workload identity, managed identity). Nothing here ever prints a secret.

use base64::Engine;

use super::settings::{AuthMode, AzureSettings, CredentialInputs};
use crate::settings_source::Secret;

/// Azurite's published development account and key (`UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The instance metadata service (managed identity on VMs, scale sets and AKS nodes).
const DEFAULT_IMDS_AUTHORITY: &str = "http://169.254.169.254";

/// The variables that can carry a credential, for the "no credential" message.
pub const CREDENTIAL_VARIABLES: &str = "AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_NAME + AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT + IDENTITY_HEADER (or DSXCONNECTOR_AZURE_AUTH=managed_identity)";

/// A credential error: names the variable, never shows a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct CredentialError {
    pub variable: &'static str,
    pub message: String,
}

fn err(variable: &'static str, message: impl Into<String>) -> CredentialError {
    CredentialError {
        variable,
        message: message.into(),
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// Shared Key: HMAC-SHA256 with the decoded account key.
    SharedKey { key: Secret },
    /// A SAS query string (without `?`), appended to every URL.
    Sas { token: Secret },
    /// A bearer token from Entra ID.
    Entra(EntraSource),
}

/// Where Entra tokens come from.
#[derive(Clone)]
pub enum EntraSource {
    ClientSecret {
        authority: String,
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    WorkloadIdentity {
        authority: String,
        tenant: String,
        client_id: String,
        token_file: String,
    },
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (App Service, Container Apps, Arc), else the
    /// instance metadata service's token URL `imds`.
    ManagedIdentity {
        endpoint: Option<String>,
        header: Option<Secret>,
        client_id: Option<String>,
        imds: String,
    },
}

impl Auth {
    /// The mode name shown by `/config` (never a secret).
    pub fn mode(&self) -> &'static str {
        match self {
            Auth::SharedKey { .. } => "shared_key",
            Auth::Sas { .. } => "sas",
            Auth::Entra(EntraSource::ClientSecret { .. }) => "client_secret",
            Auth::Entra(EntraSource::WorkloadIdentity { .. }) => "workload_identity",
            Auth::Entra(EntraSource::ManagedIdentity { .. }) => "managed_identity",
        }
    }
}

/// The resolved account, blob service URL and credential.
#[derive(Clone)]
pub struct Resolved {
    pub account: String,
    /// Without a trailing `/`; path-style when the account is in its path.
    pub endpoint: String,
    pub auth: Auth,
}

/// The parsed pairs of a connection string (keys compared case-insensitively).
#[derive(Debug, Default)]
struct ConnString {
    pairs: Vec<(String, String)>,
}

impl ConnString {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `k=v;…` with at least one key a connection string knows.
    fn parse(raw: &str) -> Option<Self> {
        const KNOWN: [&str; 8] = [
            "DefaultEndpointsProtocol",
            "AccountName",
            "AccountKey",
            "BlobEndpoint",
            "EndpointSuffix",
            "SharedAccessSignature",
            "UseDevelopmentStorage",
            "DevelopmentStorageProxyUri",
        ];
        let mut pairs = Vec::new();
        for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=')?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        let c = Self { pairs };
        KNOWN.iter().any(|k| c.get(k).is_some()).then_some(c)
    }
}

/// The original's cleaning: surrounding quotes removed and `\;` read as `;`; then, if that is no
/// connection string, the value taken as base64 of one.
fn parse_connection_string(raw: &str) -> Result<ConnString, CredentialError> {
    let clean = |s: &str| {
        let s = s.trim();
        let s = ['"', '\'']
            .iter()
            .find_map(|q| s.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)))
            .unwrap_or(s);
        s.replace("\\;", ";")
    };
    let plain = clean(raw);
    if let Some(c) = ConnString::parse(&plain) {
        return Ok(c);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(plain.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    decoded.and_then(|d| ConnString::parse(&clean(&d))).ok_or_else(|| {
        err(
            "AZURE_STORAGE_CONNECTION_STRING",
            "is neither a connection string nor base64 of one",
        )
    })
}

/// The account named by a blob service URL: `<account>.blob.…`, else the first path segment
/// (path-style, e.g. Azurite).
fn account_of_url(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if let Some(host) = u.host_str()
        && let Some((first, rest)) = host.split_once('.')
        && rest.starts_with("blob.")
    {
        return Some(first.to_string());
    }
    u.path_segments()?.next().filter(|s| !s.is_empty()).map(str::to_string)
}

fn strip_q(s: &str) -> String {
    s.trim().trim_start_matches('?').to_string()
}

fn decode_key(variable: &'static str, key: &Secret) -> Result<Secret, CredentialError> {
    base64::engine::general_purpose::STANDARD
        .decode(key.expose().trim())
        .map_err(|_| err(variable, "the account key is not base64"))?;
    Ok(Secret::new(key.expose().trim()))
}

/// Picks the endpoint, account and credential (startup; errors exit 2).
pub fn resolve(s: &AzureSettings) -> Result<Resolved, CredentialError> {
    let i: &CredentialInputs = &s.inputs;
    let conn = i
        .connection_string
        .as_ref()
        .map(|c| parse_connection_string(c.expose()))
        .transpose()?;
    let dev = conn
        .as_ref()
        .and_then(|c| c.get("UseDevelopmentStorage"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let conn_account = conn
        .as_ref()
        .and_then(|c| c.get("AccountName").map(str::to_string))
        .or_else(|| dev.then(|| DEV_ACCOUNT.to_string()));
    let conn_key = conn
        .as_ref()
        .and_then(|c| c.get("AccountKey").map(Secret::new))
        .or_else(|| dev.then(|| Secret::new(DEV_KEY)));
    let conn_sas = conn
        .as_ref()
        .and_then(|c| c.get("SharedAccessSignature").map(|v| Secret::new(strip_q(v))));

    let want = s.auth;
    let pick = |m: AuthMode| want == AuthMode::Auto || want == m;
    let mut account_hint: Option<String> = None;
    let auth = if pick(AuthMode::SharedKey)
        && let Some(key) = &conn_key
    {
        account_hint = conn_account.clone();
        Auth::SharedKey {
            key: decode_key("AZURE_STORAGE_CONNECTION_STRING", key)?,
        }
    } else if pick(AuthMode::Sas)
        && let Some(token) = &conn_sas
    {
        account_hint = conn_account.clone();
        Auth::Sas { token: token.clone() }
    } else if pick(AuthMode::SharedKey)
        && let (Some(name), Some(key)) = (&i.account_name, &i.account_key)
    {
        account_hint = Some(name.clone());
        Auth::SharedKey {
            key: decode_key("AZURE_STORAGE_ACCOUNT_KEY", key)?,
        }
    } else if pick(AuthMode::Sas)
        && let Some(token) = &i.sas_token
    {
        Auth::Sas {
            token: Secret::new(strip_q(token.expose())),
        }
    } else if pick(AuthMode::ClientSecret)
        && let (Some(tenant), Some(client_id), Some(secret)) = (&i.tenant_id, &i.client_id, &i.client_secret)
    {
        Auth::Entra(EntraSource::ClientSecret {
            authority: authority(i),
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            secret: secret.clone(),
        })
    } else if pick(AuthMode::WorkloadIdentity)
        && let (Some(token_file), Some(tenant), Some(client_id)) = (&i.federated_token_file, &i.tenant_id, &i.client_id)
    {
        Auth::Entra(EntraSource::WorkloadIdentity {
            authority: authority(i),
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            token_file: token_file.clone(),
        })
    } else if want == AuthMode::ManagedIdentity || (want == AuthMode::Auto && i.identity_endpoint.is_some()) {
        Auth::Entra(EntraSource::ManagedIdentity {
            endpoint: i.identity_endpoint.clone(),
            header: i.identity_header.clone(),
            client_id: i.client_id.clone(),
            imds: format!(
                "{}/metadata/identity/oauth2/token",
                i.imds_authority
                    .as_deref()
                    .unwrap_or(DEFAULT_IMDS_AUTHORITY)
                    .trim_end_matches('/')
            ),
        })
    } else {
        return Err(match want {
            AuthMode::Auto => err(
                "DSXCONNECTOR_AZURE_AUTH",
                format!("no Azure credential found; set one of {CREDENTIAL_VARIABLES}"),
            ),
            AuthMode::SharedKey => err(
                "DSXCONNECTOR_AZURE_AUTH",
                "shared_key needs a connection string with AccountKey, or AZURE_STORAGE_ACCOUNT_NAME + AZURE_STORAGE_ACCOUNT_KEY",
            ),
            AuthMode::Sas => err(
                "DSXCONNECTOR_AZURE_AUTH",
                "sas needs AZURE_STORAGE_SAS_TOKEN or a connection string with SharedAccessSignature",
            ),
            AuthMode::ClientSecret => err(
                "DSXCONNECTOR_AZURE_AUTH",
                "client_secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            ),
            AuthMode::WorkloadIdentity => err(
                "DSXCONNECTOR_AZURE_AUTH",
                "workload_identity needs AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID",
            ),
            AuthMode::ManagedIdentity => err("DSXCONNECTOR_AZURE_AUTH", "managed_identity needs no inputs"),
        });
    };

    let conn_endpoint = conn.as_ref().and_then(|c| c.get("BlobEndpoint").map(str::to_string));
    let account_pre = s
        .account
        .clone()
        .or(account_hint)
        .or_else(|| conn_account.clone())
        .or_else(|| i.account_name.clone());
    let endpoint = match (&s.endpoint_url, conn_endpoint) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => b,
        (None, None) if dev => DEV_ENDPOINT.to_string(),
        (None, None) => {
            let Some(acc) = &account_pre else {
                return Err(err(
                    "DSXCONNECTOR_AZURE_ACCOUNT",
                    "no storage account: set it, or DSXCONNECTOR_AZURE_ENDPOINT_URL, or use credentials that name it",
                ));
            };
            let proto = conn
                .as_ref()
                .and_then(|c| c.get("DefaultEndpointsProtocol"))
                .unwrap_or("https")
                .to_string();
            let suffix = conn
                .as_ref()
                .and_then(|c| c.get("EndpointSuffix"))
                .unwrap_or("core.windows.net")
                .to_string();
            format!("{proto}://{acc}.blob.{suffix}")
        }
    };
    let endpoint = endpoint.trim_end_matches('/').to_string();
    if url::Url::parse(&endpoint)
        .map(|u| !matches!(u.scheme(), "http" | "https"))
        .unwrap_or(true)
    {
        return Err(err(
            "DSXCONNECTOR_AZURE_ENDPOINT_URL",
            "the blob endpoint is no http(s) URL",
        ));
    }
    let account = account_pre.or_else(|| account_of_url(&endpoint)).ok_or_else(|| {
        err(
            "DSXCONNECTOR_AZURE_ACCOUNT",
            "no storage account: set it, or use credentials or an endpoint URL that name it",
        )
    })?;
    Ok(Resolved {
        account,
        endpoint,
        auth,
    })
}

fn authority(i: &CredentialInputs) -> String {
    i.authority_host
        .clone()
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Removes secrets from a text that may quote a connection string or a URL.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for marker in ["AccountKey=", "sig=", "SharedAccessSignature="] {
        let mut from = 0;
        while let Some(pos) = out[from..].find(marker) {
            let start = from + pos + marker.len();
            let end = out[start..]
                .find(|c: char| c == ';' || c == '&' || c == '"' || c == '\'' || c.is_whitespace())
                .map(|e| start + e)
                .unwrap_or(out.len());
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AzureSettings {
        let mut s = AzureSettings {
            api_version: "x".into(),
            ..Default::default()
        };
        for (k, v) in pairs {
            match *k {
                "conn" => s.inputs.connection_string = Some(Secret::new(*v)),
                "name" => s.inputs.account_name = Some(v.to_string()),
                "key" => s.inputs.account_key = Some(Secret::new(*v)),
                "sas" => s.inputs.sas_token = Some(Secret::new(*v)),
                "endpoint" => s.endpoint_url = Some(v.to_string()),
                _ => unreachable!(),
            }
        }
        s
    }

    #[test]
    fn connection_strings_plain_quoted_escaped_and_base64() {
        let cs = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
        );
        let quoted = format!("\"{}\"", cs.replace(';', "\\;"));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&cs);
        for raw in [cs.as_str(), quoted.as_str(), b64.as_str()] {
            let r = resolve(&settings(&[("conn", raw)])).unwrap();
            assert_eq!(r.account, "devstoreaccount1");
            assert_eq!(r.endpoint, "http://127.0.0.1:1/devstoreaccount1");
            assert_eq!(r.auth.mode(), "shared_key");
        }
        let e = resolve(&settings(&[("conn", "garbage value")])).err().unwrap();
        assert_eq!(e.variable, "AZURE_STORAGE_CONNECTION_STRING");
        assert!(!e.to_string().contains("garbage"), "never echoes the value");
    }

    #[test]
    fn endpoints_and_accounts() {
        let r = resolve(&settings(&[("conn", "UseDevelopmentStorage=true")])).unwrap();
        assert_eq!((r.account.as_str(), r.endpoint.as_str()), (DEV_ACCOUNT, DEV_ENDPOINT));
        let r = resolve(&settings(&[("name", "acct"), ("key", DEV_KEY)])).unwrap();
        assert_eq!(r.endpoint, "https://acct.blob.core.windows.net");
        let r = resolve(&settings(&[
            ("sas", "?sv=1&sig=abc"),
            ("endpoint", "https://x.blob.core.usgovcloudapi.net"),
        ]))
        .unwrap();
        assert_eq!((r.account.as_str(), r.auth.mode()), ("x", "sas"));
        let r = resolve(&settings(&[
            ("sas", "sv=1&sig=abc"),
            ("endpoint", "http://127.0.0.1:9/acc2"),
        ]))
        .unwrap();
        assert_eq!(r.account, "acc2");
        let e = resolve(&settings(&[])).err().unwrap();
        assert!(e.to_string().contains("AZURE_STORAGE_CONNECTION_STRING"));
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("AccountName=a;AccountKey=SECRET==;x https://h/c?sv=1&sig=abc%2F&se=2"),
            "AccountName=a;AccountKey=***;x https://h/c?sv=1&sig=***&se=2"
        );
    }
}
