//! Random tokens, constant-time comparison and log redaction.

use std::ffi::c_char;

use hearth_token_guard::{MAX_SECRET_BYTES, MIN_SECRET_BYTES, SessionToken};

use crate::convert::{bytes_arg, c_string, check_out, str_arg, write_out};
use crate::status::{Failure, boundary, hearth_status};

/// Generates a random token of `bytes` bytes (16-1024; 32 is a good default) from the OS
/// generator, as URL-safe base64 without padding. Free with `hearth_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_token_generate(
    bytes: usize,
    out_token: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_token, "out_token")?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes) {
            return Err(Failure::invalid(format!(
                "a token is {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {bytes}"
            )));
        }
        let token = SessionToken::generate_with_len(bytes)?;
        let text = c_string(token.expose_secret().to_owned())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_token, text) };
        Ok(())
    })
}

/// Compares two byte strings in constant time (their SHA-256 digests, so the time does
/// not depend on where they differ or on their lengths' relation); writes 1 to
/// `*out_equal` when equal, else 0.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_constant_time_eq(
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
    out_equal: *mut bool,
) -> hearth_status {
    boundary(|| {
        check_out(out_equal, "out_equal")?;
        // SAFETY: `a`/`b` point to `a_len`/`b_len` readable bytes or are NULL (checked).
        let (a, b) = unsafe { (bytes_arg(a, a_len, "a")?, bytes_arg(b, b_len, "b")?) };
        let equal = hearth_token_guard::constant_time_eq(a, b);
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_equal, equal) };
        Ok(())
    })
}

/// Copies `text` with secrets masked as `[REDACTED]`: bearer tokens, JWTs, OAuth
/// parameters (`access_token=`, `code=`, ...), PEM private keys. Free with
/// `hearth_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_redact(
    text: *const c_char,
    out_redacted: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_redacted, "out_redacted")?;
        // SAFETY: a NUL-terminated string or NULL (checked).
        let text = unsafe { str_arg(text, "text") }?;
        let redacted = c_string(hearth_token_guard::redact(text).into_owned())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_redacted, redacted) };
        Ok(())
    })
}
