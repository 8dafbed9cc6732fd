//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in `hearth-token-guard`.
///
/// No variant ever carries secret material: messages name paths, limits and byte positions,
/// never the token itself.
///
/// ```
/// use hearth_token_guard::{AccessToken, Error};
///
/// let err = AccessToken::from_bearer_header(b"Basic dXNlcjpwYXNz").unwrap_err();
/// assert!(matches!(err, Error::NotBearer));
/// assert!(!err.to_string().contains("dXNlcjpwYXNz"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system's random number generator failed. Nothing falls back to a
    /// weaker source.
    #[error("the operating system's random number generator failed")]
    Rng,

    /// A random secret of an unsupported size was requested.
    #[error("a secret of {requested} bytes was requested; the allowed range is {min}..={max}")]
    InvalidLength {
        /// The size asked for.
        requested: usize,
        /// The smallest size allowed.
        min: usize,
        /// The largest size allowed.
        max: usize,
    },

    /// A JWS, JWT or JWKS that is malformed, uses a refused algorithm, or fails its
    /// signature (the reason says which; never the token).
    #[error("invalid token or key set: {reason}")]
    InvalidJose {
        /// What is wrong.
        reason: &'static str,
    },

    /// No key in the key set has the token's key id: refetch the issuer's JWKS (at most
    /// once per interval) and try again.
    #[error("the token names a signing key the key set does not hold")]
    UnknownSigningKey,

    /// A key given to Hearth (a registry's seal key) is too short to be safe.
    #[error("a key of {len} bytes is too short: at least {min} are needed")]
    ShortKey {
        /// Its length.
        len: usize,
        /// The least accepted.
        min: usize,
    },

    /// An `Authorization` value that does not use the `Bearer` scheme (for example `Basic`).
    #[error("the Authorization value does not use the Bearer scheme")]
    NotBearer,

    /// A `Bearer` (or `DPoP`) value whose syntax is wrong at byte `at`: not exactly one
    /// space after the scheme, an empty token, or a byte outside RFC 6750's token68 set.
    #[error("malformed Bearer or DPoP credentials at byte {at}")]
    MalformedBearer {
        /// Offset of the first offending byte in the header value.
        at: usize,
    },

    /// Input longer than the limit this operation accepts.
    #[error("input exceeds the limit of {limit} bytes")]
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },

    /// An API key that is not in Hearth's format (API-KEY-FORMAT.md): wrong prefix,
    /// length, characters, or checksum. Rejected without any lookup.
    #[error("malformed API key: {reason}")]
    MalformedApiKey {
        /// What check failed.
        reason: &'static str,
    },

    /// A well-formed API key that the registry does not know (or whose secret is wrong).
    #[error("unknown API key")]
    UnknownApiKey,

    /// An API key that was revoked.
    #[error("revoked API key")]
    RevokedApiKey,

    /// An API key past its expiry.
    #[error("expired API key")]
    ExpiredApiKey,

    /// A role name or `resource:action` permission that does not follow the syntax.
    #[error("invalid role or permission: {reason}")]
    InvalidPermission {
        /// What check failed.
        reason: &'static str,
    },

    /// A principal whose role does not grant the permission asked for.
    #[error("role {role} does not grant {permission}")]
    Forbidden {
        /// The principal's role.
        role: String,
        /// The permission it lacked, as `resource:action`.
        permission: String,
    },

    /// A secret too short to be registered with a [`Redactor`](crate::Redactor): masking it
    /// would mangle ordinary text.
    #[error("a secret registered for redaction must be at least {min} bytes long")]
    TooShortToRedact {
        /// The minimum length, in bytes.
        min: usize,
    },

    /// The path is a symbolic link; secrets are never read or written through one.
    #[error("{}: refusing to follow a symbolic link", path.display())]
    Symlink {
        /// The offending path.
        path: PathBuf,
    },

    /// The file or directory lets other users read or write it.
    #[error("{}: mode {mode:04o} lets other users in; expected {expected}", path.display())]
    InsecurePermissions {
        /// The offending path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// What is required, e.g. `"0600"`.
        expected: &'static str,
    },

    /// The file or directory belongs to another user.
    #[error("{}: owned by uid {owner}, not by this user (uid {expected})", path.display())]
    WrongOwner {
        /// The offending path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        expected: u32,
    },

    /// The path exists but is not a regular file (or, for a parent, not a directory).
    #[error("{}: not a {expected}", path.display())]
    WrongFileType {
        /// The offending path.
        path: PathBuf,
        /// `"regular file"` or `"directory"`.
        expected: &'static str,
    },

    /// The file already exists and the caller asked not to replace it.
    #[error("{}: already exists", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// The file does not exist.
    #[error("{}: not found", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },

    /// The file exists but does not hold a well-formed token.
    #[error("{}: does not hold a well-formed token", path.display())]
    MalformedTokenFile {
        /// The offending file.
        path: PathBuf,
    },

    /// A sealed file failed its integrity check (it was edited outside Hearth, or opened
    /// with another key), or its seal is missing where one is required.
    #[error("{}: {reason}", path.display())]
    Tampered {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, as a sentence fragment.
        reason: &'static str,
    },

    /// Another process held the write lock for longer than the timeout.
    #[error("{}: still locked by another writer after {waited:?}", path.display())]
    LockTimeout {
        /// The locked directory.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },

    /// Any other I/O failure, with the path it concerns.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with its path, turning "not found" into [`Error::NotFound`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}

impl Error {
    /// What kind of failure this is ([`ErrorKind`](crate::ErrorKind)): what a caller can do.
    ///
    /// ```
    /// use hearth_token_guard::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::NotBearer.kind(), ErrorKind::InvalidInput);
    /// ```
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Self::Rng | Self::Io { .. } => K::Other,
            Self::InvalidLength { .. }
            | Self::ShortKey { .. }
            | Self::NotBearer
            | Self::MalformedBearer { .. }
            | Self::TooLong { .. }
            | Self::MalformedApiKey { .. }
            | Self::InvalidPermission { .. }
            | Self::TooShortToRedact { .. } => K::InvalidInput,
            Self::UnknownApiKey
            | Self::RevokedApiKey
            | Self::ExpiredApiKey
            | Self::Forbidden { .. }
            | Self::Symlink { .. }
            | Self::InsecurePermissions { .. }
            | Self::WrongOwner { .. }
            | Self::WrongFileType { .. }
            | Self::AlreadyExists { .. } => K::Refused,
            Self::NotFound { .. } => K::NotFound,
            Self::MalformedTokenFile { .. }
            | Self::Tampered { .. }
            | Self::InvalidJose { .. }
            | Self::UnknownSigningKey => K::Integrity,
            Self::LockTimeout { .. } => K::Busy,
        }
    }
}
