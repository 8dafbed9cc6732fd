//! Exit codes, and the failures that map to them.

use std::fmt;
use std::process::ExitCode;

use hearth_token_guard::Error;

/// The exit-code table shown at the end of every `--help`.
pub(crate) const HELP: &str = "\
Exit codes:
  0  success
  1  failure (I/O, the OS random generator)
  2  usage error (bad arguments)
  3  not found
  4  refused by policy (insecure permissions, a symlink, another owner, an existing file
     without --force, a secret over the size limit, plain HTTP, a pin mismatch, an
     untrusted certificate)
  5  integrity failure or wrong key (malformed, tampered or rolled-back data)
  6  secure storage unavailable: the keyring is locked or did not answer; unlock it and
     retry";

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    /// A failure with an explicit exit code.
    pub(crate) fn with_code(message: String, code: u8) -> Self {
        Self { message, code }
    }

    /// Bad arguments that clap could not catch (exit code 2).
    pub(crate) fn usage(message: String) -> Self {
        Self { message, code: 2 }
    }

    /// An I/O error on a file named on the command line (3 if it does not exist).
    pub(crate) fn from_io_at(path: &std::path::Path, e: std::io::Error) -> Self {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            3
        } else {
            1
        };
        Self {
            message: format!("{}: {e}", path.display()),
            code,
        }
    }

    /// The thing asked for does not exist (exit code 3).
    pub(crate) fn not_found(message: String) -> Self {
        Self { message, code: 3 }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NotFound { .. } => 3,
            Error::Symlink { .. }
            | Error::InsecurePermissions { .. }
            | Error::WrongOwner { .. }
            | Error::WrongFileType { .. }
            | Error::AlreadyExists { .. } => 4,
            Error::MalformedTokenFile { .. } => 5,
            _ => 1,
        };
        Self::with_code(e.to_string(), code)
    }
}

impl From<hearth_secure_storage::Error> for Failure {
    fn from(e: hearth_secure_storage::Error) -> Self {
        use hearth_secure_storage::Error as S;
        let code = match &e {
            S::NotFound { .. } => 3,
            S::InsecurePermissions(_) | S::TooLarge { .. } | S::QuotaExceeded { .. } => 4,
            S::WrongKey { .. }
            | S::KeySourceMismatch { .. }
            | S::Tampered { .. }
            | S::Corrupt { .. }
            | S::UnsupportedVersion { .. }
            | S::BadKeyFile { .. }
            | S::RolledBack { .. }
            | S::VaultKeyMissing { .. } => 5,
            S::InvalidKey { .. } | S::InvalidArgument { .. } => 2,
            S::Locked { .. } | S::Timeout { .. } => 6,
            _ => 1,
        };
        Self::with_code(e.to_string(), code)
    }
}

/// The exit code of a network-policy error.
pub(crate) fn net_code(e: &hearth_net_policy::Error) -> u8 {
    use hearth_net_policy::Error as N;
    match e {
        N::PlainHttpRefused { .. }
        | N::PinMismatch(_)
        | N::PinChanged { .. }
        | N::Handshake(_)
        | N::HandshakeClosed { .. }
        | N::UntrustedCertificate(_)
        | N::RedirectRefused { .. }
        | N::TooManyRedirects { .. }
        | N::BodyTooLarge { .. } => 4,
        N::InvalidPin { .. } | N::InvalidHostPattern { .. } | N::InvalidUrl { .. } => 2,
        _ => 1,
    }
}

impl From<hearth_net_policy::Error> for Failure {
    fn from(e: hearth_net_policy::Error) -> Self {
        Self::with_code(e.to_string(), net_code(&e))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}
