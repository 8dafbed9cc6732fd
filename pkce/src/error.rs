//! The crate's one error type.

/// Everything a sign-in can fail with. Messages never contain a code, verifier or state.
///
/// ```
/// use hearth_pkce::{CodeVerifier, Error};
///
/// assert!(matches!(CodeVerifier::parse("too-short"), Err(Error::InvalidVerifier { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A code verifier outside RFC 7636 §4.1 (43–128 characters of `[A-Za-z0-9-._~]`).
    #[error("invalid code verifier: {reason}")]
    InvalidVerifier {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A URL (endpoint, redirect URI, callback) that cannot be used.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The pending sign-in's deadline passed.
    #[error("the sign-in expired; start again")]
    Expired,

    /// The callback did not arrive on the exact redirect URI (scheme, host, port, path).
    #[error("the callback is not for this sign-in's redirect URI")]
    RedirectMismatch,

    /// The callback carries no `state`.
    #[error("the callback has no state parameter")]
    MissingState,

    /// The callback's `state` is not this sign-in's (CSRF or a stale tab).
    #[error("the callback's state does not match this sign-in")]
    StateMismatch,

    /// The authorization server refused: `error` (RFC 6749 §4.1.2.1), with its description.
    #[error("the authorization server refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The `error` code, e.g. `access_denied`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },

    /// The callback's `iss` (RFC 9207) is not the expected issuer, or is missing.
    #[error("the callback's issuer does not match (expected {expected}, got {got:?})")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the callback said, if anything.
        got: Option<String>,
    },

    /// The callback has no `code`.
    #[error("the callback has no authorization code")]
    MissingCode,

    /// A callback parameter appears more than once (parameter pollution).
    #[error("the callback repeats the parameter {name}")]
    DuplicateParameter {
        /// The repeated parameter.
        name: String,
    },

    /// The callback's query is not valid form encoding.
    #[error("the callback query is malformed: {reason}")]
    MalformedCallback {
        /// What is wrong.
        reason: &'static str,
    },

    /// Saved pending sign-in data that does not restore.
    #[error("saved sign-in data is malformed")]
    MalformedSaved,

    /// No callback arrived in time.
    #[error("no sign-in callback within {after:?}")]
    Timeout {
        /// The bound.
        after: std::time::Duration,
    },

    /// The sign-in was cancelled through its [`CancelHandle`](crate::CancelHandle).
    #[error("the sign-in was cancelled")]
    Cancelled,

    /// The token endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[cfg(feature = "client")]
    #[error("the token request was refused ({status}): {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenRequest {
        /// The HTTP status.
        status: u16,
        /// The `error` code, e.g. `invalid_grant`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },

    /// A token endpoint response that is not a valid token or error response.
    #[error("malformed token response: {reason}")]
    MalformedTokenResponse {
        /// What is wrong.
        reason: &'static str,
    },

    /// The HTTPS request failed or was refused by the network policy.
    #[cfg(feature = "client")]
    #[error("token endpoint: {0}")]
    Network(#[source] hearth_net_policy::Error),

    /// The OS random generator failed; nothing falls back.
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl From<hearth_token_guard::Error> for Error {
    fn from(_: hearth_token_guard::Error) -> Self {
        // Only generation is delegated to token-guard, and it fails only in the RNG.
        Error::Rng
    }
}
