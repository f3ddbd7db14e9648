//! Superlog: one `scan_result` event per recorded result and one `audit` event per audit
//! record, delivered to SIEMs (docs/reference/SUPERLOG.md;
//! docs/ARCHITECTURE.md, "7a. Superlog").
//!
//! The pipeline calls [`Superlog::emit_result`] once per result, where the result is first
//! recorded (never from the shared event bus, which in the distributed engine reaches every
//! process); the audit trail calls [`Superlog::emit_audit`] once per record it writes. Each
//! builds one [`event::Event`] and hands it to every destination's drop-oldest buffer.
//! Destinations run as tasks on a dedicated thread, so neither a slow receiver nor formatting
//! work ever competes with the scan pipeline. Application logs stay on `tracing`.

pub mod buffer;
pub mod config;
pub mod destination;
pub mod event;
pub mod fit;
pub mod format;
pub mod metrics;
pub mod redact;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::auth::audit::AuditRecord;
use crate::model::result::ScanResultModel;
use config::{
    CloudwatchSettings, Common, RedactSettings, SentinelSettings, SplunkSettings, SuperlogSettings, SyslogSettings,
    WebhookSettings,
};
use destination::cloudwatch::{CloudwatchConfig, CloudwatchSink};
use destination::sentinel::{SentinelConfig, SentinelSink};
use destination::splunk::{AckConfig, SplunkConfig, SplunkSink};
use destination::syslog::{Framing, SyslogConfig, SyslogSink, Transport};
use destination::tls::{TlsFiles, client_config};
use destination::webhook::{WebhookConfig, WebhookSink};
use destination::{Policy, Shared, Sink};
use event::{AuditEvent, Event, EventContext, EventType, ScanResultEvent};
use format::rfc5424::SyslogLayout;
use metrics::{Metrics, WarnLimiter};
use redact::{Allow, Chain, Deny, Masks, PathTruncation, Redactor};

/// A destination that cannot be built from valid-looking settings (e.g. a TLS file that
/// changed since validation).
#[derive(Debug, thiserror::Error)]
pub enum SuperlogError {
    #[error("superlog destination {destination}: {message}")]
    Build { destination: &'static str, message: String },
    #[error("superlog: cannot start its thread: {0}")]
    Thread(String),
}

/// A destination's name, counters and buffered events (the batch being sent included).
pub type DestinationFigures = (&'static str, metrics::Figures, usize);

/// The superlog of one process; cheap to clone. Disabled, it does nothing at all.
#[derive(Clone, Default)]
pub struct Superlog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    ctx: EventContext,
    /// Per event type, indexed by `EventType as usize`.
    emitted: [AtomicU64; EventType::ALL.len()],
    dests: Vec<Dest>,
    shutdown: watch::Sender<Option<Instant>>,
    flush: Duration,
    finished: Mutex<Option<oneshot::Receiver<()>>>,
}

struct Dest {
    shared: Arc<Shared>,
    /// `transport` and `format` (syslog only).
    extra: Value,
}

/// A destination ready to run.
struct Built {
    shared: Arc<Shared>,
    extra: Value,
    policy: Policy,
    sink: Box<dyn Sink>,
}

impl Superlog {
    pub fn disabled() -> Self {
        Self::default()
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Builds every enabled destination and starts them on the superlog thread.
    pub fn start(settings: &SuperlogSettings) -> Result<Self, SuperlogError> {
        if !settings.enabled {
            return Ok(Self::disabled());
        }
        if !settings.ignored.is_empty() {
            tracing::info!(target: "superlog", sections = ?settings.ignored, "settings of destinations that are not enabled are ignored");
        }
        let ctx = EventContext {
            host: settings.host.clone(),
            labels: settings.labels.clone(),
        };
        let mut built = Vec::new();
        if let Some((s, c)) = &settings.syslog {
            built.push(build_syslog(s, c, settings.drop_warning_interval)?);
        }
        if let Some((s, c)) = &settings.splunk {
            built.push(build_splunk(s, c, settings.drop_warning_interval)?);
        }
        if let Some((s, c)) = &settings.cloudwatch {
            built.push(build_cloudwatch(s, c, settings.drop_warning_interval));
        }
        if let Some((s, c)) = &settings.sentinel {
            built.push(build_sentinel(s, c, settings.drop_warning_interval)?);
        }
        if let Some((s, c)) = &settings.webhook {
            built.push(build_webhook(s, c, settings.drop_warning_interval)?);
        }
        let (shutdown, shutdown_rx) = watch::channel(None);
        let (done_tx, done_rx) = oneshot::channel();
        let inner = Arc::new(Inner {
            ctx,
            emitted: Default::default(),
            dests: built
                .iter()
                .map(|b| Dest {
                    shared: Arc::clone(&b.shared),
                    extra: b.extra.clone(),
                })
                .collect(),
            shutdown,
            flush: settings.shutdown_flush,
            finished: Mutex::new(Some(done_rx)),
        });
        let me = Self { inner: Some(inner) };
        let names: Vec<&str> = built.iter().map(|b| b.shared.name).collect();
        std::thread::Builder::new()
            .name("superlog".into())
            .spawn(move || run_thread(built, shutdown_rx, done_tx))
            .map_err(|e| SuperlogError::Thread(e.to_string()))?;
        tracing::info!(target: "superlog", destinations = ?names, "superlog started");
        Ok(me)
    }

    /// Builds the event of a recorded result and hands it to every destination.
    pub fn emit_result(&self, result: &ScanResultModel) {
        if let Some(inner) = &self.inner {
            self.emit(Event::ScanResult(ScanResultEvent::from_result(result, &inner.ctx)));
        }
    }

    /// Builds the `audit` event of a record (docs/reference/SUPERLOG.md, "The audit event") and
    /// hands it to every destination. `audit_id` is the store's id of the record, `None` when the
    /// store write failed (the event still goes out).
    pub fn emit_audit(&self, rec: &AuditRecord, audit_id: Option<i64>) {
        if let Some(inner) = &self.inner {
            self.emit(Event::Audit(AuditEvent::from_record(rec, audit_id, &inner.ctx)));
        }
    }

    /// Hands an event to every destination: a lock and a queue push each, never I/O
    /// (docs/reference/SUPERLOG.md, "When events are produced").
    pub fn emit(&self, ev: Event) {
        let Some(inner) = &self.inner else { return };
        // A type no destination takes is not emitted at all (nor counted anywhere).
        if !inner.dests.iter().any(|d| d.shared.event_types.contains(ev.kind())) {
            return;
        }
        inner.emitted[ev.kind() as usize].fetch_add(1, Relaxed);
        let ev = Arc::new(ev);
        for d in &inner.dests {
            d.shared.push(Arc::clone(&ev));
        }
    }

    /// `GET /superlog/status` (docs/reference/SUPERLOG.md, "Status endpoint").
    pub fn status(&self) -> Value {
        let Some(inner) = &self.inner else {
            return json!({"enabled": false, "emitted": 0, "destinations": []});
        };
        let dests: Vec<Value> = inner
            .dests
            .iter()
            .map(|d| {
                let mut v = json!({ "name": d.shared.name });
                let o = v.as_object_mut().unwrap_or_else(|| unreachable!());
                if let Value::Object(extra) = &d.extra {
                    o.extend(extra.clone());
                }
                let snap = d
                    .shared
                    .metrics
                    .snapshot(d.shared.buffer.len(), d.shared.buffer.capacity());
                if let Value::Object(snap) = snap {
                    o.extend(snap);
                }
                v
            })
            .collect();
        let by_type: serde_json::Map<String, Value> = EventType::ALL
            .iter()
            .map(|t| (t.as_str().to_string(), json!(inner.emitted[*t as usize].load(Relaxed))))
            .collect();
        json!({
            "enabled": true,
            "emitted": inner.emitted.iter().map(|c| c.load(Relaxed)).sum::<u64>(),
            "emitted_by_type": by_type,
            "destinations": dests,
        })
    }

    /// Events handed to superlog, and each destination's name, counters and buffered events
    /// (`None` when superlog is off).
    pub fn figures(&self) -> Option<(u64, Vec<DestinationFigures>)> {
        let inner = self.inner.as_ref()?;
        let dests = inner
            .dests
            .iter()
            .map(|d| {
                let buffered = d.shared.buffer.len() + d.shared.metrics.in_flight.load(Relaxed) as usize;
                (d.shared.name, d.shared.metrics.figures(), buffered)
            })
            .collect();
        Some((inner.emitted.iter().map(|c| c.load(Relaxed)).sum(), dests))
    }

    /// The `superlog` entry of `/readyz` details: each destination's state.
    pub fn readiness(&self) -> Value {
        let Some(inner) = &self.inner else {
            return json!("disabled");
        };
        let states: serde_json::Map<String, Value> = inner
            .dests
            .iter()
            .map(|d| (d.shared.name.to_string(), json!(d.shared.metrics.state().as_str())))
            .collect();
        Value::Object(states)
    }

    /// Flushes every destination within `SHUTDOWN_FLUSH_MS` (in parallel) and stops them;
    /// what is left is counted `dropped` (shutdown). Idempotent.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else { return };
        let deadline = Instant::now() + inner.flush;
        inner.shutdown.send_replace(Some(deadline));
        let done = inner.finished.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            // The extra second covers closing connections after the deadline.
            let _ = tokio::time::timeout(inner.flush + Duration::from_secs(1), done).await;
        }
    }
}

/// The superlog thread: a current-thread runtime running every destination.
fn run_thread(built: Vec<Built>, shutdown: watch::Receiver<Option<Instant>>, done: oneshot::Sender<()>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "superlog", error = %e, "superlog runtime failed to start; no events will be sent");
            return;
        }
    };
    rt.block_on(async move {
        let runners: Vec<_> = built
            .into_iter()
            .map(|b| tokio::spawn(destination::run(b.shared, b.policy, b.sink, shutdown.clone())))
            .collect();
        for r in runners {
            let _ = r.await;
        }
    });
    let _ = done.send(());
}

fn shared(name: &'static str, common: &Common, warn_interval: Duration) -> Arc<Shared> {
    Arc::new(Shared {
        name,
        event_types: common.event_types,
        buffer: buffer::Buffer::new(common.buffer_events),
        metrics: Metrics::default(),
        warn: WarnLimiter::new(name, warn_interval),
    })
}

fn chain(r: &RedactSettings) -> Chain {
    let mut steps: Vec<Box<dyn Redactor>> = Vec::new();
    if let Some(allow) = &r.allow {
        steps.push(Box::new(Allow(allow.clone())));
    }
    if !r.deny.is_empty() {
        steps.push(Box::new(Deny(r.deny.clone())));
    }
    if !r.masks.is_empty() {
        steps.push(Box::new(Masks(r.masks.clone())));
    }
    if r.path_max_chars > 0 {
        steps.push(Box::new(PathTruncation(r.path_max_chars)));
    }
    Chain::new(steps)
}

fn policy(c: &Common) -> Policy {
    Policy {
        verdicts: c.verdicts.clone(),
        redaction: chain(&c.redact),
        max_attempts: c.max_attempts,
        backoff_base: c.backoff_base,
        backoff_max: c.backoff_max,
    }
}

fn build_syslog(s: &SyslogSettings, c: &Common, warn_interval: Duration) -> Result<Built, SuperlogError> {
    let fail = |message: String| SuperlogError::Build {
        destination: "syslog",
        message,
    };
    let tls = if s.transport == Transport::Tls {
        let files = TlsFiles {
            ca: s.tls_ca_file.as_deref(),
            cert: s.tls_cert_file.as_deref(),
            key: s.tls_key_file.as_deref(),
            insecure: s.tls_insecure,
        };
        let config = client_config(&files).map_err(|e| fail(e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(s.tls_server_name.clone())
            .map_err(|e| fail(format!("TLS server name: {e}")))?;
        if s.tls_insecure {
            tracing::warn!(target: "superlog", "syslog TLS certificate verification is disabled (DSXCONNECT_SUPERLOG__SYSLOG__TLS_INSECURE=true)");
        }
        if s.framing == Framing::Lf {
            tracing::warn!(target: "superlog", "syslog over TLS with LF framing is not RFC 5425");
        }
        Some((Arc::new(config), name))
    } else {
        None
    };
    let cfg = SyslogConfig {
        host: s.host.clone(),
        port: s.port,
        transport: s.transport,
        framing: s.framing,
        layout: SyslogLayout {
            format: s.format,
            facility: s.facility,
            app_name: s.app_name.clone(),
            sd_id: s.sd_id.clone(),
            pid: std::process::id(),
        },
        udp_max_bytes: s.udp_max_bytes,
        stream_max_bytes: s.stream_max_bytes,
        batch_max_events: s.batch_max_events,
        connect_timeout: c.connect_timeout,
        request_timeout: c.request_timeout,
        tls,
    };
    Ok(Built {
        shared: shared("syslog", c, warn_interval),
        extra: json!({"transport": s.transport.as_str(), "format": s.format.as_str()}),
        policy: policy(c),
        sink: Box::new(SyslogSink::new(cfg)),
    })
}

fn build_splunk(s: &SplunkSettings, c: &Common, warn_interval: Duration) -> Result<Built, SuperlogError> {
    let client = destination::http::client(c.connect_timeout, c.request_timeout, s.verify_tls, s.ca_file.as_deref())
        .map_err(|e| SuperlogError::Build {
            destination: "splunk",
            message: crate::error_chain::error_chain(&e),
        })?;
    if s.url.starts_with("http://") {
        tracing::warn!(target: "superlog", "Splunk HEC URL is plain http://: events and the token travel unencrypted");
    }
    if !s.verify_tls {
        tracing::warn!(target: "superlog", "Splunk HEC certificate verification is disabled (DSXCONNECT_SUPERLOG__SPLUNK__VERIFY_TLS=false)");
    }
    let event_url = destination::splunk::event_url(&s.url);
    let cfg = SplunkConfig {
        ack_url: destination::splunk::ack_url(&event_url),
        event_url,
        token: s.token.clone(),
        index: s.index.clone(),
        source: s.source.clone(),
        sourcetype: s.sourcetype.clone(),
        event_host: s.event_host.clone(),
        gzip: s.gzip,
        ack: s.ack.then(|| AckConfig {
            channel: s.channel.clone(),
            poll: s.ack_poll,
            timeout: s.ack_timeout,
        }),
        batch_max_events: s.batch_max_events,
        batch_max_bytes: s.batch_max_bytes,
        flush_interval: s.flush_interval,
    };
    Ok(Built {
        shared: shared("splunk", c, warn_interval),
        extra: json!({}),
        policy: policy(c),
        sink: Box::new(SplunkSink::new(cfg, client)),
    })
}

fn build_cloudwatch(s: &CloudwatchSettings, c: &Common, warn_interval: Duration) -> Built {
    let cfg = CloudwatchConfig {
        log_group: s.log_group.clone(),
        log_stream: s.log_stream.clone(),
        region: s.region.clone(),
        endpoint_url: s.endpoint_url.clone(),
        create_group: s.create_group,
        create_stream: s.create_stream,
        retention_days: s.retention_days,
        batch_max_events: s.batch_max_events,
        flush_interval: s.flush_interval,
        connect_timeout: c.connect_timeout,
        request_timeout: c.request_timeout,
    };
    Built {
        shared: shared("cloudwatch", c, warn_interval),
        extra: json!({}),
        policy: policy(c),
        sink: Box::new(CloudwatchSink::new(cfg)),
    }
}

fn build_sentinel(s: &SentinelSettings, c: &Common, warn_interval: Duration) -> Result<Built, SuperlogError> {
    let client = destination::http::client(c.connect_timeout, c.request_timeout, true, None).map_err(|e| {
        SuperlogError::Build {
            destination: "sentinel",
            message: crate::error_chain::error_chain(&e),
        }
    })?;
    let upload_url = |stream: &str| {
        format!(
            "{}/dataCollectionRules/{}/streams/{stream}?api-version={}",
            s.dce_url, s.dcr_immutable_id, s.api_version
        )
    };
    let cfg = SentinelConfig {
        upload_url: upload_url(&s.stream_name),
        audit_upload_url: s.audit_stream_name.as_deref().map(upload_url),
        token_url: format!("{}/{}/oauth2/v2.0/token", s.authority_host, s.tenant_id),
        client_id: s.client_id.clone(),
        client_secret: s.client_secret.clone(),
        scope: s.scope.clone(),
        gzip: s.gzip,
        batch_max_events: s.batch_max_events,
        batch_max_bytes: s.batch_max_bytes,
        flush_interval: s.flush_interval,
    };
    Ok(Built {
        shared: shared("sentinel", c, warn_interval),
        extra: json!({}),
        policy: policy(c),
        sink: Box::new(SentinelSink::new(cfg, client)),
    })
}

fn build_webhook(s: &WebhookSettings, c: &Common, warn_interval: Duration) -> Result<Built, SuperlogError> {
    use crate::auth::url_guard::{AllowList, GuardedResolver};
    let fail = |message: String| SuperlogError::Build {
        destination: "webhook",
        message,
    };
    // Names resolve through the SSRF guard (IP literals were checked with the settings).
    let client =
        destination::http::client_builder(c.connect_timeout, c.request_timeout, s.verify_tls, s.ca_file.as_deref())
            .map_err(|e| fail(crate::error_chain::error_chain(&e)))?
            .dns_resolver(Arc::new(GuardedResolver::new(Arc::new(AllowList::default()))))
            .build()
            .map_err(|e| fail(crate::error_chain::error_chain(&e)))?;
    if s.origin.starts_with("http://") {
        tracing::warn!(target: "superlog", origin = %s.origin, "webhook URL is plain http://: findings travel unencrypted");
    }
    if !s.verify_tls {
        tracing::warn!(target: "superlog", "webhook certificate verification is disabled (DSXCONNECT_SUPERLOG__WEBHOOK__VERIFY_TLS=false)");
    }
    let cfg = WebhookConfig {
        url: s.url.clone(),
        secret: s.secret.clone(),
        format: s.format,
        max_body_bytes: s.max_body_bytes,
    };
    Ok(Built {
        shared: shared("webhook", c, warn_interval),
        extra: json!({"format": s.format.as_str()}),
        policy: policy(c),
        sink: Box::new(WebhookSink::new(cfg, client)),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Settings;
    use crate::superlog::event::audit::fixtures;

    fn start(pairs: &[(&str, &str)]) -> Superlog {
        let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let s = Settings::from_map(&env, None).expect("valid settings").settings;
        Superlog::start(&s.superlog).expect("superlog starts")
    }

    #[tokio::test]
    async fn audit_events_count_filtered_where_a_destination_does_not_take_them() {
        let sl = start(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,sentinel"),
            ("DSXCONNECT_SUPERLOG__SHUTDOWN_FLUSH_MS", "0"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", "9"),
            ("DSXCONNECT_SUPERLOG__SENTINEL__DCE_URL", "http://127.0.0.1:9"),
            (
                "DSXCONNECT_SUPERLOG__SENTINEL__DCR_IMMUTABLE_ID",
                "dcr-00112233445566778899aabbccddeeff",
            ),
            ("DSXCONNECT_SUPERLOG__SENTINEL__STREAM_NAME", "Custom-DSXConnect_CL"),
            (
                "DSXCONNECT_SUPERLOG__SENTINEL__TENANT_ID",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            ),
            (
                "DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_ID",
                "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10",
            ),
            ("DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_SECRET", "s3cr3t"),
        ]);
        sl.emit_audit(&fixtures::revoke_record(), Some(42));
        sl.emit_audit(&fixtures::revoke_record(), None);
        let s = sl.status();
        assert_eq!(s["emitted"], 2);
        assert_eq!(s["emitted_by_type"], json!({"scan_result": 0, "audit": 2}));
        // Syslog takes audit events; Sentinel without an audit stream counts them filtered.
        let dests = s["destinations"].as_array().unwrap();
        let by = |n: &str| dests.iter().find(|d| d["name"] == n).unwrap().clone();
        assert_eq!(
            (by("sentinel")["emitted"].clone(), by("sentinel")["filtered"].clone()),
            (json!(2), json!(2))
        );
        assert_eq!(
            (by("syslog")["emitted"].clone(), by("syslog")["filtered"].clone()),
            (json!(2), json!(0))
        );
        sl.shutdown().await;
        // When no destination takes a type, its events are not emitted at all.
        let scan_only = start(&[
            ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
            ("DSXCONNECT_SUPERLOG__SHUTDOWN_FLUSH_MS", "0"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", "9"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__EVENT_TYPES", "scan_result"),
        ]);
        scan_only.emit_audit(&fixtures::revoke_record(), Some(42));
        let s = scan_only.status();
        assert_eq!(s["emitted"], 0);
        assert_eq!(s["destinations"][0]["filtered"], 0);
        scan_only.shutdown().await;
    }

    #[test]
    fn a_disabled_superlog_builds_no_audit_event() {
        let sl = Superlog::disabled();
        sl.emit_audit(&fixtures::revoke_record(), Some(1));
        assert_eq!(sl.status()["emitted"], 0);
    }
}
