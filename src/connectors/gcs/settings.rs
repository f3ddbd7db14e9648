//! Google Cloud Storage connector settings (docs/reference/CONNECTORS.md, "GCS connector"): the
//! endpoint, the credential sources, listing, result tags and the Pub/Sub pull subscription.

use std::collections::BTreeMap;

use crate::settings_source::setting::{Entry, Flag, HttpUrl, Int, SecretText, Section, Setting, Text};
use crate::settings_source::{Secret, Source};

type Gcs<K> = Setting<K, GcsSettings>;

/// Google's public JSON API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Google's public Pub/Sub REST endpoint.
pub const DEFAULT_PUBSUB_ENDPOINT: &str = "https://pubsub.googleapis.com";

pub const GCS_AUTH: Gcs<Text> = Setting::new(
    "GCS_AUTH",
    Text(Some("auto")),
    Section::Gcs,
    "`auto`, `service_account`, `adc` or `anonymous`: how the connector authenticates (see the GCS section of docs/reference/CONNECTORS.md for the order `auto` tries)",
);
pub const GCS_CREDENTIALS_FILE: Gcs<Text> = Setting::new(
    "GCS_CREDENTIALS_FILE",
    Text(None),
    Section::Gcs,
    "a credential JSON file (service account, external account or authorized user); wins over `GOOGLE_APPLICATION_CREDENTIALS`",
)
.aliases(&["GOOGLE_APPLICATION_CREDENTIALS"]);
pub const GCS_CREDENTIALS_JSON: Gcs<SecretText> = Setting::new(
    "GCS_CREDENTIALS_JSON",
    SecretText { file: false },
    Section::Gcs,
    "the same credential JSON inline; wins over the file",
);
pub const GCS_ENDPOINT_URL: Gcs<HttpUrl> = Setting::new(
    "GCS_ENDPOINT_URL",
    HttpUrl,
    Section::Gcs,
    "the JSON API endpoint; `STORAGE_EMULATOR_HOST` replaces it (and makes the default credentials anonymous)",
)
.default_doc("`https://storage.googleapis.com`");
pub const GCS_ENDPOINT_VERIFY: Gcs<Flag> = Setting::new(
    "GCS_ENDPOINT_VERIFY",
    Flag(true),
    Section::Gcs,
    "`false` skips TLS verification toward the endpoint only; `DSXCONNECTOR_CA_BUNDLE` is trusted for it too",
);
pub const GCS_LIST_PAGE_SIZE: Gcs<Int> = Setting::new(
    "GCS_LIST_PAGE_SIZE",
    Int::with_default(1000, 1, 1000),
    Section::Gcs,
    "objects per listing page",
);
pub const GCS_RESULT_TAGS: Gcs<Flag> = Setting::new(
    "GCS_RESULT_TAGS",
    Flag(false),
    Section::Gcs,
    "write `DsxScanResult` (`pending` at intake, then the result) and `DsxScanReason` as custom metadata of every scanned object",
);
pub const GCS_PUBSUB_SUBSCRIPTION: Gcs<Text> = Setting::new(
    "GCS_PUBSUB_SUBSCRIPTION",
    Text(None),
    Section::Gcs,
    "pull bucket notifications from this Pub/Sub subscription (`projects/P/subscriptions/S`, or a short name with the project below); messages are acknowledged only once the core accepted their objects",
)
.aliases(&["PUBSUB_SUBSCRIPTION"]);
pub const GCS_PUBSUB_PROJECT_ID: Gcs<Text> = Setting::new(
    "GCS_PUBSUB_PROJECT_ID",
    Text(None),
    Section::Gcs,
    "the project of a short subscription name",
)
.aliases(&["PUBSUB_PROJECT_ID"]);
pub const GCS_PUBSUB_ENDPOINT: Gcs<HttpUrl> = Setting::new(
    "GCS_PUBSUB_ENDPOINT",
    HttpUrl,
    Section::Gcs,
    "the Pub/Sub REST endpoint; `PUBSUB_EMULATOR_HOST` (http, no authentication) replaces it",
)
.default_doc("`https://pubsub.googleapis.com`")
.aliases(&["PUBSUB_ENDPOINT"]);
pub const GCS_PUBSUB_MAX_MESSAGES: Gcs<Int> = Setting::new(
    "GCS_PUBSUB_MAX_MESSAGES",
    Int::with_default(100, 1, 1000),
    Section::Gcs,
    "messages per pull",
)
.aliases(&["PUBSUB_BATCH_MAX_ITEMS"]);

/// Every GCS connector setting, in the order the document lists them.
pub const TABLE: &[&dyn Entry<GcsSettings>] = &[
    &GCS_AUTH,
    &GCS_CREDENTIALS_FILE,
    &GCS_CREDENTIALS_JSON,
    &GCS_ENDPOINT_URL,
    &GCS_ENDPOINT_VERIFY,
    &GCS_LIST_PAGE_SIZE,
    &GCS_RESULT_TAGS,
    &GCS_PUBSUB_SUBSCRIPTION,
    &GCS_PUBSUB_PROJECT_ID,
    &GCS_PUBSUB_ENDPOINT,
    &GCS_PUBSUB_MAX_MESSAGES,
];

/// How the connector authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Inline JSON, then a file, then application default credentials (well-known file,
    /// metadata server); anonymous toward an emulator.
    Auto,
    ServiceAccount,
    Adc,
    Anonymous,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::ServiceAccount => "service_account",
            AuthMode::Adc => "adc",
            AuthMode::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Clone)]
pub struct GcsSettings {
    pub auth: AuthMode,
    /// Inline credential JSON (a secret).
    pub credentials_json: Option<Secret>,
    /// A credential JSON file (`DSXCONNECTOR_GCS_CREDENTIALS_FILE`, its aliases, then
    /// `GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_file: Option<String>,
    /// The JSON API endpoint, without a trailing `/`.
    pub endpoint_url: String,
    /// Whether the endpoint is an emulator (`STORAGE_EMULATOR_HOST`).
    pub emulator: bool,
    pub endpoint_verify: bool,
    pub list_page_size: u32,
    pub result_tags: bool,
    /// The full subscription path (`projects/P/subscriptions/S`).
    pub pubsub_subscription: Option<String>,
    /// The Pub/Sub REST endpoint, without a trailing `/`.
    pub pubsub_endpoint: String,
    /// Whether Pub/Sub is an emulator (`PUBSUB_EMULATOR_HOST`: no authentication).
    pub pubsub_emulator: bool,
    pub pubsub_max_messages: u32,
}

impl Default for GcsSettings {
    fn default() -> Self {
        Self {
            auth: AuthMode::Auto,
            credentials_json: None,
            credentials_file: None,
            endpoint_url: DEFAULT_ENDPOINT.into(),
            emulator: false,
            endpoint_verify: true,
            list_page_size: 1000,
            result_tags: false,
            pubsub_subscription: None,
            pubsub_endpoint: DEFAULT_PUBSUB_ENDPOINT.into(),
            pubsub_emulator: false,
            pubsub_max_messages: 100,
        }
    }
}

/// `host:port` means http; a URL is taken as it is.
fn emulator_url(v: &str) -> String {
    let v = v.trim().trim_end_matches('/');
    if v.starts_with("http://") || v.starts_with("https://") {
        v.to_string()
    } else {
        format!("http://{v}")
    }
}

/// Reads the `DSXCONNECTOR_GCS_*` settings, the original's unprefixed names and Google's
/// standard variables (`GOOGLE_APPLICATION_CREDENTIALS`, `STORAGE_EMULATOR_HOST`,
/// `PUBSUB_EMULATOR_HOST`) from the same settings map.
pub fn read(s: &mut Source, env: &BTreeMap<String, String>) -> GcsSettings {
    let get = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let auth_raw = s.text_or_default(&GCS_AUTH);
    let auth = match auth_raw.trim().to_ascii_lowercase().as_str() {
        "auto" => AuthMode::Auto,
        "service_account" => AuthMode::ServiceAccount,
        "adc" => AuthMode::Adc,
        "anonymous" => AuthMode::Anonymous,
        _ => {
            s.error(
                GCS_AUTH.key,
                format!("'{auth_raw}' is not one of auto, service_account, adc, anonymous"),
            );
            AuthMode::Auto
        }
    };
    let credentials_json = s.secret_of(&GCS_CREDENTIALS_JSON);
    let credentials_file = s
        .text(&GCS_CREDENTIALS_FILE)
        .or_else(|| get("GCS_CREDENTIALS_FILE"))
        .or_else(|| get("GOOGLE_APPLICATION_CREDENTIALS"));
    let configured = s
        .http_url(&GCS_ENDPOINT_URL)
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    let (endpoint_url, emulator) = match get("STORAGE_EMULATOR_HOST") {
        Some(h) => (emulator_url(&h), true),
        None => (configured.unwrap_or_else(|| DEFAULT_ENDPOINT.into()), false),
    };
    let project = s
        .text(&GCS_PUBSUB_PROJECT_ID)
        .or_else(|| get("GCS_PUBSUB_PROJECT_ID"))
        .or_else(|| get("PUBSUB_PROJECT_ID"));
    let subscription = s
        .text(&GCS_PUBSUB_SUBSCRIPTION)
        .or_else(|| get("GCS_PUBSUB_SUBSCRIPTION"))
        .or_else(|| get("PUBSUB_SUBSCRIPTION"));
    let pubsub_subscription = match subscription {
        None => None,
        Some(sub) if sub.starts_with("projects/") => Some(sub),
        Some(sub) => match project {
            Some(p) => Some(format!("projects/{p}/subscriptions/{sub}")),
            None => {
                s.error(
                    GCS_PUBSUB_SUBSCRIPTION.key,
                    format!(
                        "'{sub}' is a short name: set DSXCONNECTOR_GCS_PUBSUB_PROJECT_ID or give projects/<project>/subscriptions/<name>"
                    ),
                );
                None
            }
        },
    };
    let configured_pubsub = s
        .http_url(&GCS_PUBSUB_ENDPOINT)
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    let (pubsub_endpoint, pubsub_emulator) = match get("PUBSUB_EMULATOR_HOST") {
        Some(h) => (emulator_url(&h), true),
        None => (
            configured_pubsub.unwrap_or_else(|| DEFAULT_PUBSUB_ENDPOINT.into()),
            false,
        ),
    };
    for key in ["PUBSUB_BATCH_MAX_SECONDS", "CHUNK_SIZE_BYTES"] {
        s.ignored(
            key,
            "the GCS connector streams objects and pulls without a batching delay",
        );
    }
    GcsSettings {
        auth,
        credentials_json,
        credentials_file,
        endpoint_url,
        emulator,
        endpoint_verify: s.flag(&GCS_ENDPOINT_VERIFY),
        list_page_size: s.int(&GCS_LIST_PAGE_SIZE) as u32,
        result_tags: s.flag(&GCS_RESULT_TAGS),
        pubsub_subscription,
        pubsub_endpoint,
        pubsub_emulator,
        pubsub_max_messages: s.int(&GCS_PUBSUB_MAX_MESSAGES) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_hosts_mean_http_unless_a_url_is_given() {
        assert_eq!(emulator_url("127.0.0.1:4443"), "http://127.0.0.1:4443");
        assert_eq!(emulator_url("https://gcs.local:9/"), "https://gcs.local:9");
    }
}
