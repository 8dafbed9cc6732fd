//! Runnable examples of Hearth. The code is in `examples/`; run the main demo with
//!
//! ```text
//! cargo run -p hearth-examples --example quickstart
//! ```
//!
//! This library target exists only because a Cargo package needs one; it exports nothing.
#![forbid(unsafe_code)]

/// README's examples, compiled and run as doc tests (this crate depends on every other).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
