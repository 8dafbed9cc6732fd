//! Network policy for local-first apps: HTTPS only, pinned where it matters.
//!
//! - [`UrlPolicy`]: `https://` always; `http://` only to loopback IP literals, and only
//!   when allowed; checked before any socket opens.
//! - [`Pin`] (OkHttp's `sha256/…` format), [`HostPattern`] (`host`, `*.host`,
//!   `**.host`) and [`PinPolicy`]: backup pins, CA-valid-and-pinned or pinned-only
//!   (self-signed) per host, an expiry with an explicit [`AfterExpiry`], report-only mode.
//! - [`PinningVerifier`]: a rustls verifier that checks pins against the path webpki
//!   verified, never against what the server merely sent, and lists the chain's pins when
//!   a pin fails ([`PinFailure`]).
//! - [`TlsPolicy`]: builds the `rustls::ClientConfig` (TLS 1.2+ or 1.3 only; OS roots,
//!   extra PEM roots, pins).
//!
//! - [`HttpsClient`]: hyper 1 over tokio-rustls; the policy checked on every request and
//!   redirect before a socket opens; connect, handshake and overall timeouts; body cap.
//!
//! - Trust on first use: [`PinStore`] (per host and port; [`FilePinStore`]),
//!   [`trust_on_first_use`] giving a [`TrustDecision`] with the chain described
//!   ([`CertInfo`]) or [`Error::PinChanged`] with both keys; [`fetch_chain`] reads a chain
//!   without trusting it.
//!
//! - An issuer (feature `issuer`): [`IssuerMetadata`] (RFC 8414 and OpenID Connect
//!   Discovery, validated) and [`IssuerKeys`] (its JWKS, fetched and kept fresh, for
//!   hearth-token-guard's `JwksCache`); [`cache_max_age`] reads `Cache-Control`.
//!
//! Guards for local servers (`LocalGuard`, rate limits, private Unix sockets, `Confined`)
//! are in the `hearth-guard` crate.
//!
//! ```
//! use hearth_net_policy::{PinPolicy, TlsPolicy};
//!
//! let pins = PinPolicy::new().pin("**.spotify.com", [
//!     "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
//!     "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=",
//! ])?;
//! let tls = TlsPolicy::new().add_root_der(vec![]).pins(pins).build();
//! assert!(tls.is_err(), "an empty DER root is rejected, not ignored");
//! # Ok::<(), hearth_net_policy::Error>(())
//! ```
#![forbid(unsafe_code)]

mod cache_control;
mod cert_info;
mod cert_problem;
mod client;
mod config;
mod connection;
mod error;
mod host_pattern;
#[cfg(feature = "issuer")]
mod issuer_keys;
#[cfg(feature = "issuer")]
mod issuer_metadata;
mod pin;
mod pins;
mod pool;
mod proxy;
mod redirect;
mod tofu;
mod url_policy;
mod verifier;

pub use cache_control::cache_max_age;
pub use cert_info::CertInfo;
pub use cert_problem::{CertificateProblem, UntrustedReason};
pub use client::{HttpsClient, Response, Timeouts, with_bearer};
pub use config::{BuiltPolicy, RootsReport, TlsPolicy};
pub use error::Error;
pub use hearth_token_guard::ErrorKind;
pub use host_pattern::HostPattern;
#[cfg(feature = "issuer")]
pub use issuer_keys::{IssuerKeys, KeyRefresh};
#[cfg(feature = "issuer")]
pub use issuer_metadata::{IssuerMetadata, MAX_METADATA_LEN};
pub use pin::Pin;
pub use pins::{AfterExpiry, PinFailure, PinMode, PinPolicy, ReportFn};
pub use proxy::Proxy;
pub use redirect::resolve_location;
pub use tofu::{
    FilePinStore, MemoryPinStore, PinStore, TrustDecision, fetch_chain, trust_on_first_use,
};
pub use url_policy::UrlPolicy;
pub use verifier::PinningVerifier;
