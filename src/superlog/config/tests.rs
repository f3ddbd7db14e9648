//! Superlog configuration: names, precedence, validation and the redacted view.

use std::collections::BTreeMap;

use super::*;
use crate::config::Settings;
use crate::config::core::Loaded;
use crate::settings_source::ConfigError;
use crate::superlog::destination::syslog::{Framing, Transport};

fn load(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let env: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_map(&env, None)
}

fn err(pairs: &[(&str, &str)]) -> String {
    load(pairs).err().expect("an error").to_string()
}

const HEC: [(&str, &str); 2] = [
    ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "http://127.0.0.1:8088"),
    ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", "tok-123"),
];

#[test]
fn nothing_configured_means_off() {
    let s = load(&[]).unwrap().settings.superlog;
    assert!(!s.enabled);
    assert!(s.syslog.is_none() && s.splunk.is_none());
}

#[test]
fn destinations_are_trimmed_and_case_insensitive() {
    let mut env = vec![("DSXCONNECT_SUPERLOG__DESTINATIONS", " Syslog , splunk ,")];
    env.extend(HEC);
    let s = load(&env).unwrap().settings.superlog;
    assert!(s.enabled);
    assert!(s.syslog.is_some() && s.splunk.is_some());
    assert_eq!(s.view()["destinations"], json!(["syslog", "splunk"]));
}

#[test]
fn an_unknown_destination_names_the_variable_and_the_accepted_values() {
    let e = err(&[("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,graylog")]);
    assert!(e.contains("DSXCONNECT_SUPERLOG__DESTINATIONS"), "{e}");
    assert!(e.contains("accepted: syslog, splunk, cloudwatch, sentinel"), "{e}");
    let e = err(&[("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,SYSLOG")]);
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn a_bad_transport_is_reported_exactly() {
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "udpp"),
    ]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT: invalid value \"udpp\"; accepted: udp, tcp, tls"),
        "{e}"
    );
}

#[test]
fn legacy_syslog_variables_alone_enable_syslog_and_warn_once_each() {
    let l = load(&[
        ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "10.0.0.5"),
        ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_PORT", "1514"),
        ("DSXCONNECT_SYSLOG__TRANSPORT", "tcp"),
    ])
    .unwrap();
    let (sys, _) = l.settings.superlog.syslog.clone().unwrap();
    assert_eq!(
        (sys.host.as_str(), sys.port, sys.transport),
        ("10.0.0.5", 1514, Transport::Tcp)
    );
    assert_eq!(sys.framing, Framing::Octet);
    let deprecations: Vec<_> = l.warnings.iter().filter(|w| w.contains("deprecated")).collect();
    assert_eq!(deprecations.len(), 3, "{:?}", l.warnings);
    assert!(
        !l.warnings.iter().any(|w| w.contains("not a known setting")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn new_names_win_over_legacy_ones_and_stale_worker_names_work() {
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__HOST", "new"),
        ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "old"),
        ("DSXCONNECT_SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_URL", "older"),
        ("DSXCONNECT_SCAN_RESULT_TASK_WORKER__SYSLOG_SERVER_PORT", "5140"),
    ])
    .unwrap()
    .settings
    .superlog;
    let (sys, _) = s.syslog.unwrap();
    assert_eq!((sys.host.as_str(), sys.port), ("new", 5140));
}

#[test]
fn enabled_false_overrides_destinations_and_legacy_names() {
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__ENABLED", "false"),
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SYSLOG__SYSLOG_SERVER_URL", "x"),
    ])
    .unwrap()
    .settings
    .superlog;
    assert!(!s.enabled && s.syslog.is_none());
    let e = err(&[("DSXCONNECT_SUPERLOG__ENABLED", "true")]);
    assert!(e.contains("DESTINATIONS is empty"), "{e}");
}

#[test]
fn secrets_come_from_the_value_or_a_file_never_both() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, "from-file\n").unwrap();
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "https://splunk:8088"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE", f.to_str().unwrap()),
    ])
    .unwrap()
    .settings
    .superlog;
    assert_eq!(s.splunk.unwrap().0.token.expose(), "from-file");
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__URL", "https://splunk:8088"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN", "a"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN_FILE", f.to_str().unwrap()),
    ]);
    assert!(e.contains("DSXCONNECT_SUPERLOG__SPLUNK__TOKEN"), "{e}");
    assert!(!e.contains("from-file"), "{e}");
}

#[test]
fn the_config_view_masks_tokens_of_enabled_and_of_ignored_sections() {
    let l = load(&HEC).unwrap();
    let v = l.settings.view();
    assert_eq!(v["superlog"]["enabled"], false);
    assert_eq!(v["superlog"]["splunk"]["token"], "***");
    let mut env = vec![("DSXCONNECT_SUPERLOG__DESTINATIONS", "splunk")];
    env.extend(HEC);
    let v = load(&env).unwrap().settings.view();
    assert_eq!(v["superlog"]["splunk"]["token"], "***");
    assert!(!v.to_string().contains("tok-123"));
}

#[test]
fn redaction_errors_name_the_variable() {
    let base = ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog");
    let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__DENY", "metainfo,verdict")]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__REDACT__DENY") && e.contains("mandatory"),
        "{e}"
    );
    let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__ALLOW", "nope")]);
    assert!(e.contains("DSXCONNECT_SUPERLOG__REDACT__ALLOW"), "{e}");
    let e = err(&[
        base,
        (
            "DSXCONNECT_SUPERLOG__REDACT__MASKS",
            r#"[{"pattern":"(","replacement":""}]"#,
        ),
    ]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__REDACT__MASKS") && e.contains("invalid pattern"),
        "{e}"
    );
}

#[test]
fn per_destination_keys_override_the_global_ones() {
    let mut env = vec![
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,splunk"),
        ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "50"),
        ("DSXCONNECT_SUPERLOG__REDACT__DENY", "metainfo"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__VERDICTS", "malicious"),
        ("DSXCONNECT_SUPERLOG__SPLUNK__REDACT__PATH_MAX_CHARS", "0"),
    ];
    env.extend(HEC);
    let s = load(&env).unwrap().settings.superlog;
    let (_, sys) = s.syslog.unwrap();
    let (_, hec) = s.splunk.unwrap();
    assert_eq!((sys.buffer_events, hec.buffer_events), (50, 50));
    assert_eq!(sys.verdicts, None);
    assert_eq!(hec.verdicts, Some(vec!["Malicious".to_string()]));
    assert_eq!(sys.redact.deny, ["metainfo"]);
    // A destination's own REDACT key replaces the whole group.
    assert!(hec.redact.deny.is_empty());
    assert_eq!(hec.redact.path_max_chars, 0);
}

#[test]
fn tls_cert_without_key_is_an_error() {
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tls"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TLS_CERT_FILE", "/nonexistent.pem"),
    ]);
    assert!(e.contains("DSXCONNECT_SUPERLOG__SYSLOG__TLS_KEY_FILE"), "{e}");
}

#[test]
fn sentinel_ids_and_urls_are_validated() {
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "sentinel"),
        ("DSXCONNECT_SUPERLOG__SENTINEL__DCE_URL", "http://dce.example.com"),
        ("DSXCONNECT_SUPERLOG__SENTINEL__DCR_IMMUTABLE_ID", "dcr-123"),
        ("DSXCONNECT_SUPERLOG__SENTINEL__STREAM_NAME", "DSXConnect_CL"),
        ("DSXCONNECT_SUPERLOG__SENTINEL__TENANT_ID", "not-a-guid"),
        (
            "DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_ID",
            "0b1c9b0e-3c1e-4b8e-9a55-2f1f6c1b7a10",
        ),
        ("DSXCONNECT_SUPERLOG__SENTINEL__CLIENT_SECRET", "s3cr3t"),
    ]);
    for var in ["DCE_URL", "DCR_IMMUTABLE_ID", "STREAM_NAME", "TENANT_ID"] {
        assert!(
            e.contains(&format!("DSXCONNECT_SUPERLOG__SENTINEL__{var}")),
            "{var}: {e}"
        );
    }
    assert!(!e.contains("s3cr3t"));
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "sentinel"),
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
    ])
    .unwrap()
    .settings;
    assert!(s.superlog.sentinel.is_some());
    assert_eq!(s.view()["superlog"]["sentinel"]["client_secret"], "***");
    assert!(!s.view().to_string().contains("s3cr3t"));
}

#[test]
fn cloudwatch_needs_a_group_and_a_valid_retention() {
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "cloudwatch"),
        ("DSXCONNECT_SUPERLOG__CLOUDWATCH__RETENTION_DAYS", "8"),
    ]);
    assert!(e.contains("DSXCONNECT_SUPERLOG__CLOUDWATCH__LOG_GROUP"), "{e}");
    assert!(e.contains("DSXCONNECT_SUPERLOG__CLOUDWATCH__RETENTION_DAYS"), "{e}");
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "cloudwatch"),
        ("DSXCONNECT_SUPERLOG__HOSTNAME", "h1"),
        ("DSXCONNECT_SUPERLOG__CLOUDWATCH__LOG_GROUP", "/dsx/results"),
    ])
    .unwrap()
    .settings
    .superlog;
    let (cw, _) = s.cloudwatch.unwrap();
    assert_eq!(cw.log_stream, format!("dsx-connect/h1/{}", std::process::id()));
}

#[test]
fn toml_and_environment_give_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "[superlog]\ndestinations = \"syslog\"\n[superlog.syslog]\nhost = \"h\"\nport = 1514\nfacility = \"user\"\n",
    )
    .unwrap();
    let from_file = Settings::from_map(&BTreeMap::new(), Some(&p))
        .unwrap()
        .settings
        .superlog;
    let from_env = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__HOST", "h"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", "1514"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__FACILITY", "user"),
    ])
    .unwrap()
    .settings
    .superlog;
    assert_eq!(from_file.view(), from_env.view());
    assert_eq!(from_file.syslog.unwrap().0.facility, 1);
}

/// A valid Sentinel section on loopback, plus `extra`.
fn sentinel_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,sentinel"),
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
    ];
    env.extend_from_slice(extra);
    env
}

#[test]
fn event_types_default_to_both_and_are_read_as_csv_with_per_destination_overrides() {
    use crate::superlog::event::{EventType, EventTypes};
    let mut env = vec![("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog,splunk")];
    env.extend(HEC);
    let s = load(&env).unwrap().settings.superlog;
    assert_eq!(s.syslog.as_ref().unwrap().1.event_types, EventTypes::ALL);
    assert_eq!(s.view()["event_types"], json!(["scan_result", "audit"]));
    assert_eq!(s.view()["splunk"]["event_types"], json!(["scan_result", "audit"]));

    env.push(("DSXCONNECT_SUPERLOG__EVENT_TYPES", " Audit ,"));
    env.push(("DSXCONNECT_SUPERLOG__SPLUNK__EVENT_TYPES", "scan_result,audit"));
    let s = load(&env).unwrap().settings.superlog;
    let (_, sys) = s.syslog.clone().unwrap();
    let (_, hec) = s.splunk.clone().unwrap();
    assert!(sys.event_types.contains(EventType::Audit) && !sys.event_types.contains(EventType::ScanResult));
    assert_eq!(hec.event_types, EventTypes::ALL);
    assert_eq!(s.view()["event_types"], json!(["audit"]));
}

#[test]
fn an_unknown_or_empty_event_type_list_names_the_variable_and_the_accepted_values() {
    let base = ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog");
    let e = err(&[base, ("DSXCONNECT_SUPERLOG__EVENT_TYPES", "scan_result,login")]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__EVENT_TYPES: invalid value \"login\"; accepted: scan_result, audit"),
        "{e}"
    );
    let e = err(&[base, ("DSXCONNECT_SUPERLOG__SYSLOG__EVENT_TYPES", " , ")]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__SYSLOG__EVENT_TYPES: expected at least one of: scan_result, audit"),
        "{e}"
    );
}

#[test]
fn sentinel_takes_audit_events_only_with_an_audit_stream() {
    use crate::superlog::event::{EventType, EventTypes};
    let s = load(&sentinel_env(&[])).unwrap().settings.superlog;
    let (sen, c) = s.sentinel.clone().unwrap();
    assert_eq!(sen.audit_stream_name, None);
    assert_eq!(c.event_types, EventTypes::ALL.without(EventType::Audit));
    assert_eq!(s.view()["sentinel"]["event_types"], json!(["scan_result"]));
    assert_eq!(
        s.syslog.unwrap().1.event_types,
        EventTypes::ALL,
        "other destinations keep both"
    );

    let s = load(&sentinel_env(&[(
        "DSXCONNECT_SUPERLOG__SENTINEL__AUDIT_STREAM_NAME",
        "Custom-DSXConnectAudit_CL",
    )]))
    .unwrap()
    .settings
    .superlog;
    let (sen, c) = s.sentinel.clone().unwrap();
    assert_eq!(sen.audit_stream_name.as_deref(), Some("Custom-DSXConnectAudit_CL"));
    assert_eq!(c.event_types, EventTypes::ALL);
    assert_eq!(s.view()["sentinel"]["audit_stream_name"], "Custom-DSXConnectAudit_CL");

    let e = err(&sentinel_env(&[(
        "DSXCONNECT_SUPERLOG__SENTINEL__EVENT_TYPES",
        "audit",
    )]));
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__SENTINEL__EVENT_TYPES")
            && e.contains("DSXCONNECT_SUPERLOG__SENTINEL__AUDIT_STREAM_NAME"),
        "{e}"
    );
    let e = err(&sentinel_env(&[(
        "DSXCONNECT_SUPERLOG__SENTINEL__AUDIT_STREAM_NAME",
        "DSXConnectAudit_CL",
    )]));
    assert!(e.contains("DSXCONNECT_SUPERLOG__SENTINEL__AUDIT_STREAM_NAME"), "{e}");
}

#[test]
fn redaction_paths_of_either_schema_are_valid_and_mandatory_audit_fields_are_refused() {
    let base = ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog");
    let s = load(&[
        base,
        ("DSXCONNECT_SUPERLOG__REDACT__DENY", "source_ip,metainfo,action"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__REDACT__ALLOW", "actor.name,location"),
    ]);
    assert!(s.is_ok(), "{:?}", s.err().map(|e| e.to_string()));
    for mandatory in ["result", "verdict", "event_id"] {
        let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__DENY", mandatory)]);
        assert!(e.contains("is mandatory") && e.contains("audit: event,"), "{e}");
    }
    let e = err(&[base, ("DSXCONNECT_SUPERLOG__REDACT__ALLOW", "actor.email")]);
    assert!(e.contains("not a field of the scan_result or audit schema"), "{e}");
}

const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX";
const HOOK_SECRET: &str = "whsec-0123456789abcdef";

fn webhook_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "webhook"),
        (
            "DSXCONNECT_SUPERLOG__WEBHOOK__URL",
            "https://receiver.example/hooks/dsx?key=k1",
        ),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET", HOOK_SECRET),
    ];
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k, v));
    }
    env
}

#[test]
fn a_webhook_takes_malicious_scan_results_unless_told_otherwise() {
    use crate::superlog::event::{EventType, EventTypes};
    let s = load(&webhook_env(&[("DSXCONNECT_SUPERLOG__VERDICTS", "Benign")]))
        .unwrap()
        .settings
        .superlog;
    let (w, c) = s.webhook.clone().unwrap();
    assert_eq!(w.format, WebhookFormat::Json);
    assert_eq!(w.url.expose(), "https://receiver.example/hooks/dsx?key=k1");
    assert_eq!(
        c.verdicts,
        Some(vec!["Malicious".to_string()]),
        "the global list does not widen it"
    );
    assert_eq!(c.event_types, EventTypes::NONE.with(EventType::ScanResult));
    assert_eq!(s.view()["webhook"]["verdicts"], json!(["Malicious"]));

    let s = load(&webhook_env(&[
        ("DSXCONNECT_SUPERLOG__WEBHOOK__VERDICTS", "malicious,Not Scanned"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__EVENT_TYPES", "scan_result,audit"),
    ]))
    .unwrap()
    .settings
    .superlog;
    let (_, c) = s.webhook.unwrap();
    assert_eq!(
        c.verdicts,
        Some(vec!["Malicious".to_string(), "Not Scanned".to_string()])
    );
    assert_eq!(c.event_types, EventTypes::ALL);
}

#[test]
fn the_webhook_url_and_secret_never_show_in_the_view() {
    let s = load(&webhook_env(&[
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL", SLACK_URL),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__FORMAT", "Slack"),
    ]))
    .unwrap()
    .settings
    .superlog;
    let view = s.view().to_string();
    assert_eq!(s.view()["webhook"]["url"], "https://hooks.slack.com/***");
    assert_eq!(s.view()["webhook"]["secret"], "***");
    assert_eq!(s.view()["webhook"]["format"], "slack");
    assert!(
        !view.contains("XXXXsecretXXXX") && !view.contains(HOOK_SECRET),
        "{view}"
    );
    assert!(!format!("{:?}", s.webhook).contains(HOOK_SECRET));

    // Configured but not enabled: the raw section is masked too.
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "syslog"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL", SLACK_URL),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET", HOOK_SECRET),
    ])
    .unwrap()
    .settings
    .superlog;
    assert_eq!(s.view()["webhook"], json!({"url": "***", "secret": "***"}));
}

#[test]
fn webhook_secrets_and_urls_may_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("url");
    let secret = dir.path().join("secret");
    std::fs::write(&url, format!("{SLACK_URL}\n")).unwrap();
    std::fs::write(&secret, format!("{HOOK_SECRET}\n")).unwrap();
    let (u, k) = (url.display().to_string(), secret.display().to_string());
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "webhook"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL_FILE", &u),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET_FILE", &k),
    ])
    .unwrap()
    .settings
    .superlog;
    let (w, _) = s.webhook.unwrap();
    assert_eq!(w.url.expose(), SLACK_URL);
    assert_eq!(w.secret.unwrap().expose(), HOOK_SECRET);
}

#[test]
fn a_webhook_needs_a_strong_secret_for_json_but_not_for_slack() {
    let e = err(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "webhook"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL", "https://receiver.example/h"),
    ]);
    assert!(
        e.contains("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET: required for FORMAT=json"),
        "{e}"
    );
    let e = err(&webhook_env(&[("DSXCONNECT_SUPERLOG__WEBHOOK__SECRET", "tiny-key")]));
    assert!(e.contains("too short") && !e.contains("tiny-key"), "{e}");
    let s = load(&[
        ("DSXCONNECT_SUPERLOG__DESTINATIONS", "webhook"),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__URL", SLACK_URL),
        ("DSXCONNECT_SUPERLOG__WEBHOOK__FORMAT", "slack"),
    ])
    .unwrap()
    .settings
    .superlog;
    assert!(s.webhook.unwrap().0.secret.is_none());
    let e = err(&webhook_env(&[("DSXCONNECT_SUPERLOG__WEBHOOK__FORMAT", "teams")]));
    assert!(e.contains("accepted: json, slack"), "{e}");
}

#[test]
fn webhook_urls_pass_the_ssrf_guard_and_are_never_echoed() {
    for (url, reason) in [
        (
            "http://169.254.169.254/latest/meta-data?x=XXXXsecretXXXX",
            "blocked_address",
        ),
        ("http://[fd00:ec2::254]/hook", "blocked_address"),
        ("http://user:XXXXsecretXXXX@receiver.example/h", "userinfo"),
        ("https://receiver.example/h#XXXXsecretXXXX", "fragment"),
        ("ftp://receiver.example/XXXXsecretXXXX", "scheme"),
    ] {
        let e = err(&webhook_env(&[("DSXCONNECT_SUPERLOG__WEBHOOK__URL", url)]));
        assert!(
            e.contains(&format!("DSXCONNECT_SUPERLOG__WEBHOOK__URL: url not allowed: {reason}")),
            "{url}: {e}"
        );
        assert!(!e.contains("XXXXsecretXXXX"), "{e}");
    }
    let e = err(&webhook_env(&[(
        "DSXCONNECT_SUPERLOG__WEBHOOK__URL",
        "not a url XXXXsecretXXXX",
    )]));
    assert!(e.contains("not a valid URL") && !e.contains("XXXXsecretXXXX"), "{e}");
    // A query is the operator's (Teams workflow URLs are signed there).
    assert!(
        load(&webhook_env(&[(
            "DSXCONNECT_SUPERLOG__WEBHOOK__URL",
            "https://x.example/w?sig=abc"
        )]))
        .is_ok()
    );
}
