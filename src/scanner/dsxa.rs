//! Deep Instinct DSXA client (docs/reference/CORE-API.md, "DSXA request"): `POST /scan/binary/v2`
//! with the item's bytes streamed as the body, and the verdict JSON parsed (flat and nested
//! variants).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::{ProbeError, ScanInput, Scanner};
use crate::config::core::ScannerSettings;
use crate::failure::{ErrorClass, Failure, http_error_text};
use crate::model::verdict::{FileInfo, VerdictDetails};
use crate::model::{Engine, StatusResponse, TaskId, Verdict, VerdictKind};

/// Largest verdict answer read.
const MAX_ANSWER_BYTES: usize = 1 << 20;
const MAX_METADATA_BYTES: usize = 4096;

pub struct DsxaScanner {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    timeout: Duration,
    max_file_size: u64,
}

impl DsxaScanner {
    pub fn new(s: &ScannerSettings) -> anyhow::Result<Self> {
        let url = s
            .scan_binary_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("DSXCONNECT_SCANNER__SCAN_BINARY_URL is required for engine dsxa"))?;
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(256)
            .user_agent(format!("dsx-connect/{}", crate::VERSION))
            // A redirect would carry the scanner token (`AUTH` header) and the file elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(!s.verify_tls);
        if let Some(ca) = &s.ca_bundle {
            for cert in crate::tls::load_certificates(ca)? {
                builder = builder.tls_certs_merge([cert]);
            }
        }
        let mut headers = HeaderMap::new();
        if let Some(token) = &s.auth_token {
            let v = HeaderValue::from_str(token.expose()).map_err(|_| {
                anyhow::anyhow!("DSXCONNECT_SCANNER__AUTH_TOKEN contains characters not allowed in a header")
            })?;
            headers.insert("AUTH", v.clone());
            headers.insert("AUTH_TOKEN", v);
        }
        if let Some(pe) = s.protected_entity {
            headers.insert("protected_entity", HeaderValue::from(pe));
        }
        if let Some(pw) = &s.scan_password {
            let b64 = base64::engine::general_purpose::STANDARD.encode(pw.expose().as_bytes());
            headers.insert("scan_password", HeaderValue::from_str(&b64)?);
        }
        Ok(Self {
            client: builder.build()?,
            url,
            headers,
            timeout: s.timeout,
            max_file_size: s.max_file_size,
        })
    }

    /// Posts one body. `timeout` bounds the whole call (the connection test's in-memory body);
    /// a scan's streamed body is bounded by the pipeline instead (source pace, verdict after the
    /// last byte, total cap), so a large file on a slow link is not cut at a fixed time.
    async fn post(
        &self,
        body: reqwest::Body,
        size: Option<u64>,
        metadata: &str,
        timeout: Option<Duration>,
    ) -> Result<Verdict, Failure> {
        let mut req = crate::request_id::attach(self.client.post(&self.url))
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("X-Custom-Metadata", metadata)
            .body(body);
        if let Some(n) = size {
            req = req.header(CONTENT_LENGTH, n);
        }
        let call = async {
            let resp = req.send().await.map_err(classify_transport)?;
            let status = resp.status();
            let retry_after = crate::retry::retry_after(resp.headers());
            let text = read_limited(resp).await.map_err(classify_transport)?;
            classify_answer(status, &text, retry_after, size)
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, call)
                .await
                .map_err(|_| Failure::new(ErrorClass::DsxaTimeout, format!("no verdict within {t:?}")))?,
            None => call.await,
        }
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_ANSWER_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The failure of a transport error. The URL is dropped from the message: a DSXA URL may carry
/// credentials (userinfo), and this text reaches logs, the DLQ and the UI.
fn classify_transport(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    if e.is_timeout() {
        Failure::caused(ErrorClass::DsxaTimeout, "DSXA timed out", e)
    } else {
        Failure::caused(ErrorClass::DsxaConnection, "DSXA unreachable", e)
    }
}

/// `file-tag:<ascii metainfo>,task-id:<task id>`, at most 4096 bytes ("DSXA request").
pub fn custom_metadata(metainfo: &str, task_id: &TaskId) -> String {
    let suffix = format!(",task-id:{task_id}");
    let room = MAX_METADATA_BYTES.saturating_sub("file-tag:".len() + suffix.len());
    let tag: String = metainfo.nfkd().filter(|c| (' '..='~').contains(c)).take(room).collect();
    format!("file-tag:{tag}{suffix}")
}

/// Classification of a DSXA answer ("DSXA answer classification").
fn classify_answer(
    status: StatusCode,
    body: &str,
    retry_after: Option<Duration>,
    size: Option<u64>,
) -> Result<Verdict, Failure> {
    match status.as_u16() {
        200..=299 => {
            let v = parse_verdict(body)?;
            if v.verdict == VerdictKind::NotScanned
                && v.verdict_details
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.to_ascii_lowercase().contains("initializing"))
            {
                return Err(Failure::new(ErrorClass::DsxaServer, "DSXA is initializing"));
            }
            Ok(v)
        }
        413 => Ok(Verdict::too_large(size, Engine::Dsxa)),
        401 | 403 => Err(Failure::new(ErrorClass::DsxaAuth, http_error_text(status, body))),
        408 | 429 | 500..=599 => {
            Err(Failure::new(ErrorClass::DsxaServer, http_error_text(status, body)).with_retry_after(retry_after))
        }
        _ => Err(Failure::new(ErrorClass::DsxaClient, http_error_text(status, body))),
    }
}

fn bad(msg: impl Into<String>) -> Failure {
    let msg: String = msg.into();
    Failure::new(ErrorClass::DsxaBadResponse, msg)
}

fn opt_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn opt_i64(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

/// Parses a DSXA verdict answer, accepting the nested `details` variant ("DSXA verdict parsing").
pub fn parse_verdict(body: &str) -> Result<Verdict, Failure> {
    if body.trim().is_empty() {
        return Err(bad("DSXA answered with an empty body"));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| bad(format!("DSXA answer is not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("DSXA answer is not a JSON object"))?;
    let empty = Map::new();
    let details = obj.get("details").and_then(Value::as_object).unwrap_or(&empty);
    // A top-level field wins; the nested one is used only when the top-level one is absent.
    let pick = |top: &str, nested: &str| obj.get(top).or_else(|| details.get(nested));
    let verdict_str = obj
        .get("verdict")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("DSXA answer has no verdict"))?;
    let (kind, scanning) = match verdict_str {
        "Scanning" => (VerdictKind::NotScanned, true),
        s => (
            s.parse::<VerdictKind>()
                .map_err(|_| bad(format!("DSXA answered an unknown verdict '{s}'")))?,
            false,
        ),
    };
    let mut verdict_details: VerdictDetails = match pick("verdict_details", "verdictDetails") {
        Some(Value::Object(m)) => VerdictDetails {
            event_description: opt_str(m.get("event_description").or_else(|| m.get("eventDescription"))),
            reason: opt_str(m.get("reason")),
            threat_type: opt_str(m.get("threat_type").or_else(|| m.get("threatType"))),
        },
        _ => VerdictDetails::default(),
    };
    if scanning && verdict_details.reason.is_none() {
        verdict_details.reason = Some("scan incomplete".into());
    }
    let file_info = match pick("file_info", "fileInfo") {
        Some(Value::Object(m)) => Some(FileInfo {
            file_type: opt_str(m.get("file_type").or_else(|| m.get("fileType"))),
            file_size_in_bytes: opt_i64(m.get("file_size_in_bytes").or_else(|| m.get("fileSizeInBytes"))),
            file_hash: opt_str(m.get("file_hash").or_else(|| m.get("fileHash"))),
            container_hash: opt_str(m.get("container_hash").or_else(|| m.get("containerHash"))),
            additional_office_data: m
                .get("additional_office_data")
                .or_else(|| m.get("additionalOfficeData"))
                .filter(|x| !x.is_null())
                .cloned(),
        }),
        _ => None,
    };
    let duration = opt_i64(obj.get("scan_duration_in_microseconds"))
        .filter(|d| *d >= 0)
        .unwrap_or(-1);
    let mut out = Verdict::bare(kind, Engine::Dsxa);
    out.scan_guid = opt_str(obj.get("scan_guid"));
    out.verdict_details = verdict_details;
    out.file_info = file_info;
    out.protected_entity = opt_i64(obj.get("protected_entity"));
    out.scan_duration_in_microseconds = duration;
    out.container_files_scanned = opt_i64(pick("container_files_scanned", "containerFilesScanned"));
    out.container_files_scanned_size = opt_i64(pick("container_files_scanned_size", "containerFilesScannedSize"));
    out.x_custom_metadata = opt_str(
        obj.get("X-Custom-Metadata")
            .or_else(|| obj.get("x_custom_metadata"))
            .or_else(|| details.get("xCustomMetadata")),
    );
    out.last_update_time = opt_str(pick("last_update_time", "lastUpdateTime"));
    Ok(out)
}

#[async_trait]
impl Scanner for DsxaScanner {
    fn engine(&self) -> Engine {
        Engine::Dsxa
    }

    /// DSXA's scan answers (docs/reference/CORE-API.md, "DSXA verdict parsing") carry no engine
    /// version and the protocol has no version call, so none is claimed.
    fn version(&self) -> Option<String> {
        None
    }

    fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    async fn scan(&self, input: ScanInput) -> Result<Verdict, Failure> {
        let started = Instant::now();
        let metadata = custom_metadata(&input.metainfo, &input.task_id);
        let mut v = self
            .post(reqwest::Body::wrap_stream(input.body), input.size, &metadata, None)
            .await?;
        v.dsxconnect_dsxa_elapsed_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        Ok(v)
    }

    /// `GET` of the scan URL with the configured headers: any answer below 500 other than
    /// 401/403 means the service is there and takes our credentials (DSXA serves the scan URL
    /// for `POST` only, so it answers 405 and scans nothing).
    async fn probe(&self) -> Result<(), ProbeError> {
        let call = crate::request_id::attach(self.client.get(&self.url))
            .headers(self.headers.clone())
            .timeout(super::probe::PROBE_TIMEOUT)
            .send();
        match call.await {
            Ok(r) if r.status().is_server_error() => Err(ProbeError::ServerError(r.status().as_u16())),
            Ok(r) if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                Err(ProbeError::TokenRefused(r.status().as_u16()))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(ProbeError::Unreachable(classify_transport(e))),
        }
    }

    async fn test_connection(&self) -> StatusResponse {
        let body: &'static [u8] = b"This is a test file for connection verification";
        let desc = "engine=dsxa";
        match self
            .post(
                reqwest::Body::from(body),
                Some(body.len() as u64),
                "connection-test",
                Some(self.timeout),
            )
            .await
        {
            Ok(_) => StatusResponse::success(format!(
                "Successfully connected to DSXA scanner at {}",
                crate::config::core::redact_url_password(&self.url)
            ))
            .with_description(desc),
            Err(f) => {
                StatusResponse::error(format!("DSXA connection test failed: {}", f.message())).with_description(desc)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_in_the_dsxa_url_never_reach_a_message() {
        let env = [(
            "DSXCONNECT_SCANNER__SCAN_BINARY_URL".to_string(),
            "http://scanner:s3cret-pw@127.0.0.1:9/scan/binary/v2?password=q-s3cret".to_string(),
        )]
        .into_iter()
        .collect();
        let settings = crate::config::Settings::from_map(&env, None).unwrap().settings;
        let dsxa = DsxaScanner::new(&settings.scanner).unwrap();
        let answer = dsxa.test_connection().await;
        let text = serde_json::to_string(&answer).unwrap();
        assert!(text.contains("failed"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn metadata_is_ascii_folded_and_bounded() {
        let t = TaskId::parse("3f0c2b2e-1111-4222-8333-444455556666").unwrap();
        assert_eq!(
            custom_metadata("café\r\n.txt", &t),
            "file-tag:cafe.txt,task-id:3f0c2b2e-1111-4222-8333-444455556666"
        );
        let long = "a".repeat(10_000);
        let m = custom_metadata(&long, &t);
        assert_eq!(m.len(), 4096);
        assert!(m.ends_with(",task-id:3f0c2b2e-1111-4222-8333-444455556666"));
    }

    #[test]
    fn the_nested_variant_gives_the_same_verdict_as_the_flat_one() {
        let flat = r#"{"scan_guid":"g","verdict":"Malicious","verdict_details":{"event_description":"x","reason":"r","threat_type":"VIRUS"},
            "file_info":{"file_type":"PEFileType","file_size_in_bytes":10,"file_hash":"h"},"scan_duration_in_microseconds":5}"#;
        let nested = r#"{"scan_guid":"g","verdict":"Malicious","scan_duration_in_microseconds":5,
            "details":{"verdictDetails":{"event_description":"x","reason":"r","threat_type":"VIRUS"},
            "fileInfo":{"file_type":"PEFileType","file_size_in_bytes":10,"file_hash":"h"}}}"#;
        let a = parse_verdict(flat).unwrap();
        let b = parse_verdict(nested).unwrap();
        assert_eq!(a.verdict_details, b.verdict_details);
        assert_eq!(a.file_info, b.file_info);
    }

    #[test]
    fn scanning_is_recorded_as_not_scanned_and_unknown_verdicts_are_bad() {
        let v = parse_verdict(r#"{"verdict":"Scanning"}"#).unwrap();
        assert_eq!(v.verdict, VerdictKind::NotScanned);
        assert_eq!(v.verdict_details.reason.as_deref(), Some("scan incomplete"));
        assert_eq!(v.scan_duration_in_microseconds, -1);
        let e = parse_verdict(r#"{"verdict":"Weird"}"#).unwrap_err();
        assert_eq!(e.class, ErrorClass::DsxaBadResponse);
        assert_eq!(parse_verdict("").unwrap_err().class, ErrorClass::DsxaBadResponse);
        assert_eq!(parse_verdict("[1]").unwrap_err().class, ErrorClass::DsxaBadResponse);
    }

    #[test]
    fn answers_are_classified_per_status() {
        let ok = classify_answer(StatusCode::PAYLOAD_TOO_LARGE, "", None, Some(9)).unwrap();
        assert_eq!(ok.verdict_details.reason.as_deref(), Some("file too large"));
        let c = |code: u16| {
            classify_answer(StatusCode::from_u16(code).unwrap(), "x", None, None)
                .unwrap_err()
                .class
        };
        assert_eq!(c(401), ErrorClass::DsxaAuth);
        assert_eq!(c(400), ErrorClass::DsxaClient);
        assert_eq!(c(503), ErrorClass::DsxaServer);
        assert_eq!(c(429), ErrorClass::DsxaServer);
        let init = classify_answer(
            StatusCode::OK,
            r#"{"verdict":"Not Scanned","verdict_details":{"reason":"Engine Initializing"}}"#,
            None,
            None,
        );
        assert_eq!(init.unwrap_err().class, ErrorClass::DsxaServer);
    }
}
