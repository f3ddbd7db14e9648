//! Superlog syslog destination against a real rsyslogd (UDP, TCP, TLS, mutual TLS) and raw
//! listeners that record the exact bytes (docs/reference/SUPERLOG.md, "Syslog").

use crate::common;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::events::{CONNECTOR, env_of, result, start_superlog, status_of, wait_status};
use common::rsyslog::{Input, Rsyslog, TestPki, free_port};
use dsx_connect::superlog::Superlog;

fn superlog(env: &[(&str, &str)]) -> Superlog {
    let mut env = env_of(env);
    env.insert("DSXCONNECT_SUPERLOG__DESTINATIONS".into(), "syslog".into());
    env.insert("DSXCONNECT_SUPERLOG__HOSTNAME".into(), "test-host".into());
    env.entry("DSXCONNECT_SUPERLOG__BACKOFF_BASE_MS".into())
        .or_insert("50".into());
    env.entry("DSXCONNECT_SUPERLOG__BACKOFF_MAX_MS".into())
        .or_insert("200".into());
    start_superlog(&env)
}

/// The structured data the sender must produce for `result(i, …)`.
fn expected_sd(msg: &Value) -> String {
    let mut sd = format!(
        "[dsx@32473 event_id=\"{}\" job_id=\"job-1\" task_id=\"{}\" connector=\"fs \\\"one\\\" \\\\ two \\] three\u{fffd}four\" verdict=\"{}\" severity=\"{}\"",
        msg["event_id"].as_str().unwrap(),
        msg["scan_request_task_id"].as_str().unwrap(),
        msg["verdict"].as_str().unwrap(),
        msg["severity"].as_str().unwrap()
    );
    if let Some(t) = msg["threat"].as_str() {
        sd.push_str(&format!(" threat=\"{t}\""));
    }
    sd.push_str(&format!(
        " action=\"{}\" action_status=\"{}\" sha256=\"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\"]",
        msg["action"]["type"].as_str().unwrap(),
        msg["action"]["status"].as_str().unwrap()
    ));
    sd
}

#[test]
fn udp_messages_reach_rsyslog_as_rfc5424_with_every_field() {
    let rs = Rsyslog::start(Input::Udp);
    let port = rs.port.to_string();
    let sl = superlog(&[("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port)]);
    let mut sent = Vec::new();
    for i in 0..100 {
        let r = result(i, &format!("/data/dir/ü😀 file {i}.txt"), i % 10 == 0, i == 0);
        sl.emit_result(&r);
        sent.push(r);
    }
    let got = rs.wait_events(100, Duration::from_secs(20));
    assert_eq!(got.len(), 100);
    let mut ids = std::collections::HashSet::new();
    for (line, r) in got.iter().zip(&sent) {
        let msg: Value = serde_json::from_str(line["msg"].as_str().unwrap()).expect("MSG is JSON");
        assert!(
            ids.insert(msg["event_id"].as_str().unwrap().to_string()),
            "event ids are unique"
        );
        assert_eq!(msg["scan_request_task_id"], r.scan_request_task_id);
        assert_eq!(msg["location"], r.scan_request.location);
        assert_eq!(msg["result_id"], r.id);
        assert_eq!(msg["timestamp"], r.timestamp);
        assert_eq!(msg["host"], "test-host");
        assert_eq!(msg["connector"]["name"], CONNECTOR);
        let (pri, sev) = match (
            msg["verdict"].as_str().unwrap(),
            msg["action"]["status"].as_str().unwrap(),
        ) {
            ("Malicious", "error") => ("131", "3"),
            ("Malicious", _) => ("132", "4"),
            _ => ("134", "6"),
        };
        assert_eq!(line["pri"], pri, "{line}");
        assert_eq!(line["facility"], "16");
        assert_eq!(line["severity"], sev);
        assert_eq!(line["hostname"], "test-host");
        assert_eq!(line["app"], "dsx-connect");
        assert_eq!(line["procid"], std::process::id().to_string());
        assert_eq!(line["msgid"], "scan_result");
        assert_eq!(line["ts"], r.timestamp, "timestamp as an instant");
        assert_eq!(line["sd"], expected_sd(&msg));
        // The MSG is ASCII-only JSON ("Compact JSON"); the raw datagram is exactly one message.
        let raw = line["raw"].as_str().unwrap();
        let msg_text = line["msg"].as_str().unwrap();
        assert!(msg_text.is_ascii() && msg_text.contains("\\u00fc") && msg_text.contains("\\ud83d\\ude00"));
        assert!(raw.starts_with(&format!("<{pri}>1 {} test-host dsx-connect ", r.timestamp)));
        assert!(!raw.contains('\0') && !raw.ends_with('\n'));
        assert!(raw.ends_with(line["msg"].as_str().unwrap()));
    }
    let s = wait_status(&sl, "100 sent", |s| s["sent"] == 100);
    assert_eq!(
        (s["transport"].as_str(), s["format"].as_str()),
        (Some("udp"), Some("rfc5424"))
    );
    assert_eq!(s["retried"], 0);
}

#[test]
fn udp_datagrams_are_fitted_to_the_size_limit() {
    let rs = Rsyslog::start(Input::Udp);
    let port = rs.port.to_string();
    let long = format!("/data/{}", "L".repeat(5000));
    let sl = superlog(&[("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port)]);
    sl.emit_result(&result(1, &long, false, false));
    let line = rs.wait_events(1, Duration::from_secs(10)).remove(0);
    let raw = line["raw"].as_str().unwrap();
    assert!(raw.len() <= 2048, "{}", raw.len());
    let msg: Value = serde_json::from_str(line["msg"].as_str().unwrap()).unwrap();
    assert_eq!(msg["truncated"], true);
    let loc = msg["location"].as_str().unwrap();
    assert!(loc.contains('…') && loc.starts_with("/data/LLL") && loc.chars().count() <= 1024);
    wait_status(&sl, "truncated counted", |s| s["truncated"] == 1 && s["sent"] == 1);

    let rs = Rsyslog::start(Input::Udp);
    let port = rs.port.to_string();
    let sl = superlog(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__SYSLOG__UDP_MAX_BYTES", "480"),
    ]);
    sl.emit_result(&result(2, &long, true, false));
    let line = rs.wait_events(1, Duration::from_secs(10)).remove(0);
    let raw = line["raw"].as_str().unwrap();
    assert!(raw.len() <= 480, "{}", raw.len());
    assert!(raw.starts_with("<132>1 "), "{raw}");
    assert_eq!(line["app"], "dsx-connect");
    assert_eq!(line["msgid"], "scan_result");
    wait_status(&sl, "truncated counted", |s| s["truncated"] == 1);
}

/// Reads everything a raw TCP listener receives until the sender has written `want` bytes
/// worth of frames, or the timeout.
fn raw_tcp(listener: std::net::TcpListener, until: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !until(&all) && Instant::now() < deadline {
        let mut buf = [0u8; 65536];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    all
}

/// Splits `LEN SP MSG` frames; panics on anything else.
fn octet_frames(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let sp = bytes.iter().position(|b| *b == b' ').expect("a length");
        let len: usize = std::str::from_utf8(&bytes[..sp]).unwrap().parse().unwrap();
        assert!(!bytes.starts_with(b"0"), "no leading zeros");
        let msg = &bytes[sp + 1..sp + 1 + len];
        out.push(String::from_utf8(msg.to_vec()).unwrap());
        bytes = &bytes[sp + 1 + len..];
    }
    out
}

#[test]
fn tcp_frames_are_octet_counted_by_default_and_lf_terminated_on_request() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let sl = superlog(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
    ]);
    for i in 0..50 {
        sl.emit_result(&result(i, &format!("/d/{i}"), false, false));
    }
    let bytes = raw_tcp(l, |b| {
        b.windows(6).filter(|w| w == b"<134>1").count() >= 50 && b.ends_with(b"}")
    });
    let frames = octet_frames(&bytes);
    assert_eq!(frames.len(), 50);
    for (i, f) in frames.iter().enumerate() {
        assert!(f.starts_with("<134>1 "));
        let msg: Value = serde_json::from_str(&f[f.find("] {").unwrap() + 2..]).unwrap();
        assert_eq!(msg["location"], format!("/d/{i}"));
    }

    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let sl = superlog(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__FRAMING", "lf"),
    ]);
    for i in 0..20 {
        sl.emit_result(&result(i, &format!("/d/{i}"), false, false));
    }
    let bytes = raw_tcp(l, |b| b.iter().filter(|c| **c == b'\n').count() >= 20);
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l.starts_with("<134>1 ") && l.ends_with('}')));
}

#[test]
fn rsyslog_receives_every_tcp_message_intact_in_both_framings() {
    for framing in ["octet", "lf"] {
        let rs = Rsyslog::start(Input::Tcp);
        let port = rs.port.to_string();
        let sl = superlog(&[
            ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
            ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
            ("DSXCONNECT_SUPERLOG__SYSLOG__FRAMING", framing),
        ]);
        for i in 0..300 {
            sl.emit_result(&result(i, &format!("/d/{i}"), i % 3 == 0, false));
        }
        let got = rs.wait_events(300, Duration::from_secs(20));
        for (i, line) in got.iter().enumerate() {
            let msg: Value = serde_json::from_str(line["msg"].as_str().unwrap()).unwrap();
            assert_eq!(msg["location"], format!("/d/{i}"), "{framing}: in order and intact");
            assert_eq!(line["sd"], expected_sd(&msg));
        }
    }
}

#[test]
fn a_tcp_receiver_restarted_on_the_same_port_gets_every_event_emitted_meanwhile() {
    let mut rs = Rsyslog::start(Input::Tcp);
    let port = rs.port.to_string();
    let sl = superlog(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tcp"),
        ("DSXCONNECT_SUPERLOG__MAX_ATTEMPTS", "100"),
    ]);
    for i in 0..10 {
        sl.emit_result(&result(i, &format!("/d/{i}"), false, false));
    }
    rs.wait_events(10, Duration::from_secs(10));
    rs.stop();
    // Events emitted while the receiver is down: one at a time until the sender notices and
    // retries (polled every 20 ms, 20 s deadline), the rest at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut next = 10;
    while status_of(&sl)["retried"].as_u64().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the sender never retried");
        if next < 60 {
            sl.emit_result(&result(next, &format!("/d/{next}"), false, false));
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in next..60 {
        sl.emit_result(&result(i, &format!("/d/{i}"), false, false));
    }
    wait_status(&sl, "retrying again", |s| s["retried"].as_u64().unwrap() >= 2);
    rs.restart();
    let got = rs.wait_events(60, Duration::from_secs(20));
    let locations: std::collections::HashSet<String> = got
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l["msg"].as_str().unwrap()).unwrap()["location"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for i in 0..60 {
        assert!(locations.contains(&format!("/d/{i}")), "event {i} arrived");
    }
    let s = wait_status(&sl, "all sent", |s| s["sent"] == 60);
    assert_eq!(s["failed"], 0);
    assert_eq!(s["dropped"], 0);
    assert_eq!(s["state"], "ok");
}

#[test]
fn tls_delivers_with_the_test_ca_refuses_an_untrusted_server_and_can_be_made_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let rs = Rsyslog::start(Input::Tls {
        ca: pki.ca.clone(),
        cert: pki.server_cert.clone(),
        key: pki.server_key.clone(),
        auth_mode: "anon",
    });
    let port = rs.port.to_string();
    let tls = [
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", port.as_str()),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tls"),
    ];

    let ca = pki.ca.display().to_string();
    let mut env = tls.to_vec();
    env.push(("DSXCONNECT_SUPERLOG__SYSLOG__TLS_CA_FILE", &ca));
    let sl = superlog(&env);
    for i in 0..20 {
        sl.emit_result(&result(i, &format!("/tls/{i}"), false, false));
    }
    let got = rs.wait_events(20, Duration::from_secs(20));
    assert!(
        got.iter()
            .all(|l| l["app"] == "dsx-connect" && l["sd"].as_str().unwrap().starts_with("[dsx@32473 "))
    );
    wait_status(&sl, "sent", |s| s["sent"] == 20);

    // The platform store does not know the test CA.
    let untrusted = superlog(&tls);
    untrusted.emit_result(&result(100, "/tls/untrusted", false, false));
    let s = wait_status(&untrusted, "a TLS error", |s| s["last_error"].is_string());
    assert!(s["last_error"].as_str().unwrap().contains("not trusted"), "{s}");
    assert!(matches!(s["state"].as_str(), Some("retrying" | "failing")), "{s}");
    assert_eq!(s["sent"], 0);

    let mut env = tls.to_vec();
    env.push(("DSXCONNECT_SUPERLOG__SYSLOG__TLS_INSECURE", "true"));
    let insecure = superlog(&env);
    insecure.emit_result(&result(200, "/tls/insecure", false, false));
    let got = rs.wait_events(21, Duration::from_secs(20));
    assert!(got.iter().any(|l| l["msg"].as_str().unwrap().contains("/tls/insecure")));
    assert!(
        !got.iter()
            .any(|l| l["msg"].as_str().unwrap().contains("/tls/untrusted"))
    );
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let rs = Rsyslog::start(Input::Tls {
        ca: pki.ca.clone(),
        cert: pki.server_cert.clone(),
        key: pki.server_key.clone(),
        auth_mode: "x509/certvalid",
    });
    let port = rs.port.to_string();
    let ca = pki.ca.display().to_string();
    let base = [
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", port.as_str()),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TRANSPORT", "tls"),
        ("DSXCONNECT_SUPERLOG__SYSLOG__TLS_CA_FILE", ca.as_str()),
    ];
    let anonymous = superlog(&base);
    anonymous.emit_result(&result(1, "/mtls/anonymous", false, false));
    let s = wait_status(&anonymous, "a rejected handshake", |s| s["last_error"].is_string());
    assert_eq!(s["sent"], 0, "{s}");

    let (cert, key) = (
        pki.client_cert.display().to_string(),
        pki.client_key.display().to_string(),
    );
    let mut env = base.to_vec();
    env.push(("DSXCONNECT_SUPERLOG__SYSLOG__TLS_CERT_FILE", &cert));
    env.push(("DSXCONNECT_SUPERLOG__SYSLOG__TLS_KEY_FILE", &key));
    let with_cert = superlog(&env);
    with_cert.emit_result(&result(2, "/mtls/with-cert", false, false));
    let got = rs.wait_events(1, Duration::from_secs(20));
    assert_eq!(got.len(), 1);
    assert!(got[0]["msg"].as_str().unwrap().contains("/mtls/with-cert"));
}

#[test]
fn a_udp_host_port_that_nobody_listens_on_never_blocks_emit() {
    let port = free_port(true).to_string();
    let sl = superlog(&[
        ("DSXCONNECT_SUPERLOG__SYSLOG__PORT", &port),
        ("DSXCONNECT_SUPERLOG__BUFFER_EVENTS", "100"),
    ]);
    let started = Instant::now();
    for i in 0..10_000 {
        sl.emit_result(&result(i, "/x", false, false));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let s = wait_status(&sl, "accounted", |s| {
        s["buffered"] == 0
            && s["sent"].as_u64().unwrap() + s["dropped"].as_u64().unwrap() + s["failed"].as_u64().unwrap() == 10_000
    });
    assert_eq!(s["emitted"], 10_000);
}
