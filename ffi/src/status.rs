//! Status codes, the thread's last error, and the panic boundary every export goes through.

use std::cell::{Cell, RefCell};
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hearth_token_guard::ErrorKind;

/// The result of every fallible function: one of the `HEARTH_*` codes.
#[allow(non_camel_case_types, reason = "the C name")]
pub type hearth_status = i32;

/// Success.
pub const HEARTH_OK: hearth_status = 0;
/// A failure with no more specific code (I/O, the OS random generator).
pub const HEARTH_ERROR: hearth_status = 1;
/// A NULL pointer, invalid UTF-8, a malformed key or value.
pub const HEARTH_INVALID_ARGUMENT: hearth_status = 2;
/// The secret, file or API key does not exist.
pub const HEARTH_NOT_FOUND: hearth_status = 3;
/// Refused by policy: insecure permissions, a size limit or quota, an unknown, revoked or
/// expired key.
pub const HEARTH_POLICY_REFUSED: hearth_status = 4;
/// Integrity failure: wrong key or passphrase, tampered or damaged data.
pub const HEARTH_INTEGRITY: hearth_status = 5;
/// Busy: a lock or keyring wait timed out, or the keyring is locked.
pub const HEARTH_BUSY: hearth_status = 6;
/// No usable backend: no keyring daemon (README, "Errors": `ErrorKind::Unavailable`).
pub const HEARTH_UNAVAILABLE: hearth_status = 7;
/// A bug in Hearth: a panic was caught at the boundary.
pub const HEARTH_PANIC: hearth_status = 8;

/// A failed call: its status and a message that never contains a secret.
pub(crate) struct Failure {
    pub(crate) status: hearth_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: hearth_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(HEARTH_INVALID_ARGUMENT, message)
    }
}

/// The status of an error kind: the one place errors become status codes (README,
/// "Errors").
pub(crate) fn status_of(kind: ErrorKind) -> hearth_status {
    match kind {
        ErrorKind::InvalidInput => HEARTH_INVALID_ARGUMENT,
        ErrorKind::NotFound => HEARTH_NOT_FOUND,
        ErrorKind::Refused => HEARTH_POLICY_REFUSED,
        ErrorKind::Integrity => HEARTH_INTEGRITY,
        ErrorKind::Busy => HEARTH_BUSY,
        ErrorKind::Unavailable => HEARTH_UNAVAILABLE,
        ErrorKind::Network | ErrorKind::Other => HEARTH_ERROR,
        // A kind added later is a plain failure until it is given a status.
        _ => HEARTH_ERROR,
    }
}

macro_rules! failure_from {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Self {
                Self::new(status_of(e.kind()), e.to_string())
            }
        }
    )*};
}

failure_from!(
    hearth_token_guard::Error,
    hearth_secure_storage::Error,
    hearth_net_policy::Error,
    hearth_pkce::Error
);

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// Whether `LAST_ERROR` is non-empty: a destructor-free flag, so the success path of
    /// every call (which clears the error) costs one cheap thread-local read.
    static HAS_ERROR: Cell<bool> = const { Cell::new(false) };
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.push_str(message);
    });
    HAS_ERROR.with(|f| f.set(!message.is_empty()));
}

fn clear_last_error() {
    if HAS_ERROR.with(Cell::get) {
        set_last_error("");
    }
}

/// Runs an export's body: a panic becomes `HEARTH_PANIC`, a failure its status; the
/// thread's last error is set to the failure's message, or cleared on success.
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), Failure>) -> hearth_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            HEARTH_OK
        }
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(_) => {
            set_last_error(
                "internal error: a panic was caught at the C boundary (a bug in Hearth)",
            );
            HEARTH_PANIC
        }
    }
}

/// Runs an export that returns no status (free functions, accessors): a panic returns
/// `fallback` instead of unwinding into C.
pub(crate) fn boundary_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Copies this thread's last error message into `buf` (at most `len - 1` bytes, then a
/// NUL; nothing when `buf` is NULL or `len` is 0) and returns the message's full length
/// in bytes without the NUL: a return value `>= len` means it was truncated. The message
/// describes the most recent failed call on this thread; a successful call clears it
/// (length 0). It never contains a secret.
///
/// ```c
/// char msg[256];
/// if (hearth_store_get(store, "app::token", &secret) != HEARTH_OK) {
///     hearth_last_error(msg, sizeof msg);
///     fprintf(stderr, "hearth: %s\n", msg);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn hearth_last_error(buf: *mut c_char, len: usize) -> usize {
    boundary_or(0, || {
        LAST_ERROR.with(|e| {
            let e = e.borrow();
            if !buf.is_null() && len > 0 {
                let n = e.len().min(len - 1);
                // SAFETY: the caller gives a writable buffer of `len` bytes (documented);
                // we write `n + 1 <= len` bytes, from a Rust string that cannot overlap it.
                unsafe {
                    std::ptr::copy_nonoverlapping(e.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            e.len()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = boundary(|| panic!("boom"));
        assert_eq!(status, HEARTH_PANIC);
        let mut buf = [0 as c_char; 8];
        let full = hearth_last_error(buf.as_mut_ptr(), buf.len());
        assert!(full > 8, "the message is longer than the buffer");
        assert_eq!(buf[7], 0, "truncated with a NUL");
        assert_eq!(boundary(|| Ok(())), HEARTH_OK);
        assert_eq!(
            hearth_last_error(std::ptr::null_mut(), 0),
            0,
            "cleared on success"
        );
    }

    #[test]
    fn the_ffi_readme_table_agrees_with_the_root_one() {
        // ffi/README.md: | code | name | meaning | CLI exit code |
        let readme = include_str!("../README.md");
        let rows: Vec<(hearth_status, String)> = readme
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("| ") && l.contains("`HEARTH_"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].parse().expect("a status number"),
                    cells[4].to_owned(),
                )
            })
            .collect();
        assert_eq!(rows.len(), 9, "one row per status");
        for (kind, exit, status) in root_rows() {
            let row = rows.iter().find(|(code, _)| *code == status);
            assert_eq!(
                row.map(|r| r.1.as_str()),
                Some(exit.as_str()),
                "{kind}: status {status}"
            );
        }
    }

    /// README's "Errors" table: (kind, status).
    fn table() -> Vec<(String, hearth_status)> {
        root_rows()
            .into_iter()
            .map(|(kind, _, status)| (kind, status))
            .collect()
    }

    /// README's "Errors" table: (kind, exit code, status).
    fn root_rows() -> Vec<(String, String, hearth_status)> {
        let readme = include_str!("../../README.md");
        let section = readme.split("## Errors").nth(1).expect("an Errors section");
        section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ErrorKind"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let status = cells[4]
                    .rsplit('(')
                    .next()
                    .and_then(|n| n.trim_end_matches(')').parse().ok())
                    .expect("a status number");
                (cells[1].to_owned(), cells[3].to_owned(), status)
            })
            .collect()
    }

    #[test]
    fn statuses_follow_the_readme_table() {
        let table = table();
        assert_eq!(table.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            let row = table.iter().find(|(name, _)| name == kind.name());
            assert_eq!(row.map(|r| r.1), Some(status_of(kind)), "{kind:?}");
        }
    }

    #[test]
    fn errors_of_every_crate_reach_their_status_through_their_kind() {
        use hearth_secure_storage::Error as S;
        let cases: Vec<(Failure, hearth_status)> = vec![
            (
                hearth_token_guard::Error::UnknownApiKey.into(),
                HEARTH_POLICY_REFUSED,
            ),
            (
                hearth_token_guard::Error::MalformedApiKey { reason: "x" }.into(),
                HEARTH_INVALID_ARGUMENT,
            ),
            (
                S::VaultKeyMissing {
                    path: "v".into(),
                    backend: "keyring",
                }
                .into(),
                HEARTH_INTEGRITY,
            ),
            (
                S::QuotaExceeded { backend: "vault" }.into(),
                HEARTH_POLICY_REFUSED,
            ),
            (hearth_pkce::Error::StateMismatch.into(), HEARTH_INTEGRITY),
            (hearth_net_policy::Error::BodyTruncated.into(), HEARTH_ERROR),
        ];
        for (failure, expected) in cases {
            assert_eq!(failure.status, expected, "{}", failure.message);
        }
    }
}
