//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong when storing or reading secrets.
///
/// Variants are what a caller acts on: ask for the passphrase again on [`WrongKey`],
/// restore a backup on [`Tampered`] or [`Corrupt`], retry later on [`Busy`], fix the file
/// mode on [`InsecurePermissions`]. No message ever contains a secret.
///
/// [`WrongKey`]: Error::WrongKey
/// [`Tampered`]: Error::Tampered
/// [`Corrupt`]: Error::Corrupt
/// [`Busy`]: Error::Busy
/// [`InsecurePermissions`]: Error::InsecurePermissions
///
/// ```
/// use hearth_secure_storage::{Error, Key};
///
/// let err = "jellytau::a::::b".parse::<Key>().unwrap_err();
/// assert!(matches!(err, Error::InvalidKey { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key or namespace that breaks the naming rules.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Which rule was broken.
        reason: &'static str,
    },

    /// The key, passphrase or key file does not open this vault.
    #[error("wrong key or passphrase for {}", path.display())]
    WrongKey {
        /// The vault.
        path: PathBuf,
    },

    /// The vault was opened with a kind of key it was not made with (a passphrase for a
    /// key-file vault, or the reverse).
    #[error("{} is protected by {vault_uses}", path.display())]
    KeySourceMismatch {
        /// The vault.
        path: PathBuf,
        /// `"a passphrase"` or `"a key (raw or key file)"`.
        vault_uses: &'static str,
    },

    /// The vault's authenticated content does not verify: someone with write access
    /// changed it, or entries were moved between vaults.
    #[error("{} failed authentication: it was modified", path.display())]
    Tampered {
        /// The vault.
        path: PathBuf,
    },

    /// The file is damaged or not a vault: bad magic, header checksum, length, or limits.
    #[error("{} is damaged or not a Hearth vault: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What check failed.
        reason: &'static str,
    },

    /// The vault was written by a newer format version.
    #[error("{} uses vault format version {found}; this build reads versions 1 and 2", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the header.
        found: u16,
    },

    /// A caller's argument that no store accepts: an empty passphrase, Argon2id costs
    /// that are not one of [`Argon2Params::PRESETS`](crate::Argon2Params::PRESETS).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A secret larger than the store accepts.
    #[error("secret too large: the limit is {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },

    /// Another writer held the vault for longer than the lock timeout.
    #[error("{} is busy: another writer held it for {waited:?}", path.display())]
    Busy {
        /// The locked directory.
        path: PathBuf,
        /// How long this call waited.
        waited: Duration,
    },

    /// The file does not exist.
    #[error("{} not found", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },

    /// A key file that is not exactly 32 bytes.
    #[error("{} is not a key file: expected exactly 32 bytes", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
    },

    /// A secret read back as text was not UTF-8.
    #[error("the secret stored under {key} is not UTF-8 text")]
    NotText {
        /// The key (not secret).
        key: String,
    },

    /// Refused: the file or a directory is a symlink, lets other users in, or belongs to
    /// another user; the message says which and what is expected.
    #[error("refused: {0}")]
    InsecurePermissions(#[source] hearth_token_guard::Error),

    /// Another failure of the file layer (`hearth-token-guard`), classified as it
    /// classifies it: [`kind`](Self::kind) is its own.
    #[error(transparent)]
    File(hearth_token_guard::Error),

    /// The OS keyring is locked (a collection waiting for a prompt nobody can answer).
    #[error("the {backend} keyring is locked")]
    Locked {
        /// Which backend, e.g. `"secret-service"`.
        backend: &'static str,
    },

    /// An OS keyring call did not answer within the configured time.
    #[error("the {backend} keyring did not answer within {waited:?}")]
    Timeout {
        /// Which backend.
        backend: &'static str,
        /// How long this call waited.
        waited: Duration,
    },

    /// The OS keyring's per-user quota is used up (keyutils: 20 000 bytes and 200 keys by
    /// default for non-root users).
    #[error("the {backend} store is full: its quota is exhausted")]
    QuotaExceeded {
        /// Which backend (`"keyutils"`, or `"vault"` for a write that would take the file
        /// past the 256 MiB its reader accepts).
        backend: &'static str,
    },

    /// The backend cannot be used here (no D-Bus session, no keyring daemon, a sandbox, a
    /// platform without one); `reason` is the platform's own message.
    #[error("the {backend} keyring is unavailable: {reason}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// What the platform said.
        reason: String,
    },

    /// The OS keyring exists and answered, but with an error Hearth cannot classify (a
    /// D-Bus error from the daemon, a platform failure, a panic in its client). Unlike
    /// [`Unavailable`](Error::Unavailable) this is never a reason for a fallback chain to
    /// choose another backend: retry, or report it.
    #[error("the {backend} keyring failed: {reason}")]
    BackendFailed {
        /// Which backend.
        backend: &'static str,
        /// What the platform said.
        reason: String,
    },

    /// The vault file is older than the write counter kept in the OS keyring: it was
    /// replaced by an older copy (a restored backup, or an attack).
    #[error("{} was rolled back: it is at write {found}, the keyring has seen write {expected}", path.display())]
    RolledBack {
        /// The vault.
        path: PathBuf,
        /// The write counter in the keyring.
        expected: u64,
        /// The vault's own write counter.
        found: u64,
    },

    /// A hybrid vault exists but the OS keyring no longer holds its key.
    #[error("{} exists but its key is not in the {backend} keyring", path.display())]
    VaultKeyMissing {
        /// The vault.
        path: PathBuf,
        /// Which keyring.
        backend: &'static str,
    },

    /// No backend of a fallback chain could be used; `report` says why for each.
    #[error("no secure storage backend is usable:\n{report}")]
    NoBackend {
        /// One line per backend tried.
        report: String,
    },

    /// A migrated secret did not read back from the destination as written; the source
    /// still holds it.
    #[error("migration of {key} could not be verified in the destination; the source keeps it")]
    MigrationUnverified {
        /// The key (not secret).
        key: String,
    },

    /// The operating system's random number generator failed; nothing falls back.
    #[error("the operating system's random number generator failed")]
    Rng,

    /// A blocking task on the async runtime could not run or panicked.
    #[error("the blocking task running the storage call failed")]
    TaskFailed,

    /// Any other I/O failure.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<hearth_token_guard::Error> for Error {
    fn from(e: hearth_token_guard::Error) -> Self {
        use hearth_token_guard::Error as T;
        match e {
            T::Rng => Error::Rng,
            T::LockTimeout { path, waited } => Error::Busy { path, waited },
            T::NotFound { path } => Error::NotFound { path },
            T::Io { path, source } => Error::Io { path, source },
            e @ (T::Symlink { .. }
            | T::InsecurePermissions { .. }
            | T::WrongOwner { .. }
            | T::WrongFileType { .. }) => Error::InsecurePermissions(e),
            T::TooLong { limit } => Error::TooLarge { limit },
            other => Error::File(other),
        }
    }
}

impl Error {
    /// What kind of failure this is ([`ErrorKind`](crate::ErrorKind)): what a caller can do.
    ///
    /// ```
    /// use hearth_secure_storage::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::Tampered { path: "v".into() }.kind(), ErrorKind::Integrity);
    /// ```
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Self::InvalidKey { .. } | Self::InvalidArgument { .. } | Self::NotText { .. } => {
                K::InvalidInput
            }
            Self::WrongKey { .. }
            | Self::KeySourceMismatch { .. }
            | Self::Tampered { .. }
            | Self::Corrupt { .. }
            | Self::UnsupportedVersion { .. }
            | Self::BadKeyFile { .. }
            | Self::RolledBack { .. }
            | Self::VaultKeyMissing { .. }
            | Self::MigrationUnverified { .. } => K::Integrity,
            Self::TooLarge { .. } | Self::QuotaExceeded { .. } | Self::InsecurePermissions(_) => {
                K::Refused
            }
            Self::Busy { .. } | Self::Locked { .. } | Self::Timeout { .. } => K::Busy,
            Self::NotFound { .. } => K::NotFound,
            Self::Unavailable { .. } | Self::NoBackend { .. } => K::Unavailable,
            Self::BackendFailed { .. } | Self::Rng | Self::TaskFailed { .. } | Self::Io { .. } => {
                K::Other
            }
            Self::File(e) => e.kind(),
        }
    }
}
