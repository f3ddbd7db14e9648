//! Item actions on files (CONNECTORS §9.6): delete, move (never overwriting, across devices by
//! copy + fsync + delete), tag (user extended attributes) and movetag.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Outcome of a move.
#[derive(Debug)]
pub enum MoveError {
    /// Nothing changed; `transient` failures may be retried by the core (503).
    Failed { message: String, transient: bool },
    /// The copy exists at `dest` but the source could not be removed.
    SourceKept { dest: PathBuf, reason: String },
}

/// Errors that may pass if tried again (NFS and similar).
pub fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT | libc::EBUSY | libc::ESTALE | libc::ENOLCK)
    )
}

/// `rename` that fails instead of replacing an existing destination.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        // No RENAME_NOREPLACE here: a hard link also refuses to replace, then drop the source.
        fs::hard_link(from, to)?;
        return fs::remove_file(from);
    }
    Err(e)
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Candidate names `name`, `name.1`, `name.2`, … in `dir`.
fn candidates(dir: &Path, name: &std::ffi::OsStr) -> impl Iterator<Item = PathBuf> {
    let first = dir.join(name);
    let dir = dir.to_path_buf();
    let name = name.to_os_string();
    std::iter::once(first).chain((1u32..).map(move |i| {
        let mut n = name.clone();
        n.push(format!(".{i}"));
        dir.join(n)
    }))
}

/// Moves `src` (a real path) to `<quarantine>/<parent of rel>/<name>` without replacing
/// anything; returns the destination.
pub fn move_to_quarantine(src: &Path, rel: &Path, quarantine: &Path) -> Result<PathBuf, MoveError> {
    let failed = |message: String, e: &io::Error| MoveError::Failed {
        message,
        transient: is_transient(e),
    };
    let name = src.file_name().ok_or_else(|| MoveError::Failed {
        message: "the item has no file name".into(),
        transient: false,
    })?;
    let dest_dir = match rel.parent() {
        Some(p) => quarantine.join(p),
        None => quarantine.to_path_buf(),
    };
    fs::create_dir_all(&dest_dir).map_err(|e| failed(format!("cannot create {}: {e}", dest_dir.display()), &e))?;
    for dest in candidates(&dest_dir, name).take(10_000) {
        match rename_noreplace(src, &dest) {
            Ok(()) => {
                let _ = sync_dir(&dest_dir);
                return Ok(dest);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => return copy_across(src, &dest_dir, name),
            Err(e) => return Err(failed(format!("cannot move {}: {e}", src.display()), &e)),
        }
    }
    Err(MoveError::Failed {
        message: "no free destination name".into(),
        transient: false,
    })
}

/// Move across filesystems: exclusive temp file, copy, fsync, link to a free name, fsync the
/// folder, then remove the source (§9.6 move 4).
fn copy_across(src: &Path, dest_dir: &Path, name: &std::ffi::OsStr) -> Result<PathBuf, MoveError> {
    let failed = |message: String, e: &io::Error| MoveError::Failed {
        message,
        transient: is_transient(e),
    };
    let tmp = dest_dir.join(format!(".dsx-tmp-{}", uuid::Uuid::new_v4().simple()));
    let cleanup = |tmp: &Path| {
        let _ = fs::remove_file(tmp);
    };
    let result = (|| -> io::Result<()> {
        let mut input = File::open(src)?;
        let meta = input.metadata()?;
        let mut out = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        io::copy(&mut input, &mut out)?;
        out.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        set_mtime(&out, &meta)?;
        copy_user_xattrs(src, &tmp);
        out.flush()?;
        out.sync_all()
    })();
    if let Err(e) = result {
        cleanup(&tmp);
        return Err(failed(
            format!("copying {} across filesystems failed: {e}", src.display()),
            &e,
        ));
    }
    let mut placed = None;
    for dest in candidates(dest_dir, name).take(10_000) {
        match fs::hard_link(&tmp, &dest) {
            Ok(()) => {
                placed = Some(dest);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                cleanup(&tmp);
                return Err(failed(format!("cannot place the copy: {e}"), &e));
            }
        }
    }
    cleanup(&tmp);
    let Some(dest) = placed else {
        return Err(MoveError::Failed {
            message: "no free destination name".into(),
            transient: false,
        });
    };
    let _ = sync_dir(dest_dir);
    if let Err(e) = fs::remove_file(src) {
        return Err(MoveError::SourceKept {
            dest,
            reason: e.to_string(),
        });
    }
    if let Some(parent) = src.parent() {
        let _ = sync_dir(parent);
    }
    Ok(dest)
}

fn set_mtime(f: &File, meta: &fs::Metadata) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    // SAFETY: a valid open fd and a two-element timespec array.
    let rc = unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn copy_user_xattrs(from: &Path, to: &Path) {
    let Ok(names) = list_xattrs(from) else { return };
    for n in names.iter().filter(|n| n.starts_with(b"user.")) {
        if let Ok(v) = get_xattr(from, n) {
            let _ = set_xattr(to, n, &v);
        }
    }
}

fn list_xattrs(p: &Path) -> io::Result<Vec<Vec<u8>>> {
    let c = cstr(p)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid path and a buffer of the size passed.
    let n = unsafe { libc::listxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn get_xattr(p: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
    let (c, n) = (
        cstr(p)?,
        CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    );
    let mut buf = vec![0u8; 65_536];
    // SAFETY: valid path, name and a buffer of the size passed.
    let len = unsafe { libc::getxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// Sets an extended attribute on a file (not following a final link).
pub fn set_xattr(p: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let (c, n) = (
        cstr(p)?,
        CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    );
    // SAFETY: valid path, name and value buffer for the duration of the call.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn remove_xattr(p: &Path, name: &[u8]) -> io::Result<()> {
    let (c, n) = (
        cstr(p)?,
        CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    );
    // SAFETY: valid path and name.
    let rc = unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an error means "this filesystem has no user extended attributes".
pub fn xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::ENOSYS))
}

/// Probes tag support on a folder by setting and removing `user.dsx.probe`.
pub fn probe_xattrs(dir: &Path) -> io::Result<()> {
    set_xattr(dir, b"user.dsx.probe", b"1")?;
    remove_xattr(dir, b"user.dsx.probe")
}

/// Writes the verdict attributes (§9.6 tag 1).
pub fn tag_file(p: &Path, scan_time: bool, engine: Option<&str>) -> io::Result<()> {
    set_xattr(p, b"user.dsx.verdict", b"Malicious")?;
    if scan_time {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        set_xattr(p, b"user.dsx.scan_time", now.as_bytes())?;
    }
    if let Some(e) = engine {
        set_xattr(p, b"user.dsx.scan_engine", e.as_bytes())?;
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
        for i in 0..3 {
            let src = dir.path().join(format!("x{i}.exe"));
            std::fs::write(&src, format!("v{i}")).unwrap();
            let renamed = dir.path().join("x.exe");
            std::fs::rename(&src, &renamed).unwrap();
            let dest = move_to_quarantine(&renamed, Path::new("sub1/x.exe"), &q).unwrap();
            let want = if i == 0 {
                "x.exe".to_string()
            } else {
                format!("x.exe.{i}")
            };
            assert_eq!(dest, q.join("sub1").join(want));
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), format!("v{i}"));
            assert!(!renamed.exists());
        }
    }

    #[test]
    fn the_cross_device_path_copies_then_removes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.bin");
        std::fs::write(&src, vec![7u8; 100_000]).unwrap();
        let q = dir.path().join("q");
        std::fs::create_dir_all(&q).unwrap();
        std::fs::write(q.join("a.bin"), "existing").unwrap();
        let dest = copy_across(&src, &q, std::ffi::OsStr::new("a.bin")).unwrap();
        assert_eq!(dest, q.join("a.bin.1"));
        assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 100_000]);
        assert_eq!(std::fs::read_to_string(q.join("a.bin")).unwrap(), "existing");
        assert!(!src.exists());
        assert!(
            std::fs::read_dir(&q)
                .unwrap()
                .all(|e| !e.unwrap().file_name().to_string_lossy().starts_with(".dsx-tmp"))
        );
    }
}
