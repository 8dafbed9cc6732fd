//! [`ErrorKind`]: what a caller can do about a failure, the same for every Hearth crate.

/// Declares [`ErrorKind`] with [`ErrorKind::ALL`] and [`ErrorKind::name`] generated from the
/// same list, so that a new kind cannot be left out of either (the CLI's and the C API's
/// table tests iterate `ALL`).
macro_rules! error_kinds {
    ($(#[$meta:meta])* pub enum ErrorKind { $($(#[$doc:meta])* $kind:ident,)+ }) => {
        $(#[$meta])*
        pub enum ErrorKind { $($(#[$doc])* $kind,)+ }

        impl ErrorKind {
            /// Every kind, in the README table's order.
            pub const ALL: [Self; [$(stringify!($kind)),+].len()] = [$(Self::$kind),+];

            /// The kind's name as the README table writes it (`InvalidInput`).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => stringify!($kind),)+
                }
            }
        }
    };
}

error_kinds! {
/// The kind of a failure, across Hearth's crates (as `std::io::ErrorKind` is for I/O):
/// every crate's `Error::kind()` returns one, and the CLI's exit codes and the C API's
/// status codes are each one `match` on it, following the table in the README.
///
/// ```
/// use hearth_token_guard::{Error, ErrorKind};
///
/// assert_eq!(Error::UnknownApiKey.kind(), ErrorKind::Refused);
/// assert_eq!(Error::Rng.kind(), ErrorKind::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A bad argument or input: fix the call (a malformed key name, URL, pin or token).
    InvalidInput,
    /// What was asked for does not exist.
    NotFound,
    /// Refused by policy: file permissions, a size limit, a pin or certificate, plain
    /// HTTP, an unknown, revoked or expired credential, an authorization server's refusal.
    Refused,
    /// Integrity: a wrong key or passphrase, tampered, damaged or rolled-back data, a
    /// forged or malformed answer from the other side.
    Integrity,
    /// Busy: locked, or a wait ran out; unlock or retry. For a write, the outcome of a
    /// timed-out call is unknown.
    Busy,
    /// No usable backend (no keyring daemon, no trust store).
    Unavailable,
    /// The network: a connection that failed or closed, a timeout, an HTTP failure.
    Network,
    /// Anything else: I/O, the OS random generator, a bug.
    Other,
}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_under_its_own_name() {
        let names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        for kind in ErrorKind::ALL {
            assert_eq!(format!("{kind:?}"), kind.name());
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }
}
