//! Network policy for local-first apps: what they may connect to, and who may connect to
//! them.
//!
//! This crate will own the HTTPS-only client (rustls and hyper; plain `http://` refused
//! except to loopback on request; TLS 1.2 minimum; native roots, extra roots or pins only),
//! certificate pinning in OkHttp's `sha256/…` format with backup pins and report-only mode,
//! trust on first use with a pin store, and the guards for local servers: API keys with
//! roles, the local IPC guard (Origin and Host checks, session tokens), rate limits and
//! path confinement.
//!
//! It is filled by the issues "net-policy: the HTTPS-only TLS client with pinning and
//! trust-on-first-use" and "Guards for local servers"; until then it exports nothing.
#![forbid(unsafe_code)]
