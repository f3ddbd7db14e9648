//! Syslog over UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425) (docs/reference/SUPERLOG.md,
//! "Syslog").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};

use super::tls::describe;
use super::{Limits, Report, SendError, Sink, Unit};
use crate::superlog::fit::{Fitted, fit_syslog};
use crate::superlog::format::rfc5424::SyslogLayout;
use crate::superlog::metrics::FailReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP MSG` (RFC 6587 section 3.4.1, RFC 5425).
    Octet,
    /// `MSG LF`.
    Lf,
}

/// Everything the syslog sink needs, resolved from configuration.
#[derive(Clone)]
pub struct SyslogConfig {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub framing: Framing,
    pub layout: SyslogLayout,
    pub udp_max_bytes: usize,
    pub stream_max_bytes: usize,
    pub batch_max_events: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// For `tls`: the client configuration and the name checked against the certificate.
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// How long a fresh TLS session listens for a post-handshake refusal before the first write.
const POST_HANDSHAKE_LISTEN: Duration = Duration::from_millis(250);

/// How often a UDP destination re-resolves its host ("UDP").
const RESOLVE_EVERY: Duration = Duration::from_secs(60);

pub struct SyslogSink {
    cfg: SyslogConfig,
    udp: Option<UdpSocket>,
    addr: Option<(SocketAddr, Instant)>,
    stream: Option<Box<dyn Stream>>,
}

impl SyslogSink {
    pub fn new(cfg: SyslogConfig) -> Self {
        Self {
            cfg,
            udp: None,
            addr: None,
            stream: None,
        }
    }

    /// The receiver's address, re-resolved every minute; a failed lookup keeps the old one.
    async fn resolve(&mut self) -> Option<SocketAddr> {
        let fresh = self.addr.is_some_and(|(_, at)| at.elapsed() < RESOLVE_EVERY);
        if !fresh {
            let lookup = tokio::net::lookup_host((self.cfg.host.as_str(), self.cfg.port));
            if let Ok(Ok(mut addrs)) = timeout(self.cfg.connect_timeout, lookup).await
                && let Some(a) = addrs.next()
            {
                self.addr = Some((a, Instant::now()));
            }
        }
        self.addr.map(|(a, _)| a)
    }

    async fn send_udp(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        let Some(addr) = self.resolve().await else {
            return Err(SendError::permanent(format!(
                "cannot resolve syslog host {}",
                self.cfg.host
            )));
        };
        let mut report = Report::default();
        for (i, u) in batch.iter().enumerate() {
            if self.udp.is_none() {
                let bind: SocketAddr = if addr.is_ipv6() {
                    "[::]:0".parse().unwrap_or_else(|_| unreachable!())
                } else {
                    "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!())
                };
                self.udp = UdpSocket::bind(bind).await.ok();
            }
            let sent = match &self.udp {
                Some(s) => s.send_to(u.text.as_bytes(), addr).await.is_ok(),
                None => false,
            };
            if !sent {
                // Recreated before the next datagram ("UDP").
                self.udp = None;
                report.failed.push((i, FailReason::Permanent));
            }
        }
        Ok(report)
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, SendError> {
        let addr = (self.cfg.host.as_str(), self.cfg.port);
        let tcp = match timeout(self.cfg.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::retriable(format!("connect: {e}"))),
            Err(_) => return Err(SendError::retriable("connect: timed out")),
        };
        let _ = tcp.set_nodelay(true);
        let Some((config, name)) = &self.cfg.tls else {
            return Ok(Box::new(tcp));
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
        let mut tls = match timeout(self.cfg.connect_timeout, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::retriable(describe(&e))),
            Err(_) => return Err(SendError::retriable("TLS: handshake timed out")),
        };
        // With TLS 1.3 a server judges the client certificate after our side of the handshake
        // has completed; its refusal arrives as an alert right after. Listening briefly before
        // the first write keeps events from being written into a session the server rejects.
        let mut probe = [0u8; 1];
        match timeout(POST_HANDSHAKE_LISTEN, tls.read(&mut probe)).await {
            Ok(Ok(0)) => Err(SendError::retriable(
                "TLS: the server closed the connection after the handshake (client certificate refused?)",
            )),
            Ok(Err(e)) => Err(SendError::retriable(describe(&e))),
            Err(_) | Ok(Ok(_)) => Ok(Box::new(tls)),
        }
    }

    async fn send_stream(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        if let Some(s) = &mut self.stream
            && peer_closed(s.as_mut())
        {
            self.stream = None;
        }
        let mut stream = match self.stream.take() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let mut frames = Vec::with_capacity(batch.iter().map(|u| u.text.len() + 8).sum());
        for u in batch {
            match self.cfg.framing {
                Framing::Octet => {
                    frames.extend_from_slice(u.text.len().to_string().as_bytes());
                    frames.push(b' ');
                    frames.extend_from_slice(u.text.as_bytes());
                }
                Framing::Lf => {
                    frames.extend_from_slice(u.text.as_bytes());
                    frames.push(b'\n');
                }
            }
        }
        let write = async {
            stream.write_all(&frames).await?;
            stream.flush().await
        };
        match timeout(self.cfg.request_timeout, write).await {
            Ok(Ok(())) => {
                self.stream = Some(stream);
                Ok(Report::default())
            }
            Ok(Err(e)) => Err(SendError::retriable(format!("write: {e}"))),
            Err(_) => Err(SendError::retriable("write: timed out")),
        }
    }
}

/// Whether the peer closed (EOF or error) a connection we only write to; checked without
/// waiting before each write so a dead socket is replaced, not written into ("TCP").
fn peer_closed(s: &mut dyn Stream) -> bool {
    let mut buf = [0u8; 256];
    matches!(s.read(&mut buf).now_or_never(), Some(Ok(0)) | Some(Err(_)))
}

#[async_trait]
impl Sink for SyslogSink {
    fn limits(&self) -> Limits {
        // Stream transports write what is waiting at once; UDP sends one datagram per event.
        Limits {
            max_events: self.cfg.batch_max_events,
            max_bytes: usize::MAX,
            overhead: 0,
            flush_interval: None,
            one_type_per_batch: false,
        }
    }

    fn encode(&self, event: &mut Value) -> Option<Fitted> {
        let limit = match self.cfg.transport {
            Transport::Udp => self.cfg.udp_max_bytes,
            Transport::Tcp | Transport::Tls => self.cfg.stream_max_bytes,
        };
        Some(fit_syslog(event, limit, &self.cfg.layout))
    }

    async fn send(&mut self, batch: &[Unit]) -> Result<Report, SendError> {
        match self.cfg.transport {
            Transport::Udp => self.send_udp(batch).await,
            Transport::Tcp | Transport::Tls => self.send_stream(batch).await,
        }
    }

    async fn close(&mut self) {
        if let Some(mut s) = self.stream.take() {
            // For TLS this sends close_notify.
            let _ = timeout(Duration::from_secs(1), s.shutdown()).await;
        }
    }
}
