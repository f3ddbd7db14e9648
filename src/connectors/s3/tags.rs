//! Tag sets: the verdict merge of `tag`/`movetag` (docs/reference/CONNECTORS.md, "S3 item actions")
//! and the result tags this connector can put on every scanned object. Existing tags are never
//! dropped; S3 allows at most ten per object.

/// S3's limit of tags per object.
pub const MAX_TAGS: usize = 10;
/// The result tag: `pending`, `clean`, `malicious`, `not_scanned`, `error`.
pub const RESULT_KEY: &str = "DsxScanResult";
/// Why an object was not scanned (or failed), when there is room for it.
pub const REASON_KEY: &str = "DsxScanReason";

pub type Tags = Vec<(String, String)>;

/// The one required tag had no room: the object already has ten others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLimit;

/// Sets `key=value` (replacing an existing value); `required` tags that do not fit are an error,
/// optional ones are skipped.
fn put(tags: &mut Tags, key: &str, value: String, required: bool) -> Result<(), TagLimit> {
    if let Some(t) = tags.iter_mut().find(|(k, _)| k == key) {
        t.1 = value;
        Ok(())
    } else if tags.len() < MAX_TAGS {
        tags.push((key.to_string(), value));
        Ok(())
    } else if required {
        Err(TagLimit)
    } else {
        Ok(())
    }
}

/// The tag set after a malicious verdict: `Verdict=Malicious` first, then the optional scan time
/// and engine while there is room.
pub fn with_verdict(
    existing: &[(String, String)],
    scan_time: Option<String>,
    engine: Option<&str>,
) -> Result<Tags, TagLimit> {
    let mut tags = existing.to_vec();
    put(&mut tags, "Verdict", "Malicious".into(), true)?;
    if let Some(t) = scan_time {
        put(&mut tags, "DsxScanTime", t, false)?;
    }
    if let Some(e) = engine {
        put(&mut tags, "DsxScanEngine", e.to_string(), false)?;
    }
    Ok(tags)
}

/// The tag set carrying a scan result (and its reason when there is room).
pub fn with_result(existing: &[(String, String)], result: &str, reason: Option<&str>) -> Result<Tags, TagLimit> {
    let mut tags = existing.to_vec();
    put(&mut tags, RESULT_KEY, result.to_string(), true)?;
    match reason.map(tag_value).filter(|r| !r.is_empty()) {
        Some(r) => put(&mut tags, REASON_KEY, r, false)?,
        None => tags.retain(|(k, _)| k != REASON_KEY),
    }
    Ok(tags)
}

/// Makes free text a valid tag value: S3 allows letters, digits, spaces and `+ - = . _ : / @`,
/// at most 256 characters.
pub fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The `x-amz-tagging` form of a tag set (URL query encoding).
pub fn header(tags: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_verdict_is_merged_never_dropping_a_tag() {
        assert_eq!(
            with_verdict(&t(&[("owner", "me")]), None, None).unwrap(),
            t(&[("owner", "me"), ("Verdict", "Malicious")])
        );
        assert_eq!(
            with_verdict(&t(&[("Verdict", "Benign"), ("a", "1")]), None, None).unwrap(),
            t(&[("Verdict", "Malicious"), ("a", "1")])
        );
        let ten: Tags = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(with_verdict(&ten, None, None), Err(TagLimit));
        let nine: Tags = ten[..9].to_vec();
        let got = with_verdict(&nine, Some("2026-11-26T12:00:00Z".into()), Some("dsxa")).unwrap();
        assert_eq!(got.len(), 10, "optional tags only while there is room");
        assert_eq!(got[9], ("Verdict".into(), "Malicious".into()));
        let got = with_verdict(&[], Some("T".into()), Some("E")).unwrap();
        assert_eq!(
            got,
            t(&[("Verdict", "Malicious"), ("DsxScanTime", "T"), ("DsxScanEngine", "E")])
        );
    }

    #[test]
    fn results_replace_the_previous_one_and_their_reason() {
        let pending = with_result(&t(&[("owner", "me")]), "pending", None).unwrap();
        let clean = with_result(&pending, "clean", None).unwrap();
        assert_eq!(clean, t(&[("owner", "me"), (RESULT_KEY, "clean")]));
        let skipped = with_result(&clean, "not_scanned", Some("file too large (12 > 10)")).unwrap();
        assert_eq!(
            skipped,
            t(&[
                ("owner", "me"),
                (RESULT_KEY, "not_scanned"),
                (REASON_KEY, "file too large _12 _ 10_")
            ])
        );
        let back = with_result(&skipped, "clean", None).unwrap();
        assert!(!back.iter().any(|(k, _)| k == REASON_KEY), "a stale reason is removed");
        let ten: Tags = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(with_result(&ten, "clean", None), Err(TagLimit));
    }

    #[test]
    fn tagging_headers_are_query_encoded() {
        assert_eq!(
            header(&t(&[("a b", "x&y"), ("Verdict", "Malicious")])),
            "a+b=x%26y&Verdict=Malicious"
        );
    }
}
