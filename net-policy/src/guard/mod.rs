//! Guards for local servers (feature `guard`).
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
//!
//! The body cap covers HTTP request bodies (and a WebSocket upgrade request); once a
//! connection is upgraded, cap frame and message sizes in the WebSocket library (for
//! example tungstenite's `max_message_size`), which sees the frames.

mod authority;
mod clock;
mod credentials;
mod decision;
mod layer;
mod local_guard;
mod rate_limit;
mod server;
#[cfg(unix)]
mod unix_socket;

pub use authority::{Authority, HostAllowlist, Origin, OriginAllowlist};
pub use decision::{Caller, Decision, Denial, DenyReason, Preflight};
pub use layer::{LocalGuardLayer, LocalGuardService, PeerAddr};
pub use local_guard::{DEFAULT_MAX_BODY, LocalGuard, Network};
pub use rate_limit::{
    DEFAULT_MAX_KEYS, GlobalLimiter, Limit, MAX_WINDOW_REQUESTS, RateLimiter, RetryAfter,
};
pub use server::{GuardedRequest, ServeOptions, serve};
#[cfg(unix)]
pub use unix_socket::bind_private_socket;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_socket::{check_peer_uid, peer_uid};
