//! Guards for local servers: what a desktop app's or home server's HTTP endpoint needs
//! before it answers anyone.
//!
//! - [`LocalGuard`]: peer, `Host` (DNS rebinding), `Origin` and `Sec-Fetch-Site`,
//!   credentials (session token or [`KeyRegistry`](hearth_token_guard::apikey::KeyRegistry)
//!   keys with roles), exempt paths, permissions per path, body cap, rate limits; a
//!   framework-agnostic [`LocalGuard::check`] returning a [`Decision`].
//! - [`RateLimiter`] and [`GlobalLimiter`] with [`Limit`]s (token bucket, exact sliding
//!   window), bounded memory.
//! - [`HostAllowlist`], [`OriginAllowlist`] and their strict parsers [`Authority`] and
//!   [`Origin`].
//! - [`bind_private_socket`] and [`check_peer_uid`]: Unix sockets for this user only.
//! - [`Confined`] / [`confine`]: untrusted paths kept inside a root (symlinks resolved).
//! - [`serve`]: an accept loop applying the guard, with connection caps (global and per
//!   peer) and [`SecurityHeaders`].
//! - [`check_canonical_path`]: the one spelling of a path that rules are matched against.
//!
//! ```
//! use hearth_guard::{Decision, LocalGuard};
//!
//! // Secure defaults: loopback peers and Host names only, and no credential configured,
//! // so a page on evil.example that rebinds its name to 127.0.0.1 is refused.
//! let guard = LocalGuard::new();
//! let (request, ()) = http::Request::get("/items")
//!     .header("host", "evil.example:8096")
//!     .body(())?
//!     .into_parts();
//! assert!(matches!(guard.check(&request, "127.0.0.1:50000".parse()?), Decision::Deny(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The body cap covers HTTP request bodies (and a WebSocket upgrade request); once a
//! connection is upgraded, cap frame and message sizes in the WebSocket library (for
//! example tungstenite's `max_message_size`), which sees the frames.

#![forbid(unsafe_code)]

mod authority;
mod canonical_path;
mod clock;
mod confine;
mod credentials;
mod decision;
mod error;
#[cfg(feature = "jwt")]
mod jwt;
mod layer;
mod local_guard;
mod peer_key;
mod rate_limit;
mod request_body;
mod security_headers;
mod server;
#[cfg(unix)]
mod unix_socket;
#[cfg(feature = "websocket")]
mod websocket;

pub use authority::{Authority, HostAllowlist, Origin, OriginAllowlist};
pub use canonical_path::{PathProblem, check_canonical_path};
pub use confine::{Confined, ConfinedEntry, confine};
pub use decision::{Caller, Decision, Denial, DeniedRequest, DenyReason, Preflight};
pub use error::Error;
pub use hearth_token_guard::ErrorKind;
#[cfg(feature = "jwt")]
pub use jwt::JwtBearer;
pub use layer::{LocalGuardLayer, LocalGuardService, PeerAddr};
pub use local_guard::{
    DEFAULT_FAILED_AUTH_LIMIT, DEFAULT_MAX_BODY, LocalGuard, Network, path_under,
};
pub use peer_key::PeerKey;
pub use rate_limit::{
    DEFAULT_MAX_KEYS, GlobalLimiter, Limit, LimitShape, LimitState, MAX_WINDOW_REQUESTS,
    RateLimiter, RetryAfter,
};
pub use request_body::RequestBody;
pub use security_headers::{DEFAULT_CSP, SecurityHeaders, SecurityHeadersService};
#[cfg(feature = "tls")]
pub use server::serve_tls_until;
pub use server::{BoxError, GuardedRequest, ServeBody, ServeOptions, Shutdown, serve, serve_until};
#[cfg(unix)]
pub use unix_socket::bind_private_socket;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_socket::{check_peer_uid, peer_uid};
#[cfg(feature = "websocket")]
pub use websocket::{WebSocket, WebSocketLimits, accept_websocket};
