//! Item actions on files (docs/reference/CONNECTORS.md, "Filesystem item actions"): delete, move
//! (never overwriting, across devices by copy + fsync + delete), tag (user extended attributes) and
//! movetag.
//!
//! Every action works on directory descriptors opened beneath the asset and the quarantine
//! root ([`Dir`]): the file is named as an entry of its held parent folder, quarantine folders
//! are created one name at a time refusing links, so neither a folder swapped during the action
//! nor a link planted in either tree can make it touch anything outside them.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::XattrFlags;

use super::beneath::{Dir, is_link_refusal};

/// Outcome of a move.
#[derive(Debug)]
pub enum MoveError {
    /// Nothing changed; `transient` failures may be retried by the core (503).
    Failed { message: String, transient: bool },
    /// The copy exists at `dest` but the source could not be removed.
    SourceKept { dest: PathBuf, reason: String },
}

/// Where a moved file now is: an entry of a held quarantine folder.
#[derive(Debug)]
pub struct Placed {
    pub dir: Dir,
    pub name: OsString,
}

impl Placed {
    /// The destination's path, for the answer.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
}

/// Errors that may pass if tried again (NFS and similar).
pub fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT | libc::EBUSY | libc::ESTALE | libc::ENOLCK)
    )
}

fn failed(message: String, e: &io::Error) -> MoveError {
    MoveError::Failed {
        message,
        transient: is_transient(e),
    }
}

/// Candidate names `name`, `name.1`, `name.2`, … (at most 10,000).
fn candidates(name: &OsStr) -> impl Iterator<Item = OsString> {
    let name = name.to_os_string();
    std::iter::once(name.clone())
        .chain((1u32..).map(move |i| {
            let mut n = name.clone();
            n.push(format!(".{i}"));
            n
        }))
        .take(10_000)
}

/// Moves entry `name` of `from` to `<quarantine>/<rel_parent>/<name>` (or the first free
/// `<name>.N`) without replacing anything.
pub fn move_to_quarantine(from: &Dir, name: &OsStr, rel_parent: &Path, quarantine: &Dir) -> Result<Placed, MoveError> {
    let dest = quarantine.create_subdirs(rel_parent).map_err(|e| {
        let message = if is_link_refusal(&e) {
            format!(
                "the quarantine folder {} holds a link or foreign mount on the way to {}; nothing was moved",
                quarantine.path().display(),
                rel_parent.display()
            )
        } else {
            format!("cannot create {}: {e}", quarantine.path().join(rel_parent).display())
        };
        failed(message, &e)
    })?;
    for candidate in candidates(name) {
        match from.rename_noreplace(name, &dest, &candidate) {
            Ok(()) => {
                let _ = dest.sync();
                return Ok(Placed {
                    dir: dest,
                    name: candidate,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => return copy_across(from, name, dest),
            Err(e) => {
                return Err(failed(
                    format!("cannot move {}: {e}", from.path().join(name).display()),
                    &e,
                ));
            }
        }
    }
    Err(MoveError::Failed {
        message: "no free destination name".into(),
        transient: false,
    })
}

/// Move across filesystems: exclusive temp file, copy, fsync, link to a free name, fsync the
/// folder, then remove the source ("Filesystem item actions", move, step 4).
fn copy_across(from: &Dir, name: &OsStr, dest: Dir) -> Result<Placed, MoveError> {
    let tmp = OsString::from(format!(".dsx-tmp-{}", uuid::Uuid::new_v4().simple()));
    let copied = (|| -> io::Result<()> {
        let mut input = from.open_file(Path::new(name))?;
        let meta = input.metadata()?;
        let mut out = dest.create_file(&tmp)?;
        io::copy(&mut input, &mut out)?;
        out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        set_times(&out, &meta)?;
        copy_user_xattrs(&input, &out);
        out.flush()?;
        out.sync_all()
    })();
    if let Err(e) = copied {
        let _ = dest.remove(&tmp);
        return Err(failed(
            format!(
                "copying {} across filesystems failed: {e}",
                from.path().join(name).display()
            ),
            &e,
        ));
    }
    let mut placed = None;
    for candidate in candidates(name) {
        match dest.link_to(&tmp, &dest, &candidate) {
            Ok(()) => {
                placed = Some(candidate);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = dest.remove(&tmp);
                return Err(failed(format!("cannot place the copy: {e}"), &e));
            }
        }
    }
    let _ = dest.remove(&tmp);
    let Some(candidate) = placed else {
        return Err(MoveError::Failed {
            message: "no free destination name".into(),
            transient: false,
        });
    };
    let _ = dest.sync();
    let placed = Placed {
        dir: dest,
        name: candidate,
    };
    if let Err(e) = from.remove(name) {
        return Err(MoveError::SourceKept {
            dest: placed.path(),
            reason: e.to_string(),
        });
    }
    let _ = from.sync();
    Ok(placed)
}

fn set_times(f: &File, meta: &fs::Metadata) -> io::Result<()> {
    let ts = |sec: i64, nsec: i64| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    Ok(rustix::fs::futimens(f, &times)?)
}

fn copy_user_xattrs(from: &File, to: &File) {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::flistxattr(from, &mut names[..]) else {
        return;
    };
    let mut value = vec![0u8; 65_536];
    for name in names[..n].split(|b| *b == 0).filter(|s| s.starts_with(b"user.")) {
        let Ok(name) = std::str::from_utf8(name) else { continue };
        if let Ok(len) = rustix::fs::fgetxattr(from, name, &mut value[..]) {
            let _ = rustix::fs::fsetxattr(to, name, &value[..len], XattrFlags::empty());
        }
    }
}

/// Sets an extended attribute on an open file.
pub fn set_xattr(f: &File, name: &str, value: &[u8]) -> io::Result<()> {
    Ok(rustix::fs::fsetxattr(f, name, value, XattrFlags::empty())?)
}

/// Whether an error means "this filesystem has no user extended attributes".
pub fn xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::ENOSYS))
}

/// Probes tag support on a folder by setting and removing `user.dsx.probe`.
pub fn probe_xattrs(dir: &Path) -> io::Result<()> {
    let d = File::open(dir)?;
    set_xattr(&d, "user.dsx.probe", b"1")?;
    Ok(rustix::fs::fremovexattr(&d, "user.dsx.probe")?)
}

/// Writes the verdict attributes ("Filesystem item actions", tag, step 1) on an open file.
pub fn tag_file(f: &File, scan_time: bool, engine: Option<&str>) -> io::Result<()> {
    set_xattr(f, "user.dsx.verdict", b"Malicious")?;
    if scan_time {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        set_xattr(f, "user.dsx.scan_time", now.as_bytes())?;
    }
    if let Some(e) = engine {
        set_xattr(f, "user.dsx.scan_engine", e.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_keep_the_relative_path_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("q");
        std::fs::create_dir_all(&q).unwrap();
        let (from, quarantine) = (Dir::open(dir.path()).unwrap(), Dir::open(&q).unwrap());
        for i in 0..3 {
            std::fs::write(dir.path().join("x.exe"), format!("v{i}")).unwrap();
            let placed = move_to_quarantine(&from, OsStr::new("x.exe"), Path::new("sub1"), &quarantine).unwrap();
            let want = if i == 0 {
                "x.exe".to_string()
            } else {
                format!("x.exe.{i}")
            };
            assert_eq!(placed.path(), q.join("sub1").join(want));
            assert_eq!(std::fs::read_to_string(placed.path()).unwrap(), format!("v{i}"));
            assert!(!dir.path().join("x.exe").exists());
        }
    }

    #[test]
    fn a_link_in_the_quarantine_tree_stops_the_move() {
        let dir = tempfile::tempdir().unwrap();
        let (q, elsewhere) = (dir.path().join("q"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&q).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, q.join("sub")).unwrap();
        std::fs::write(dir.path().join("x.exe"), "x").unwrap();
        let (from, quarantine) = (Dir::open(dir.path()).unwrap(), Dir::open(&q).unwrap());
        let err = move_to_quarantine(&from, OsStr::new("x.exe"), Path::new("sub"), &quarantine).unwrap_err();
        assert!(
            matches!(err, MoveError::Failed { ref message, .. } if message.contains("link")),
            "{err:?}"
        );
        assert!(dir.path().join("x.exe").exists());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn the_cross_device_path_copies_then_removes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), vec![7u8; 100_000]).unwrap();
        let q = dir.path().join("q");
        std::fs::create_dir_all(&q).unwrap();
        std::fs::write(q.join("a.bin"), "existing").unwrap();
        let (from, dest) = (Dir::open(dir.path()).unwrap(), Dir::open(&q).unwrap());
        let placed = copy_across(&from, OsStr::new("a.bin"), dest).unwrap();
        assert_eq!(placed.path(), q.join("a.bin.1"));
        assert_eq!(std::fs::read(placed.path()).unwrap(), vec![7u8; 100_000]);
        assert_eq!(std::fs::read_to_string(q.join("a.bin")).unwrap(), "existing");
        assert!(!dir.path().join("a.bin").exists());
        assert!(
            std::fs::read_dir(&q)
                .unwrap()
                .all(|e| !e.unwrap().file_name().to_string_lossy().starts_with(".dsx-tmp"))
        );
    }
}
