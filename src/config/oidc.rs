//! Single sign-on settings (`DSXCONNECT_AUTH__OIDC__*`, docs/AUTH.md "Single sign-on").

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::auth::tokens::Role;
use crate::settings_source::setting::{Entry, HttpUrl, SecretText, Section, Setting, Text, render_view};
use crate::settings_source::{Secret, Source};

type Oidc<K> = Setting<K, OidcSettings>;

pub const ISSUER: Oidc<Text> = Setting::new(
    "AUTH__OIDC__ISSUER",
    Text(None),
    Section::Oidc,
    "enables single sign-on with this OpenID provider (an `http://` or `https://` URL, compared exactly with `iss`)",
)
.shown("issuer", |o| json!(o.issuer));
pub const DISCOVERY_URL: Oidc<HttpUrl> = Setting::new(
    "AUTH__OIDC__DISCOVERY_URL",
    HttpUrl,
    Section::Oidc,
    "where the provider's metadata is",
)
.default_doc("`<ISSUER>/.well-known/openid-configuration`")
.shown("discovery_url", |o| json!(o.discovery_url.as_str()));
pub const CLIENT_ID: Oidc<Text> = Setting::new(
    "AUTH__OIDC__CLIENT_ID",
    Text(None),
    Section::Oidc,
    "the client registered at the provider; required with `ISSUER`",
)
.shown("client_id", |o| json!(o.client_id));
pub const CLIENT_SECRET: Oidc<SecretText> = Setting::new(
    "AUTH__OIDC__CLIENT_SECRET",
    SecretText::FILE,
    Section::Oidc,
    "the client's secret; without it a public client (PKCE only)",
)
.shown("client_secret", |o| json!(o.client_secret.as_ref().map(|_| "***")));
pub const REDIRECT_URL: Oidc<HttpUrl> = Setting::new(
    "AUTH__OIDC__REDIRECT_URL",
    HttpUrl,
    Section::Oidc,
    "registered at the provider; this or `DSXCONNECT_PUBLIC_URL` must be set",
)
.default_doc("`<PUBLIC_URL>/dsx-connect/api/v1/auth/oidc/callback`")
.shown("redirect_url", |o| json!(o.redirect_url.as_str()));
pub const SCOPES: Oidc<Text> = Setting::new(
    "AUTH__OIDC__SCOPES",
    Text(Some("openid profile email")),
    Section::Oidc,
    "requested scopes, separated by spaces or commas",
)
.shown("scopes", |o| json!(o.scopes));
pub const USERNAME_CLAIM: Oidc<Text> = Setting::new(
    "AUTH__OIDC__USERNAME_CLAIM",
    Text(Some("preferred_username")),
    Section::Oidc,
    "the claim holding the user name (falls back to `sub`)",
)
.shown("username_claim", |o| json!(o.username_claim));
pub const GROUPS_CLAIM: Oidc<Text> = Setting::new(
    "AUTH__OIDC__GROUPS_CLAIM",
    Text(Some("groups")),
    Section::Oidc,
    "the claim holding the groups (array or space-separated)",
)
.shown("groups_claim", |o| json!(o.groups_claim));
pub const ROLE_MAP: Oidc<Text> = Setting::new(
    "AUTH__OIDC__ROLE_MAP",
    Text(None),
    Section::Oidc,
    "`group=role` pairs (`viewer`, `operator`, `admin`), `*` = everyone; the highest mapped role wins; no role → `403 no_role_mapped`",
)
.shown("role_map", |o| {
    json!(o.role_map.iter().map(|(g, r)| format!("{g}={}", r.as_str())).collect::<Vec<_>>())
});
pub const CA_BUNDLE: Oidc<Text> = Setting::new(
    "AUTH__OIDC__CA_BUNDLE",
    Text(None),
    Section::Oidc,
    "extra CA certificates for the provider's TLS (always verified)",
)
.shown("ca_bundle", |o| {
    json!(o.ca_bundle.as_ref().map(|p| p.display().to_string()))
});

/// The single sign-on settings, in the order `GET /config` shows them under `auth.oidc`.
pub const TABLE: &[&dyn Entry<OidcSettings>] = &[
    &ISSUER,
    &DISCOVERY_URL,
    &CLIENT_ID,
    &CLIENT_SECRET,
    &REDIRECT_URL,
    &SCOPES,
    &USERNAME_CLAIM,
    &GROUPS_CLAIM,
    &ROLE_MAP,
    &CA_BUNDLE,
];

/// An OpenID Connect provider users sign in with (authorization code flow with PKCE).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// `ISSUER`: compared exactly with the ID token's `iss`.
    pub issuer: String,
    /// `DISCOVERY_URL`: default `<ISSUER>/.well-known/openid-configuration`.
    pub discovery_url: url::Url,
    pub client_id: String,
    /// `CLIENT_SECRET[_FILE]`: unset = a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// `REDIRECT_URL`: default `<PUBLIC_URL>/dsx-connect/api/v1/auth/oidc/callback`.
    pub redirect_url: url::Url,
    pub scopes: Vec<String>,
    /// `USERNAME_CLAIM` (default `preferred_username`, falling back to `sub`).
    pub username_claim: String,
    /// `GROUPS_CLAIM` (default `groups`): an array or a space-separated string.
    pub groups_claim: String,
    /// `ROLE_MAP`: `group=role` pairs; `*` matches everyone; the highest mapped role wins.
    pub role_map: Vec<(String, Role)>,
    /// `CA_BUNDLE`: extra roots for the provider's TLS (always verified).
    pub ca_bundle: Option<PathBuf>,
}

impl OidcSettings {
    /// The highest role the groups map to, if any.
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        self.role_map
            .iter()
            .filter(|(g, _)| g == "*" || groups.iter().any(|x| x == g))
            .map(|(_, r)| *r)
            .max()
    }

    /// Whether some sign-in can yield `admin` (then the last local admin may go).
    pub fn can_yield_admin(&self) -> bool {
        self.role_map.iter().any(|(_, r)| *r == Role::Admin)
    }

    pub fn view(&self) -> Value {
        render_view(TABLE, self)
    }
}

/// Reads the section; `None` when `ISSUER` is unset (single sign-on off).
pub fn read(s: &mut Source, public_url: Option<&url::Url>) -> Option<OidcSettings> {
    let issuer = s.text(&ISSUER)?.trim().trim_end_matches('/').to_string();
    let mut ok = true;
    if url::Url::parse(&issuer).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        s.error(ISSUER.key, "expected an http:// or https:// URL");
        ok = false;
    }
    let discovery_url = s
        .http_url(&DISCOVERY_URL)
        .or_else(|| url::Url::parse(&format!("{issuer}/.well-known/openid-configuration")).ok());
    let client_id = s.text(&CLIENT_ID).map(|c| c.trim().to_string()).unwrap_or_default();
    if client_id.is_empty() {
        s.error(CLIENT_ID.key, "required when AUTH__OIDC__ISSUER is set");
        ok = false;
    }
    let client_secret = s.secret_of(&CLIENT_SECRET);
    let redirect_url = s.http_url(&REDIRECT_URL).or_else(|| {
        public_url.and_then(|p| {
            let base = p.as_str().trim_end_matches('/');
            url::Url::parse(&format!("{base}/dsx-connect/api/v1/auth/oidc/callback")).ok()
        })
    });
    if redirect_url.is_none() {
        s.error(
            REDIRECT_URL.key,
            "set it, or DSXCONNECT_PUBLIC_URL, so the provider knows where to send users back",
        );
        ok = false;
    }
    let scopes: Vec<String> = s
        .text_or_default(&SCOPES)
        .split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    let mut role_map = Vec::new();
    for pair in s.text(&ROLE_MAP).unwrap_or_default().split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        match pair.rsplit_once('=').map(|(g, r)| (g.trim(), r.trim().parse::<Role>())) {
            Some((g, Ok(r))) if !g.is_empty() => role_map.push((g.to_string(), r)),
            _ => {
                s.error(ROLE_MAP.key, format!("{pair:?} is not group=viewer|operator|admin"));
                ok = false;
            }
        }
    }
    let settings = OidcSettings {
        issuer,
        discovery_url: discovery_url?,
        client_id,
        client_secret,
        redirect_url: redirect_url?,
        scopes,
        username_claim: s.text_or_default(&USERNAME_CLAIM),
        groups_claim: s.text_or_default(&GROUPS_CLAIM),
        role_map,
        ca_bundle: s.text(&CA_BUNDLE).map(PathBuf::from),
    };
    ok.then_some(settings)
}
