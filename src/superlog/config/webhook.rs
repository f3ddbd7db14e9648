//! The webhook destination's settings (`DSXCONNECT_SUPERLOG__WEBHOOK__*`): where findings are
//! posted, how they are signed and which body they get.
//!
//! The URL is treated as a credential: chat services (Slack, Teams) put the token that allows
//! posting into the URL itself. It may come from a file, is never echoed in an error, and
//! `GET /config` shows its origin only.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::Common;
use crate::auth::url_guard::{self, AllowList};
use crate::settings_source::Secret;
use crate::settings_source::Source;
use crate::superlog::event::{EventType, EventTypes};

/// Shortest signing secret accepted: 128 bits of text.
const MIN_SECRET_BYTES: usize = 16;

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

/// Reads the section; `None` when a required setting is missing or invalid (recorded on `s`).
pub(super) fn webhook(s: &mut Source) -> Option<WebhookSettings> {
    let p = |name: &str| format!("SUPERLOG__WEBHOOK__{name}");
    let format = match s.string(&p("FORMAT")).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some(v) => {
            s.error(&p("FORMAT"), format!("invalid value \"{v}\"; accepted: json, slack"));
            WebhookFormat::Json
        }
    };
    let url = checked_url(s, &p("URL"));
    let secret = s.secret_or_file(&p("SECRET"));
    let mut ok = url.is_some();
    match &secret {
        Some(k) if k.expose().len() < MIN_SECRET_BYTES => {
            s.error(
                &p("SECRET"),
                format!("too short: at least {MIN_SECRET_BYTES} bytes (e.g. openssl rand -hex 32)"),
            );
            ok = false;
        }
        None if format == WebhookFormat::Json => {
            if !s.is_set(&p("SECRET")) && !s.is_set(&p("SECRET_FILE")) {
                s.error(
                    &p("SECRET"),
                    "required for FORMAT=json (or DSXCONNECT_SUPERLOG__WEBHOOK__SECRET_FILE): receivers verify X-DSX-Signature with it",
                );
            }
            ok = false;
        }
        _ => {}
    }
    let settings = WebhookSettings {
        origin: url.as_ref().map(|(_, o)| o.clone()).unwrap_or_default(),
        url: url.map(|(u, _)| u).unwrap_or_else(|| Secret::new("")),
        secret,
        format,
        max_body_bytes: s.int_in(&p("MAX_BODY_BYTES"), 65_536, 1024, 1_048_576) as usize,
        verify_tls: s.bool_or(&p("VERIFY_TLS"), true),
        ca_file: s.string(&p("CA_FILE")).map(PathBuf::from),
    };
    if let Some(ca) = &settings.ca_file
        && let Err(e) = crate::tls::load_certificates(ca)
    {
        s.error(&p("CA_FILE"), e.to_string());
    }
    ok.then_some(settings)
}

/// `URL` or `URL_FILE`: an http(s) URL with a host, no user info or fragment, whose address the
/// SSRF guard accepts (never the metadata service or another blocked range). The query is the
/// operator's (a Teams workflow URL carries its signature there). Returns the URL and its origin.
fn checked_url(s: &mut Source, key: &str) -> Option<(Secret, String)> {
    let Some(raw) = s.secret_or_file(key) else {
        if !s.is_set(key) && !s.is_set(&format!("{key}_FILE")) {
            s.error(
                key,
                "required when webhook is enabled (or DSXCONNECT_SUPERLOG__WEBHOOK__URL_FILE)",
            );
        }
        return None;
    };
    // The text is never repeated in a message: it may hold a token.
    let Ok(url) = url::Url::parse(raw.expose()) else {
        s.error(key, "not a valid URL: expected an http:// or https:// URL with a host");
        return None;
    };
    let mut without_query = url.clone();
    without_query.set_query(None);
    match url_guard::check(without_query.as_str(), &AllowList::default()) {
        Ok(_) => Some((Secret::new(url.as_str()), url.origin().ascii_serialization())),
        Err(r) => {
            s.error(key, r.message());
            None
        }
    }
}

/// The webhook takes what its own `EVENT_TYPES` and `VERDICTS` say; unset, it takes
/// `scan_result` events with the verdict `Malicious` only — a notification channel, not a log
/// (the global values do not widen it).
pub(super) fn webhook_defaults(s: &Source, c: &mut Common) {
    if !s.is_set("SUPERLOG__WEBHOOK__EVENT_TYPES") {
        c.event_types = EventTypes::NONE.with(EventType::ScanResult);
    }
    if !s.is_set("SUPERLOG__WEBHOOK__VERDICTS") {
        c.verdicts = Some(vec!["Malicious".to_string()]);
    }
}

pub(super) fn webhook_view(v: &WebhookSettings) -> Value {
    json!({
        "url": format!("{}/***", v.origin),
        "secret": v.secret.as_ref().map(|_| "***"),
        "format": v.format.as_str(),
        "max_body_bytes": v.max_body_bytes,
        "verify_tls": v.verify_tls,
        "ca_file": v.ca_file.as_ref().map(|p| p.display().to_string()),
    })
}
