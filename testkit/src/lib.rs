//! Test support for Hearth's own tests (`publish = false`): the real components a user has,
//! started and driven from a test.
//!
//! - [`oidc_provider`]: panva's oidc-provider as the authorization server, over HTTPS with
//!   a pinned certificate, and a [`Browser`](oidc_provider::Browser) that signs a user in
//!   through its forms.
//! - [`redis`]: a private `redis-server` that a test can kill and start again.
//!
//! ```no_run
//! use hearth_testkit::oidc_provider::OidcProvider;
//!
//! let op = OidcProvider::start("doc");
//! assert!(op.issuer().starts_with("https://127.0.0.1:"));
//! ```
#![forbid(unsafe_code)]

pub mod oidc_provider;
pub mod redis;
