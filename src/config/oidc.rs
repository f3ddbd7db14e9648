//! Single sign-on settings (`DSXCONNECT_AUTH__OIDC__*`, docs/AUTH.md "Single sign-on").

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::auth::tokens::Role;
use crate::settings_source::{Secret, Source};

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
        json!({
            "issuer": self.issuer,
            "discovery_url": self.discovery_url.as_str(),
            "client_id": self.client_id,
            "client_secret": self.client_secret.as_ref().map(|_| "***"),
            "redirect_url": self.redirect_url.as_str(),
            "scopes": self.scopes,
            "username_claim": self.username_claim,
            "groups_claim": self.groups_claim,
            "role_map": self.role_map.iter().map(|(g, r)| format!("{g}={}", r.as_str())).collect::<Vec<_>>(),
            "ca_bundle": self.ca_bundle.as_ref().map(|p| p.display().to_string()),
        })
    }
}

/// Reads the section; `None` when `ISSUER` is unset (single sign-on off).
pub fn read(s: &mut Source, public_url: Option<&url::Url>) -> Option<OidcSettings> {
    let issuer = s.string("AUTH__OIDC__ISSUER")?.trim().trim_end_matches('/').to_string();
    let mut ok = true;
    if url::Url::parse(&issuer).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        s.error("AUTH__OIDC__ISSUER", "expected an http:// or https:// URL");
        ok = false;
    }
    let discovery_url = s
        .http_url_opt("AUTH__OIDC__DISCOVERY_URL")
        .or_else(|| url::Url::parse(&format!("{issuer}/.well-known/openid-configuration")).ok());
    let client_id = s
        .string("AUTH__OIDC__CLIENT_ID")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    if client_id.is_empty() {
        s.error("AUTH__OIDC__CLIENT_ID", "required when AUTH__OIDC__ISSUER is set");
        ok = false;
    }
    let client_secret = s.secret_or_file("AUTH__OIDC__CLIENT_SECRET");
    let redirect_url = s.http_url_opt("AUTH__OIDC__REDIRECT_URL").or_else(|| {
        public_url.and_then(|p| {
            let base = p.as_str().trim_end_matches('/');
            url::Url::parse(&format!("{base}/dsx-connect/api/v1/auth/oidc/callback")).ok()
        })
    });
    if redirect_url.is_none() {
        s.error(
            "AUTH__OIDC__REDIRECT_URL",
            "set it, or DSXCONNECT_PUBLIC_URL, so the provider knows where to send users back",
        );
        ok = false;
    }
    let scopes: Vec<String> = s
        .string_or("AUTH__OIDC__SCOPES", "openid profile email")
        .split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    let mut role_map = Vec::new();
    for pair in s.string("AUTH__OIDC__ROLE_MAP").unwrap_or_default().split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        match pair.rsplit_once('=').map(|(g, r)| (g.trim(), r.trim().parse::<Role>())) {
            Some((g, Ok(r))) if !g.is_empty() => role_map.push((g.to_string(), r)),
            _ => {
                s.error(
                    "AUTH__OIDC__ROLE_MAP",
                    format!("{pair:?} is not group=viewer|operator|admin"),
                );
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
        username_claim: s.string_or("AUTH__OIDC__USERNAME_CLAIM", "preferred_username"),
        groups_claim: s.string_or("AUTH__OIDC__GROUPS_CLAIM", "groups"),
        role_map,
        ca_bundle: s.string("AUTH__OIDC__CA_BUNDLE").map(PathBuf::from),
    };
    ok.then_some(settings)
}
