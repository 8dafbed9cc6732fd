//! PKCE (RFC 7636, S256 only) and OAuth `state`.

use std::ffi::c_char;

use hearth_pkce::{CodeVerifier, State};

use crate::convert::{c_string, check_out, str_arg, write_out};
use crate::status::{Failure, boundary, hearth_status};

fn pkce_failure(e: hearth_pkce::Error) -> Failure {
    Failure::from(e)
}

/// Generates a code verifier (32 bytes from the OS generator: 43 characters) and its S256
/// challenge. Both strings are freed with `hearth_string_free`; the verifier is a secret
/// until the token exchange.
///
/// ```c
/// char *verifier, *challenge;
/// if (hearth_pkce_generate(&verifier, &challenge) == HEARTH_OK) {
///     /* send challenge in the authorization URL, keep verifier for the exchange */
///     hearth_string_free(verifier);
///     hearth_string_free(challenge);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn hearth_pkce_generate(
    out_verifier: *mut *mut c_char,
    out_challenge: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_verifier, "out_verifier")?;
        check_out(out_challenge, "out_challenge")?;
        let verifier = CodeVerifier::generate().map_err(pkce_failure)?;
        let challenge = c_string(verifier.challenge().into_string())?;
        let verifier = match c_string(verifier.expose_secret().to_owned()) {
            Ok(v) => v,
            Err(e) => {
                crate::convert::hearth_string_free(challenge);
                return Err(e);
            }
        };
        // SAFETY: both checked non-NULL above; the caller provides writable pointers.
        unsafe {
            write_out(out_verifier, verifier);
            write_out(out_challenge, challenge);
        }
        Ok(())
    })
}

/// Computes the S256 challenge of `verifier` (43-128 characters of `[A-Za-z0-9-._~]`;
/// anything else is `HEARTH_INVALID_ARGUMENT`).
#[unsafe(no_mangle)]
pub extern "C" fn hearth_pkce_challenge(
    verifier: *const c_char,
    out_challenge: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_challenge, "out_challenge")?;
        // SAFETY: a NUL-terminated string or NULL (checked), per the header's rules.
        let text = unsafe { str_arg(verifier, "verifier") }?;
        let verifier = CodeVerifier::parse(text).map_err(pkce_failure)?;
        let challenge = crate::convert::c_string_unchecked(verifier.challenge().into_string())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_challenge, challenge) };
        Ok(())
    })
}

/// Generates an OAuth `state` value (256 bits, URL-safe). Free with `hearth_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_state_generate(out_state: *mut *mut c_char) -> hearth_status {
    boundary(|| {
        check_out(out_state, "out_state")?;
        let state = State::generate().map_err(pkce_failure)?;
        let text = c_string(state.expose_secret().to_owned())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_state, text) };
        Ok(())
    })
}
