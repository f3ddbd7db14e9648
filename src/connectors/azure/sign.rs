//! Shared Key authorisation (docs/reference/CONNECTORS.md, "Azure client and credentials"):
//! HMAC-SHA256 with the account key over the documented canonical string of a request.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What the signature covers: method, URL and the headers that will be sent.
pub struct ToSign<'a> {
    pub method: &'a str,
    pub url: &'a url::Url,
    /// Lower-case names.
    pub headers: &'a [(String, String)],
    pub content_length: u64,
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The string to sign (service versions 2015-02-21 and later).
pub fn string_to_sign(account: &str, r: &ToSign<'_>) -> String {
    let h = r.headers;
    let length = if r.content_length == 0 {
        String::new()
    } else {
        r.content_length.to_string()
    };
    let mut s = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        r.method,
        header(h, "content-encoding"),
        header(h, "content-language"),
        length,
        header(h, "content-md5"),
        header(h, "content-type"),
        "",
        header(h, "if-modified-since"),
        header(h, "if-match"),
        header(h, "if-none-match"),
        header(h, "if-unmodified-since"),
        header(h, "range"),
    );
    let mut ms: Vec<(String, String)> = h
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(&k);
        s.push(':');
        s.push_str(&v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(r.url.path());
    let mut q: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in r.url.query_pairs() {
        let k = k.to_ascii_lowercase();
        match q.iter_mut().find(|(n, _)| *n == k) {
            Some((_, vs)) => vs.push(v.into_owned()),
            None => q.push((k, vec![v.into_owned()])),
        }
    }
    q.sort();
    for (k, mut vs) in q {
        vs.sort();
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&vs.join(","));
    }
    s
}

/// `SharedKey <account>:<base64 HMAC>`; `key` is the base64 account key (checked at startup).
pub fn authorization(account: &str, key_b64: &str, r: &ToSign<'_>) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD.decode(key_b64).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(string_to_sign(account, r).as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Some(format!("SharedKey {account}:{sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_string_sorts_headers_and_query() {
        let url = url::Url::parse("http://127.0.0.1:1/acc/c/a%20b?restype=container&comp=list&prefix=p%2F").unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), "2024-08-04".to_string()),
            ("x-ms-date".to_string(), "D".to_string()),
            ("if-match".to_string(), "\"e\"".to_string()),
        ];
        let s = string_to_sign(
            "acc",
            &ToSign {
                method: "GET",
                url: &url,
                headers: &headers,
                content_length: 0,
            },
        );
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\"e\"\n\n\n\nx-ms-date:D\nx-ms-version:2024-08-04\n/acc/acc/c/a%20b\ncomp:list\nprefix:p/\nrestype:container"
        );
    }
}
