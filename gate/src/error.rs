//! [`Error`]: what can go wrong in configuring or running the gate.

use std::path::PathBuf;

use hearth_token_guard::ErrorKind;

/// A gate error. Its text is a sentence for the person running the gate and carries no
/// credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is not valid: where, and why.
    #[error("{file}:{line}:{column}: {message}")]
    Config {
        /// The file (or `<config>` for text given directly).
        file: String,
        /// Its line, from 1.
        line: usize,
        /// Its column, from 1.
        column: usize,
        /// What is wrong, as a sentence.
        message: String,
    },
    /// A setting is missing or contradicts another (outside any one line of the file).
    #[error("{0}")]
    Invalid(String),
    /// A file the configuration names could not be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The guard refused a setting.
    #[error(transparent)]
    Guard(#[from] hearth_guard::Error),
    /// The API-key registry, the session token file or a key could not be used.
    #[error(transparent)]
    Token(#[from] hearth_token_guard::Error),
    /// The JWT issuer could not be reached or described itself wrongly.
    #[error("the JWT issuer: {0}")]
    Issuer(#[from] hearth_net_policy::Error),
    /// The TLS certificate or key is not usable.
    #[error("the TLS certificate or key: {0}")]
    Tls(String),
    /// The audit log could not be opened or written.
    #[error("the audit log: {0}")]
    Audit(#[from] hearth_audit::Error),
    /// Redis (the shared state) could not be used: why, as a sentence.
    #[error("{0}")]
    Redis(String),
    /// Listening failed.
    #[error("cannot listen: {0}")]
    Listen(#[source] std::io::Error),
}

impl Error {
    /// The kind of failure, for exit codes and FFI status codes.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config { .. } | Self::Invalid(_) | Self::Tls(_) => ErrorKind::InvalidInput,
            Self::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Self::File { .. } | Self::Listen(_) => ErrorKind::Other,
            Self::Guard(e) => e.kind(),
            Self::Token(e) => e.kind(),
            Self::Issuer(e) => e.kind(),
            Self::Audit(e) => e.kind(),
            Self::Redis(_) => ErrorKind::Unavailable,
        }
    }
}
