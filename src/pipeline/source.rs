//! Where the scan stage gets an item's bytes (docs/reference/CORE-API.md, "read_file answers"):
//! from this process's own built-in filesystem connector by opening the file
//! ([`crate::local_open`]), else from the pinned connector's `read_file`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::Value;

use crate::connector_client::answer_failure;
use crate::core_state::Core;
use crate::failure::{ErrorClass, Failure};
use crate::model::{Pin, ScanRequestModel};
use crate::scanner::ByteStream;

/// How long a legacy JSON error envelope may be before it is treated as file content.
const ENVELOPE_PEEK: usize = 64 * 1024;

/// An item's bytes as the scan stage receives them.
pub struct Source {
    pub body: ByteStream,
    /// The size announced (`Content-Length`) or found when the file was opened.
    pub length: Option<u64>,
    /// The open file when the item was opened in-process (an engine may scan it directly).
    pub local: Option<std::fs::File>,
}

/// Opens the item: in-process when it is pinned to one of this process's built-in filesystem
/// connectors, else through the connector's `read_file`. Failures are classified alike.
pub async fn open(core: &Core, pin: &Pin, req: &ScanRequestModel) -> Result<Source, Failure> {
    if let Some(opened) = core.local_connectors.open(pin, &req.location).await {
        let opened = opened.map_err(|e| {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            answer_failure(status, &e.message, e.retry_after_secs.map(Duration::from_secs))
        })?;
        let local = opened
            .file
            .try_clone()
            .map_err(|e| Failure::caused(ErrorClass::ConnectorServer, "cannot duplicate the item's descriptor", e))?;
        let body = opened.into_body();
        return Ok(Source {
            length: body.size,
            body: body.stream,
            local: Some(local),
        });
    }
    let resp = core.clients.read_file(pin, req).await?;
    let length = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    let mut body: ByteStream = Box::pin(resp.bytes_stream().map(|r| r.map_err(std::io::Error::other)));
    if is_json {
        body = check_legacy_envelope(body).await?;
    }
    Ok(Source {
        body,
        length,
        local: None,
    })
}

/// Reads up to 64 KiB of a JSON answer: a `{"status":"error","message":…}` object is the
/// original connectors' error envelope (not file content); anything else is scanned, prefix
/// included.
async fn check_legacy_envelope(mut source: ByteStream) -> Result<ByteStream, Failure> {
    let mut prefix = Vec::new();
    let mut ended = false;
    while prefix.len() <= ENVELOPE_PEEK {
        match source.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => {
                return Err(Failure::caused(
                    ErrorClass::ConnectorConnection,
                    "connector stream broke",
                    e,
                ));
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    if ended
        && let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&prefix)
        && m.get("status").and_then(Value::as_str) == Some("error")
        && let Some(msg) = m.get("message").and_then(Value::as_str)
    {
        return Err(Failure::new(
            ErrorClass::ConnectorClient,
            format!("connector error: {msg}"),
        ));
    }
    let head = futures_util::stream::once(async move { Ok(Bytes::from(prefix)) });
    Ok(Box::pin(head.chain(source)))
}
