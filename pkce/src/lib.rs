//! OAuth 2.0 sign-in for native apps, done in the right order by default.
//!
//! This crate will own PKCE (RFC 7636, S256 only) verifiers, `state` and OIDC `nonce`
//! values generated from the OS CSPRNG; the single-use, expiring pending authorization that
//! checks a callback's redirect path, then `state` in constant time, then `error`, then the
//! RFC 9207 `iss`, then the `code`; a loopback redirect receiver bound to an IP literal
//! before the URL is handed out (RFC 8252); and the token exchange and refresh-token
//! rotation over `hearth-net-policy`'s HTTPS client (RFC 9700). Every value it returns is a
//! [`hearth_token_guard`] secret type.
//!
//! It is filled by the issue "pkce: PKCE and state, the single-use pending sign-in, the
//! loopback receiver, token exchange"; until then it exports nothing.
#![forbid(unsafe_code)]
