//! Secret types that make "tokens are never written to logs" true by construction.
//!
//! `hearth-token-guard` is the leaf crate of Hearth. It owns:
//!
//! - **typed secrets** ([`AccessToken`], [`RefreshToken`], [`IdToken`],
//!   [`AuthorizationCode`], [`ClientSecret`], [`ApiKey`], [`SessionToken`], [`Password`],
//!   and the byte-valued [`SecretBytes`]): `Debug` prints only the type name and
//!   `[REDACTED]`, there is no `Display`, nothing serializes unless the caller opts in, the
//!   memory is zeroized on drop, and equality is constant-time in content *and* length;
//! - **random generation** from the OS CSPRNG ([`Secret::generate`]), failing closed;
//! - **`Authorization: Bearer` headers**, built as sensitive [`http::HeaderValue`]s and
//!   parsed strictly ([`AccessToken::from_bearer_header`]);
//! - **session token files** ([`SessionTokenFile`], Unix): the per-session local IPC token,
//!   written atomically 0600 in a 0700 directory whatever the umask, never read through a
//!   symlink or from a file other users can read;
//! - **log scrubbing** ([`redact`], [`Redactor`]) in linear time: vendor tokens, JWTs, PEM
//!   private keys, values of sensitive names, URL passwords, cookies and the app's own live
//!   secrets masked in any log line; with the `tracing` and `log` features, wrappers that
//!   scrub every event of tracing-subscriber's fmt layer or of any `log::Log`.
//!
//! ```
//! use hearth_token_guard::{AccessToken, redact};
//!
//! let token = AccessToken::new("ya29.a0AfH6SMBx-very-secret");
//! assert_eq!(format!("{token:?}"), "AccessToken([REDACTED])");
//! assert_eq!(token.expose_secret(), "ya29.a0AfH6SMBx-very-secret");
//!
//! let line = "GET /me Authorization: Bearer ya29.a0AfH6SMBx-very-secret";
//! assert_eq!(redact(line), "GET /me Authorization: Bearer [REDACTED]");
//! ```
#![forbid(unsafe_code)]

pub mod apikey;
mod bearer;
mod bytes;
mod compare;
mod error;
mod error_kind;
#[cfg(feature = "jose")]
pub mod jose;
#[cfg(any(unix, windows))]
pub mod private_file;
mod random;
mod redact;
mod secret;
#[cfg(feature = "serde")]
pub mod serde_expose;
#[cfg(any(unix, windows))]
mod session_file;

pub use bearer::MAX_BEARER_LEN;
pub use bytes::SecretBytes;
pub use compare::constant_time_eq;
pub use error::Error;
pub use error_kind::ErrorKind;
pub use random::{DEFAULT_SECRET_BYTES, MAX_SECRET_BYTES, MIN_SECRET_BYTES};
#[cfg(feature = "log")]
pub use redact::RedactingLogger;
pub use redact::{
    Detector, Found, MIN_REGISTERED_LEN, REDACTED, Redactor, Tally, find_secrets, redact,
};
#[cfg(feature = "tracing")]
pub use redact::{RedactingMakeWriter, RedactingWriter};
pub use secret::{
    AccessToken, AccessTokenKind, ApiKey, ApiKeyKind, AuthorizationCode, AuthorizationCodeKind,
    ClientSecret, ClientSecretKind, ExposeSecretBytes, IdToken, IdTokenKind, Kind, Password,
    PasswordKind, RefreshToken, RefreshTokenKind, Secret, SessionToken, SessionTokenKind,
};
#[cfg(any(unix, windows))]
pub use session_file::SessionTokenFile;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
