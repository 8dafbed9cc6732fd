//! Files that hold secrets: owner-only, atomic, durable, never through a symlink.
//!
//! [`write()`] puts bytes in a file so that, when it returns, they are on disk and no other
//! user could have read them at any instant:
//!
//! 1. missing directories are created `0700` (set explicitly, so the umask cannot loosen
//!    or tighten it); the file's own directory must be a real directory (not a symlink),
//!    owned by this user and not writable by group or others;
//! 2. writers in the same directory serialize on an advisory lock on the directory
//!    ([`DirLock`], [`std::fs::File::lock`]), waited for at most [`LOCK_TIMEOUT`];
//! 3. the bytes go to a fresh temporary file, created `O_EXCL | O_NOFOLLOW` with mode
//!    `0600` (again set explicitly), then `fsync`;
//! 4. the temporary file is renamed over the target ([`WriteMode::Replace`]) or hard-linked
//!    to it, which fails if it exists ([`WriteMode::CreateNew`]); then the directory is
//!    `fsync`ed so the new name is durable too.
//!
//! A crash at any point leaves either the old file or the new one, never a mix; at worst a
//! stray `.NAME.*.tmp` file remains.
//!
//! [`read()`] opens with `O_NOFOLLOW | O_NONBLOCK` (a symlink is refused, a FIFO cannot block
//! it), then checks on the open descriptor that the file is regular, owned by this user and
//! not readable or writable by anyone else.
//!
//! ```
//! use hearth_token_guard::private_file::{self, WriteMode};
//!
//! let dir = std::env::temp_dir().join(format!("hearth-doc-{}", std::process::id()));
//! let path = dir.join("state").join("secret.bin");
//! private_file::write(&path, b"hello", WriteMode::CreateNew)?;
//! assert_eq!(&*private_file::read(&path, 1024)?, b"hello");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), hearth_token_guard::Error>(())
//! ```
//!
//! **Windows.** The same API with what the standard library can do without `unsafe`:
//! a fresh temporary file (`create_new`), `FlushFileBuffers` (`sync_all`), then
//! `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING` (`std::fs::rename`) or a hard link for
//! [`WriteMode::CreateNew`]; writers serialize on a `.lock` file in the directory;
//! symlinks and non-regular files are refused. There are no POSIX modes: files get the
//! ACL their directory passes on, which for the per-user `%APPDATA%` is owner-only (plus
//! SYSTEM and Administrators); Hearth does not set or check ACLs there, and a directory
//! cannot be flushed, so the rename's durability is the file system's. Not run on a
//! Windows machine here (built with `cargo check --target x86_64-pc-windows-gnu`).

use std::time::Duration;

/// How long [`write()`] waits for another writer's lock on the directory.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

const LOCK_POLL: Duration = Duration::from_millis(5);

/// What [`write()`] does when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// Fail with [`Error::AlreadyExists`](crate::Error::AlreadyExists); the existing file is
    /// untouched.
    CreateNew,
    /// Atomically replace it.
    Replace,
}

/// Waits at most `timeout` for an exclusive lock on `file` (which guards `dir`), polling.
fn lock_within(
    file: &std::fs::File,
    dir: &std::path::Path,
    timeout: Duration,
) -> Result<(), crate::Error> {
    let start = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < timeout => {
                std::thread::sleep(LOCK_POLL);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(crate::Error::LockTimeout {
                    path: dir.into(),
                    waited: start.elapsed(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(crate::Error::io(dir, e)),
        }
    }
}

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{DirLock, ensure_private_dir, read, write, write_locked};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{DirLock, ensure_private_dir, read, write, write_locked};
