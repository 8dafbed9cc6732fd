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
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(Self {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                path: path.into(),
                source: e,
            }),
        }
    }
}
