//! A tree that is hard to walk: names that are not valid UTF-8 (an EICAR file among them), a
//! folder nobody may read, and symbolic link loops; plus a way to run the process that walks it
//! without the privileges that would let it read that folder anyway.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EICAR;

/// The unprivileged user and group the walking process runs as when the tests run as root.
pub const NOBODY: u32 = 65534;

/// The EICAR file, relative to the tree: a folder and a file name with bytes that are not UTF-8,
/// and a control byte.
pub const EICAR_REL: &[u8] = b"d\xfeir/eicar\xff\x01.com";
/// Its location as the connector sends it (after the asset path).
pub const EICAR_LOCATION_TAIL: &str = "/d%FEir/eicar%FF%01.com";
/// Readable files in the tree (the EICAR one included).
pub const READABLE_FILES: u64 = 4;

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The tree in a temporary folder; dropping it makes `locked/` removable first.
pub struct Tree(tempfile::TempDir);

impl Tree {
    pub fn new() -> Self {
        let t = Self(tempfile::tempdir().unwrap());
        build(t.path());
        t
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(self.path().join("locked"), std::fs::Permissions::from_mode(0o755));
    }
}

/// Builds the tree in `root`: four readable files (one EICAR), `locked/` (mode 000, with a file
/// in it that must never be scanned) and two link loops. When the tests run as root everything
/// is handed to [`NOBODY`], who can then quarantine but not read `locked/`.
fn build(root: &Path) {
    let write = |rel: &[u8], body: &[u8]| {
        let p = root.join(os(rel));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    };
    write(b"ok.txt", b"fine");
    write(b"utf8 \xc3\xbc.txt", b"umlaut");
    write(EICAR_REL, EICAR);
    write(b"d\xfeir/caf\xe9.txt", b"latin-1 name");
    write(b"locked/hidden.txt", b"never scanned");
    std::os::unix::fs::symlink(".", root.join("loop")).unwrap();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("a/b/up")).unwrap();
    if is_root() {
        chown_tree(root);
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
}

fn chown_tree(dir: &Path) {
    std::os::unix::fs::lchown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            chown_tree(&e.path());
        } else {
            std::os::unix::fs::lchown(e.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
}

/// A folder the walking process may write (its data folder).
pub fn writable_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    d
}

/// `program` run so that mode 000 keeps it out: as root, under `setpriv` as [`NOBODY`] with no
/// capabilities (root reads any folder); otherwise as is. A missing `setpriv` fails the test.
pub fn unprivileged(program: &Path) -> Command {
    if !is_root() {
        return Command::new(program);
    }
    let mut c = Command::new("setpriv");
    c.args([
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".into(),
        "--inh-caps=-all".into(),
        "--bounding-set=-all".into(),
        "--".into(),
    ])
    .arg(program);
    c
}

/// The quarantined EICAR file below `quarantine`.
pub fn quarantined_eicar(quarantine: &Path) -> PathBuf {
    quarantine.join(os(EICAR_REL))
}
