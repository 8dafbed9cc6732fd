//! The crate's one error type.

use std::path::PathBuf;

use hearth_token_guard::ErrorKind;

/// What opening, appending to or verifying an audit log can fail with.
///
/// ```
/// use hearth_audit::{Error, ErrorKind};
///
/// let e = Error::InvalidEntry { reason: "the event name is not UPPER_SNAKE_CASE" };
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// assert_eq!(e.to_string(), "invalid audit entry: the event name is not UPPER_SNAKE_CASE");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry that cannot be recorded as given (nothing was written).
    #[error("invalid audit entry: {reason}")]
    InvalidEntry {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The log, or its anchored head, shows that records were edited, removed, reordered,
    /// inserted, or that an older copy was put back. `line` counts from 1 in `file`.
    #[error("{}: line {line}{}: {reason}", file.display(), seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
    Tampered {
        /// The file holding the first bad record.
        file: PathBuf,
        /// Its line number.
        line: u64,
        /// Its sequence number, when it could be read.
        seq: Option<u64>,
        /// Why it is refused.
        reason: String,
    },

    /// The MAC key is not 32 bytes, or the stored one is not readable.
    #[error("the audit log's MAC key is unusable: {reason}")]
    BadKey {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Another process (or another `AuditLog` in this one) is writing this log.
    #[error("{}: another writer has this audit log open", path.display())]
    Busy {
        /// The log.
        path: PathBuf,
    },

    /// An earlier write or anchor update failed, so what is on disk is not known: the log
    /// refuses further appends until it is opened again (which repairs a torn tail).
    #[error("the audit log stopped after a failed write; open it again")]
    Stopped,

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file or directory check from token-guard (permissions, owner, symlink).
    #[error(transparent)]
    File(#[from] hearth_token_guard::Error),

    /// The anchor's store failed.
    #[cfg(feature = "storage")]
    #[error("the audit log's anchor: {0}")]
    Storage(#[from] hearth_secure_storage::Error),

    /// An anchor of the caller's own (a shared store: hearth-gate's Redis) could not be
    /// read or written: why, as a sentence.
    #[error("the audit log's anchor: {reason}")]
    Anchor {
        /// Why.
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The class of failure, for exit codes and FFI status codes.
    ///
    /// ```
    /// use hearth_audit::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::Stopped.kind(), ErrorKind::Other);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidEntry { .. } => ErrorKind::InvalidInput,
            Self::Tampered { .. } | Self::BadKey { .. } => ErrorKind::Integrity,
            Self::Busy { .. } => ErrorKind::Busy,
            Self::File(e) => e.kind(),
            #[cfg(feature = "storage")]
            Self::Storage(e) => e.kind(),
            Self::Anchor { .. } => ErrorKind::Unavailable,
            Self::Stopped | Self::Io { .. } | Self::Rng => ErrorKind::Other,
        }
    }
}
