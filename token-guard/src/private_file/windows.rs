//! Windows: the standard library's calls only (no `unsafe`); see the module docs for what
//! that gives and what it leaves to the directory's inherited ACL.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{LOCK_TIMEOUT, WriteMode, lock_within};
use crate::Error;

const LOCK_FILE: &str = ".hearth.lock";

/// Writes `contents` to `path` atomically and durably (see the module docs).
pub fn write(path: &Path, contents: &[u8], mode: WriteMode) -> Result<(), Error> {
    let (dir, _) = split(path)?;
    let lock = DirLock::acquire(dir, LOCK_TIMEOUT)?;
    write_locked(&lock, path, contents, mode)
}

/// [`write`] with the directory's lock already held by the caller.
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
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::Symlink { path: path.into() });
        }
        Ok(meta) if !meta.is_file() => return Err(wrong_type(path, "regular file")),
        Ok(_) if mode == WriteMode::CreateNew => {
            return Err(Error::AlreadyExists { path: path.into() });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    let temp = temp_path(dir, name)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io(&temp, e))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&temp, e))?;
        drop(file);
        match mode {
            WriteMode::Replace => fs::rename(&temp, path).map_err(|e| Error::io(path, e)),
            WriteMode::CreateNew => fs::hard_link(&temp, path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::AlreadyExists { path: path.into() },
                _ => Error::io(path, e),
            }),
        }
    })();
    let _ = fs::remove_file(&temp);
    result
}

/// An exclusive advisory lock on a `.hearth.lock` file in a directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed, then waits at most `timeout` for the lock.
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<Self, Error> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        ensure_private_dir(dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock_within(&file, dir, timeout)?;
        Ok(Self {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Reads a regular file (not a symlink) of at most `max_len` bytes into memory that is
/// zeroized on drop.
pub fn read(path: &Path, max_len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotFound { path: path.into() });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink { path: path.into() });
    }
    if !meta.is_file() {
        return Err(wrong_type(path, "regular file"));
    }
    if meta.len() > max_len as u64 {
        return Err(Error::TooLong { limit: max_len });
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    file.take(max_len as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() > max_len {
        return Err(Error::TooLong { limit: max_len });
    }
    Ok(bytes)
}

/// Creates `dir` (and missing parents) if needed; refuses a symlink or a non-directory.
pub fn ensure_private_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink { path: dir.into() });
    }
    if !meta.is_dir() {
        return Err(wrong_type(dir, "directory"));
    }
    Ok(())
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), Error> {
    let name = path
        .file_name()
        .ok_or_else(|| wrong_type(path, "file path with a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

fn temp_path(dir: &Path, name: &std::ffi::OsStr) -> Result<PathBuf, Error> {
    let mut nonce = [0u8; 8];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Rng)?;
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{suffix}.tmp"));
    Ok(dir.join(temp_name))
}

fn wrong_type(path: &Path, expected: &'static str) -> Error {
    Error::WrongFileType {
        path: path.into(),
        expected,
    }
}
