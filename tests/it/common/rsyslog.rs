//! A real `rsyslogd` (Debian `rsyslog` + `rsyslog-gnutls`) on a loopback port with a private
//! configuration, writing every received message twice: raw, and as a JSON line of the
//! properties rsyslog parsed. `scripts/setup.sh` installs it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What rsyslog listens for.
#[derive(Debug, Clone)]
pub enum Input {
    Udp,
    Tcp,
    /// RFC 5425 with a server certificate; `auth_mode` is `anon` or `x509/certvalid`.
    Tls {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
        auth_mode: &'static str,
    },
}

pub struct Rsyslog {
    pub dir: tempfile::TempDir,
    pub port: u16,
    input: Input,
    child: Option<Child>,
}

/// A free loopback port for `udp` or `tcp`.
pub fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

const PROPS: &str = r#"template(name="props" type="list") {
  constant(value="{")
  property(outname="pri" name="pri" format="jsonf") constant(value=",")
  property(outname="facility" name="syslogfacility" format="jsonf") constant(value=",")
  property(outname="severity" name="syslogseverity" format="jsonf") constant(value=",")
  property(outname="hostname" name="hostname" format="jsonf") constant(value=",")
  property(outname="app" name="app-name" format="jsonf") constant(value=",")
  property(outname="procid" name="procid" format="jsonf") constant(value=",")
  property(outname="msgid" name="msgid" format="jsonf") constant(value=",")
  property(outname="sd" name="structured-data" format="jsonf") constant(value=",")
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf") constant(value=",")
  property(outname="raw" name="rawmsg" format="jsonf") constant(value=",")
  property(outname="msg" name="msg" format="jsonf")
  constant(value="}\n")
}
"#;

impl Rsyslog {
    /// Starts rsyslogd on a free port.
    pub fn start(input: Input) -> Self {
        let port = free_port(matches!(input, Input::Udp));
        let mut r = Rsyslog {
            dir: tempfile::tempdir().unwrap(),
            port,
            input,
            child: None,
        };
        r.restart();
        r
    }

    fn config(&self) -> String {
        let d = self.dir.path().display();
        let (global_tls, module, input) = match &self.input {
            Input::Udp => (
                String::new(),
                r#"module(load="imudp")"#.to_string(),
                format!(
                    r#"input(type="imudp" address="127.0.0.1" port="{}" rcvbufSize="8m")"#,
                    self.port
                ),
            ),
            Input::Tcp => (
                String::new(),
                r#"module(load="imtcp")"#.to_string(),
                format!(r#"input(type="imtcp" address="127.0.0.1" port="{}")"#, self.port),
            ),
            Input::Tls {
                ca,
                cert,
                key,
                auth_mode,
            } => (
                format!(
                    r#" DefaultNetstreamDriverCAFile="{}" DefaultNetstreamDriverCertFile="{}" DefaultNetstreamDriverKeyFile="{}""#,
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                format!(
                    r#"module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="{auth_mode}")"#
                ),
                format!(r#"input(type="imtcp" address="127.0.0.1" port="{}")"#, self.port),
            ),
        };
        format!(
            "global(workDirectory=\"{d}\" maxMessageSize=\"64k\"{global_tls})\n{module}\n{input}\n{PROPS}\
             action(type=\"omfile\" file=\"{d}/props.jsonl\" template=\"props\")\n"
        )
    }

    /// (Re)starts the daemon on the same port and waits until it accepts input.
    pub fn restart(&mut self) {
        self.stop();
        let conf = self.dir.path().join("rsyslog.conf");
        std::fs::write(&conf, self.config()).unwrap();
        let mut cmd = Command::new("rsyslogd");
        cmd.arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(self.dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join("rsyslogd.err")).unwrap(),
            ));
        // SAFETY: prctl is async-signal-safe; the daemon dies with the test process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("rsyslogd runs (scripts/setup.sh installs the Debian packages rsyslog and rsyslog-gnutls)");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not start: {}",
                std::fs::read_to_string(self.dir.path().join("rsyslogd.err")).unwrap_or_default()
            );
            match self.input {
                Input::Udp => {
                    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    let _ = s.send_to(b"<14>1 - - probe - probe - ready", ("127.0.0.1", self.port));
                    if self.lines().iter().any(|l| l["app"] == "probe") {
                        return;
                    }
                }
                _ => {
                    if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM lets rsyslog flush its output file.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    pub fn props_path(&self) -> PathBuf {
        self.dir.path().join("props.jsonl")
    }

    /// Every message rsyslog wrote so far, as parsed properties.
    pub fn lines(&self) -> Vec<Value> {
        read_lines(&self.props_path())
    }

    /// The `scan_result` messages (probes excluded).
    pub fn events(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["msgid"] == "scan_result")
            .collect()
    }

    /// Waits until at least `n` scan_result messages arrived.
    pub fn wait_events(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let ev = self.events();
            if ev.len() >= n {
                return ev;
            }
            assert!(Instant::now() < deadline, "rsyslog got {} of {n} events", ev.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A test CA with a server certificate for 127.0.0.1/localhost and a client certificate,
/// written as PEM files into `dir`.
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestPki {
    pub fn generate(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dsx-connect test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(names).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            let cert = p.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "localhost");
        let (client_cert, client_key) = leaf(vec!["client.test".into()], "client.test");
        let w = |name: &str, pem: &str| {
            let p = dir.join(name);
            std::fs::write(&p, pem).unwrap();
            p
        };
        TestPki {
            ca: w("ca.pem", &ca_cert.pem()),
            server_cert: w("server.pem", &server_cert),
            server_key: w("server.key", &server_key),
            client_cert: w("client.pem", &client_cert),
            client_key: w("client.key", &client_key),
        }
    }
}
