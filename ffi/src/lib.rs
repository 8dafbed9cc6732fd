//! The C ABI of Hearth: `libhearth.so` / `libhearth.a` and `include/hearth.h`.
//!
//! Conventions (also at the top of the header), after rustls-ffi:
//! - every fallible function returns `hearth_status` (`int32_t`): `HEARTH_OK` (0) or an
//!   error code, numbered like the `hearth` CLI's exit codes where they overlap;
//!   `hearth_last_error` copies this thread's last error message (never a secret);
//! - results come back through out-parameters, written only on success;
//! - every object and string Hearth returns has exactly one free function
//!   (`hearth_store_free`, `hearth_secret_free`, `hearth_string_free`); secrets and strings
//!   are overwritten with zeros when freed; freeing NULL does nothing;
//! - no panic crosses the boundary (it becomes `HEARTH_PANIC`); every pointer is checked
//!   for NULL; strings are NUL-terminated UTF-8 and validated.
//!
//! This is the one crate of the workspace with `unsafe` code: pointer conversions at the
//! boundary, each with a `// SAFETY:` comment.
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(
    clippy::not_unsafe_ptr_arg_deref,
    reason = "exports are safe `extern \"C\" fn`s taking raw pointers, as in rustls-ffi: \
              the pointer rules are the header's contract, checked for NULL in each body"
)]

mod apikey;
mod convert;
mod pin;
mod pkce;
mod status;
mod store;
mod tokens;
mod wrapped;

use std::ffi::c_char;

pub use apikey::hearth_apikey_verify;
pub use convert::hearth_string_free;
pub use pin::hearth_pin_from_der;
pub use pkce::{hearth_pkce_challenge, hearth_pkce_generate, hearth_state_generate};
pub use status::{
    HEARTH_BUSY, HEARTH_ERROR, HEARTH_INTEGRITY, HEARTH_INVALID_ARGUMENT, HEARTH_NOT_FOUND,
    HEARTH_OK, HEARTH_PANIC, HEARTH_POLICY_REFUSED, HEARTH_UNAVAILABLE, hearth_last_error,
    hearth_status,
};
pub use store::{
    hearth_key_list, hearth_key_list_free, hearth_key_list_get, hearth_key_list_len,
    hearth_keyring_open, hearth_keyring_open_with_timeout, hearth_secret, hearth_secret_data,
    hearth_secret_free, hearth_store, hearth_store_backend, hearth_store_clear,
    hearth_store_delete, hearth_store_free, hearth_store_get, hearth_store_list_keys,
    hearth_store_open_default, hearth_store_open_default_with_timeout, hearth_store_set,
    hearth_vault_open, hearth_vault_open_key_file,
};
// Deprecated in favour of `hearth_store_list_keys`; still exported and still working.
#[allow(deprecated)]
pub use store::hearth_store_list;
pub use tokens::{hearth_constant_time_eq, hearth_redact, hearth_token_generate};
pub use wrapped::{
    hearth_key_provider, hearth_store_open_default_in, hearth_store_open_wrapped,
    hearth_vault_open_raw_key, hearth_version_number,
};

static VERSION: &str = concat!("hearth-ffi/", env!("CARGO_PKG_VERSION"), "\0");

/// The library's version, `"hearth-ffi/X.Y.Z"`: a static string, not to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_version() -> *const c_char {
    status::boundary_or(std::ptr::null(), || VERSION.as_ptr().cast())
}
