//! S3 connector settings (docs/reference/CONNECTORS.md, "S3 client", "Connector settings") and what
//! this connector adds: result tags and the SQS event poller.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::settings_source::{Secret, Source};

#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// A custom S3-compatible endpoint; `None` is AWS.
    pub endpoint_url: Option<String>,
    /// TLS verification toward that endpoint.
    pub endpoint_verify: bool,
    /// Region override; `None` = the AWS chain, else `us-east-1`.
    pub region: Option<String>,
    pub force_path_style: bool,
    /// Static credentials from the connector's settings (environment, env file or TOML); `None`
    /// leaves them to the standard AWS chain (profiles, web identity, instance metadata …).
    pub credentials: Option<StaticCredentials>,
    /// Tag every scanned object with its result, and new objects `pending` at intake.
    pub result_tags: bool,
    /// An SQS queue receiving the bucket's event notifications.
    pub sqs_queue_url: Option<String>,
    /// Long-poll wait of one ReceiveMessage call (0–20 s).
    pub sqs_wait: Duration,
    /// Objects at least this large are moved with a multipart copy (S3's single-copy limit is
    /// 5 GiB).
    pub multipart_copy_threshold: u64,
}

#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Reads the `DSXCONNECTOR_S3_*` settings, and the standard `AWS_*` credential and region
/// variables from the same settings map (so an env file or TOML can carry them too).
pub fn read(s: &mut Source, env: &BTreeMap<String, String>) -> S3Settings {
    let endpoint_url = s
        .http_url_opt("S3_ENDPOINT_URL")
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    let get = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let credentials = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Some(StaticCredentials {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
        }),
        _ => None,
    };
    let region = s
        .string("S3_REGION")
        .or_else(|| get("AWS_REGION"))
        .or_else(|| get("AWS_DEFAULT_REGION"));
    let sqs_queue_url = s.http_url_opt("S3_SQS_QUEUE_URL").map(|u| u.to_string());
    let threshold_mb = s.int_in("S3_MULTIPART_COPY_THRESHOLD_MB", 5 * 1024, 5, 5 * 1024);
    S3Settings {
        endpoint_verify: s.bool_or("S3_ENDPOINT_VERIFY", true),
        force_path_style: s.bool_or("S3_FORCE_PATH_STYLE", endpoint_url.is_some()),
        endpoint_url,
        region,
        credentials,
        result_tags: s.bool_or("S3_RESULT_TAGS", false),
        sqs_queue_url,
        sqs_wait: Duration::from_secs(s.int_in("S3_SQS_WAIT_SECS", 20, 0, 20) as u64),
        multipart_copy_threshold: threshold_mb as u64 * 1024 * 1024,
    }
}
