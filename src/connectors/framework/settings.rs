//! Connector settings (`DSXCONNECTOR_*`, docs/reference/CONNECTORS.md, "Connector settings") and
//! the persisted identity ("Identity").

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings_table::*;
use crate::auth::hmac::HmacKey;
use crate::connectors::filter::Filter;
use crate::model::ItemAction;
use crate::settings_source::{ConfigError, ConfigIssue, Secret, Source};

/// Which storage a connector serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Filesystem,
    S3,
    AzureBlob,
    Gcs,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Filesystem => "filesystem",
            ConnectorKind::S3 => "s3",
            ConnectorKind::AzureBlob => "azure_blob",
            ConnectorKind::Gcs => "gcs",
        }
    }

    fn default_name(self) -> &'static str {
        match self {
            ConnectorKind::Filesystem => "filesystem-connector",
            ConnectorKind::S3 => "aws-s3-connector",
            ConnectorKind::AzureBlob => "azure-blob-storage-connector",
            ConnectorKind::Gcs => "google-cloud-storage-connector",
        }
    }

    /// The item action when `DSXCONNECTOR_ITEM_ACTION` is unset: each connector keeps its
    /// original's default (Azure Blob acts only when told to; GCS tags).
    pub fn default_item_action(self) -> ItemAction {
        match self {
            ConnectorKind::Filesystem | ConnectorKind::S3 => ItemAction::Move,
            ConnectorKind::AzureBlob => ItemAction::Nothing,
            ConnectorKind::Gcs => ItemAction::Tag,
        }
    }

    fn default_url(self) -> &'static str {
        match self {
            ConnectorKind::Filesystem => "http://0.0.0.0:8590",
            ConnectorKind::S3 => "http://0.0.0.0:8591",
            ConnectorKind::AzureBlob => "http://0.0.0.0:8599",
            ConnectorKind::Gcs => "http://0.0.0.0:8595",
        }
    }
}

/// Filesystem monitor settings ("Monitor", "Connector settings").
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    pub enabled: bool,
    pub debounce: Duration,
    pub max_wait: Duration,
    pub force_polling: bool,
    pub poll_interval: Duration,
}

/// Every connector setting.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    pub kind: ConnectorKind,
    pub name: String,
    /// Base URL at which the core reaches this connector (without `/<name>`).
    pub connector_url: String,
    pub listen_addr: SocketAddr,
    /// `<DSXCONNECTOR_DSX_CONNECT_URL>/dsx-connect/api/v1`.
    pub core_api: String,
    pub asset: String,
    pub asset_display_name: Option<String>,
    pub filter: Filter,
    pub item_action: ItemAction,
    pub move_metainfo: String,
    pub display_name: Option<String>,
    pub display_icon: Option<String>,
    pub api_key: Option<Secret>,
    pub core_api_key: Option<Secret>,
    /// `DSXCONNECTOR_METRICS_TOKEN` (`_FILE`): the bearer token Prometheus sends for `/metrics`.
    pub metrics_token: Option<Secret>,
    /// DSX-HMAC both ways (docs/AUTH.md, "Our connectors").
    pub auth: ConnectorAuth,
    pub use_tls: bool,
    pub tls_certfile: Option<PathBuf>,
    pub tls_keyfile: Option<PathBuf>,
    pub verify_tls: bool,
    pub ca_bundle: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub uuid: Option<uuid::Uuid>,
    pub heartbeat_interval: Duration,
    pub register_retry_max: Duration,
    pub core_timeout: Duration,
    pub scan_batch_size: usize,
    pub enqueue_concurrency: usize,
    /// `MAX_CONCURRENT_FULL_SCANS`: full scans (each an enumeration thread and its buffers)
    /// running at once; the core's callers choose job ids, so their number must be bounded.
    pub max_full_scans: usize,
    pub enqueue_max_attempts: u32,
    pub estimate_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub tag_scan_time: bool,
    pub tag_engine: Option<String>,
    pub log_level: String,
    /// `DSXCONNECTOR_LOG_FORMAT`: text or JSON lines, as for the core.
    pub log_format: crate::config::core::LogFormat,
    pub monitor: MonitorSettings,
    /// The S3 connector's own settings (`None` for other kinds).
    pub s3: Option<crate::connectors::s3::settings::S3Settings>,
    /// The Azure Blob connector's own settings (`None` for other kinds).
    pub azure: Option<crate::connectors::azure::settings::AzureSettings>,
    /// The GCS connector's own settings (`None` for other kinds).
    pub gcs: Option<crate::connectors::gcs::settings::GcsSettings>,
}

/// Values given on the command line or by an embedding process; they win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub asset: Option<String>,
    pub listen: Option<String>,
    pub connector_url: Option<String>,
    pub core_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub item_action: Option<String>,
    pub move_metainfo: Option<String>,
    /// The connector filter (`--exclude` of `scan`, the files it names).
    pub filter: Option<String>,
}

/// Reads an env file: `KEY=VALUE` lines, `#` comments, one pair of quotes removed; it only
/// fills variables the process environment does not set.
pub fn merge_env_file(env: &mut BTreeMap<String, String>, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(vec![ConfigIssue {
            origin: "DSXCONNECTOR_ENV_FILE".into(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim();
        let v = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)))
            .unwrap_or(v);
        env.entry(k.trim().to_string()).or_insert_with(|| v.to_string());
    }
    Ok(())
}

/// Sanitises a display icon ("Display icon"): data URI, safe inline SVG or a short emoji; else
/// `None`.
pub fn sanitize_icon(raw: &str) -> Option<String> {
    let v = raw.trim();
    if v.is_empty() || v.chars().count() > 8192 {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    let ok = lower.starts_with("data:image")
        || (lower.starts_with("<svg")
            && ![
                "<script",
                "onload=",
                "onerror=",
                "foreignobject",
                "<iframe",
                "href=\"http",
                "href='http",
                "url(http",
            ]
            .iter()
            .any(|bad| lower.contains(bad)))
        || (v.chars().count() <= 8 && !v.chars().any(|c| c.is_ascii()));
    ok.then(|| v.to_string())
}

impl ConnectorSettings {
    /// Reads and validates every setting; every problem is reported at once.
    pub fn load(
        kind: ConnectorKind,
        env: &BTreeMap<String, String>,
        toml: Option<&Path>,
        o: &Overrides,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut env = env.clone();
        if let Some(file) = env.get("DSXCONNECTOR_ENV_FILE").cloned().filter(|f| !f.is_empty()) {
            merge_env_file(&mut env, Path::new(&file))?;
        }
        let mut s = Source::load("DSXCONNECTOR_", &env, toml)?;
        let flag = |s: &mut Source, key: &str, flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                s.set_flag(key, flag, v.clone());
            }
        };
        flag(&mut s, NAME.key, "name", &o.name);
        flag(&mut s, ASSET.key, "asset", &o.asset);
        flag(&mut s, LISTEN_ADDR.key, "listen", &o.listen);
        flag(&mut s, CONNECTOR_URL.key, "connector-url", &o.connector_url);
        flag(&mut s, DSX_CONNECT_URL.key, "core-url", &o.core_url);
        flag(&mut s, ITEM_ACTION.key, "action", &o.item_action);
        flag(&mut s, ITEM_ACTION_MOVE_METAINFO.key, "quarantine", &o.move_metainfo);
        flag(&mut s, FILTER.key, "filter", &o.filter);
        if let Some(d) = &o.data_dir {
            s.set_flag(DATA_DIR.key, "data-dir", d.display().to_string());
        }
        s.ignored("SCAN_BY_PATH", "unused, as in the original");
        s.ignored("ENV_FILE", "read before everything else");
        let mut warnings = Vec::new();

        let name = s.text_or(&NAME, kind.default_name());
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            s.error(
                NAME.key,
                format!("'{name}' is not valid: expected 1-64 characters from [A-Za-z0-9._-]"),
            );
        }
        let connector_url = s
            .http_url(&CONNECTOR_URL)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| kind.default_url().to_string());
        let parsed_url = url::Url::parse(&connector_url).ok();
        if parsed_url.as_ref().and_then(|u| u.host_str()) == Some("0.0.0.0") {
            warnings.push(format!(
                "DSXCONNECTOR_CONNECTOR_URL host is 0.0.0.0 ({connector_url}): the core cannot call that address from another host"
            ));
        }
        let default_port = parsed_url
            .as_ref()
            .and_then(|u| u.port_or_known_default())
            .unwrap_or(80);
        let listen_raw = s.text_or(&LISTEN_ADDR, &format!("0.0.0.0:{default_port}"));
        let listen_addr = match listen_raw.to_socket_addrs().ok().and_then(|mut a| a.next()) {
            Some(a) => a,
            None => {
                s.error(
                    LISTEN_ADDR.key,
                    format!("'{listen_raw}' is not valid: expected host:port"),
                );
                SocketAddr::from(([0, 0, 0, 0], default_port))
            }
        };
        let core_base = s
            .http_url(&DSX_CONNECT_URL)
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| "http://0.0.0.0:8586".into());
        let asset = s.text(&ASSET).unwrap_or_default();
        if asset.trim().is_empty() {
            s.error(
                ASSET.key,
                "is required: the folder (or bucket[/prefix]) this connector covers",
            );
        }
        let filter_text = s.text(&FILTER).unwrap_or_default();
        let filter = match Filter::parse(&filter_text) {
            Ok(f) => f,
            Err(e) => {
                s.error(FILTER.key, format!("invalid filter: {e}"));
                Filter::default()
            }
        };
        let item_action = s
            .choice::<ItemAction, _>(&ITEM_ACTION)
            .unwrap_or_else(|| kind.default_item_action());
        let move_metainfo = s.text_or_default(&ITEM_ACTION_MOVE_METAINFO);
        if item_action.moves() && move_metainfo.trim().is_empty() {
            s.error(
                ITEM_ACTION_MOVE_METAINFO.key,
                "must name the quarantine for move and movetag",
            );
        }
        let display_icon = s.text(&DISPLAY_ICON).and_then(|raw| {
            let clean = sanitize_icon(&raw);
            if clean.is_none() {
                warnings.push("DSXCONNECTOR_DISPLAY_ICON was rejected by the icon sanitiser and is not shown".into());
            }
            clean
        });
        let use_tls = s.flag(&USE_TLS);
        let tls_certfile = s.text(&TLS_CERTFILE).map(PathBuf::from);
        let tls_keyfile = s.text(&TLS_KEYFILE).map(PathBuf::from);
        if use_tls && (tls_certfile.is_none() || tls_keyfile.is_none()) {
            s.error(
                USE_TLS.key,
                "true requires DSXCONNECTOR_TLS_CERTFILE and DSXCONNECTOR_TLS_KEYFILE",
            );
        }
        let uuid = s.text(&UUID).and_then(|u| match uuid::Uuid::parse_str(u.trim()) {
            Ok(u) => Some(u),
            Err(_) => {
                s.error(UUID.key, format!("'{u}' is not a valid UUID"));
                None
            }
        });
        let secs = |s: &mut Source, setting| Duration::from_secs(s.int(setting) as u64);
        let tag_engine = s.text(&TAG_ENGINE);
        if let Some(t) = &tag_engine
            && (t.len() > 256 || !t.chars().all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c)))
        {
            s.error(
                TAG_ENGINE.key,
                "must be at most 256 characters from letters, digits, spaces and + - = . _ : / @",
            );
        }
        let force_polling = s.flag(&MONITOR_FORCE_POLLING)
            || env
                .get("WATCHFILES_FORCE_POLLING")
                .is_some_and(|v| crate::settings_source::parse_bool(v) == Some(true));
        let settings = Self {
            kind,
            name,
            core_api: format!("{core_base}/dsx-connect/api/v1"),
            connector_url,
            listen_addr,
            asset,
            asset_display_name: s.text(&ASSET_DISPLAY_NAME),
            filter,
            item_action,
            move_metainfo,
            display_name: s.text(&DISPLAY_NAME),
            display_icon,
            api_key: s.secret_of(&API_KEY),
            core_api_key: s.secret_of(&DSX_CONNECT_API_KEY),
            metrics_token: s.secret_of(&METRICS_TOKEN),
            auth: read_auth(&mut s, &env),
            use_tls,
            tls_certfile,
            tls_keyfile,
            verify_tls: s.flag(&VERIFY_TLS),
            ca_bundle: s.text(&CA_BUNDLE).map(PathBuf::from),
            data_dir: PathBuf::from(s.text_or_default(&DATA_DIR)),
            uuid,
            heartbeat_interval: secs(&mut s, &HEARTBEAT_INTERVAL_SECS),
            register_retry_max: secs(&mut s, &REGISTER_RETRY_MAX_SECS),
            core_timeout: secs(&mut s, &CORE_TIMEOUT_SECS),
            scan_batch_size: s.int(&SCAN_BATCH_SIZE) as usize,
            enqueue_concurrency: s.int(&FULL_SCAN_ENQUEUE_CONCURRENCY) as usize,
            max_full_scans: s.int(&MAX_CONCURRENT_FULL_SCANS) as usize,
            enqueue_max_attempts: s.int(&ENQUEUE_MAX_ATTEMPTS) as u32,
            estimate_timeout: secs(&mut s, &ESTIMATE_TIMEOUT_SECS),
            shutdown_timeout: secs(&mut s, &SHUTDOWN_TIMEOUT_SECS),
            tag_scan_time: s.flag(&TAG_SCAN_TIME),
            tag_engine,
            log_level: s.text_or_default(&LOG_LEVEL),
            log_format: s.choice(&LOG_FORMAT).unwrap_or(crate::config::core::LogFormat::Text),
            s3: (kind == ConnectorKind::S3).then(|| crate::connectors::s3::settings::read(&mut s, &env)),
            azure: (kind == ConnectorKind::AzureBlob).then(|| crate::connectors::azure::settings::read(&mut s, &env)),
            gcs: (kind == ConnectorKind::Gcs).then(|| crate::connectors::gcs::settings::read(&mut s, &env)),
            monitor: MonitorSettings {
                enabled: s.flag(&MONITOR),
                debounce: Duration::from_millis(s.int(&MONITOR_DEBOUNCE_MS) as u64),
                max_wait: secs(&mut s, &MONITOR_MAX_WAIT_SECS),
                force_polling,
                poll_interval: Duration::from_millis(s.int(&MONITOR_POLL_INTERVAL_MS) as u64),
            },
        };
        warnings.extend(s.finish()?);
        Ok((settings, warnings))
    }

    /// The callback base the core uses: `<connector url>/<name>`.
    pub fn callback_url(&self) -> String {
        format!("{}/{}", self.connector_url, self.name)
    }

    /// Capabilities advertised on registration ("Connector model as sent").
    pub fn capabilities(&self) -> Vec<String> {
        let mut c = vec![crate::model::connector::CAP_ENQUEUE_DONE.to_string()];
        if self.scan_batch_size > 1 {
            c.push(crate::model::connector::CAP_SCAN_REQUEST_BATCH.to_string());
        }
        c
    }
}

/// Establishes the connector's identity ("Identity"): `DSXCONNECTOR_UUID`, else the persisted file
/// `<data dir>/<name>/connector_uuid.txt`, else a new UUID written atomically.
/// A connector's DSX-HMAC settings: whether signatures are required, and the key it holds.
#[derive(Debug, Clone, Default)]
pub struct ConnectorAuth {
    /// `DSXCONNECTOR_AUTH__ENABLED`: require signatures even before a key is installed.
    pub enabled: bool,
    /// The static key (`DSXCONNECTOR_AUTH__HMAC_KEY_ID` / `_SECRET`), or a built-in
    /// connector's key handed over in memory by its core.
    pub key: Option<HmacKey>,
    pub clock_skew_secs: u64,
    /// `DSXCONNECT_ENROLLMENT_TOKEN` (`_FILE`).
    pub enrollment_token: Option<Secret>,
    /// Seconds the previous key is still accepted after the core issued a new one.
    pub rotation_grace_secs: u64,
    /// Keep keys issued by the core in `credentials.json` (off for built-in connectors, whose
    /// key lives in memory only).
    pub persist_credentials: bool,
}

impl ConnectorAuth {}

/// The message of the start-up refusal when signatures are required but no credential is set.
pub const AUTH_WITHOUT_CREDENTIALS: &str = "DSXCONNECTOR_AUTH__ENABLED=true requires DSXCONNECT_ENROLLMENT_TOKEN, DSXCONNECTOR_AUTH__HMAC_KEY_ID/_SECRET or stored credentials";

fn read_auth(s: &mut Source, env: &BTreeMap<String, String>) -> ConnectorAuth {
    let enabled = s.flag(&AUTH__ENABLED);
    let key_id = s.text(&AUTH__HMAC_KEY_ID).filter(|k| !k.trim().is_empty());
    let secret = s.secret_of(&AUTH__HMAC_SECRET);
    let clock_skew_secs = s.int(&AUTH__CLOCK_SKEW_SECONDS) as u64;
    let key = match (key_id, secret) {
        (Some(id), Some(secret)) => Some(HmacKey::new(id.trim(), secret.expose())),
        (None, None) => None,
        _ => {
            s.error(
                AUTH__HMAC_KEY_ID.key,
                "DSXCONNECTOR_AUTH__HMAC_KEY_ID and DSXCONNECTOR_AUTH__HMAC_SECRET go together",
            );
            None
        }
    };
    let enrollment_token = enrollment_token(s, env);
    let rotation_grace_secs = s.int(&AUTH__ROTATION_GRACE_SECS) as u64;
    let persist_credentials = s.flag(&AUTH__PERSIST_CREDENTIALS);
    if enabled && key.is_none() && enrollment_token.is_none() {
        s.error(AUTH__ENABLED.key, AUTH_WITHOUT_CREDENTIALS);
    }
    ConnectorAuth {
        enabled,
        key,
        clock_skew_secs,
        enrollment_token,
        rotation_grace_secs,
        persist_credentials,
    }
}

/// `DSXCONNECT_ENROLLMENT_TOKEN` or `DSXCONNECT_ENROLLMENT_TOKEN_FILE` (the original's name,
/// outside the connector's own prefix).
fn enrollment_token(s: &mut Source, env: &BTreeMap<String, String>) -> Option<Secret> {
    let get = |k: &str| {
        env.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (
        get("DSXCONNECT_ENROLLMENT_TOKEN"),
        get("DSXCONNECT_ENROLLMENT_TOKEN_FILE"),
    ) {
        (Some(_), Some(_)) => {
            s.error(
                "AUTH__ENABLED",
                "set either DSXCONNECT_ENROLLMENT_TOKEN or DSXCONNECT_ENROLLMENT_TOKEN_FILE, not both",
            );
            None
        }
        (Some(t), None) => Some(Secret::new(t)),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(Secret::new(text.strip_suffix('\n').unwrap_or(&text))).filter(|t| !t.expose().is_empty()),
            Err(e) => {
                s.error(
                    "AUTH__ENABLED",
                    format!("cannot read DSXCONNECT_ENROLLMENT_TOKEN_FILE: {}", e.kind()),
                );
                None
            }
        },
        (None, None) => None,
    }
}

pub fn identity(settings: &ConnectorSettings) -> anyhow::Result<uuid::Uuid> {
    if let Some(u) = settings.uuid {
        return Ok(u);
    }
    let dir = settings.data_dir.join(&settings.name);
    let file = dir.join("connector_uuid.txt");
    match std::fs::read_to_string(&file) {
        Ok(text) => uuid::Uuid::parse_str(text.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{} does not contain a valid UUID; fix or remove the file",
                file.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", dir.display()))?;
            let id = uuid::Uuid::new_v4();
            let tmp = dir.join(format!(".connector_uuid.{}.tmp", std::process::id()));
            std::fs::write(&tmp, format!("{id}\n"))
                .and_then(|_| std::fs::rename(&tmp, &file))
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
            Ok(id)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<(ConnectorSettings, Vec<String>), ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConnectorSettings::load(ConnectorKind::Filesystem, &env, None, &Overrides::default())
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (k, v) in [
            ("DSXCONNECTOR_ITEM_ACTION", "bogus"),
            ("DSXCONNECTOR_FILTER", "'x"),
            ("DSXCONNECTOR_SCAN_BATCH_SIZE", "0"),
            ("DSXCONNECTOR_USE_TLS", "true"),
        ] {
            let e = load(&[("DSXCONNECTOR_ASSET", "/tmp"), (k, v)])
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(k), "{k}: {e}");
        }
        let e = load(&[]).err().unwrap().to_string();
        assert!(e.contains("DSXCONNECTOR_ASSET"));
    }

    #[test]
    fn item_actions_accept_case_and_alias() {
        for (raw, want) in [
            ("MOVE", ItemAction::Move),
            ("move_tag", ItemAction::MoveTag),
            (" MoveTag ", ItemAction::MoveTag),
        ] {
            let (s, _) = load(&[("DSXCONNECTOR_ASSET", "/tmp"), ("DSXCONNECTOR_ITEM_ACTION", raw)]).unwrap();
            assert_eq!(s.item_action, want);
        }
    }

    #[test]
    fn each_kind_keeps_its_default_item_action_unless_set() {
        for (kind, want) in [
            (ConnectorKind::Filesystem, ItemAction::Move),
            (ConnectorKind::S3, ItemAction::Move),
            (ConnectorKind::AzureBlob, ItemAction::Nothing),
            (ConnectorKind::Gcs, ItemAction::Tag),
        ] {
            for unset in [None, Some(""), Some("  ")] {
                let mut env: BTreeMap<String, String> =
                    [("DSXCONNECTOR_ASSET".to_string(), "bucket".to_string())].into();
                if let Some(v) = unset {
                    env.insert("DSXCONNECTOR_ITEM_ACTION".into(), v.into());
                }
                let (s, _) = ConnectorSettings::load(kind, &env, None, &Overrides::default())
                    .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
                assert_eq!(s.item_action, want, "{kind:?} with {unset:?}");
            }
            let env: BTreeMap<String, String> = [
                ("DSXCONNECTOR_ASSET".to_string(), "bucket".to_string()),
                ("DSXCONNECTOR_ITEM_ACTION".to_string(), "delete".to_string()),
            ]
            .into();
            let (s, _) = ConnectorSettings::load(kind, &env, None, &Overrides::default()).unwrap();
            assert_eq!(s.item_action, ItemAction::Delete, "{kind:?} set explicitly");
            let flag = Overrides {
                item_action: Some("nothing".into()),
                ..Overrides::default()
            };
            let env: BTreeMap<String, String> = [("DSXCONNECTOR_ASSET".to_string(), "bucket".to_string())].into();
            let (s, _) = ConnectorSettings::load(kind, &env, None, &flag).unwrap();
            assert_eq!(s.item_action, ItemAction::Nothing, "{kind:?} with --action");
        }
    }

    #[test]
    fn icons_are_sanitised() {
        assert!(sanitize_icon("data:image/png;base64,AAAA").is_some());
        assert!(sanitize_icon("<svg><circle/></svg>").is_some());
        assert!(sanitize_icon("<svg onload=alert(1)>").is_none());
        assert!(sanitize_icon("<svg><a href=\"https://x\"/></svg>").is_none());
        assert!(sanitize_icon("📁").is_some());
        assert!(sanitize_icon("folder").is_none());
    }

    #[test]
    fn identity_is_persisted_per_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let (a, _) = load(&[("DSXCONNECTOR_ASSET", "/tmp"), ("DSXCONNECTOR_DATA_DIR", d)]).unwrap();
        let (b, _) = load(&[
            ("DSXCONNECTOR_ASSET", "/tmp"),
            ("DSXCONNECTOR_DATA_DIR", d),
            ("DSXCONNECTOR_NAME", "other"),
        ])
        .unwrap();
        let ia = identity(&a).unwrap();
        assert_eq!(identity(&a).unwrap(), ia);
        assert_ne!(identity(&b).unwrap(), ia);
        std::fs::write(dir.path().join("other/connector_uuid.txt"), "not-a-uuid").unwrap();
        assert!(identity(&b).unwrap_err().to_string().contains("connector_uuid.txt"));
    }

    #[test]
    fn every_declared_variable_is_read() {
        let s3 = crate::connectors::s3::settings::TABLE
            .iter()
            .filter_map(|e| e.key())
            .map(|k| (ConnectorKind::S3, k));
        let azure = crate::connectors::azure::settings::TABLE
            .iter()
            .filter_map(|e| e.key())
            .map(|k| (ConnectorKind::AzureBlob, k));
        let common = TABLE.iter().filter_map(|e| e.key()).map(|k| (ConnectorKind::S3, k));
        for (kind, key) in common.chain(s3).chain(azure) {
            let name = format!("DSXCONNECTOR_{key}");
            let mut env: BTreeMap<String, String> = [("DSXCONNECTOR_ASSET".to_string(), "bucket".to_string())].into();
            env.entry(name.clone()).or_default();
            let (_, warnings) = ConnectorSettings::load(kind, &env, None, &Overrides::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                !warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{name} is not a known setting"))),
                "{name} is declared but not read: {warnings:?}"
            );
        }
    }
}
