//! The crate's one error type.

use std::path::PathBuf;

/// Everything the guards can refuse or fail with while being set up (a request that a
/// guard refuses is a [`Decision::Deny`](crate::Decision::Deny), not an error).
///
/// ```
/// use std::time::Duration;
/// use hearth_guard::{Error, ErrorKind, Limit};
///
/// let e = Limit::sliding_window(0, Duration::from_secs(1)).unwrap_err();
/// assert!(matches!(e, Error::InvalidConfig { .. }));
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rate limit, guard setting or path root that cannot be used as configured.
    #[error("invalid guard configuration: {reason}")]
    InvalidConfig {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The operating system's random number generator failed; nothing falls back to a
    /// weaker source.
    #[error("the operating system's random number generator failed")]
    Rng,

    /// A private file or directory check failed (wrong owner, loose mode, symlink, I/O).
    #[error(transparent)]
    LocalFile(#[from] hearth_token_guard::Error),

    /// Something other than a stale socket is at a socket path, or a live server holds it.
    #[error("cannot bind {path}: {reason}")]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
        /// What is there.
        reason: &'static str,
    },

    /// A Unix-socket peer running as another user.
    #[error("socket peer runs as uid {actual}, expected uid {expected}")]
    PeerUidMismatch {
        /// Our uid.
        expected: u32,
        /// The peer's uid.
        actual: u32,
    },

    /// A local I/O operation failed.
    #[error("{path}: {source}")]
    LocalIo {
        /// The path operated on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// An untrusted path that [`Confined`](crate::Confined) refuses.
    #[error("path refused: {reason}")]
    PathRefused {
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A request that [`accept_websocket`](crate::accept_websocket) cannot take as a
    /// WebSocket handshake (answer it with 400), or a connection that was not upgraded.
    #[error("not a WebSocket handshake: {reason}")]
    NotWebSocket {
        /// What is missing or wrong.
        reason: &'static str,
    },
}

impl Error {
    /// What kind of failure this is, for the CLI's exit codes and the FFI's status codes
    /// (one table for the workspace: README's "Errors").
    ///
    /// ```
    /// use hearth_guard::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::PathRefused { reason: "dot segment" }.kind(), ErrorKind::Refused);
    /// ```
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Self::InvalidConfig { .. } | Self::NotWebSocket { .. } => K::InvalidInput,
            Self::LocalFile(e) => e.kind(),
            Self::SocketInUse { .. } => K::Busy,
            Self::PeerUidMismatch { .. } | Self::PathRefused { .. } => K::Refused,
            Self::Rng | Self::LocalIo { .. } => K::Other,
        }
    }
}
