//! Unix: `O_NOFOLLOW`, explicit modes, owner checks, a lock on the directory itself.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use rustix::fs::{Mode, OFlags};
use zeroize::Zeroizing;

use super::{LOCK_TIMEOUT, WriteMode, lock_within};
use crate::Error;

/// Writes `contents` to `path` atomically and durably, mode `0600`, in a private directory.
///
/// See the [module docs](super) for the exact steps. Errors: [`Error::Symlink`] if `path`
/// or its directory is a symlink, [`Error::InsecurePermissions`] / [`Error::WrongOwner`]
/// for a directory other users could write to, [`Error::AlreadyExists`] with
/// [`WriteMode::CreateNew`], [`Error::LockTimeout`], [`Error::Io`].
///
/// ```
/// use hearth_token_guard::private_file::{self, WriteMode};
/// use std::os::unix::fs::PermissionsExt;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-w-{}", std::process::id()));
/// let path = dir.join("token");
/// private_file::write(&path, b"v1", WriteMode::CreateNew)?;
/// private_file::write(&path, b"v2", WriteMode::Replace)?;
/// assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
/// assert!(private_file::write(&path, b"v3", WriteMode::CreateNew).is_err());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn write(path: &Path, contents: &[u8], mode: WriteMode) -> Result<(), Error> {
    let (dir, _) = split(path)?;
    let lock = DirLock::acquire(dir, LOCK_TIMEOUT)?;
    write_locked(&lock, path, contents, mode)
}

/// Like [`write()`], for a caller that already holds the directory's lock, so that it can
/// read, change and write a file as one step that no other writer interleaves with.
///
/// `path` must be in the locked directory; otherwise this fails with
/// [`Error::WrongFileType`] naming the directory that was expected.
///
/// ```
/// use hearth_token_guard::private_file::{self, DirLock, WriteMode, LOCK_TIMEOUT};
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-l-{}", std::process::id()));
/// let lock = DirLock::acquire(&dir, LOCK_TIMEOUT)?;
/// let count = private_file::read(&dir.join("n"), 16).map(|b| b.len()).unwrap_or(0);
/// private_file::write_locked(&lock, &dir.join("n"), &vec![b'x'; count + 1], WriteMode::Replace)?;
/// drop(lock);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn write_locked(
    lock: &DirLock,
    path: &Path,
    contents: &[u8],
    mode: WriteMode,
) -> Result<(), Error> {
    let (dir, name) = split(path)?;
    if dir != lock.dir {
        return Err(wrong_type(
            &lock.dir,
            "directory holding the file being written",
        ));
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(symlink(path)),
        Ok(meta) if !meta.is_file() => return Err(wrong_type(path, "regular file")),
        Ok(_) if mode == WriteMode::CreateNew => {
            return Err(Error::AlreadyExists { path: path.into() });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }

    sweep_stale_temps(dir, name);
    let mut temp = TempFile::create(dir, name)?;
    temp.write_durably(contents)?;
    match mode {
        WriteMode::Replace => {
            fs::rename(&temp.path, path).map_err(|e| Error::io(path, e))?;
            temp.disarm();
        }
        WriteMode::CreateNew => {
            fs::hard_link(&temp.path, path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::AlreadyExists { path: path.into() },
                _ => Error::io(path, e),
            })?;
            // Dropping the guard unlinks the temporary name; the data stays under `path`.
        }
    }
    drop(temp);
    lock.file.sync_all().map_err(|e| Error::io(dir, e))
}

/// An exclusive advisory lock on a private directory, held until dropped.
///
/// Every [`write()`] takes it for the duration of one write; hold it yourself (and use
/// [`write_locked`]) to make a read-modify-write atomic with respect to other writers,
/// in this process or any other.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and checks it like [`ensure_private_dir`], then waits at
    /// most `timeout` for the lock ([`Error::LockTimeout`] after that).
    ///
    /// ```
    /// use hearth_token_guard::private_file::DirLock;
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-dl-{}", std::process::id()));
    /// let held = DirLock::acquire(&dir, Duration::from_secs(1))?;
    /// let second = DirLock::acquire(&dir, Duration::from_millis(20));
    /// assert!(matches!(second, Err(hearth_token_guard::Error::LockTimeout { .. })));
    /// drop(held);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<Self, Error> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        ensure_private_dir(dir)?;
        let file = File::open(dir).map_err(|e| Error::io(dir, e))?;
        lock_within(&file, dir, timeout)?;
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    ///
    /// ```
    /// # use hearth_token_guard::private_file::{DirLock, LOCK_TIMEOUT};
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-dd-{}", std::process::id()));
    /// let lock = DirLock::acquire(&dir, LOCK_TIMEOUT)?;
    /// assert_eq!(lock.dir(), dir);
    /// # drop(lock); std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Reads a private file of at most `max_len` bytes into memory that is zeroized on drop.
///
/// Errors: [`Error::NotFound`], [`Error::Symlink`], [`Error::WrongFileType`] (a directory,
/// FIFO or device), [`Error::WrongOwner`], [`Error::InsecurePermissions`] if group or
/// others have any access (`mode & 0o077 != 0`), [`Error::TooLong`].
///
/// ```
/// use hearth_token_guard::{Error, private_file};
///
/// let missing = std::env::temp_dir().join("hearth-doc-no-such-file");
/// assert!(matches!(private_file::read(&missing, 64), Err(Error::NotFound { .. })));
/// ```
pub fn read(path: &Path, max_len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            symlink(path)
        } else {
            Error::io(path, e.into())
        }
    })?;
    let mut file = File::from(fd);
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(wrong_type(path, "regular file"));
    }
    check_owner(path, &meta)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePermissions {
            path: path.into(),
            mode,
            expected: "0600 (no access for group or others)",
        });
    }
    let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if size > max_len {
        return Err(Error::TooLong { limit: max_len });
    }
    // Allocate once, so no reallocation leaves an unwiped copy behind.
    let mut buf = Zeroizing::new(Vec::with_capacity(size.saturating_add(1).min(max_len + 1)));
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    (&mut file)
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() > max_len {
        return Err(Error::TooLong { limit: max_len });
    }
    Ok(buf)
}

/// Creates `dir` and any missing parents with mode `0700`, then checks that `dir` is a real
/// directory owned by this user that neither group nor others can write to.
///
/// ```
/// use hearth_token_guard::private_file;
/// use std::os::unix::fs::PermissionsExt;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-d-{}", std::process::id()));
/// private_file::ensure_private_dir(&dir.join("a/b"))?;
/// let mode = std::fs::metadata(dir.join("a/b")).unwrap().permissions().mode();
/// assert_eq!(mode & 0o777, 0o700);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn ensure_private_dir(dir: &Path) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur.filter(|p| !p.as_os_str().is_empty()) {
        match fs::symlink_metadata(p) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p);
                cur = p.parent();
            }
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    for p in missing.into_iter().rev() {
        match DirBuilder::new().mode(0o700).create(p) {
            Ok(()) => fs::set_permissions(p, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(p, e))?,
            // Another process made it first; it is checked below like any existing one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    if meta.file_type().is_symlink() {
        return Err(symlink(dir));
    }
    if !meta.is_dir() {
        return Err(wrong_type(dir, "directory"));
    }
    check_owner(dir, &meta)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::InsecurePermissions {
            path: dir.into(),
            mode,
            expected: "0700 (not writable by group or others)",
        });
    }
    Ok(())
}

/// Splits `path` into its directory (`.` for a bare name) and file name.
fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), Error> {
    let name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<(), Error> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::WrongOwner {
            path: path.into(),
            owner: meta.uid(),
            expected: me,
        });
    }
    Ok(())
}

fn symlink(path: &Path) -> Error {
    Error::Symlink { path: path.into() }
}

fn wrong_type(path: &Path, expected: &'static str) -> Error {
    Error::WrongFileType {
        path: path.into(),
        expected,
    }
}

/// Removes the temporary files a killed writer of `name` left in `dir`
/// (`.NAME.<16 hex digits>.tmp`). Called with the directory's lock held: every writer takes
/// it, so no live writer owns one. Best effort: a failure leaves the file for next time.
fn sweep_stale_temps(dir: &Path, name: &std::ffi::OsStr) {
    let Some(name) = name.to_str() else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(stale) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix.as_str()))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        if stale.len() == 16 && stale.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A temporary file beside the target; unlinked on drop unless disarmed.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl TempFile {
    fn create(dir: &Path, name: &std::ffi::OsStr) -> Result<Self, Error> {
        let mut nonce = [0u8; 8];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Rng)?;
        let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{suffix}.tmp"));
        let path = dir.join(temp_name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = rustix::fs::open(&path, flags, mode).map_err(|e| Error::io(&path, e.into()))?;
        let temp = Self {
            path,
            file: File::from(fd),
            armed: true,
        };
        // The umask may have removed bits (even owner ones); set exactly 0600.
        rustix::fs::fchmod(&temp.file, mode).map_err(|e| Error::io(&temp.path, e.into()))?;
        Ok(temp)
    }

    fn write_durably(&self, contents: &[u8]) -> Result<(), Error> {
        let mut file = &self.file;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&self.path, e))
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn the_next_writer_removes_a_killed_writers_temp_files_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("hearth-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        ensure_private_dir(&dir).unwrap();
        let stale = dir.join(".n.0123456789abcdef.tmp");
        let keep = [
            dir.join(".other.0123456789abcdef.tmp"),
            dir.join(".n.notatempfilename.tmp"),
            dir.join("n.0123456789abcdef.tmp"),
        ];
        for p in std::iter::once(&stale).chain(&keep) {
            fs::write(p, b"partial").unwrap();
        }
        write(&dir.join("n"), b"whole", WriteMode::Replace).unwrap();
        assert!(!stale.exists(), "the stale temp file was left");
        for p in &keep {
            assert!(p.exists(), "{} was removed", p.display());
        }
        assert_eq!(fs::read(dir.join("n")).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("hearth-pf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn replace_keeps_mode_and_leaves_no_temp_files() {
        let dir = scratch("replace");
        let path = dir.join("f");
        write(&path, b"one", WriteMode::CreateNew).unwrap();
        write(&path, b"two", WriteMode::Replace).unwrap();
        assert_eq!(&*read(&path, 16).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_new_does_not_clobber() {
        let dir = scratch("noclobber");
        let path = dir.join("f");
        write(&path, b"first", WriteMode::CreateNew).unwrap();
        let err = write(&path, b"second", WriteMode::CreateNew).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }));
        assert_eq!(&*read(&path, 16).unwrap(), b"first");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn oversize_reads_are_refused() {
        let dir = scratch("big");
        let path = dir.join("f");
        write(&path, &[b'x'; 100], WriteMode::CreateNew).unwrap();
        assert!(matches!(read(&path, 99), Err(Error::TooLong { limit: 99 })));
        assert_eq!(read(&path, 100).unwrap().len(), 100);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directories_and_fifos_are_not_files() {
        let dir = scratch("types");
        ensure_private_dir(&dir).unwrap();
        assert!(matches!(read(&dir, 10), Err(Error::WrongFileType { .. })));
        let fifo = dir.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(read(&fifo, 10), Err(Error::WrongFileType { .. })));
        assert!(matches!(
            write(&fifo, b"x", WriteMode::Replace),
            Err(Error::WrongFileType { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error_not_a_panic() {
        assert!(matches!(
            write(Path::new("/"), b"x", WriteMode::Replace),
            Err(Error::Io { .. })
        ));
        assert!(matches!(
            write(Path::new(".."), b"x", WriteMode::Replace),
            Err(Error::Io { .. })
        ));
    }
}
