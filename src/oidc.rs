//! Single sign-on with OpenID Connect (docs/AUTH.md, "Single sign-on"): the authorization code
//! flow with PKCE, against the provider's discovery document and keys.
//!
//! The `openidconnect` crate builds the authorization URL, exchanges the code and verifies the
//! ID token (signature by a published key, exact issuer, our client id in `aud`, expiry,
//! nonce). Around it we keep the rules of our own: which algorithms are acceptable (never `none`
//! or a shared-secret HMAC), a minute of clock leeway, `azp` when there are several audiences,
//! and how claims become a user name and a role. Provider documents are cached for an hour.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, Audience, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IdToken,
    IdTokenClaims, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::sessions::random_secret;
use crate::auth::tokens::Role;
use crate::config::oidc::OidcSettings;

/// How long discovery and keys are trusted before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Clock difference tolerated on `exp` and `iat`.
const LEEWAY: chrono::Duration = chrono::Duration::seconds(60);
/// Largest provider answer read (discovery, keys, tokens).
const BODY_MAX: usize = 1 << 20;

/// Claims beyond the standard ones (groups, a custom user name claim).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for ExtraClaims {}

type ExtraIdToken = IdToken<ExtraClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type Claims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// Why a sign-in failed. The text is ours (the provider's is logged, escaped and bounded).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("provider unreachable or invalid: {0}")]
    Provider(String),
    #[error("token exchange failed: {0}")]
    Exchange(String),
    #[error("ID token rejected: {0}")]
    Token(String),
    /// Signed with a key the provider's key set (as we last read it) does not hold: the
    /// provider may have rotated its keys.
    #[error("ID token rejected: no matching key found")]
    UnknownKey,
    #[error("no user name claim")]
    NoUsername,
}

/// The start of a sign-in: where to send the browser, and what to remember until it returns.
pub struct Begun {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// A verified sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub username: String,
    pub groups: Vec<String>,
    pub role: Option<Role>,
}

/// An error type for the HTTP calls the `openidconnect` crate makes through us.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    cached: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl Oidc {
    /// A client for the configured provider (TLS always verified, extra roots from
    /// `CA_BUNDLE`, no redirects followed).
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15));
        if let Some(path) = &settings.ca_bundle {
            let pem =
                std::fs::read(path).map_err(|e| anyhow::anyhow!("AUTH__OIDC__CA_BUNDLE {}: {e}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Self {
            settings,
            http: b.build()?,
            cached: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    async fn get_json(&self, url: &str) -> Result<Value, OidcError> {
        let r = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("{url}: {e}")))?;
        if !r.status().is_success() {
            return Err(OidcError::Provider(format!("{url}: HTTP {}", r.status().as_u16())));
        }
        let bytes = r.bytes().await.map_err(|e| OidcError::Provider(e.to_string()))?;
        if bytes.len() > BODY_MAX {
            return Err(OidcError::Provider(format!("{url}: answer too large")));
        }
        serde_json::from_slice(&bytes).map_err(|e| OidcError::Provider(format!("{url}: {e}")))
    }

    /// The provider's metadata with its keys (cached for an hour; `refresh` forces a fetch).
    pub async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        if !refresh
            && let Some((at, m)) = self.cached.lock().ok().and_then(|c| c.clone())
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m);
        }
        let doc = self.get_json(self.settings.discovery_url.as_str()).await?;
        let meta: CoreProviderMetadata =
            serde_json::from_value(doc).map_err(|e| OidcError::Provider(format!("discovery document: {e}")))?;
        if meta.issuer().as_str().trim_end_matches('/') != self.settings.issuer {
            return Err(OidcError::Provider(format!(
                "discovery names issuer {:?}, configured {:?}",
                meta.issuer().as_str(),
                self.settings.issuer
            )));
        }
        let jwks: CoreJsonWebKeySet = serde_json::from_value(self.get_json(meta.jwks_uri().as_str()).await?)
            .map_err(|e| OidcError::Provider(format!("keys: {e}")))?;
        let meta = meta.set_jwks(jwks);
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((Instant::now(), meta.clone()));
        }
        Ok(meta)
    }

    fn client(&self, meta: CoreProviderMetadata) -> Result<impl ClientOps, OidcError> {
        let redirect =
            RedirectUrl::new(self.settings.redirect_url.to_string()).map_err(|e| OidcError::Provider(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.settings.client_id.clone()),
            self.settings
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_string())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: fresh `state`, `nonce` (32 random bytes each) and PKCE verifier.
    pub async fn begin(&self) -> Result<Begun, OidcError> {
        let meta = self.metadata(false).await?;
        let client = self.client(meta)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_secret();
        let nonce = random_secret();
        let url = client.authorize(
            state.clone(),
            nonce.clone(),
            challenge,
            self.settings
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned()
                .map(Scope::new)
                .collect(),
        );
        Ok(Begun {
            url,
            state,
            nonce,
            verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges the code with the verifier and checks the ID token.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<SignedIn, OidcError> {
        let meta = self.metadata(false).await?;
        let client = self.client(meta.clone())?;
        let http = self.http.clone();
        let call = move |req: openidconnect::HttpRequest| {
            let http = http.clone();
            async move { send(&http, req).await }
        };
        let raw = client.exchange(&call, code, verifier).await?;
        let token: ExtraIdToken = raw.parse().map_err(|e| OidcError::Token(format!("unreadable: {e}")))?;
        let claims = match self.verify(&token, &meta, nonce) {
            // A key we do not know yet: the provider may have rotated its keys.
            Err(OidcError::UnknownKey) => {
                let fresh = self.metadata(true).await?;
                self.verify(&token, &fresh, nonce)?
            }
            other => other?,
        };
        self.signed_in(&claims)
    }

    /// Verifies an ID token against the provider's keys and our rules.
    pub fn verify(&self, token: &ExtraIdToken, meta: &CoreProviderMetadata, nonce: &str) -> Result<Claims, OidcError> {
        let issuer = IssuerUrl::new(meta.issuer().to_string()).map_err(|e| OidcError::Provider(e.to_string()))?;
        verify_token(
            token,
            &self.settings.client_id,
            issuer,
            meta.jwks().clone(),
            nonce,
            chrono::Utc::now(),
        )
    }

    fn signed_in(&self, claims: &Claims) -> Result<SignedIn, OidcError> {
        let s = &self.settings;
        let standard = |name: &str| -> Option<String> {
            match name {
                "sub" => Some(claims.subject().to_string()),
                "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
                "email" => claims.email().map(|e| e.to_string()),
                "name" => claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
                _ => None,
            }
        };
        let extra = |name: &str| claims.additional_claims().rest.get(name).cloned();
        let username = standard(&s.username_claim)
            .or_else(|| extra(&s.username_claim).and_then(|v| v.as_str().map(str::to_string)))
            .or_else(|| Some(claims.subject().to_string()))
            .filter(|u| !u.is_empty())
            .ok_or(OidcError::NoUsername)?;
        let groups: Vec<String> = match extra(&s.groups_claim) {
            Some(Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
            Some(Value::String(t)) => t.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let role = s.role_for(&groups);
        Ok(SignedIn { username, groups, role })
    }
}

/// Checks an ID token: signed by one of `keys` with an asymmetric algorithm, exact issuer, our
/// client id among the audiences (and in `azp` when there are several), `exp` > now − 60 s,
/// `iat` ≤ now + 60 s, and the nonce we sent.
pub fn verify_token(
    token: &ExtraIdToken,
    client_id: &str,
    issuer: IssuerUrl,
    keys: CoreJsonWebKeySet,
    nonce: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Claims, OidcError> {
    use CoreJwsSigningAlgorithm as A;
    let verifier = CoreIdTokenVerifier::new_public_client(ClientId::new(client_id.to_string()), issuer, keys)
        .set_allowed_algs([
            A::RsaSsaPkcs1V15Sha256,
            A::RsaSsaPkcs1V15Sha384,
            A::RsaSsaPkcs1V15Sha512,
            A::RsaSsaPssSha256,
            A::EcdsaP256Sha256,
            A::EcdsaP384Sha384,
            A::EdDsa,
        ])
        .set_other_audience_verifier_fn(|_: &Audience| true)
        .set_time_fn(move || now - LEEWAY)
        .set_issue_time_verifier_fn(move |iat| {
            if iat <= now + LEEWAY {
                Ok(())
            } else {
                Err("issued in the future".to_string())
            }
        });
    let claims = token
        .claims(&verifier, &Nonce::new(nonce.to_string()))
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
                OidcError::UnknownKey
            }
            other => OidcError::Token(other.to_string()),
        })?
        .clone();
    if claims.audiences().len() > 1 && claims.authorized_party().map(|a| a.as_str()) != Some(client_id) {
        return Err(OidcError::Token(
            "several audiences without azp naming this client".into(),
        ));
    }
    Ok(claims)
}

/// What we need from the typestated client, named once.
trait ClientOps {
    fn authorize(&self, state: String, nonce: String, challenge: PkceCodeChallenge, scopes: Vec<Scope>) -> url::Url;

    async fn exchange<C>(&self, http: &C, code: &str, verifier: &str) -> Result<String, OidcError>
    where
        C: for<'c> openidconnect::AsyncHttpClient<'c>;
}

impl ClientOps
    for CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >
{
    fn authorize(&self, state: String, nonce: String, challenge: PkceCodeChallenge, scopes: Vec<Scope>) -> url::Url {
        let (url, _, _) = self
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        url
    }

    async fn exchange<C>(&self, http: &C, code: &str, verifier: &str) -> Result<String, OidcError>
    where
        C: for<'c> openidconnect::AsyncHttpClient<'c>,
    {
        let resp = self
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(http)
            .await
            .map_err(|e| OidcError::Exchange(crate::auth::relay::sanitize(&e.to_string())))?;
        resp.id_token()
            .map(|t| t.to_string())
            .ok_or_else(|| OidcError::Exchange("no ID token in the answer".into()))
    }
}

/// Sends one provider request with our client (bounded answer, no redirects).
async fn send(
    http: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let req: reqwest::Request = req.try_into().map_err(|e: reqwest::Error| HttpError(e.to_string()))?;
    let r = http.execute(req).await.map_err(|e| HttpError(e.to_string()))?;
    let mut b = http::Response::builder().status(r.status());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    let bytes = r.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    if bytes.len() > BODY_MAX {
        return Err(HttpError("answer too large".into()));
    }
    b.body(bytes.to_vec()).map_err(|e| HttpError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use openidconnect::core::CoreRsaPrivateSigningKey;
    use openidconnect::{EndUserUsername, JsonWebKeyId, PrivateSigningKey, StandardClaims, SubjectIdentifier};

    use super::*;

    const ISSUER: &str = "https://idp.example.test";
    const CLIENT: &str = "dsx";
    const NONCE: &str = "the-nonce-we-sent";

    fn key() -> CoreRsaPrivateSigningKey {
        let pem = include_str!("../tests/data/oidc-test-rsa.pem");
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
    }

    fn keys() -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(vec![key().as_verification_key()])
    }

    fn claims(aud: &[&str], exp_in: i64, nonce: &str) -> Claims {
        let now = chrono::Utc::now();
        let mut extra = Map::new();
        extra.insert("groups".into(), serde_json::json!(["dsx-admins"]));
        IdTokenClaims::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            aud.iter().map(|a| Audience::new(a.to_string())).collect(),
            now + chrono::Duration::seconds(exp_in),
            now,
            StandardClaims::new(SubjectIdentifier::new("alice".into()))
                .set_preferred_username(Some(EndUserUsername::new("alice".into()))),
            ExtraClaims { rest: extra },
        )
        .set_nonce(Some(Nonce::new(nonce.into())))
    }

    fn signed(c: Claims) -> ExtraIdToken {
        IdToken::new(c, &key(), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap()
    }

    fn check(t: &ExtraIdToken) -> Result<Claims, OidcError> {
        verify_token(
            t,
            CLIENT,
            IssuerUrl::new(ISSUER.into()).unwrap(),
            keys(),
            NONCE,
            chrono::Utc::now(),
        )
    }

    /// A token with the same claims but a header and signature of our choosing.
    fn forged(c: &Claims, header: serde_json::Value, sig: &[u8]) -> ExtraIdToken {
        let enc = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let raw = format!(
            "{}.{}.{}",
            enc(header.to_string().as_bytes()),
            enc(serde_json::to_string(c).unwrap().as_bytes()),
            enc(sig)
        );
        raw.parse().unwrap()
    }

    #[test]
    fn a_well_formed_token_verifies_and_yields_user_and_groups() {
        let c = check(&signed(claims(&[CLIENT], 300, NONCE))).unwrap();
        assert_eq!(c.preferred_username().unwrap().as_str(), "alice");
        assert_eq!(c.additional_claims().rest["groups"], serde_json::json!(["dsx-admins"]));
    }

    #[test]
    fn wrong_audience_nonce_expiry_and_azp_are_refused() {
        assert!(check(&signed(claims(&["someone-else"], 300, NONCE))).is_err(), "aud");
        assert!(
            check(&signed(claims(&[CLIENT], 300, "another-nonce"))).is_err(),
            "nonce"
        );
        // Expired beyond the minute of leeway; within it still accepted.
        assert!(check(&signed(claims(&[CLIENT], -120, NONCE))).is_err(), "exp");
        assert!(check(&signed(claims(&[CLIENT], -30, NONCE))).is_ok(), "leeway");
        // Several audiences need azp naming us.
        assert!(check(&signed(claims(&[CLIENT, "other"], 300, NONCE))).is_err(), "azp");
        let with_azp = claims(&[CLIENT, "other"], 300, NONCE).set_authorized_party(Some(ClientId::new(CLIENT.into())));
        assert!(check(&signed(with_azp)).is_ok());
    }

    #[test]
    fn a_token_signed_with_a_key_the_set_lacks_is_an_unknown_key() {
        let pem = include_str!("../tests/data/oidc-test-rsa.pem");
        let rotated = CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k2".into()))).unwrap();
        let c = claims(&[CLIENT], 300, NONCE);
        let t = IdToken::new(c, &rotated, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap();
        assert!(matches!(check(&t), Err(OidcError::UnknownKey)));
    }

    #[test]
    fn unsigned_and_shared_secret_tokens_are_refused() {
        let c = claims(&[CLIENT], 300, NONCE);
        let none = forged(&c, serde_json::json!({"alg": "none"}), b"");
        assert!(check(&none).is_err(), "alg none");
        let hs = forged(&c, serde_json::json!({"alg": "HS256", "kid": "k1"}), &[0u8; 32]);
        assert!(check(&hs).is_err(), "HS256");
        // A valid signature over other claims does not carry over.
        let good = signed(c.clone()).to_string();
        let sig = good.rsplit('.').next().unwrap();
        let mut other = claims(&[CLIENT], 300, NONCE);
        other = other.set_issuer(IssuerUrl::new("https://evil.example".into()).unwrap());
        let spliced = forged(
            &other,
            serde_json::json!({"alg": "RS256", "kid": "k1"}),
            &URL_SAFE_NO_PAD.decode(sig).unwrap(),
        );
        assert!(check(&spliced).is_err(), "signature of other claims");
    }

    #[test]
    fn groups_map_to_the_highest_role() {
        let s = OidcSettings {
            issuer: ISSUER.into(),
            discovery_url: url::Url::parse("https://idp.example.test/.well-known/openid-configuration").unwrap(),
            client_id: CLIENT.into(),
            client_secret: None,
            redirect_url: url::Url::parse("https://dsx.example.test/cb").unwrap(),
            scopes: vec!["openid".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            role_map: vec![("ops".into(), Role::Operator), ("admins".into(), Role::Admin)],
            ca_bundle: None,
        };
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(s.role_for(&g(&["ops", "admins"])), Some(Role::Admin));
        assert_eq!(s.role_for(&g(&["ops"])), Some(Role::Operator));
        assert_eq!(s.role_for(&g(&["none"])), None);
        let mut all = s.clone();
        all.role_map.push(("*".into(), Role::Viewer));
        assert_eq!(all.role_for(&[]), Some(Role::Viewer));
    }
}
