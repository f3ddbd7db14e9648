//! ClamAV daemon client (docs/reference/CORE-API.md, "clamd"): `zINSTREAM` over TCP or a unix
//! socket, or, for a file the core opened itself on a clamd on a unix socket, `zFILDES` with the
//! open descriptor: clamd then reads the file itself, as `clamdscan --fdpass` makes it do.

use std::os::fd::AsFd;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ProbeError, ScanInput, Scanner};
use crate::config::core::ScannerSettings;
use crate::failure::{ErrorClass, Failure};
use crate::model::verdict::{FileInfo, VerdictDetails, generate_scan_guid};
use crate::model::{Engine, EngineIdentity, StatusResponse, Verdict, VerdictKind};

/// Largest INSTREAM chunk sent (the protocol allows any size; clamd reads in pieces).
const MAX_CHUNK: usize = 1 << 20;
const MAX_REPLY: usize = 64 * 1024;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Tcp(String),
    Unix(std::path::PathBuf),
}

/// A clamd address in none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not valid: expected tcp://host:port, host:port, unix:///path or an absolute path")]
pub struct InvalidAddress(pub String);

impl ClamdAddress {
    /// `tcp://host:port`, `host:port`, `unix:///path` or an absolute path.
    pub fn parse(s: &str) -> Result<Self, InvalidAddress> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix://") {
            return Ok(Self::Unix(p.into()));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(s.into()));
        }
        let hostport = s.strip_prefix("tcp://").unwrap_or(s);
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(Self::Tcp(hostport.to_string())),
            _ => Err(InvalidAddress(s.to_string())),
        }
    }
}

impl std::fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddress::Tcp(a) => write!(f, "tcp://{a}"),
            ClamdAddress::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

pub struct ClamdScanner {
    address: ClamdAddress,
    max_file_size: u64,
    /// Largest open file scanned by descriptor (0: never).
    fdpass_max_size: u64,
    /// Longest wait for the answer to a descriptor (a stream's is bounded by the pipeline,
    /// from its last byte; a descriptor has no bytes to count from).
    answer_timeout: Duration,
    /// The engine and signature database as the last `VERSION` answer gave them; refreshed by
    /// [`Scanner::refresh_version`] so results name the database that produced them.
    version: RwLock<Option<String>>,
    /// From the same answer, only when it names a database (see [`reuse_identity_of`]).
    reuse: RwLock<Option<EngineIdentity>>,
}

/// The reuse identity of a `VERSION` answer: engine version and database version. A clamd that
/// reports no database version (custom signatures only) could change its signatures unseen, so
/// it has none.
pub fn reuse_identity_of(line: &str) -> Option<EngineIdentity> {
    let mut parts = line.trim().splitn(3, '/');
    let engine = parts.next()?.trim();
    let db = parts.next().map(str::trim).filter(|d| !d.is_empty())?;
    Some(EngineIdentity::new(Engine::Clamd, format!("{engine}/{db}")))
}

/// How clamd's `VERSION` answer is shown: `ClamAV 1.0.7/27480/Mon Dec  2 09:31:43 2024` becomes
/// `ClamAV 1.0.7, database 27480 (Mon Dec  2 09:31:43 2024)`. A clamd running on custom
/// signatures only answers `ClamAV 1.4.6`, which says so rather than inventing a database.
pub fn describe_version(line: &str) -> String {
    let line = line.trim();
    let mut parts = line.splitn(3, '/');
    let engine = parts.next().unwrap_or("").trim();
    let engine = if engine.is_empty() { "ClamAV" } else { engine };
    match (parts.next().map(str::trim), parts.next().map(str::trim)) {
        (Some(db), Some(date)) if !db.is_empty() && !date.is_empty() => format!("{engine}, database {db} ({date})"),
        (Some(db), _) if !db.is_empty() => format!("{engine}, database {db}"),
        _ => format!("{engine}, database version not reported"),
    }
}

/// The outcome of one INSTREAM exchange before it becomes a verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Clean,
    Found(String),
    SizeLimit,
    Error(String),
}

/// Parses clamd's reply line (without the trailing NUL): `stream: …` to `INSTREAM`,
/// `fd[<n>]: …` to `FILDES`.
pub fn parse_reply(line: &str) -> Reply {
    let line = line.trim_end_matches('\0').trim();
    let answer = line.strip_prefix("stream: ").or_else(|| {
        line.strip_prefix("fd[")
            .and_then(|r| r.split_once("]: "))
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .map(|(_, a)| a)
    });
    if answer == Some("OK") {
        Reply::Clean
    } else if let Some(sig) = answer.and_then(|r| r.strip_suffix(" FOUND")) {
        Reply::Found(sig.to_string())
    } else if line.starts_with("INSTREAM size limit exceeded") {
        Reply::SizeLimit
    } else {
        Reply::Error(line.to_string())
    }
}

impl ClamdScanner {
    pub fn new(s: &ScannerSettings) -> anyhow::Result<Self> {
        let address = ClamdAddress::parse(&s.clamd_address)
            .map_err(|e| anyhow::anyhow!("DSXCONNECT_SCANNER__CLAMD_ADDRESS: {e}"))?;
        Ok(Self {
            address,
            max_file_size: s.max_file_size,
            fdpass_max_size: s.clamd_fdpass_max_size,
            answer_timeout: s.timeout,
            version: RwLock::new(None),
            reuse: RwLock::new(None),
        })
    }

    fn cached_version(&self) -> Option<String> {
        self.version.read().ok().and_then(|v| v.clone())
    }

    async fn connect(&self) -> Result<Box<dyn Conn>, Failure> {
        let conn: std::io::Result<Box<dyn Conn>> = match &self.address {
            ClamdAddress::Tcp(a) => tokio::net::TcpStream::connect(a).await.map(|s| {
                let _ = s.set_nodelay(true);
                Box::new(s) as Box<dyn Conn>
            }),
            ClamdAddress::Unix(p) => tokio::net::UnixStream::connect(p)
                .await
                .map(|s| Box::new(s) as Box<dyn Conn>),
        };
        conn.map_err(|e| {
            Failure::caused(
                ErrorClass::ClamdConnection,
                format!("cannot connect to clamd at {}", self.address),
                e,
            )
        })
    }

    /// Sends a simple command (`PING`, `VERSION`) and reads the reply.
    async fn command(&self, cmd: &str) -> Result<String, Failure> {
        let io = async {
            let mut c = self.connect().await?;
            c.write_all(format!("z{cmd}\0").as_bytes()).await.map_err(io_fail)?;
            read_reply(&mut c).await
        };
        tokio::time::timeout(Duration::from_secs(10), io)
            .await
            .map_err(|_| Failure::new(ErrorClass::ClamdConnection, "clamd did not answer within 10 s"))?
    }

    async fn instream(&self, input: &mut ScanInput, hasher: &mut Sha256, sent: &mut u64) -> Result<Reply, Failure> {
        let mut c = self.connect().await?;
        c.write_all(b"zINSTREAM\0").await.map_err(io_fail)?;
        while let Some(chunk) = input.body.next().await {
            let chunk = chunk.map_err(|e| Failure::caused(ErrorClass::Unknown, "reading the item", e))?;
            hasher.update(&chunk);
            for piece in chunk.chunks(MAX_CHUNK) {
                let len = (piece.len() as u32).to_be_bytes();
                let wrote = async {
                    c.write_all(&len).await?;
                    c.write_all(piece).await
                }
                .await;
                if let Err(e) = wrote {
                    // clamd closes the stream when its size limit is hit; its reply says why.
                    return match read_reply(&mut c).await {
                        Ok(line) => Ok(parse_reply(&line)),
                        Err(_) => Err(io_fail(e)),
                    };
                }
                *sent += piece.len() as u64;
            }
        }
        c.write_all(&[0, 0, 0, 0]).await.map_err(io_fail)?;
        c.flush().await.map_err(io_fail)?;
        Ok(parse_reply(&read_reply(&mut c).await?))
    }

    /// The unix socket of clamd when `size` bytes of an open file may be passed to it by
    /// descriptor: only a local clamd can take one, and over its `MaxFileSize` clamd would
    /// answer OK without scanning, so larger files are streamed (and meet its stream limit).
    fn fdpass_socket(&self, size: Option<u64>) -> Option<&std::path::Path> {
        match &self.address {
            ClamdAddress::Unix(p) if size.is_some_and(|s| s <= self.fdpass_max_size) => Some(p),
            _ => None,
        }
    }

    /// `zFILDES`: the command, then the descriptor as `SCM_RIGHTS` on one byte of its own
    /// (clamd refuses a descriptor that arrives with the command), then one reply.
    async fn fildes(&self, socket: &std::path::Path, file: &std::fs::File) -> Result<Reply, Failure> {
        let mut c = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
            Failure::caused(
                ErrorClass::ClamdConnection,
                format!("cannot connect to clamd at {}", self.address),
                e,
            )
        })?;
        c.write_all(b"zFILDES\0").await.map_err(io_fail)?;
        send_descriptor(&c, file).await.map_err(io_fail)?;
        Ok(parse_reply(&read_reply(&mut c).await?))
    }

    /// Scans an open file by descriptor while its SHA-256 is computed beside it (the verdict
    /// names the content's hash and size as with `INSTREAM`). A file whose length changed
    /// meanwhile fails the attempt, as a stream that ends early does.
    async fn scan_descriptor(
        &self,
        socket: &std::path::Path,
        file: std::fs::File,
        size: u64,
    ) -> Result<(Reply, u64, [u8; 32]), Failure> {
        let file = Arc::new(file);
        let hashed = {
            let file = Arc::clone(&file);
            tokio::task::spawn_blocking(move || hash_file(&file, size))
        };
        let answer = async {
            tokio::time::timeout(self.answer_timeout, self.fildes(socket, &file))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::new(
                        ErrorClass::ClamdConnection,
                        format!("clamd did not answer within {:?}", self.answer_timeout),
                    ))
                })
        };
        let (reply, hashed) = tokio::join!(answer, hashed);
        let reply = reply?;
        let (digest, len) = hashed
            .map_err(|e| Failure::caused(ErrorClass::Unknown, "hashing the item stopped", e))?
            .map_err(|e| Failure::caused(ErrorClass::ConnectorConnection, "reading the item", e))?;
        if len != size {
            return Err(Failure::new(
                ErrorClass::ConnectorConnection,
                format!("the file changed size while it was scanned ({size} bytes, then {len})"),
            ));
        }
        Ok((reply, len, digest))
    }
}

/// Bytes read per call when hashing a file scanned by descriptor.
const HASH_CHUNK: usize = 256 * 1024;

/// SHA-256 and length of a file of `size` bytes, read by position so that the descriptor's
/// shared offset, which clamd may read from, is never moved. A file that grew is read only one
/// byte past `size` (enough to see it changed).
fn hash_file(file: &std::fs::File, size: u64) -> std::io::Result<([u8; 32], u64)> {
    use std::os::unix::fs::FileExt;
    let mut hasher = Sha256::new();
    let mut buf = vec![
        0u8;
        usize::try_from(size.saturating_add(1))
            .unwrap_or(HASH_CHUNK)
            .min(HASH_CHUNK)
    ];
    let mut at = 0u64;
    while at <= size {
        let want = usize::try_from(size + 1 - at).unwrap_or(buf.len()).min(buf.len());
        let n = match file.read_at(&mut buf[..want], at) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok((hasher.finalize().into(), at))
}

/// Sends one NUL byte carrying `file`'s descriptor (`SCM_RIGHTS`).
async fn send_descriptor(c: &tokio::net::UnixStream, file: &std::fs::File) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    loop {
        c.writable().await?;
        let sent = c.try_io(tokio::io::Interest::WRITABLE, || {
            let fds = [file.as_fd()];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                return Err(std::io::Error::other("no room for the descriptor"));
            }
            Ok(sendmsg(
                c,
                &[std::io::IoSlice::new(&[0])],
                &mut control,
                SendFlags::NOSIGNAL,
            )?)
        });
        match sent {
            Ok(1) => return Ok(()),
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "the descriptor was not sent",
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn io_fail(e: std::io::Error) -> Failure {
    Failure::caused(ErrorClass::ClamdConnection, "clamd I/O error", e)
}

async fn read_reply(c: &mut (impl AsyncRead + Unpin + ?Sized)) -> Result<String, Failure> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 512];
    loop {
        let n = c.read(&mut byte).await.map_err(io_fail)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&byte[..n]);
        if buf.contains(&0) || buf.len() > MAX_REPLY {
            break;
        }
    }
    if buf.is_empty() {
        return Err(Failure::new(
            ErrorClass::ClamdConnection,
            "clamd closed the connection without a reply",
        ));
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).trim_end().to_string())
}

#[async_trait]
impl Scanner for ClamdScanner {
    fn engine(&self) -> Engine {
        Engine::Clamd
    }

    fn version(&self) -> Option<String> {
        self.cached_version()
    }

    fn reuse_identity(&self) -> Option<EngineIdentity> {
        self.reuse.read().ok().and_then(|r| r.clone())
    }

    async fn refresh_version(&self) -> Result<(), Failure> {
        let line = self.command("VERSION").await?;
        if !line.starts_with("ClamAV") {
            return Err(Failure::new(
                ErrorClass::ClamdError,
                format!("unexpected VERSION reply '{line}'"),
            ));
        }
        if let Ok(mut v) = self.version.write() {
            *v = Some(describe_version(&line));
        }
        if let Ok(mut r) = self.reuse.write() {
            *r = reuse_identity_of(&line);
        }
        Ok(())
    }

    fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    async fn scan(&self, mut input: ScanInput) -> Result<Verdict, Failure> {
        let started = Instant::now();
        if self.cached_version().is_none() {
            // clamd was not reachable at start (or has not been asked yet): ask before the
            // first verdict so that it names its database; a failure leaves the scan to report.
            let _ = self.refresh_version().await;
        }
        let (reply, sent, digest) = match (input.local.take(), self.fdpass_socket(input.size)) {
            (Some(file), Some(socket)) => {
                self.scan_descriptor(socket, file, input.size.unwrap_or_default())
                    .await?
            }
            _ => {
                let mut hasher = Sha256::new();
                let mut sent = 0u64;
                // No fixed cap here: the pipeline bounds the source's pace, the verdict after the
                // last byte and the whole attempt, so a large file on a slow link is not cut at a
                // fixed time.
                let reply = self.instream(&mut input, &mut hasher, &mut sent).await?;
                (reply, sent, hasher.finalize().into())
            }
        };
        let (kind, details) = match reply {
            Reply::Clean => (VerdictKind::Benign, VerdictDetails::default()),
            Reply::Found(sig) => (
                VerdictKind::Malicious,
                VerdictDetails {
                    event_description: Some(sig),
                    reason: Some("clamd signature match".into()),
                    threat_type: None,
                },
            ),
            Reply::SizeLimit => {
                let mut v = Verdict::too_large(input.size, Engine::Clamd);
                v.scan_engine_version = self.cached_version();
                return Ok(v);
            }
            Reply::Error(line) => return Err(Failure::new(ErrorClass::ClamdError, format!("clamd: {line}"))),
        };
        let mut v = Verdict::bare(kind, Engine::Clamd);
        v.scan_engine_version = self.cached_version();
        v.scan_guid = Some(generate_scan_guid());
        v.verdict_details = details;
        v.file_info = Some(FileInfo {
            file_type: Some("Unknown".into()),
            file_size_in_bytes: i64::try_from(sent).ok(),
            file_hash: Some(hex::encode(digest)),
            container_hash: None,
            additional_office_data: None,
        });
        v.scan_duration_in_microseconds = started.elapsed().as_micros() as i64;
        v.dsxconnect_dsxa_elapsed_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        Ok(v)
    }

    /// `PING` → `PONG`.
    async fn probe(&self) -> Result<(), ProbeError> {
        match tokio::time::timeout(super::probe::PROBE_TIMEOUT, self.command("PING")).await {
            Ok(Ok(pong)) if pong == "PONG" => Ok(()),
            Ok(Ok(other)) => Err(ProbeError::UnexpectedPong(other)),
            Ok(Err(f)) => Err(ProbeError::Unreachable(f)),
            Err(_) => Err(ProbeError::NoAnswer(super::probe::PROBE_TIMEOUT)),
        }
    }

    async fn test_connection(&self) -> StatusResponse {
        let desc = "engine=clamd";
        let result = async {
            let pong = self.command("PING").await?;
            if pong != "PONG" {
                return Err(Failure::new(
                    ErrorClass::ClamdError,
                    format!("unexpected PING reply '{pong}'"),
                ));
            }
            self.command("VERSION").await
        }
        .await;
        match result {
            Ok(version) => StatusResponse::success(format!(
                "Successfully connected to clamd at {} ({version})",
                self.address
            ))
            .with_description(desc),
            Err(f) => {
                StatusResponse::error(format!("Scanner connection test failed: {}", f.message())).with_description(desc)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed() {
        assert_eq!(parse_reply("stream: OK"), Reply::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature.CustomHDB.UNOFFICIAL FOUND\0"),
            Reply::Found("Eicar-Test-Signature.CustomHDB.UNOFFICIAL".into())
        );
        assert_eq!(parse_reply("INSTREAM size limit exceeded. ERROR"), Reply::SizeLimit);
        assert!(matches!(parse_reply("Something broke. ERROR"), Reply::Error(_)));
    }

    #[test]
    fn hashing_reads_the_announced_size_and_sees_a_file_that_grew() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let (digest, len) = hash_file(&file, content.len() as u64).unwrap();
        assert_eq!(
            (hex::encode(digest), len),
            (hex::encode(Sha256::digest(&content)), 600_000)
        );
        // Announced shorter than it is: read one byte past, never the whole rest.
        assert_eq!(hash_file(&file, 10).unwrap().1, 11);
        assert_eq!(hash_file(&file, 700_000).unwrap().1, 600_000);
    }

    #[test]
    fn descriptor_replies_are_parsed_like_stream_replies() {
        assert_eq!(parse_reply("fd[11]: OK"), Reply::Clean);
        assert_eq!(
            parse_reply("fd[7]: Eicar-Test-Signature.Custom.UNOFFICIAL FOUND\0"),
            Reply::Found("Eicar-Test-Signature.Custom.UNOFFICIAL".into())
        );
        for other in [
            "fd[]: OK",
            "fd[x]: OK",
            "PROTOCOL ERROR: ancillary data sent without FILDES. ERROR",
            "fd[3]: lstat() failed: No such file or directory. ERROR",
        ] {
            assert!(matches!(parse_reply(other), Reply::Error(_)), "{other}");
        }
    }

    #[test]
    fn only_a_reported_database_gives_a_reuse_identity() {
        let a = reuse_identity_of("ClamAV 1.0.7/27480/Mon Dec  2 09:31:43 2024").unwrap();
        assert_eq!(a.as_str(), "clamd:ClamAV 1.0.7/27480");
        assert_ne!(
            Some(a),
            reuse_identity_of("ClamAV 1.0.7/27481/Tue Dec  3 09:31:43 2024")
        );
        assert_eq!(reuse_identity_of("ClamAV 1.4.6"), None);
    }

    #[test]
    fn versions_name_the_database_when_clamd_reports_one() {
        assert_eq!(
            describe_version("ClamAV 1.0.7/27480/Mon Dec  2 09:31:43 2024"),
            "ClamAV 1.0.7, database 27480 (Mon Dec  2 09:31:43 2024)"
        );
        assert_eq!(
            describe_version("ClamAV 1.4.6"),
            "ClamAV 1.4.6, database version not reported"
        );
        assert_eq!(describe_version("ClamAV 1.4.6/27480"), "ClamAV 1.4.6, database 27480");
    }

    #[test]
    fn addresses_take_four_forms() {
        assert_eq!(
            ClamdAddress::parse("tcp://127.0.0.1:3310").unwrap(),
            ClamdAddress::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            ClamdAddress::parse("localhost:3310").unwrap(),
            ClamdAddress::Tcp("localhost:3310".into())
        );
        assert_eq!(
            ClamdAddress::parse("unix:///run/c.sock").unwrap(),
            ClamdAddress::Unix("/run/c.sock".into())
        );
        assert_eq!(
            ClamdAddress::parse("/run/c.sock").unwrap(),
            ClamdAddress::Unix("/run/c.sock".into())
        );
        assert!(ClamdAddress::parse("nonsense").is_err());
    }
}
