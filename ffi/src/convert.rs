//! Checked conversions between C arguments and Rust values.

use std::ffi::{CStr, CString, c_char};

use crate::status::{Failure, HEARTH_ERROR};

/// A NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL, and NUL-terminated and alive for 'a by this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8 (the common case, checked with a SIMD-friendly
        // scan that is cheaper than full UTF-8 validation).
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|_| Failure::invalid(format!("{name} is not valid UTF-8")))
}

/// A byte-buffer argument; `len == 0` allows a NULL pointer.
///
/// # Safety
/// When `len > 0`, `ptr` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL with `len` readable bytes alive for 'a by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks that an out-parameter is not NULL (before any work is done).
pub(crate) fn check_out<T>(ptr: *mut T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        Err(Failure::invalid(format!("{name} is NULL")))
    } else {
        Ok(())
    }
}

/// Writes an out-parameter that [`check_out`] accepted.
///
/// # Safety
/// `ptr` was checked non-NULL and points to writable memory for a `T`.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: by this function's contract.
    unsafe { ptr.write(value) }
}

/// A string handed to C, freed with `hearth_string_free`. The Rust string is consumed
/// (and so not left behind in memory).
pub(crate) fn c_string(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s).map(CString::into_raw).map_err(|e| {
        let mut bytes = e.into_vec();
        wipe(&mut bytes);
        Failure::new(HEARTH_ERROR, "a result contained a NUL byte")
    })
}

/// Frees a string returned by Hearth (a token, a key list, a challenge) after
/// overwriting its bytes with zeros. NULL does nothing. Every `char *` Hearth returns
/// through an out-parameter is freed with this, exactly once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_string_free(s: *mut c_char) {
    crate::status::boundary_or((), || {
        if s.is_null() {
            return;
        }
        // SAFETY: `s` came from `CString::into_raw` in `c_string` (the documented rule:
        // only strings Hearth returned, each freed once).
        let owned = unsafe { CString::from_raw(s) };
        let mut bytes = owned.into_bytes_with_nul();
        wipe(&mut bytes);
    });
}

/// Overwrites `bytes` with zeros through volatile writes (which the optimizer may not
/// drop), eight bytes at a time where aligned. `zeroize` writes byte by byte and also
/// wipes spare capacity; for the short strings this crate returns that was most of an FFI
/// call's cost (BENCHMARKS.md), and these buffers have no spare capacity.
pub(crate) fn wipe(bytes: &mut [u8]) {
    // SAFETY: every bit pattern is a valid `u64` and a valid `u8`, so viewing the aligned
    // middle of the slice as words is sound; the three parts cover the slice exactly once.
    let (head, words, tail) = unsafe { bytes.align_to_mut::<u64>() };
    for b in head.iter_mut().chain(tail.iter_mut()) {
        // SAFETY: `b` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    for w in words {
        // SAFETY: `w` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(w, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_zeroes_every_byte_at_any_alignment_and_length() {
        for len in 0..40 {
            for offset in 0..8 {
                let mut buf = vec![0xAAu8; len + offset];
                wipe(&mut buf[offset..]);
                assert!(
                    buf[offset..].iter().all(|&b| b == 0),
                    "len {len} offset {offset}"
                );
                assert!(
                    buf[..offset].iter().all(|&b| b == 0xAA),
                    "wrote before the slice"
                );
            }
        }
    }
}
