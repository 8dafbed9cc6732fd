//! API-key verification against a `KeyRegistry` file, for servers written in C or Kotlin.

use std::ffi::c_char;

use hearth_token_guard::apikey::KeyRegistry;

use crate::convert::{c_string, check_out, str_arg, write_out};
use crate::status::{boundary, hearth_status};

/// Verifies an API key (`hth_...`) against the registry file at `registry_path` (as
/// `hearth apikey new` writes it). On success writes the key id and role name (free both
/// with `hearth_string_free`). A malformed key (typo, bad checksum) is
/// `HEARTH_INVALID_ARGUMENT` without a lookup; an unknown, revoked or expired one
/// `HEARTH_POLICY_REFUSED` (README, "Errors").
#[unsafe(no_mangle)]
pub extern "C" fn hearth_apikey_verify(
    registry_path: *const c_char,
    key: *const c_char,
    out_key_id: *mut *mut c_char,
    out_role: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_key_id, "out_key_id")?;
        check_out(out_role, "out_role")?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (path, key) = unsafe {
            (
                str_arg(registry_path, "registry_path")?,
                str_arg(key, "key")?,
            )
        };
        let registry = KeyRegistry::open(path);
        let principal = registry.verify(key)?;
        // One call, one registry: record the use now (best effort: a failed write does not
        // refuse the key). A long-running server keeps a KeyRegistry instead (hearth-guard).
        let _ = registry.flush_last_used();
        let id = c_string(principal.key_id.to_string())?;
        let role = match c_string(principal.role.to_string()) {
            Ok(r) => r,
            Err(e) => {
                crate::convert::hearth_string_free(id);
                return Err(e);
            }
        };
        // SAFETY: both checked non-NULL above.
        unsafe {
            write_out(out_key_id, id);
            write_out(out_role, role);
        }
        Ok(())
    })
}
