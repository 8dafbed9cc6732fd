//! [`Stamp`]: which file is at a path now, to know when a cached read is stale.

use std::path::Path;

use crate::Error;

/// The identity and version of the file at a path: device, inode, size and change times.
/// Every vault write renames a new file into place, so any write changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of the file at `path`, or `None` if there is none.
    pub(super) fn of(path: &Path) -> Result<Option<Self>, Error> {
        match std::fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(Self::from_metadata(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                path: path.into(),
                source: e,
            }),
        }
    }

    #[cfg(unix)]
    fn from_metadata(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Windows has no stable file index in std: size and the write and creation times
    /// (100 ns ticks). Writers also compare the header under the lock.
    #[cfg(windows)]
    fn from_metadata(m: &std::fs::Metadata) -> Self {
        use std::os::windows::fs::MetadataExt;
        let tick = |t: u64| (i64::try_from(t).unwrap_or(i64::MAX), 0);
        Self {
            dev: 0,
            ino: 0,
            len: m.len(),
            mtime: tick(m.last_write_time()),
            ctime: tick(m.creation_time()),
        }
    }

    #[cfg(not(any(unix, windows)))]
    fn from_metadata(m: &std::fs::Metadata) -> Self {
        let nanos = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or((0, 0), |d| {
                    (
                        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                        i64::from(d.subsec_nanos()),
                    )
                })
        };
        Self {
            dev: 0,
            ino: 0,
            len: m.len(),
            mtime: nanos(m.modified()),
            ctime: nanos(m.created()),
        }
    }
}
