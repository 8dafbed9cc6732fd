//! Certificate pins in OkHttp's `sha256/<base64>` format.

use std::ffi::c_char;

use hearth_net_policy::Pin;

use crate::convert::{bytes_arg, c_string, check_out, write_out};
use crate::status::{Failure, boundary, hearth_status};

/// The pin (`sha256/` + base64 of the SHA-256 of the SubjectPublicKeyInfo) of a DER
/// certificate: what `PinPolicy` and OkHttp's `CertificatePinner` take. A buffer that is
/// not a certificate is `HEARTH_INVALID_ARGUMENT`. Free with `hearth_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_pin_from_der(
    der: *const u8,
    len: usize,
    out_pin: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_pin, "out_pin")?;
        // SAFETY: `der` points to `len` readable bytes or is NULL (checked).
        let der = unsafe { bytes_arg(der, len, "der") }?;
        if der.is_empty() {
            return Err(Failure::invalid("der is empty"));
        }
        let pin = Pin::of_certificate(der).map_err(|e| Failure::invalid(e.to_string()))?;
        let text = c_string(pin.to_string())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_pin, text) };
        Ok(())
    })
}
