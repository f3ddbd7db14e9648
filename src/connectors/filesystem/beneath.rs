//! Directory descriptors confined beneath a root folder.
//!
//! A path checked by name and then used by name can be changed in between: a folder swapped
//! for a link, a link planted where a file was. Every operation here instead starts from a
//! descriptor of the root and lets the kernel resolve each step relative to it, refusing links
//! and `..` (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or one `O_NOFOLLOW` step per
//! component where `openat2` is missing). The final operation then names one entry of a held
//! directory descriptor, so nothing swapped in the meantime can lead outside the root.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, ResolveFlags};

/// Times `openat2` is retried when the kernel answers `EAGAIN` (a rename raced the lookup).
const EAGAIN_RETRIES: usize = 16;

/// An open directory at a known display path, beneath which everything else is opened.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// Where the directory is, for answers and messages (never used to reach it).
    path: PathBuf,
}

/// The names of `rel`, refusing anything but plain names (no root, `.` or `..`).
fn plain_names(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            )),
        })
        .collect()
}

/// Whether an error means a link (or a mount crossing) was met where none may be.
pub fn is_link_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV))
}

impl Dir {
    /// Opens a configured folder (the asset or quarantine root). Links in the configured path
    /// itself are the operator's choice and are followed; nothing below it is.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The display path of this directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` beneath this directory with `flags`, refusing every link on the way and at
    /// the end.
    fn open_beneath(&self, rel: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let names = plain_names(rel)?;
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        if names.is_empty() {
            return Ok(rustix::fs::openat(&self.fd, ".", flags, mode)?);
        }
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..EAGAIN_RETRIES {
            match rustix::fs::openat2(&self.fd, rel, flags, mode, resolve) {
                Ok(fd) => return Ok(fd),
                Err(rustix::io::Errno::AGAIN) => continue,
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => break,
                Err(e) => return Err(e.into()),
            }
        }
        // No openat2 (old kernel, seccomp) or a lookup that kept racing renames: one step per
        // name, each refusing a link.
        let (last, dirs) = names.split_last().expect("not empty");
        let mut cur: Option<OwnedFd> = None;
        for name in dirs {
            let base = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
            let next = rustix::fs::openat(
                base,
                *name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            cur = Some(next);
        }
        let base = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
        Ok(rustix::fs::openat(base, *last, flags, mode)?)
    }

    /// The directory `rel` beneath this one (no link followed).
    pub fn subdir(&self, rel: &Path) -> io::Result<Dir> {
        let fd = self.open_beneath(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        Ok(Dir {
            fd,
            path: self.path.join(rel),
        })
    }

    /// The directory `rel` beneath this one, creating missing folders (mode 0700) one name at
    /// a time; an existing link anywhere on the way is refused, never followed.
    pub fn create_subdirs(&self, rel: &Path) -> io::Result<Dir> {
        let mut cur = self.subdir(Path::new(""))?;
        for name in plain_names(rel)? {
            match rustix::fs::mkdirat(&cur.fd, name, Mode::RWXU) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            cur = match cur.subdir(Path::new(name)) {
                Ok(d) => d,
                // `O_DIRECTORY | O_NOFOLLOW` on a link says "not a directory": name it for what it is.
                Err(_) if matches!(cur.kind_of(name), Ok(Some(FileType::Symlink))) => {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// Opens the regular file `name` of this directory for reading (no link followed,
    /// never blocking on a FIFO); anything but a regular file is refused.
    pub fn open_file(&self, rel: &Path) -> io::Result<std::fs::File> {
        let fd = self.open_beneath(rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok(std::fs::File::from(fd))
    }

    /// Creates a new file `name` (exclusive; mode 0600) in this directory for writing.
    pub fn create_file(&self, name: &OsStr) -> io::Result<std::fs::File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?;
        Ok(std::fs::File::from(fd))
    }

    /// The type of entry `name` (links not followed), `None` when it does not exist.
    pub fn kind_of(&self, name: &OsStr) -> io::Result<Option<FileType>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the entry `name` of this directory (a file; never a folder).
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Moves entry `name` of this directory to `to_name` in `to`, never replacing an existing
    /// entry (`AlreadyExists` then).
    pub fn rename_noreplace(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        match rustix::fs::renameat_with(&self.fd, name, &to.fd, to_name, rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                // No RENAME_NOREPLACE on this filesystem: a hard link refuses to replace too,
                // then the source name goes.
                self.link_to(name, to, to_name)?;
                self.remove(name)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A new name `to_name` in `to` for entry `name` of this directory (never replacing).
    pub fn link_to(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::linkat(&self.fd, name, &to.fd, to_name, AtFlags::empty())?)
    }

    /// Flushes the directory's entries to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_dot_dot_are_refused_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::write(dir.path().join("out/f"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("out"), root.join("a/link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("out/f"), root.join("a/flink")).unwrap();
        let d = Dir::open(&root).unwrap();
        assert!(d.open_file(Path::new("a/b/f")).is_ok());
        for bad in ["a/link/f", "a/flink", "../out/f", "/etc/passwd", "a/../a/b/f"] {
            assert!(d.open_file(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(d.subdir(Path::new("a/link")).is_err());
        assert!(d.create_subdirs(Path::new("a/link/new")).is_err());
        assert!(!dir.path().join("out/new").exists());
        let made = d.create_subdirs(Path::new("a/x/y")).unwrap();
        assert_eq!(made.path(), root.join("a/x/y"));
        assert!(root.join("a/x/y").is_dir());
        assert_eq!(
            d.subdir(Path::new("a")).unwrap().kind_of(OsStr::new("flink")).unwrap(),
            Some(FileType::Symlink)
        );
    }

    #[test]
    fn renames_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "a").unwrap();
        std::fs::write(dir.path().join("b"), "b").unwrap();
        let d = Dir::open(dir.path()).unwrap();
        let e = d.rename_noreplace(OsStr::new("a"), &d, OsStr::new("b")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        d.rename_noreplace(OsStr::new("a"), &d, OsStr::new("c")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("c")).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "b");
    }
}
