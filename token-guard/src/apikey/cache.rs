//! The registry's records held in memory, shared by every clone of one
//! [`KeyRegistry`](super::KeyRegistry): a lookup reads the file only when it changed, and
//! records last-used times in memory until they are written in one batch.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::KeyId;
use super::registry::KeyRecord;

/// How long a lookup trusts the records before it looks at the file's metadata again: an
/// edit by another process (a revocation by `hearth apikey revoke`) is seen within this.
pub(super) const RECHECK: Duration = Duration::from_secs(1);

/// Last-used times wait at most this long in memory before a flush is due.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// What identifies one version of the file: replaced by rename on every write, so a new
/// version has a new inode (and a new change time).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Taken within two seconds of the file's last change: a second write in the same
    /// clock tick (same size, same time, even the same recycled inode) could look the
    /// same, so such a stamp is never trusted to mean "unchanged" (git's racy-index rule).
    racy: bool,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

impl Stamp {
    /// Whether `self` (taken earlier) shows the file unchanged as `now` does.
    pub(super) fn unchanged(this: &Option<Self>, now: &Option<Self>) -> bool {
        match (this, now) {
            (Some(a), Some(b)) => !a.racy && a == b,
            (None, None) => true,
            _ => false,
        }
    }

    /// The stamp of the file at `path`, or `None` if there is no file.
    pub(super) fn of(path: &Path) -> std::io::Result<Option<Self>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        let modified = meta.modified().ok();
        let racy = modified.is_none_or(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age < Duration::from_secs(2))
        });
        Ok(Some(Self {
            len: meta.len(),
            modified,
            racy,
            #[cfg(unix)]
            inode,
        }))
    }
}

/// The shared state.
#[derive(Default)]
pub(super) struct Cache {
    /// The records as last read or written, with the file's stamp then.
    pub(super) records: Option<(Arc<Vec<KeyRecord>>, Option<Stamp>)>,
    /// When the stamp was last compared with the file's.
    pub(super) checked: Option<Instant>,
    /// Last-used times not yet written (Unix seconds, by key).
    pub(super) pending: HashMap<KeyId, u64>,
    /// When the pending times were last written (or the registry opened).
    pub(super) flushed: Option<Instant>,
    /// How many times the file was read: a diagnostic.
    pub(super) reads: u64,
    /// The last read failed on this version of the file (tampered or malformed): it is
    /// not read again until it changes, so a broken file cannot be read per request.
    pub(super) failed: Option<(Option<Stamp>, Broken)>,
}

/// Why a version of the file could not be used.
#[derive(Clone, Copy, Debug)]
pub(super) enum Broken {
    Tampered(&'static str),
    Malformed,
}

/// A handle to the shared state.
#[derive(Clone, Default)]
pub(super) struct Shared(Arc<Mutex<Cache>>);

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Cache> {
        // The state is a cache: after a panic elsewhere it is still consistent (every
        // field is replaced whole), so a poisoned lock is used as it is.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}
