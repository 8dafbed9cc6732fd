//! Exit codes, and the failures that map to them.

use std::fmt;
use std::process::ExitCode;

use hearth_token_guard::{Error, ErrorKind};

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
  6  busy or unavailable: the keyring is locked, absent or did not answer, a lock or a
     sign-in timed out; unlock the keyring or wait, and retry";

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
    /// The exit code it ends the process with.
    pub(crate) fn code(&self) -> u8 {
        self.code
    }

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

/// The exit code of an error kind: the one place errors become exit codes (README,
/// "Errors").
pub(crate) fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Refused => 4,
        ErrorKind::Integrity => 5,
        ErrorKind::Busy | ErrorKind::Unavailable => 6,
        ErrorKind::Network | ErrorKind::Other => 1,
        // A kind added later fails as a plain failure until it is given a code.
        _ => 1,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
    }
}

impl From<hearth_secure_storage::Error> for Failure {
    fn from(e: hearth_secure_storage::Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
    }
}

impl From<hearth_net_policy::Error> for Failure {
    fn from(e: hearth_net_policy::Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
    }
}

impl From<hearth_gate::Error> for Failure {
    fn from(e: hearth_gate::Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
    }
}

impl From<hearth_audit::Error> for Failure {
    fn from(e: hearth_audit::Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
    }
}

impl From<hearth_pkce::Error> for Failure {
    fn from(e: hearth_pkce::Error) -> Self {
        Self::with_code(e.to_string(), code(e.kind()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// README's "Errors" table, one row per kind: (kind, exit code).
    fn table() -> Vec<(String, u8)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Errors")
            .nth(1)
            .expect("README has an Errors section");
        section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ErrorKind"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].to_owned(), cells[3].parse().expect("an exit code"))
            })
            .collect()
    }

    #[test]
    fn exit_codes_follow_the_readme_table() {
        let table = table();
        assert_eq!(table.len(), ErrorKind::ALL.len(), "one row per kind");
        for kind in ErrorKind::ALL {
            let row = table.iter().find(|(name, _)| name == kind.name());
            assert_eq!(row.map(|r| r.1), Some(code(kind)), "{kind:?}");
        }
    }

    #[test]
    fn errors_of_every_crate_reach_their_exit_code_through_their_kind() {
        use hearth_secure_storage::Error as S;
        let cases: Vec<(Failure, u8)> = vec![
            (Error::UnknownApiKey.into(), 4),
            (Error::MalformedApiKey { reason: "x" }.into(), 2),
            (
                S::VaultKeyMissing {
                    path: "v".into(),
                    backend: "keyring",
                }
                .into(),
                5,
            ),
            (S::QuotaExceeded { backend: "vault" }.into(), 4),
            (
                S::NotText {
                    key: "a::b".parse().unwrap(),
                }
                .into(),
                2,
            ),
            (hearth_net_policy::Error::BodyTruncated.into(), 1),
            (hearth_pkce::Error::StateMismatch.into(), 5),
            (
                hearth_pkce::Error::TokenEndpointStatus { status: 502 }.into(),
                1,
            ),
            (
                hearth_pkce::Error::TokenEndpointStatus { status: 400 }.into(),
                4,
            ),
        ];
        for (failure, expected) in cases {
            assert_eq!(failure.code, expected, "{failure}");
        }
    }
}
