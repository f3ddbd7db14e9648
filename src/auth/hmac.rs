//! DSX-HMAC request signatures (docs/AUTH.md "Signatures"): the header grammar, the signed
//! message, signing and verification.
//!
//! Wire-compatible with the original service's `shared/auth/hmac.py`: the MAC key is the UTF-8
//! text of the secret as issued (never its base64-decoded bytes), the message is
//! `METHOD|path_q|ts|nonce|body`, and the signature is padded standard base64. Stricter than the
//! original where it was weak: a nonce is required, values must match their grammar, and no
//! parser text ever reaches an answer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The scheme word of the `Authorization` header.
pub const SCHEME: &str = "DSX-HMAC";
/// Longest header accepted.
const MAX_HEADER: usize = 1024;

/// Why a signed request was refused: the `detail` of a 401 (or 503 for the cache bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    MissingHmac,
    MalformedHmac,
    MissingKeyId,
    UnknownKeyId,
    KeyRevoked,
    StaleRequest,
    BadSignature,
    ReplayedRequest,
    /// The replay cache is at its bound (503, fail closed).
    ReplayCacheFull,
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::MissingHmac => "missing_hmac",
            Reject::MalformedHmac => "malformed_hmac",
            Reject::MissingKeyId => "missing_key_id",
            Reject::UnknownKeyId => "unknown_key_id",
            Reject::KeyRevoked => "key_revoked",
            Reject::StaleRequest => "stale_request",
            Reject::BadSignature => "bad_signature",
            Reject::ReplayedRequest => "replayed_request",
            Reject::ReplayCacheFull => "replay_cache_full",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector's signing key: its id and the secret text.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey {
    pub key_id: String,
    secret: String,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacKey({}, ***)", self.key_id)
    }
}

impl HmacKey {
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }

    /// A fresh key: id = base64 of 12 random bytes, secret = base64 of 32 random bytes.
    pub fn generate() -> Self {
        Self::new(random_b64::<12>(), random_b64::<32>())
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The `Authorization` value for one request, with a fresh timestamp and nonce. Every
    /// attempt must be signed anew: a receiver accepts a nonce once.
    pub fn authorization(&self, method: &str, path_q: &str, body: &[u8]) -> String {
        self.authorization_at(method, path_q, body, now_secs(), &random_b64::<12>())
    }

    /// The `Authorization` value for given `ts` and `nonce` (test vectors, interop checks).
    pub fn authorization_at(&self, method: &str, path_q: &str, body: &[u8], ts: i64, nonce: &str) -> String {
        let ts = ts.to_string();
        let sig = STANDARD.encode(mac(&self.secret, method, path_q, &ts, nonce, body));
        format!("{SCHEME} key_id={}, ts={ts}, nonce={nonce}, sig={sig}", self.key_id)
    }
}

/// The signed `path_q` of an absolute URL: its path, plus `?query` when the query is non-empty.
pub fn target_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| match u.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}", u.path()),
            _ => u.path().to_string(),
        })
        .unwrap_or_default()
}

fn random_b64<const N: usize>() -> String {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    STANDARD.encode(b)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// HMAC-SHA256 over `METHOD|path_q|ts|nonce|body`, keyed with the secret's UTF-8 text.
fn mac(secret: &str, method: &str, path_q: &str, ts: &str, nonce: &str, body: &[u8]) -> [u8; 32] {
    let mut m = keyed(secret);
    feed(&mut m, method, path_q, ts, nonce, body);
    m.finalize().into_bytes().into()
}

fn keyed(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!())
}

fn feed(m: &mut HmacSha256, method: &str, path_q: &str, ts: &str, nonce: &str, body: &[u8]) {
    m.update(method.to_ascii_uppercase().as_bytes());
    m.update(b"|");
    m.update(path_q.as_bytes());
    m.update(b"|");
    m.update(ts.as_bytes());
    m.update(b"|");
    m.update(nonce.as_bytes());
    m.update(b"|");
    m.update(body);
}

/// Whether an `Authorization` value uses the DSX-HMAC scheme (any case).
pub fn is_dsx_hmac(value: Option<&[u8]>) -> bool {
    value
        .and_then(|v| v.split(|b| *b == b' ').next())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME.as_bytes()))
}

/// A parsed `Authorization: DSX-HMAC …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub key_id: String,
    /// The header's characters, as signed.
    pub ts: String,
    pub nonce: String,
    pub sig: [u8; 32],
}

impl SignatureHeader {
    /// Parses a header value: `MissingHmac` for another scheme, `MissingKeyId` without a
    /// `key_id`, `MalformedHmac` for anything outside the grammar.
    pub fn parse(value: &[u8]) -> Result<Self, Reject> {
        let text = std::str::from_utf8(value).map_err(|_| Reject::MalformedHmac)?;
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(Reject::MissingHmac);
        }
        let mut fields: [Option<&str>; 4] = [None; 4];
        let mut malformed = value.len() > MAX_HEADER;
        for piece in rest.split(',') {
            let piece = piece.trim_matches([' ', '\t']);
            let Some((name, v)) = piece.split_once('=') else {
                malformed = true;
                continue;
            };
            let slot = match name {
                "key_id" => 0,
                "ts" => 1,
                "nonce" => 2,
                "sig" => 3,
                _ => continue,
            };
            if fields[slot].replace(v).is_some() {
                malformed = true;
            }
        }
        let [key_id, ts, nonce, sig] = fields;
        let key_id = key_id.ok_or(Reject::MissingKeyId)?;
        let (Some(ts), Some(nonce), Some(sig)) = (ts, nonce, sig) else {
            return Err(Reject::MalformedHmac);
        };
        let sig: Option<[u8; 32]> = (sig.len() == 44)
            .then(|| STANDARD.decode(sig).ok())
            .flatten()
            .and_then(|b| b.try_into().ok());
        let valid = !malformed
            && grammar(key_id, 1, 128, b"+/=._-")
            && (1..=12).contains(&ts.len())
            && ts.bytes().all(|b| b.is_ascii_digit())
            && grammar(nonce, 8, 128, b"+/=_-");
        match sig {
            Some(sig) if valid => Ok(Self {
                key_id: key_id.to_string(),
                ts: ts.to_string(),
                nonce: nonce.to_string(),
                sig,
            }),
            _ => Err(Reject::MalformedHmac),
        }
    }

    /// The timestamp (the grammar guarantees at most 12 digits).
    pub fn ts_secs(&self) -> i64 {
        self.ts.parse().unwrap_or(i64::MAX)
    }

    /// Whether the MAC over the request, keyed with `secret`, is this header's signature.
    /// `target` is the request-target as received (path plus `?query`); original signers sign
    /// the percent-decoded path, and a proxy may strip the public URL's `prefix`, so those
    /// forms are tried when the first differs.
    pub fn matches(&self, secret: &str, method: &str, target: &str, body: &[u8], prefix: Option<&str>) -> bool {
        let check = |path_q: &str| {
            let mut m = keyed(secret);
            feed(&mut m, method, path_q, &self.ts, &self.nonce, body);
            m.verify_slice(&self.sig).is_ok()
        };
        if check(target) {
            return true;
        }
        let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        if decoded != path {
            let d = match query {
                Some(q) if !q.is_empty() => format!("{decoded}?{q}"),
                _ => decoded.into_owned(),
            };
            if check(&d) {
                return true;
            }
        }
        prefix
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| !p.is_empty())
            .is_some_and(|p| check(&format!("{p}{target}")))
    }
}

fn grammar(v: &str, min: usize, max: usize, extra: &[u8]) -> bool {
    (min..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// What a key id resolves to on the receiving side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// A usable key: its secret, and whose it is.
    Active {
        secret: String,
        owner: String,
    },
    Revoked,
    Unknown,
}

/// One request as received, for verification.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    /// The request-target: path plus `?query` when there is one, as sent.
    pub target: &'a str,
    pub body: &'a [u8],
}

/// A verified signature: the key's owner and the nonce to record against replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub owner: String,
    pub key_id: String,
    pub nonce: String,
    pub ts: i64,
}

/// Steps 1–7 of the verification order: header, key, revocation, clock skew, raw `|`, MAC.
/// The replay check (step 8) is the caller's, against its replay cache, after this succeeds.
pub fn verify(
    header: Option<&[u8]>,
    req: Received<'_>,
    now: i64,
    skew: u64,
    prefix: Option<&str>,
    lookup: impl FnOnce(&str) -> KeyLookup,
) -> Result<Verified, Reject> {
    let h = SignatureHeader::parse(header.ok_or(Reject::MissingHmac)?)?;
    let (secret, owner) = match lookup(&h.key_id) {
        KeyLookup::Active { secret, owner } => (secret, owner),
        KeyLookup::Revoked => return Err(Reject::KeyRevoked),
        KeyLookup::Unknown => return Err(Reject::UnknownKeyId),
    };
    let ts = h.ts_secs();
    if now.abs_diff(ts) > skew {
        return Err(Reject::StaleRequest);
    }
    if req.target.contains('|') || !h.matches(&secret, req.method, req.target, req.body, prefix) {
        return Err(Reject::BadSignature);
    }
    Ok(Verified {
        owner,
        key_id: h.key_id,
        nonce: h.nonce,
        ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: &str = "ZHN4LXRlc3Qta2lk";
    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const TS: i64 = 1_767_225_600;
    const V1_BODY: &[u8] = br#"{"location":"/data/eicar.com","metainfo":"eicar.com","scan_job_id":"job-1"}"#;
    const V1: &str = "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=bm9uY2UtMDAwMDAx, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=";
    const V2: &str = "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=bm9uY2UtMDAwMDAy, sig=MyPgZv8c6mFV4W+Wd227ZwJ/mdmQY2Xb8ZvJsRVAprM=";
    const N1_SIG: &str = "Clm1p3mSbmvmW4Z/PPQ20aBjKoxqxDId9coT859qXh4=";

    fn key() -> HmacKey {
        HmacKey::new(KID, SECRET)
    }

    fn lookup(kid: &str) -> KeyLookup {
        if kid == KID {
            KeyLookup::Active {
                secret: SECRET.into(),
                owner: "conn-a".into(),
            }
        } else {
            KeyLookup::Unknown
        }
    }

    fn v1_req() -> Received<'static> {
        Received {
            method: "POST",
            target: "/dsx-connect/api/v1/scan/request",
            body: V1_BODY,
        }
    }

    #[test]
    fn signer_produces_the_test_vectors() {
        assert_eq!(V1_BODY.len(), 75);
        let v1 = key().authorization_at(
            "POST",
            "/dsx-connect/api/v1/scan/request",
            V1_BODY,
            TS,
            "bm9uY2UtMDAwMDAx",
        );
        assert_eq!(v1, V1);
        let v2 = key().authorization_at(
            "GET",
            "/filesystem-connector/repo_check?preview=5",
            b"",
            TS,
            "bm9uY2UtMDAwMDAy",
        );
        assert_eq!(v2, V2);
    }

    #[test]
    fn verifier_accepts_the_vectors_and_rejects_n1() {
        let ok = verify(Some(V1.as_bytes()), v1_req(), TS, 60, None, lookup).unwrap();
        assert_eq!(ok.owner, "conn-a");
        assert_eq!(ok.nonce, "bm9uY2UtMDAwMDAx");
        let v2 = Received {
            method: "GET",
            target: "/filesystem-connector/repo_check?preview=5",
            body: b"",
        };
        assert!(verify(Some(V2.as_bytes()), v2, TS, 60, None, lookup).is_ok());
        let n1 = V1.replace("7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=", N1_SIG);
        assert_eq!(
            verify(Some(n1.as_bytes()), v1_req(), TS, 60, None, lookup),
            Err(Reject::BadSignature)
        );
    }

    #[test]
    fn malformed_headers_say_so_without_detail() {
        let cases = [
            // no nonce
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
            // duplicate ts
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, ts=1767225600, nonce=bm9uY2UtMDAwMDAx, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
            // non-digit ts
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=17672256x0, nonce=bm9uY2UtMDAwMDAx, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
            // 31-byte sig
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=bm9uY2UtMDAwMDAx, sig=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
            // short nonce
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=abc, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
            // a piece without '='
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=bm9uY2UtMDAwMDAx, junk, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
            // a nonce with '|'
            "DSX-HMAC key_id=ZHN4LXRlc3Qta2lk, ts=1767225600, nonce=bm9uY2|tMDAwMDAx, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=",
        ];
        for c in cases {
            assert_eq!(SignatureHeader::parse(c.as_bytes()), Err(Reject::MalformedHmac), "{c}");
        }
        let long = format!("{V1}, pad={}", "a".repeat(1100));
        assert_eq!(SignatureHeader::parse(long.as_bytes()), Err(Reject::MalformedHmac));
        let no_kid = "DSX-HMAC ts=1767225600, nonce=bm9uY2UtMDAwMDAx, sig=7lUlzjzeTyDjy0i1jHe/OwH/Wq9nn3uY937p5p3SH+Q=";
        assert_eq!(SignatureHeader::parse(no_kid.as_bytes()), Err(Reject::MissingKeyId));
        assert_eq!(SignatureHeader::parse(b"Bearer abc"), Err(Reject::MissingHmac));
        assert_eq!(verify(None, v1_req(), TS, 60, None, lookup), Err(Reject::MissingHmac));
    }

    #[test]
    fn scheme_is_case_insensitive_and_unknown_names_are_ignored() {
        let lower = V1.replacen("DSX-HMAC", "dsx-hmac", 1);
        assert!(verify(Some(lower.as_bytes()), v1_req(), TS, 60, None, lookup).is_ok());
        let extra = format!("{V1},  realm=x,\tother=y");
        assert!(verify(Some(extra.as_bytes()), v1_req(), TS, 60, None, lookup).is_ok());
    }

    #[test]
    fn checks_run_in_order() {
        let unknown_stale = V1.replace(KID, "b3RoZXIta2V5LWlk").replace("1767225600", "1000");
        assert_eq!(
            verify(Some(unknown_stale.as_bytes()), v1_req(), TS, 60, None, lookup),
            Err(Reject::UnknownKeyId)
        );
        let stale_bad = V1.replace("1767225600", "1767225000").replace("7lUl", "8lUl");
        assert_eq!(
            verify(Some(stale_bad.as_bytes()), v1_req(), TS, 60, None, lookup),
            Err(Reject::StaleRequest)
        );
        let revoked = |_: &str| KeyLookup::Revoked;
        assert_eq!(
            verify(Some(V1.as_bytes()), v1_req(), TS, 60, None, revoked),
            Err(Reject::KeyRevoked)
        );
    }

    #[test]
    fn skew_is_inclusive_and_configurable() {
        for (now, skew, ok) in [
            (TS + 60, 60, true),
            (TS + 61, 60, false),
            (TS - 61, 60, false),
            (TS - 61, 120, true),
        ] {
            let r = verify(Some(V1.as_bytes()), v1_req(), now, skew, None, lookup);
            assert_eq!(r.is_ok(), ok, "now {now} skew {skew}: {r:?}");
        }
    }

    #[test]
    fn raw_pipe_in_target_is_a_bad_signature() {
        let target = "/x/read_file?a=b|c";
        let h = key().authorization_at("POST", target, b"", TS, "bm9uY2UtMDAwMDAx");
        let req = Received {
            method: "POST",
            target,
            body: b"",
        };
        assert_eq!(
            verify(Some(h.as_bytes()), req, TS, 60, None, lookup),
            Err(Reject::BadSignature)
        );
    }

    #[test]
    fn decoded_path_and_public_prefix_forms_verify() {
        let h = key().authorization_at("GET", "/a b/c?q=%20", b"", TS, "bm9uY2UtMDAwMDAx");
        let req = Received {
            method: "GET",
            target: "/a%20b/c?q=%20",
            body: b"",
        };
        assert!(verify(Some(h.as_bytes()), req, TS, 60, None, lookup).is_ok());
        let h = key().authorization_at("GET", "/dsx/dsx-connect/api/v1/x", b"", TS, "bm9uY2UtMDAwMDAx");
        let req = Received {
            method: "GET",
            target: "/dsx-connect/api/v1/x",
            body: b"",
        };
        assert_eq!(
            verify(Some(h.as_bytes()), req, TS, 60, None, lookup),
            Err(Reject::BadSignature)
        );
        assert!(verify(Some(h.as_bytes()), req, TS, 60, Some("/dsx"), lookup).is_ok());
    }

    #[test]
    fn the_signed_target_of_a_url_is_its_path_and_non_empty_query() {
        assert_eq!(target_of("http://h:1/fs/read_file"), "/fs/read_file");
        assert_eq!(
            target_of("http://h:1/fs/repo_check?preview=5"),
            "/fs/repo_check?preview=5"
        );
        assert_eq!(target_of("http://h:1/fs/x?"), "/fs/x");
    }

    #[test]
    fn generated_keys_have_the_original_shape() {
        let k = HmacKey::generate();
        assert_eq!(k.key_id.len(), 16);
        assert_eq!(k.secret().len(), 44);
        assert!(k.secret().ends_with('='));
        let h = k.authorization("PUT", "/c/item_action", b"{}");
        let parsed = SignatureHeader::parse(h.as_bytes()).unwrap();
        assert_eq!(parsed.nonce.len(), 16);
        assert!(format!("{k:?}").contains("***"));
        assert!(!format!("{k:?}").contains(k.secret()));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Any single-byte change of method, path, query, ts, nonce or body is rejected.
            #[test]
            fn one_byte_change_is_rejected(
                method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
                path in "/[a-z0-9_./-]{1,40}",
                query in "[a-z0-9=&]{0,20}",
                body in prop::collection::vec(any::<u8>(), 0..200),
                part in 0usize..6,
                pos in any::<prop::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
                let h = key().authorization_at(method, &target, &body, TS, "bm9uY2UtMDAwMDAx");
                let ok = Received { method, target: &target, body: &body };
                prop_assert!(verify(Some(h.as_bytes()), ok, TS, 60, None, lookup).is_ok());

                let mut m = method.as_bytes().to_vec();
                let mut t = target.clone().into_bytes();
                let mut b = body.clone();
                let mut hdr = h.clone();
                match part {
                    0 => { let i = pos.index(m.len()); m[i] = change(m[i], flip); }
                    1 => { let i = pos.index(path.len()); t[i] = change(t[i], flip); }
                    2 => {
                        if query.is_empty() { t.extend_from_slice(b"?x"); }
                        else { let i = path.len() + 1 + pos.index(query.len()); t[i] = change(t[i], flip); }
                    }
                    3 => hdr = h.replace("ts=1767225600", &format!("ts=17672256{:02}", (pos.index(99) + 1) % 100)),
                    4 => hdr = h.replace("nonce=bm9uY2UtMDAwMDAx", "nonce=bm9uY2UtMDAwMDAy"),
                    _ => {
                        if b.is_empty() { b.push(flip); }
                        else { let i = pos.index(b.len()); b[i] ^= flip; }
                    }
                }
                let m = String::from_utf8_lossy(&m).into_owned();
                let t = String::from_utf8_lossy(&t).into_owned();
                let changed = Received { method: &m, target: &t, body: &b };
                let same = m.eq_ignore_ascii_case(method) && t == target && b == body && hdr == h;
                prop_assume!(!same);
                prop_assert!(verify(Some(hdr.as_bytes()), changed, TS + 1, 60, None, lookup).is_err());
            }
        }

        /// A different printable byte (the message is text where it is not the body).
        fn change(b: u8, flip: u8) -> u8 {
            let c = 0x21 + (b.wrapping_sub(0x21).wrapping_add(flip) % 94);
            if c == b { if b == b'a' { b'b' } else { b'a' } } else { c }
        }
    }
}
