//! Reads the webhook destination's settings (`DSXCONNECT_SUPERLOG__WEBHOOK__*`): where findings
//! are posted, how they are signed and which body they get.
//!
//! The URL is treated as a credential: chat services (Slack, Teams) put the token that allows
//! posting into the URL itself. It may come from a file, is never echoed in an error, and
//! `GET /config` shows its origin only. The settings are declared in `webhook_table`.

use std::path::PathBuf;

use super::destinations::{is_set_or_file, word};
use super::webhook_table::*;
use super::{Common, table};
use crate::auth::url_guard::{self, AllowList};
use crate::settings_source::{Secret, Source};
use crate::superlog::event::{EventType, EventTypes};

/// Shortest signing secret accepted: 128 bits of text.
const MIN_SECRET_BYTES: usize = 16;

/// Reads the section; `None` when a required setting is missing or invalid (recorded on `s`).
pub(super) fn webhook(s: &mut Source) -> Option<WebhookSettings> {
    let format = match word(s, &WEBHOOK_FORMAT).as_str() {
        "slack" => WebhookFormat::Slack,
        _ => WebhookFormat::Json,
    };
    let url = checked_url(s);
    let secret = s.secret_of(&WEBHOOK_SECRET);
    let mut ok = url.is_some();
    match &secret {
        Some(k) if k.expose().len() < MIN_SECRET_BYTES => {
            s.error(
                WEBHOOK_SECRET.key,
                format!("too short: at least {MIN_SECRET_BYTES} bytes (e.g. openssl rand -hex 32)"),
            );
            ok = false;
        }
        None if format == WebhookFormat::Json => {
            if !is_set_or_file(s, WEBHOOK_SECRET.key) {
                let message = format!(
                    "required for FORMAT=json (or {}_FILE): receivers verify X-DSX-Signature with it",
                    s.var_name(WEBHOOK_SECRET.key)
                );
                s.error(WEBHOOK_SECRET.key, message);
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
        max_body_bytes: s.int(&WEBHOOK_MAX_BODY_BYTES) as usize,
        verify_tls: s.flag(&WEBHOOK_VERIFY_TLS),
        ca_file: s.text(&WEBHOOK_CA_FILE).map(PathBuf::from),
    };
    if let Some(ca) = &settings.ca_file
        && let Err(e) = crate::tls::load_certificates(ca)
    {
        s.error(WEBHOOK_CA_FILE.key, e.to_string());
    }
    ok.then_some(settings)
}

/// `URL` or `URL_FILE`: an http(s) URL with a host, no user info or fragment, whose address the
/// SSRF guard accepts (never the metadata service or another blocked range). The query is the
/// operator's (a Teams workflow URL carries its signature there). Returns the URL and its origin.
fn checked_url(s: &mut Source) -> Option<(Secret, String)> {
    let key = WEBHOOK_URL.key;
    let Some(raw) = s.secret_of(&WEBHOOK_URL) else {
        if !is_set_or_file(s, key) {
            let message = format!("required when webhook is enabled (or {}_FILE)", s.var_name(key));
            s.error(key, message);
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
    if !s.is_set(&table::key_under(&table::EVENT_TYPES, PREFIX)) {
        c.event_types = EventTypes::NONE.with(EventType::ScanResult);
    }
    if !s.is_set(&table::key_under(&table::VERDICTS, PREFIX)) {
        c.verdicts = Some(vec!["Malicious".to_string()]);
    }
}
