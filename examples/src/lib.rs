//! Runnable examples of Hearth. The code is in `examples/`; run the main demo with
//!
//! ```text
//! cargo run -p hearth-examples --example quickstart
//! ```
//!
//! The library holds what the examples and the end-to-end tests share: an in-process OAuth
//! 2.0 authorization server ([`test_server`]).
#![forbid(unsafe_code)]

pub mod test_server;

/// README's examples, compiled and run as doc tests (this crate depends on every other).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
