//! Where Hearth keeps secrets at rest.
//!
//! This crate will own the `SecureStorage` trait (store, retrieve, delete, list and clear
//! by namespace) and its backends: the OS keyring (Apple Keychain, Windows Credential
//! Manager, Linux Secret Service and kernel keyutils), an authenticated AES-256-GCM vault
//! file for machines with no keyring daemon, a hybrid store that keeps only the vault key in
//! the keyring, and the observable fallback chain that reports which backend it chose and
//! why. Secrets go in and come out as [`hearth_token_guard`] types, never as `String`.
//!
//! It is filled by the issues "secure-storage: the SecureStorage trait and the
//! encrypted-file vault" and "OS keyring backends, the observable fallback chain, and the
//! hybrid store"; until then it exports nothing.
#![forbid(unsafe_code)]
