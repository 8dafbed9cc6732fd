//! The crate's one error type.

use std::sync::Arc;

/// Everything a sign-in can fail with. Messages never contain a code, verifier or state.
///
/// `Clone`, so that every task waiting on one refresh gets the same outcome
/// ([`Session`](crate::Session)); the underlying I/O and network errors are shared.
///
/// ```
/// use hearth_pkce::{CodeVerifier, Error};
///
/// assert!(matches!(CodeVerifier::parse("too-short"), Err(Error::InvalidVerifier { .. })));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("the callback's issuer does not match: expected {expected}, got {}", got.as_deref().unwrap_or("none"))]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the callback said, if anything.
        got: Option<String>,
    },

    /// The callback has no `code`.
    #[error("the callback has no authorization code")]
    MissingCode,

    /// A parameter given twice: a callback that repeats one (parameter pollution), or an
    /// authorization request whose extra parameters name one the request sets itself
    /// (`state`, `nonce`, `max_age`, `dpop_jkt`, …: use the request's own methods), or
    /// `request`/`request_uri`, or the same name twice (but `resource`).
    #[error("the parameter {name} is given twice")]
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

    /// The loopback receiver could not listen.
    #[error("cannot listen for the sign-in callback on {address}: {source}")]
    Bind {
        /// The address it tried.
        address: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// No callback arrived in time.
    #[error("no sign-in callback within {} s", after.as_secs())]
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

    /// A successful (2xx) token endpoint response that is not a valid token response.
    #[error("malformed token response: {reason}")]
    MalformedTokenResponse {
        /// What is wrong.
        reason: &'static str,
    },

    /// The token endpoint answered with an HTTP error status and no OAuth error body (a
    /// proxy's 502 page, a 429): see [`is_retryable`](Self::is_retryable).
    #[error("the token endpoint answered HTTP {status}{}", if *status >= 500 || *status == 429 { " (try again later)" } else { "" })]
    TokenEndpointStatus {
        /// The HTTP status.
        status: u16,
    },

    /// The token response's `token_type` is not `Bearer` (RFC 6750), so the token cannot
    /// be used as one (a `DPoP` or `mac` token needs a proof this client does not make).
    #[error("the token endpoint issued a {token_type} token; only Bearer tokens are supported")]
    UnsupportedTokenType {
        /// The `token_type`, as sent (at most 32 printable characters).
        token_type: String,
    },

    /// The session has no refresh token, so it cannot renew the access token: sign in again.
    #[error("no refresh token: sign in again")]
    NoRefreshToken,

    /// The token endpoint refused the refresh token with `invalid_grant`: it was spent
    /// (a replayed rotated token, after which providers such as oidc-provider revoke the
    /// whole chain), revoked or expired. Retrying cannot help: sign in again. A
    /// [`Session`](crate::Session) with persistence has already removed the stored
    /// tokens when it returns this.
    #[cfg(feature = "client")]
    #[error(
        "the provider no longer accepts this sign-in (its refresh token was spent, revoked or expired): sign in again"
    )]
    SignInRevoked {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },

    /// Storing or loading the session's tokens failed; in-memory tokens are kept.
    #[error("the tokens could not be saved or loaded: {reason}")]
    Persist {
        /// Why, as a sentence.
        reason: String,
    },

    /// The secure store holding the session's tokens failed (locked, unavailable, …).
    #[cfg(feature = "storage")]
    #[error("secure storage: {0}")]
    Storage(#[source] Arc<hearth_secure_storage::Error>),

    /// The HTTPS request failed or was refused by the network policy.
    #[cfg(feature = "client")]
    #[error("token endpoint: {0}")]
    Network(#[source] Arc<hearth_net_policy::Error>),

    /// An ID token that failed a check of OpenID Connect Core §3.1.3.7 (signature,
    /// issuer, audience, times, nonce, hashes): nothing from it was used or stored.
    #[error("the ID token was refused: {reason}")]
    InvalidIdToken {
        /// Which check failed, as a sentence.
        reason: &'static str,
    },

    /// A refresh brought a valid ID token of another sign-in (OpenID Connect Core §12.2:
    /// another `iss`, `sub`, `azp`, `aud` or `auth_time`): the session is over.
    #[error("the refreshed ID token belongs to another sign-in: {reason}")]
    IdTokenChanged {
        /// What differs, as a sentence.
        reason: &'static str,
    },

    /// The OS random generator failed; nothing falls back.
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl Error {
    /// What kind of failure this is ([`ErrorKind`](crate::ErrorKind)): what a caller can do.
    ///
    /// ```
    /// use hearth_pkce::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::StateMismatch.kind(), ErrorKind::Integrity);
    /// ```
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Self::InvalidVerifier { .. } | Self::InvalidUrl { .. } => K::InvalidInput,
            Self::RedirectMismatch
            | Self::MissingState
            | Self::StateMismatch
            | Self::IssuerMismatch { .. }
            | Self::MissingCode
            | Self::DuplicateParameter { .. }
            | Self::MalformedCallback { .. }
            | Self::MalformedSaved
            | Self::MalformedTokenResponse { .. }
            | Self::InvalidIdToken { .. }
            | Self::IdTokenChanged { .. } => K::Integrity,
            Self::Expired | Self::Denied { .. } | Self::UnsupportedTokenType { .. } => K::Refused,
            #[cfg(feature = "client")]
            Self::TokenRequest { .. } if self.is_retryable() => K::Network,
            #[cfg(feature = "client")]
            Self::TokenRequest { .. } => K::Refused,
            Self::TokenEndpointStatus { .. } if self.is_retryable() => K::Network,
            Self::TokenEndpointStatus { .. } => K::Refused,
            Self::NoRefreshToken => K::NotFound,
            #[cfg(feature = "client")]
            Self::SignInRevoked { .. } => K::Refused,
            Self::Timeout { .. } => K::Busy,
            #[cfg(feature = "storage")]
            Self::Storage(e) => e.kind(),
            #[cfg(feature = "client")]
            Self::Network(e) => e.kind(),
            Self::Bind { .. } | Self::Cancelled | Self::Persist { .. } | Self::Rng => K::Other,
        }
    }

    /// Whether trying the same request again later may succeed: a network failure or
    /// timeout, an HTTP 5xx or 429, or the OAuth errors `temporarily_unavailable` and
    /// `server_error`. An `invalid_grant` (the refresh token is spent or revoked) is not.
    ///
    /// ```
    /// use hearth_pkce::Error;
    ///
    /// assert!(Error::TokenEndpointStatus { status: 502 }.is_retryable());
    /// assert!(!Error::TokenEndpointStatus { status: 400 }.is_retryable());
    /// assert!(!Error::NoRefreshToken.is_retryable());
    /// ```
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::TokenEndpointStatus { status } => *status >= 500 || *status == 429,
            #[cfg(feature = "client")]
            Self::TokenRequest { status, error, .. } => {
                *status >= 500
                    || *status == 429
                    // A DPoP nonce the server rotated again: the next request carries
                    // the newest one.
                    || matches!(
                        error.as_str(),
                        "temporarily_unavailable" | "server_error" | "use_dpop_nonce"
                    )
            }
            #[cfg(feature = "client")]
            Self::Network(e) => matches!(
                **e,
                hearth_net_policy::Error::Timeout { .. }
                    | hearth_net_policy::Error::Connect { .. }
                    | hearth_net_policy::Error::Http(_)
                    | hearth_net_policy::Error::BodyTruncated
            ),
            Self::Timeout { .. } => true,
            _ => false,
        }
    }
}

impl From<hearth_token_guard::Error> for Error {
    fn from(e: hearth_token_guard::Error) -> Self {
        match e {
            hearth_token_guard::Error::Rng => Error::Rng,
            // Generation is all pkce delegates to token-guard; a length it refuses is a
            // verifier or state size out of range.
            _ => Error::InvalidVerifier {
                reason: "a random value of that length cannot be made",
            },
        }
    }
}
