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
  4  refused by policy (insecure permissions, a symlink, another owner, an existing file without --force)
  5  integrity failure or wrong key (malformed or tampered data)";

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
        Self {
            message: e.to_string(),
            code,
        }
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
