//! The webhook destination's settings (`DSXCONNECT_SUPERLOG__WEBHOOK__*`) and their
//! declarations: type, default, range, documentation and how `GET /config` shows each (the
//! URL by its origin only, the secret as `"***"`). The reader is `webhook`.

use std::path::PathBuf;

use serde_json::json;

use crate::settings_source::Secret;
use crate::settings_source::setting::{Choice, Entry, Flag, Int, SecretText, Section, Setting, Text};

/// The prefix of the webhook's keys.
pub const PREFIX: &str = "SUPERLOG__WEBHOOK__";

/// The body the webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The event's JSON object, exactly as the other destinations format it.
    Json,
    /// `{"text": "…"}` for Slack and Microsoft Teams incoming webhooks.
    Slack,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The full URL, path and query included (may hold a chat service's token).
    pub url: Secret,
    /// `scheme://host[:port]`, what `GET /config` and the logs may show.
    pub origin: String,
    /// The HMAC-SHA256 key of `X-DSX-Signature`; required for `json`, optional for `slack`.
    pub secret: Option<Secret>,
    pub format: WebhookFormat,
    /// Largest request body; a longer event is shortened by size fitting, else `failed`.
    pub max_body_bytes: usize,
    pub verify_tls: bool,
    pub ca_file: Option<PathBuf>,
}

type Webhook<K> = Setting<K, WebhookSettings>;
const HOOK: Section = Section::SuperlogWebhook;

pub const WEBHOOK_URL: Webhook<SecretText> = Setting::new(
    "SUPERLOG__WEBHOOK__URL",
    SecretText::FILE,
    HOOK,
    "`http://` or `https://` receiver, required; a secret (chat services put their token in the URL): `GET /config` shows its origin only (`https://hooks.slack.com/***`)",
)
.shown("url", |v| json!(format!("{}/***", v.origin)));
pub const WEBHOOK_SECRET: Webhook<SecretText> = Setting::new(
    "SUPERLOG__WEBHOOK__SECRET",
    SecretText::FILE,
    HOOK,
    "HMAC-SHA256 key of `X-DSX-Signature` (at least 16 bytes, e.g. `openssl rand -hex 32`); required for `json`, optional for `slack` (sent when set)",
)
.shown("secret", |v| json!(v.secret.as_ref().map(|_| "***")));
pub const WEBHOOK_FORMAT: Webhook<Choice> = Setting::new(
    "SUPERLOG__WEBHOOK__FORMAT",
    Choice {
        default: "json",
        accepted: "json, slack",
    },
    HOOK,
    "`json`: the event object, byte for byte what the other destinations send; `slack`: `{\"text\": \"…\"}`",
)
.shown("format", |v| json!(v.format.as_str()));
pub const WEBHOOK_MAX_BODY_BYTES: Webhook<Int> = Setting::new(
    "SUPERLOG__WEBHOOK__MAX_BODY_BYTES",
    Int::with_default(65_536, 1024, 1_048_576),
    HOOK,
    "largest body; longer events are shortened like syslog's (`truncated: true`), else counted `failed` (oversize)",
)
.shown("max_body_bytes", |v| json!(v.max_body_bytes));
pub const WEBHOOK_VERIFY_TLS: Webhook<Flag> = Setting::new(
    "SUPERLOG__WEBHOOK__VERIFY_TLS",
    Flag(true),
    HOOK,
    "verify the receiver's certificate",
)
.shown("verify_tls", |v| json!(v.verify_tls));
pub const WEBHOOK_CA_FILE: Webhook<Text> = Setting::new(
    "SUPERLOG__WEBHOOK__CA_FILE",
    Text(None),
    HOOK,
    "PEM trust anchors towards the receiver",
)
.default_doc("platform roots")
.shown("ca_file", |v| {
    json!(v.ca_file.as_ref().map(|p| p.display().to_string()))
});

/// The webhook's own settings, in `/config` order; its `EVENT_TYPES` and `VERDICTS` are the
/// common ones with other defaults (`webhook::webhook_defaults`).
pub const WEBHOOK: &[&dyn Entry<WebhookSettings>] = &[
    &WEBHOOK_URL,
    &WEBHOOK_SECRET,
    &WEBHOOK_FORMAT,
    &WEBHOOK_MAX_BODY_BYTES,
    &WEBHOOK_VERIFY_TLS,
    &WEBHOOK_CA_FILE,
];
