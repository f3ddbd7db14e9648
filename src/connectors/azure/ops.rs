//! The blob service operations the connector uses (List Blobs, Get Blob, Get Blob Properties,
//! Delete Blob, Copy Blob, Abort Copy Blob, Get/Set Blob Tags), on top of [`BlobClient`].

use reqwest::{Method, Response};

use super::client::{BlobClient, Call};
use super::errors::AzFailure;

/// One entry of a List Blobs page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: Option<u64>,
    /// A hierarchical-namespace directory (`hdi_isfolder=true`, zero length).
    pub folder: bool,
    /// `Properties/Etag` and `VersionId` (versioning on): the item identity (docs/SCAN-REUSE.md).
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// One List Blobs page.
#[derive(Debug, Default)]
pub struct Page {
    pub blobs: Vec<Listed>,
    pub next_marker: Option<String>,
}

/// What Get Blob Properties says about a blob.
#[derive(Debug, Clone, Default)]
pub struct Props {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub tier: Option<String>,
    pub copy_status: Option<String>,
    pub copy_id: Option<String>,
    /// `x-ms-is-current-version` of a version read with `versionid`.
    pub is_current: Option<bool>,
}

pub type Tags = Vec<(String, String)>;

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Blob names in listings may come percent-encoded (`Encoded="true"`) when they hold characters
/// XML cannot carry.
fn listed_name(n: roxmltree::Node<'_, '_>) -> Option<String> {
    let text = n.text().unwrap_or("");
    if n.attribute("Encoded") == Some("true") {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    } else {
        Some(text.to_string())
    }
}

/// Parses a List Blobs answer.
pub fn parse_page(xml: &str) -> Result<Page, AzFailure> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| AzFailure::local(format!("List Blobs answered unreadable XML: {e}")))?;
    let mut page = Page::default();
    for b in doc.descendants().filter(|n| n.has_tag_name("Blob")) {
        let child = |name: &str| b.children().find(|c| c.has_tag_name(name));
        let Some(name) = child("Name").and_then(listed_name) else {
            continue;
        };
        let props = child("Properties");
        let size = props
            .and_then(|p| p.children().find(|c| c.has_tag_name("Content-Length")))
            .and_then(|c| c.text())
            .and_then(|t| t.trim().parse::<u64>().ok());
        let folder = child("Metadata")
            .and_then(|m| {
                m.children()
                    .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case("hdi_isfolder"))
            })
            .and_then(|c| c.text())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("true"))
            && size.unwrap_or(0) == 0;
        let text = |n: Option<roxmltree::Node>| {
            n.and_then(|c| c.text())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let etag = text(props.and_then(|p| p.children().find(|c| c.has_tag_name("Etag"))));
        let version_id = text(child("VersionId"));
        page.blobs.push(Listed {
            name,
            size,
            folder,
            etag,
            version_id,
        });
    }
    page.next_marker = doc
        .descendants()
        .find(|n| n.has_tag_name("NextMarker"))
        .and_then(|n| n.text())
        .map(str::to_string)
        .filter(|m| !m.is_empty());
    Ok(page)
}

/// Parses a Get Blob Tags answer.
pub fn parse_tags(xml: &str) -> Result<Tags, AzFailure> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| AzFailure::local(format!("Get Blob Tags answered unreadable XML: {e}")))?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("Tag"))
        .map(|t| {
            let get = |name: &str| {
                t.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .unwrap_or("")
                    .to_string()
            };
            (get("Key"), get("Value"))
        })
        .collect())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The Set Blob Tags body.
pub fn tags_xml(tags: &[(String, String)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><Tags><TagSet>");
    for (k, v) in tags {
        s.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml_escape(k),
            xml_escape(v)
        ));
    }
    s.push_str("</TagSet></Tags>");
    s
}

/// The `x-ms-tags` form of a tag set (URL query encoding).
pub fn tags_header(tags: &[(String, String)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl BlobClient {
    pub async fn list_page(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
        max: u32,
    ) -> Result<Page, AzFailure> {
        let max = max.to_string();
        let mut q = vec![
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", prefix),
            ("maxresults", max.as_str()),
            ("include", "metadata"),
        ];
        if let Some(m) = marker {
            q.push(("marker", m));
        }
        let r = self
            .send(&Call::new(Method::GET, self.container_url(container, &q)))
            .await?;
        let text = r
            .text()
            .await
            .map_err(|e| AzFailure::network(&format!("the List Blobs answer broke off: {e}")))?;
        parse_page(&text)
    }

    /// Get Blob on the base blob (the body is read by the caller).
    pub async fn get(&self, container: &str, name: &str) -> Result<Response, AzFailure> {
        self.send(&Call::new(Method::GET, self.blob_url(container, name, &[])))
            .await
    }

    pub async fn properties(
        &self,
        container: &str,
        name: &str,
        version: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<Props, AzFailure> {
        let q: Vec<(&str, &str)> = version.map(|v| vec![("versionid", v)]).unwrap_or_default();
        let r = self
            .send(&Call::new(Method::HEAD, self.blob_url(container, name, &q)).header_opt("if-match", if_match))
            .await?;
        Ok(Props {
            etag: header(&r, "etag"),
            version_id: header(&r, "x-ms-version-id"),
            tier: header(&r, "x-ms-access-tier"),
            copy_status: header(&r, "x-ms-copy-status"),
            copy_id: header(&r, "x-ms-copy-id"),
            is_current: header(&r, "x-ms-is-current-version").map(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// Delete Blob: the base blob with its snapshots, or one version.
    pub async fn delete(
        &self,
        container: &str,
        name: &str,
        version: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<(), AzFailure> {
        let call = match version {
            Some(v) => Call::new(Method::DELETE, self.blob_url(container, name, &[("versionid", v)])),
            None => Call::new(Method::DELETE, self.blob_url(container, name, &[]))
                .header("x-ms-delete-snapshots", "include"),
        };
        self.send(&call.header_opt("if-match", if_match)).await.map(|_| ())
    }

    pub async fn get_tags(&self, container: &str, name: &str, version: Option<&str>) -> Result<Tags, AzFailure> {
        let mut q = vec![("comp", "tags")];
        if let Some(v) = version {
            q.push(("versionid", v));
        }
        let r = self
            .send(&Call::new(Method::GET, self.blob_url(container, name, &q)))
            .await?;
        let text = r
            .text()
            .await
            .map_err(|e| AzFailure::network(&format!("the Get Blob Tags answer broke off: {e}")))?;
        parse_tags(&text)
    }

    pub async fn set_tags(
        &self,
        container: &str,
        name: &str,
        version: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), AzFailure> {
        let mut q = vec![("comp", "tags")];
        if let Some(v) = version {
            q.push(("versionid", v));
        }
        self.send(&Call::new(Method::PUT, self.blob_url(container, name, &q)).body("application/xml", tags_xml(tags)))
            .await
            .map(|_| ())
    }

    /// Copy Blob that never overwrites (`If-None-Match: *`); answers the copy status and id.
    pub async fn copy(
        &self,
        container: &str,
        name: &str,
        source_url: &str,
        source_if_match: Option<&str>,
        tags: Option<&[(String, String)]>,
        tier: Option<&str>,
    ) -> Result<(Option<String>, Option<String>), AzFailure> {
        let call = Call::new(Method::PUT, self.blob_url(container, name, &[]))
            .header("x-ms-copy-source", source_url)
            .header("if-none-match", "*")
            .header_opt("x-ms-source-if-match", source_if_match)
            .header_opt("x-ms-tags", tags.filter(|t| !t.is_empty()).map(tags_header).as_deref())
            .header_opt("x-ms-access-tier", tier);
        let r = self.send(&call).await?;
        Ok((header(&r, "x-ms-copy-status"), header(&r, "x-ms-copy-id")))
    }

    pub async fn abort_copy(&self, container: &str, name: &str, copy_id: &str) -> Result<(), AzFailure> {
        self.send(
            &Call::new(
                Method::PUT,
                self.blob_url(container, name, &[("comp", "copy"), ("copyid", copy_id)]),
            )
            .header("x-ms-copy-action", "abort"),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_carry_names_sizes_folders_and_the_marker() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>
<Blob><Name>pre/a b+c.txt</Name><VersionId>2026-01-01T00:00:00.0000000Z</VersionId><Properties><Content-Length>5</Content-Length><Etag>0x8D1</Etag></Properties></Blob>
<Blob><Name Encoded="true">pre/%EF%BF%BE</Name><Properties><Content-Length>1</Content-Length></Properties></Blob>
<Blob><Name>pre/dir</Name><Properties><Content-Length>0</Content-Length></Properties><Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>
</Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>"#;
        let p = parse_page(xml).unwrap();
        assert_eq!(p.blobs.len(), 3);
        assert_eq!(p.blobs[0].name, "pre/a b+c.txt");
        assert_eq!(p.blobs[0].size, Some(5));
        assert_eq!(p.blobs[0].etag.as_deref(), Some("0x8D1"));
        assert_eq!(p.blobs[0].version_id.as_deref(), Some("2026-01-01T00:00:00.0000000Z"));
        assert_eq!(
            (p.blobs[1].etag.as_deref(), p.blobs[1].version_id.as_deref()),
            (None, None)
        );
        assert_eq!(p.blobs[1].name, "pre/\u{fffe}");
        assert!(p.blobs[2].folder && !p.blobs[0].folder);
        assert_eq!(p.next_marker.as_deref(), Some("2!abc"));
        let last = parse_page("<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>").unwrap();
        assert_eq!(last.next_marker, None);
    }

    #[test]
    fn tags_round_trip_through_xml_and_header() {
        let t = vec![
            ("owner".to_string(), "me & you".to_string()),
            ("Verdict".into(), "Malicious".into()),
        ];
        assert_eq!(parse_tags(&tags_xml(&t)).unwrap(), t);
        assert_eq!(tags_header(&t), "owner=me%20%26%20you&Verdict=Malicious");
    }
}
