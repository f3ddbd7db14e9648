//! Azure Blob connector settings (docs/reference/CONNECTORS.md, "Azure Blob connector"): the
//! `DSXCONNECTOR_AZURE_*` variables, and the standard `AZURE_*` credential variables read from
//! the same settings map (so an env file or TOML can carry them too).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::settings_source::setting::{Choice, Entry, Flag, HttpUrl, Int, Section, Setting, Text};
use crate::settings_source::{Secret, Source};

type Az<K> = Setting<K, AzureSettings>;

/// The `x-ms-version` sent when `DSXCONNECTOR_AZURE_API_VERSION` is unset.
pub const DEFAULT_API_VERSION: &str = "2024-08-04";

pub const AZURE_AUTH: Az<Choice> = Setting::new(
    "AZURE_AUTH",
    Choice {
        default: "auto",
        accepted: "auto, shared_key, sas, client_secret, workload_identity, managed_identity",
    },
    Section::Azure,
    "credential mode; `auto` takes the first that applies: connection string, account name + key, SAS token, client secret, workload identity, managed identity",
);
pub const AZURE_ACCOUNT: Az<Text> = Setting::new("AZURE_ACCOUNT", Text(None), Section::Azure, "storage account name")
    .default_doc("from the credentials, else from the endpoint URL");
pub const AZURE_ENDPOINT_URL: Az<HttpUrl> = Setting::new(
    "AZURE_ENDPOINT_URL",
    HttpUrl,
    Section::Azure,
    "blob service URL: Azurite (path-style, e.g. `http://127.0.0.1:10000/devstoreaccount1`), sovereign clouds, private endpoints",
)
.default_doc("the connection string's `BlobEndpoint`, else `https://<account>.blob.core.windows.net`");
pub const AZURE_ENDPOINT_VERIFY: Az<Flag> = Setting::new(
    "AZURE_ENDPOINT_VERIFY",
    Flag(true),
    Section::Azure,
    "`false` skips TLS verification toward the blob endpoint only; `DSXCONNECTOR_CA_BUNDLE` is trusted for it too",
);
pub const AZURE_API_VERSION: Az<Text> = Setting::new(
    "AZURE_API_VERSION",
    Text(Some(DEFAULT_API_VERSION)),
    Section::Azure,
    "the `x-ms-version` of every request",
);
pub const AZURE_LIST_PAGE_SIZE: Az<Int> = Setting::new(
    "AZURE_LIST_PAGE_SIZE",
    Int::with_default(5000, 1, 5000),
    Section::Azure,
    "blobs per List Blobs page (5000 is the service maximum)",
)
.aliases(&["LIST_PAGE_SIZE"]);
pub const AZURE_COPY_TIMEOUT_SECS: Az<Int> = Setting::new(
    "AZURE_COPY_TIMEOUT_SECS",
    Int::with_default(600, 10, 86_400),
    Section::Azure,
    "how long a move waits for a pending server-side copy before it aborts it and keeps the source",
);
pub const AZURE_PURGE_VERSIONS: Az<Flag> = Setting::new(
    "AZURE_PURGE_VERSIONS",
    Flag(true),
    Section::Azure,
    "on accounts that keep blob versions, delete and move also remove the scanned version",
);
pub const AZURE_RESULT_TAGS: Az<Flag> = Setting::new(
    "AZURE_RESULT_TAGS",
    Flag(false),
    Section::Azure,
    "blob index tag `DsxScanResult` on every blob: `pending` at intake, then `clean`/`malicious`/`not_scanned`/`error` (`DsxScanReason` when there is room); see the README for an ABAC condition",
);
pub const DOWNLOAD_MAX_CONCURRENCY: Az<Text> = Setting::new(
    "DOWNLOAD_MAX_CONCURRENCY",
    Text(None),
    Section::Azure,
    "accepted from the original and ignored (reads are one streamed request), with a warning",
);

/// Every Azure connector setting, in the order the document lists them.
pub const TABLE: &[&dyn Entry<AzureSettings>] = &[
    &AZURE_AUTH,
    &AZURE_ACCOUNT,
    &AZURE_ENDPOINT_URL,
    &AZURE_ENDPOINT_VERIFY,
    &AZURE_API_VERSION,
    &AZURE_LIST_PAGE_SIZE,
    &AZURE_COPY_TIMEOUT_SECS,
    &AZURE_PURGE_VERSIONS,
    &AZURE_RESULT_TAGS,
    &DOWNLOAD_MAX_CONCURRENCY,
];

/// Forces one credential mode, or takes the first that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Auto,
    SharedKey,
    Sas,
    ClientSecret,
    WorkloadIdentity,
    ManagedIdentity,
}

impl std::str::FromStr for AuthMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "shared_key" => Self::SharedKey,
            "sas" => Self::Sas,
            "client_secret" => Self::ClientSecret,
            "workload_identity" => Self::WorkloadIdentity,
            "managed_identity" => Self::ManagedIdentity,
            _ => return Err(()),
        })
    }
}

/// The standard `AZURE_*` inputs of the credential modes (all optional here; the connector
/// decides which applies and names what is missing).
#[derive(Debug, Clone, Default)]
pub struct CredentialInputs {
    pub connection_string: Option<Secret>,
    pub account_name: Option<String>,
    pub account_key: Option<Secret>,
    pub sas_token: Option<Secret>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub federated_token_file: Option<String>,
    pub authority_host: Option<String>,
    pub identity_endpoint: Option<String>,
    pub identity_header: Option<Secret>,
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`: where the instance metadata service answers instead
    /// of `http://169.254.169.254` (the Azure SDKs' name for it; pod identity proxies use it).
    pub imds_authority: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    pub auth: AuthMode,
    pub account: Option<String>,
    pub endpoint_url: Option<String>,
    pub endpoint_verify: bool,
    pub api_version: String,
    pub list_page_size: u32,
    pub copy_timeout: Duration,
    pub purge_versions: bool,
    pub result_tags: bool,
    pub inputs: CredentialInputs,
}

/// Reads the `DSXCONNECTOR_AZURE_*` settings and the standard `AZURE_*` variables.
pub fn read(s: &mut Source, env: &BTreeMap<String, String>) -> AzureSettings {
    let get = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if s.text(&DOWNLOAD_MAX_CONCURRENCY).is_some() {
        s.warn("DSXCONNECTOR_DOWNLOAD_MAX_CONCURRENCY is ignored: each read is one streamed request");
    }
    if get("CHUNK_SIZE").is_some() {
        s.warn("CHUNK_SIZE is ignored: reads stream in chunks of at most 1 MiB");
    }
    AzureSettings {
        auth: s.choice(&AZURE_AUTH).unwrap_or_default(),
        account: s.text(&AZURE_ACCOUNT),
        endpoint_url: s
            .http_url(&AZURE_ENDPOINT_URL)
            .map(|u| u.as_str().trim_end_matches('/').to_string()),
        endpoint_verify: s.flag(&AZURE_ENDPOINT_VERIFY),
        api_version: s.text_or_default(&AZURE_API_VERSION),
        list_page_size: s.int(&AZURE_LIST_PAGE_SIZE) as u32,
        copy_timeout: Duration::from_secs(s.int(&AZURE_COPY_TIMEOUT_SECS) as u64),
        purge_versions: s.flag(&AZURE_PURGE_VERSIONS),
        result_tags: s.flag(&AZURE_RESULT_TAGS),
        inputs: CredentialInputs {
            connection_string: get("AZURE_STORAGE_CONNECTION_STRING").map(Secret::new),
            account_name: get("AZURE_STORAGE_ACCOUNT_NAME"),
            account_key: get("AZURE_STORAGE_ACCOUNT_KEY").map(Secret::new),
            sas_token: get("AZURE_STORAGE_SAS_TOKEN").map(Secret::new),
            tenant_id: get("AZURE_TENANT_ID"),
            client_id: get("AZURE_CLIENT_ID"),
            client_secret: get("AZURE_CLIENT_SECRET").map(Secret::new),
            federated_token_file: get("AZURE_FEDERATED_TOKEN_FILE"),
            authority_host: get("AZURE_AUTHORITY_HOST"),
            identity_endpoint: get("IDENTITY_ENDPOINT"),
            identity_header: get("IDENTITY_HEADER").map(Secret::new),
            imds_authority: get("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
        },
    }
}
