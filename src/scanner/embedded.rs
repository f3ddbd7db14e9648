//! The built-in engine (docs/reference/CORE-API.md, "Built-in test engine"): a **test engine** that
//! needs no service and streams in constant memory.
//!
//! It detects the EICAR test signature anywhere in the stream (also across chunk boundaries)
//! and contents whose SHA-256 is on a block list; nothing else. That is enough to exercise every
//! path of the product (detection, quarantine, SIEM events) on a laptop, but its `Benign` only
//! means "neither of those": real protection comes from DSXA or ClamAV. Its verdicts therefore
//! carry the version `builtin-test <dsx-connect version>`, and result tags never call them clean.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Instant;

use async_trait::async_trait;
use futures_util::StreamExt;
use memchr::memmem;
use sha2::{Digest, Sha256};

use super::{ProbeError, ScanInput, Scanner};
use crate::config::core::ScannerSettings;
use crate::failure::{ErrorClass, Failure};
use crate::model::verdict::{FileInfo, VerdictDetails, generate_scan_guid};
use crate::model::{Engine, EngineIdentity, StatusResponse, Verdict, VerdictKind};

/// The label of the built-in engine in versions, the UI and the CLI.
pub const TEST_ENGINE_LABEL: &str = "builtin-test";

/// What the built-in engine's verdicts mean, for `/meta`, the CLI and the start-up warning.
pub const TEST_ENGINE_NOTE: &str = "built-in test engine: detects only the EICAR test file and the SHA-256 hash list; \
     every other file is reported Benign without being examined for malware";

/// The reason given with the result tag of a built-in `Benign` verdict (`not_scanned`).
pub const TEST_ENGINE_TAG_REASON: &str = "builtin-test engine: only EICAR and the hash list are detected";

/// The version on every verdict of the built-in engine.
pub fn test_engine_version() -> String {
    format!("{TEST_ENGINE_LABEL} {}", crate::VERSION)
}

/// The 68-byte EICAR test string, XOR-masked with [`EICAR_KEY`]: stored in the clear, the
/// dsx-connect binary would itself contain the signature and be flagged by every scanner that
/// looks at the install folder (this one included).
const EICAR_MASKED: [u8; 68] = [
    0xfd, 0x90, 0xea, 0x84, 0xf5, 0x80, 0xe5, 0xe4, 0xf5, 0xfe, 0x91, 0xf9, 0xf5, 0xff, 0xfd, 0x90, 0x91, 0x8d, 0xf5,
    0xfb, 0x8c, 0x92, 0xe6, 0xe6, 0x8c, 0x92, 0xd8, 0x81, 0xe0, 0xec, 0xe6, 0xe4, 0xf7, 0x88, 0xf6, 0xf1, 0xe4, 0xeb,
    0xe1, 0xe4, 0xf7, 0xe1, 0x88, 0xe4, 0xeb, 0xf1, 0xec, 0xf3, 0xec, 0xf7, 0xf0, 0xf6, 0x88, 0xf1, 0xe0, 0xf6, 0xf1,
    0x88, 0xe3, 0xec, 0xe9, 0xe0, 0x84, 0x81, 0xed, 0x8e, 0xed, 0x8f,
];
const EICAR_KEY: u8 = 0xa5;

/// Decoded once at run time; `black_box` keeps the optimiser from folding the decoded string
/// back into the binary as a constant.
static EICAR: LazyLock<[u8; 68]> = LazyLock::new(|| {
    let key = std::hint::black_box(EICAR_KEY);
    EICAR_MASKED.map(|b| b ^ key)
});

/// The EICAR anti-virus test string (docs/reference/CORE-API.md, "Built-in test engine").
pub fn eicar() -> &'static [u8] {
    &EICAR[..]
}

pub struct EmbeddedScanner {
    blocklist: HashMap<[u8; 32], String>,
    max_file_size: u64,
    /// This version and a digest of the hash list: a changed list rescans everything.
    reuse: EngineIdentity,
}

/// SHA-256 over the sorted entries of a hash list (digest and label), so its identity does not
/// depend on the file's order, comments or spacing.
fn blocklist_digest(list: &HashMap<[u8; 32], String>) -> String {
    let mut entries: Vec<_> = list.iter().collect();
    entries.sort();
    let mut h = Sha256::new();
    for (digest, label) in entries {
        h.update(digest);
        h.update(label.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

impl EmbeddedScanner {
    pub fn new(settings: &ScannerSettings) -> anyhow::Result<Self> {
        let blocklist = match &settings.sha256_blocklist {
            Some(p) => load_blocklist(p)?,
            None => HashMap::new(),
        };
        let reuse = EngineIdentity::new(
            Engine::Embedded,
            format!("{}/{}", test_engine_version(), blocklist_digest(&blocklist)),
        );
        Ok(Self {
            blocklist,
            max_file_size: settings.max_file_size,
            reuse,
        })
    }
}

/// One hex digest per line, optional label after whitespace, `#` comments.
pub fn load_blocklist(path: &Path) -> anyhow::Result<HashMap<[u8; 32], String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "DSXCONNECT_SCANNER__SHA256_BLOCKLIST: cannot read {}: {e}",
            path.display()
        )
    })?;
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let hex = parts.next().unwrap_or("");
        let label = parts.next().map(str::trim).filter(|l| !l.is_empty());
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex.to_ascii_lowercase(), &mut digest).map_err(|_| {
            anyhow::anyhow!(
                "DSXCONNECT_SCANNER__SHA256_BLOCKLIST: {} line {}: '{hex}' is not a SHA-256 hex digest",
                path.display(),
                n + 1
            )
        })?;
        out.insert(digest, label.unwrap_or("sha256-blocklist").to_string());
    }
    Ok(out)
}

/// Finds EICAR in a sequence of chunks without joining them: each chunk is searched on its own,
/// and the seam with the previous chunk through a small window.
#[derive(Default)]
pub struct EicarSearch {
    tail: Vec<u8>,
    found: bool,
}

impl EicarSearch {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.found || chunk.is_empty() {
            return;
        }
        let eicar = eicar();
        let n = eicar.len();
        if !self.tail.is_empty() {
            let take = chunk.len().min(n - 1);
            let mut seam = Vec::with_capacity(self.tail.len() + take);
            seam.extend_from_slice(&self.tail);
            seam.extend_from_slice(&chunk[..take]);
            if memmem::find(&seam, eicar).is_some() {
                self.found = true;
                return;
            }
        }
        if memmem::find(chunk, eicar).is_some() {
            self.found = true;
            return;
        }
        // Keep the last n-1 bytes of everything seen so far.
        if chunk.len() >= n - 1 {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - (n - 1)..]);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(n - 1);
            self.tail.drain(..excess);
        }
    }

    pub fn found(&self) -> bool {
        self.found
    }
}

/// A DSXA-style file type name from the first bytes.
pub fn sniff_file_type(head: &[u8]) -> &'static str {
    if head.starts_with(b"%PDF") {
        "PDFFileType"
    } else if head.starts_with(b"PK\x03\x04") {
        "ZipFileType"
    } else if head.starts_with(b"MZ") {
        "PEFileType"
    } else if head.starts_with(b"\x7fELF") {
        match head.get(4) {
            Some(2) => "ELF64FileType",
            _ => "ELF32FileType",
        }
    } else {
        "Unknown"
    }
}

#[async_trait]
impl Scanner for EmbeddedScanner {
    fn engine(&self) -> Engine {
        Engine::Embedded
    }

    fn version(&self) -> Option<String> {
        Some(test_engine_version())
    }

    fn reuse_identity(&self) -> Option<EngineIdentity> {
        Some(self.reuse.clone())
    }

    fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    async fn scan(&self, mut input: ScanInput) -> Result<Verdict, Failure> {
        let started = Instant::now();
        let mut hasher = Sha256::new();
        let mut search = EicarSearch::default();
        let mut head: Vec<u8> = Vec::with_capacity(8);
        let mut size: u64 = 0;
        while let Some(chunk) = input.body.next().await {
            let chunk = chunk.map_err(|e| Failure::caused(ErrorClass::Unknown, "reading the item", e))?;
            if head.len() < 8 {
                head.extend_from_slice(&chunk[..chunk.len().min(8 - head.len())]);
            }
            size += chunk.len() as u64;
            hasher.update(&chunk);
            search.feed(&chunk);
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let (kind, details) = if search.found() {
            (
                VerdictKind::Malicious,
                VerdictDetails {
                    event_description: Some("EICAR-Test-File".into()),
                    reason: Some("signature match".into()),
                    threat_type: None,
                },
            )
        } else if let Some(label) = self.blocklist.get(&digest) {
            (
                VerdictKind::Malicious,
                VerdictDetails {
                    event_description: Some(label.clone()),
                    reason: Some("sha256 blocklist".into()),
                    threat_type: None,
                },
            )
        } else {
            (
                VerdictKind::Benign,
                VerdictDetails {
                    event_description: Some("No threat detected".into()),
                    reason: None,
                    threat_type: None,
                },
            )
        };
        let mut v = Verdict::bare(kind, Engine::Embedded);
        v.scan_engine_version = Some(test_engine_version());
        v.scan_guid = Some(generate_scan_guid());
        v.verdict_details = details;
        v.file_info = Some(FileInfo {
            file_type: Some(sniff_file_type(&head).into()),
            file_size_in_bytes: i64::try_from(size).ok(),
            file_hash: Some(hex::encode(digest)),
            container_hash: None,
            additional_office_data: None,
        });
        v.scan_duration_in_microseconds = started.elapsed().as_micros() as i64;
        Ok(v)
    }

    /// In process: there whenever the core is.
    async fn probe(&self) -> Result<(), ProbeError> {
        Ok(())
    }

    async fn test_connection(&self) -> StatusResponse {
        let mut search = EicarSearch::default();
        search.feed(&eicar()[..30]);
        search.feed(&eicar()[30..]);
        let desc = "engine=embedded";
        if search.found() {
            StatusResponse::success("Embedded scanner ready").with_description(desc)
        } else {
            StatusResponse::error("Scanner connection test failed: EICAR self-test did not detect the signature")
                .with_description(desc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_list_is_part_of_the_reuse_identity() {
        let mut a = HashMap::new();
        a.insert([1u8; 32], "x".to_string());
        let mut b = a.clone();
        assert_eq!(blocklist_digest(&a), blocklist_digest(&b));
        b.insert([2u8; 32], "y".to_string());
        assert_ne!(blocklist_digest(&a), blocklist_digest(&b));
        assert_ne!(blocklist_digest(&a), blocklist_digest(&HashMap::new()));
    }

    #[test]
    fn the_masked_string_decodes_to_eicar() {
        // The test binary may hold the string; the shipped binaries are checked in tests/process.rs.
        let clear: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        assert_eq!(eicar(), clear);
    }

    fn found_in(chunks: &[&[u8]]) -> bool {
        let mut s = EicarSearch::default();
        for c in chunks {
            s.feed(c);
        }
        s.found()
    }

    #[test]
    fn eicar_is_found_at_any_offset_and_across_every_split() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(eicar());
        data.extend_from_slice(b"tail");
        for cut in 0..data.len() {
            assert!(found_in(&[&data[..cut], &data[cut..]]), "cut at {cut}");
        }
        // Many tiny chunks.
        let pieces: Vec<&[u8]> = data.chunks(3).collect();
        assert!(found_in(&pieces));
    }

    #[test]
    fn near_misses_are_not_detected() {
        let mut almost = eicar().to_vec();
        almost[10] = b'?';
        assert!(!found_in(&[&almost]));
        assert!(!found_in(&[&eicar()[..67], b"", &eicar()[..1]]));
    }

    #[test]
    fn file_types_are_sniffed() {
        assert_eq!(sniff_file_type(b"%PDF-1.7"), "PDFFileType");
        assert_eq!(sniff_file_type(b"\x7fELF\x02"), "ELF64FileType");
        assert_eq!(sniff_file_type(b"hello"), "Unknown");
    }
}
