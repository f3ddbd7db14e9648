//! S3 connector settings (docs/reference/CONNECTORS.md, "S3 client", "Connector settings") and what
//! this connector adds: result tags and the SQS event poller.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::settings_source::setting::{Entry, Flag, HttpUrl, Int, Section, Setting, Text};
use crate::settings_source::{Secret, Source};

type S3<K> = Setting<K, S3Settings>;

pub const S3_REGION: S3<Text> = Setting::new("S3_REGION", Text(None), Section::S3, "region override")
    .default_doc("from the chain (`AWS_REGION`, `AWS_DEFAULT_REGION` …), else `us-east-1`");
pub const S3_ENDPOINT_URL: S3<HttpUrl> = Setting::new(
    "S3_ENDPOINT_URL",
    HttpUrl,
    Section::S3,
    "an S3-compatible store (MinIO, Ceph RGW, moto…); unset is AWS",
);
pub const S3_FORCE_PATH_STYLE: S3<Flag> = Setting::new(
    "S3_FORCE_PATH_STYLE",
    Flag(false),
    Section::S3,
    "`<endpoint>/<bucket>/<key>` addressing",
)
.default_doc("`true` with an endpoint URL, else `false`");
pub const S3_ENDPOINT_VERIFY: S3<Flag> = Setting::new(
    "S3_ENDPOINT_VERIFY",
    Flag(true),
    Section::S3,
    "`false` skips TLS verification toward the endpoint only; `DSXCONNECTOR_CA_BUNDLE` is trusted for it too",
);
pub const S3_RESULT_TAGS: S3<Flag> = Setting::new(
    "S3_RESULT_TAGS",
    Flag(false),
    Section::S3,
    "tag every object `DsxScanResult=pending` at intake and `clean`/`malicious`/`not_scanned`/`error` once scanned (`DsxScanReason` for `not_scanned`; a `Benign` of the built-in test engine is `not_scanned`, never `clean`); see the README for the bucket policy",
);
pub const S3_SQS_QUEUE_URL: S3<HttpUrl> = Setting::new(
    "S3_SQS_QUEUE_URL",
    HttpUrl,
    Section::S3,
    "poll this SQS queue for S3 event notifications (plain, SNS or EventBridge); messages are deleted only once the core accepted their objects",
);
pub const S3_SQS_WAIT_SECS: S3<Int> = Setting::new(
    "S3_SQS_WAIT_SECS",
    Int::with_default(20, 0, 20),
    Section::S3,
    "long-poll wait, seconds",
);
pub const S3_MULTIPART_COPY_THRESHOLD_MB: S3<Int> = Setting::new(
    "S3_MULTIPART_COPY_THRESHOLD_MB",
    Int::with_default(5 * 1024, 5, 5 * 1024),
    Section::S3,
    "objects above this size are moved by multipart copy (S3's single-copy limit is 5 GiB)",
);

/// Every S3 connector setting, in the order the document lists them.
pub const TABLE: &[&dyn Entry<S3Settings>] = &[
    &S3_REGION,
    &S3_ENDPOINT_URL,
    &S3_FORCE_PATH_STYLE,
    &S3_ENDPOINT_VERIFY,
    &S3_RESULT_TAGS,
    &S3_SQS_QUEUE_URL,
    &S3_SQS_WAIT_SECS,
    &S3_MULTIPART_COPY_THRESHOLD_MB,
];

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
        .http_url(&S3_ENDPOINT_URL)
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
        .text(&S3_REGION)
        .or_else(|| get("AWS_REGION"))
        .or_else(|| get("AWS_DEFAULT_REGION"));
    let sqs_queue_url = s.http_url(&S3_SQS_QUEUE_URL).map(|u| u.to_string());
    let threshold_mb = s.int(&S3_MULTIPART_COPY_THRESHOLD_MB);
    S3Settings {
        endpoint_verify: s.flag(&S3_ENDPOINT_VERIFY),
        force_path_style: s.flag_or(&S3_FORCE_PATH_STYLE, endpoint_url.is_some()),
        endpoint_url,
        region,
        credentials,
        result_tags: s.flag(&S3_RESULT_TAGS),
        sqs_queue_url,
        sqs_wait: Duration::from_secs(s.int(&S3_SQS_WAIT_SECS) as u64),
        multipart_copy_threshold: threshold_mb as u64 * 1024 * 1024,
    }
}
