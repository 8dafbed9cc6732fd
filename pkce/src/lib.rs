//! OAuth 2.0 sign-in for native apps, done in the right order by default.
//!
//! - [`CodeVerifier`] / [`CodeChallenge`]: PKCE with S256 only (RFC 7636, RFC 9700), from
//!   the OS CSPRNG; [`State`] and [`Nonce`]: 256-bit one-time values. All of them print as
//!   `[REDACTED]`.
//! - [`AuthorizationRequest`]: the URL to open and a [`PendingAuthorization`], which is
//!   single use, expires, and checks a [`Callback`] in the only safe order: redirect URI,
//!   `state` (constant time, before `error`), `error`, `iss` (RFC 9207, required or
//!   [if present](AuthorizationRequest::expected_issuer_if_present)), `code`.
//! - [`RedirectUri`]: the three forms of RFC 8252 §7 — loopback IP literals, private-use
//!   schemes (`com.example.app:/oauth2redirect`, the form mobile apps and AppAuth use) and
//!   claimed https links; the last two are completed from the app's deep-link handler with
//!   [`PendingAuthorization::complete`].
//! - Pending sign-ins can be saved and restored (encrypted by the app, e.g. in the vault).
//!
//! - [`LoopbackReceiver`] (feature `loopback`, default): the redirect target, bound on
//!   `127.0.0.1` (or `[::1]`) before the URL is made; exact path and Host only; only a
//!   callback with this sign-in's state ends it; bounded connections and timeouts.
//!
//! - [`TokenClient`] (feature `client`, default): the code exchange and refresh over
//!   `hearth-net-policy`'s HTTPS client, responses parsed into a [`TokenSet`] of
//!   token-guard types, errors typed with [`Error::is_retryable`]; [`Session`] refreshes
//!   at most once at a time in a task that never loses a rotated refresh token, shares
//!   each outcome with every waiter, and persists through [`PersistTokens`] —
//!   [`StoredTokens`] (feature `storage`) keeps them in a hearth-secure-storage store.
//!
//! ```
//! use hearth_pkce::AuthorizationRequest;
//!
//! let (url, pending) = AuthorizationRequest::new(
//!     "https://accounts.example/authorize", "client", "http://127.0.0.1:5000/cb",
//! ).scope("openid").build()?;
//! // ... open `url`; the browser comes back to the redirect URI ...
//! let err = pending.complete("http://127.0.0.1:5000/cb?error=access_denied&state=forged").unwrap_err();
//! assert!(matches!(err, hearth_pkce::Error::StateMismatch)); // state first, then error
//! # Ok::<(), hearth_pkce::Error>(())
//! ```
#![forbid(unsafe_code)]

mod authorization;
mod callback;
#[cfg(feature = "oidc")]
mod device;
#[cfg(feature = "oidc")]
mod dpop;
#[cfg(feature = "oidc")]
mod dpop_client;
mod error;
#[cfg(feature = "client")]
mod exchange;
mod form;
#[cfg(feature = "oidc")]
mod id_token;
#[cfg(feature = "loopback")]
mod loopback;
#[cfg(feature = "oidc")]
mod provider;
mod redirect_uri;
#[cfg(feature = "client")]
mod session;
mod state;
#[cfg(feature = "storage")]
mod stored_tokens;
#[cfg(feature = "client")]
mod token_response;
mod verifier;

pub use authorization::{
    AuthorizationCodeGrant, AuthorizationRequest, DEFAULT_TTL, IssuerCheck, PendingAuthorization,
};
pub use callback::Callback;
#[cfg(feature = "oidc")]
pub use device::{DeviceAuthorization, DevicePoll};
#[cfg(feature = "oidc")]
pub use dpop::DpopKey;
#[cfg(feature = "oidc")]
pub use dpop_client::DpopClient;
pub use error::Error;
#[cfg(feature = "client")]
pub use exchange::TokenClient;
pub use hearth_token_guard::ErrorKind;
#[cfg(feature = "oidc")]
pub use id_token::{IdTokenCheck, IdTokenClaims, validate_id_token};
#[cfg(feature = "loopback")]
pub use loopback::{CancelHandle, LoopbackReceiver};
#[cfg(feature = "oidc")]
pub use provider::{Logout, Provider, Revocable, SignIn};
pub use redirect_uri::{RedirectKind, RedirectUri};
#[cfg(feature = "client")]
pub use session::{PersistTokens, Session};
pub use state::{Nonce, OneTimeKind, OneTimeSecret, State};
#[cfg(feature = "storage")]
pub use stored_tokens::StoredTokens;
#[cfg(feature = "client")]
pub use token_response::{TokenSet, parse_token_response};
pub use verifier::{
    CodeChallenge, CodeVerifier, MAX_VERIFIER_BYTES, MIN_VERIFIER_BYTES, VerifierKind,
    VerifierSecret,
};
