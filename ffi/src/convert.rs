//! Checked conversions between C arguments and Rust values.

use std::alloc::{Layout, alloc, dealloc};
use std::ffi::{CStr, c_char};

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
    if isize::try_from(len).is_err() {
        return Err(Failure::invalid(format!(
            "{name}: the length is larger than any buffer"
        )));
    }
    // SAFETY: non-NULL with `len <= isize::MAX` readable bytes alive for 'a by this
    // function's contract.
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

/// Bytes before a string handed to C: its length, so that `hearth_string_free` wipes and
/// frees exactly what was allocated even if the caller wrote NULs into it (`strtok`).
const PREFIX: usize = std::mem::size_of::<usize>();

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(PREFIX.checked_add(len)?.checked_add(1)?, PREFIX).ok()
}

/// A string handed to C, freed with `hearth_string_free`. The Rust string is consumed
/// and wiped: the C copy is allocated once, with room for its NUL (no reallocation that
/// would leave an unwiped copy behind), after a length prefix.
pub(crate) fn c_string(s: String) -> Result<*mut c_char, Failure> {
    let mut bytes = s.into_bytes();
    if bytes.contains(&0) {
        wipe(&mut bytes);
        return Err(Failure::new(HEARTH_ERROR, "a result contained a NUL byte"));
    }
    let out = copy_out(&bytes);
    wipe(&mut bytes);
    out
}

/// [`c_string`] for text known to hold no NUL byte (base64url), without the scan.
pub(crate) fn c_string_unchecked(s: String) -> Result<*mut c_char, Failure> {
    debug_assert!(!s.bytes().any(|b| b == 0));
    let mut bytes = s.into_bytes();
    let out = copy_out(&bytes);
    wipe(&mut bytes);
    out
}

fn copy_out(bytes: &[u8]) -> Result<*mut c_char, Failure> {
    let oom = || Failure::new(HEARTH_ERROR, "out of memory");
    let layout = layout(bytes.len()).ok_or_else(oom)?;
    // SAFETY: the layout has a non-zero size (at least the prefix and the NUL).
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return Err(oom());
    }
    // SAFETY: `base` holds `PREFIX + len + 1` bytes, aligned for `usize`; the three writes
    // stay inside it, and the source is a Rust slice that cannot overlap a fresh block.
    unsafe {
        base.cast::<usize>().write(bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(PREFIX), bytes.len());
        base.add(PREFIX + bytes.len()).write(0);
        Ok(base.add(PREFIX).cast::<c_char>())
    }
}

/// Frees a string returned by Hearth (a token, a key list, a challenge) after
/// overwriting its bytes with zeros. NULL does nothing. Every `char *` Hearth returns
/// through an out-parameter is freed with this, exactly once. The string's length is
/// remembered by Hearth: it may be modified in place first (e.g. by `strtok`), and all
/// of it is still wiped.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_string_free(s: *mut c_char) {
    crate::status::boundary_or((), || {
        if s.is_null() {
            return;
        }
        // SAFETY: `s` came from `copy_out` (the documented rule: only strings Hearth
        // returned, each freed once), so its length sits `PREFIX` bytes before it and the
        // block was allocated with `layout(len)`.
        unsafe {
            let base = s.cast::<u8>().sub(PREFIX);
            let len = base.cast::<usize>().read();
            let Some(layout) = layout(len) else {
                return;
            };
            wipe(std::slice::from_raw_parts_mut(base, layout.size()));
            dealloc(base, layout);
        }
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

    /// An allocator that, while armed, counts freed blocks still holding a marker byte
    /// (0x7F, which nothing else in this test binary writes).
    struct Checking;

    thread_local! {
        /// Armed on the checking test's thread only: other tests free blocks of binary
        /// data (pointers hold 0x7F bytes).
        static ARMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    thread_local! {
        /// Armed on the token test's thread only: every freed block's bytes are logged.
        static LOGGING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// The bytes of the blocks freed while logging, each followed by a 0 (no allocation:
    /// the log lives in a fixed static buffer and is written from `dealloc`).
    struct FreedLog {
        bytes: [u8; 1 << 16],
        len: usize,
        overflowed: bool,
    }

    impl FreedLog {
        fn record(&mut self, block: &[u8]) {
            let room = self.bytes.len() - self.len;
            if block.len() + 1 > room {
                self.overflowed = true;
                return;
            }
            self.bytes[self.len..self.len + block.len()].copy_from_slice(block);
            self.len += block.len() + 1;
            self.bytes[self.len - 1] = 0;
        }

        fn holds(&self, needle: &[u8]) -> bool {
            self.bytes[..self.len]
                .windows(needle.len())
                .any(|w| w == needle)
        }
    }

    static FREED: std::sync::Mutex<FreedLog> = std::sync::Mutex::new(FreedLog {
        bytes: [0; 1 << 16],
        len: 0,
        overflowed: false,
    });

    static UNWIPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    const MARK: u8 = 0x7F;

    // SAFETY: forwards to the system allocator; the check only reads the block being freed,
    // which is still valid for `layout.size()` bytes until the forwarded `dealloc`.
    unsafe impl std::alloc::GlobalAlloc for Checking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded contract.
            unsafe { std::alloc::System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if ARMED.with(std::cell::Cell::get) {
                // SAFETY: `ptr` is a live block of `layout.size()` bytes.
                let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                if block.contains(&MARK) {
                    UNWIPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            if LOGGING.with(std::cell::Cell::get) {
                // SAFETY: as above.
                let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                FREED
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .record(block);
            }
            // SAFETY: forwarded contract.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Checking = Checking;

    #[test]
    fn no_freed_buffer_holds_a_returned_strings_bytes_at_any_length() {
        ARMED.with(|a| a.set(true));
        // The check can fail: a buffer freed unwiped is counted.
        drop(vec![MARK; 40]);
        assert_eq!(UNWIPED.swap(0, std::sync::atomic::Ordering::SeqCst), 1);
        for len in 1..=200 {
            // A string built the way the exports build theirs (`to_owned` of a secret),
            // with every capacity a `String` may have: exact, and with room to spare.
            for spare in [0, 1, 7] {
                let mut s = String::with_capacity(len + spare);
                s.extend(std::iter::repeat_n(char::from(MARK), len));
                let Ok(p) = c_string(s) else {
                    panic!("c_string failed")
                };
                // SAFETY: `p` is a string `c_string` just returned, `len` bytes and a NUL.
                let text = unsafe { CStr::from_ptr(p) }.to_bytes();
                assert_eq!(text.len(), len);
                hearth_string_free(p);
            }
        }
        ARMED.with(|a| a.set(false));
        assert_eq!(UNWIPED.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// Runs `make` (an export that hands out a secret string) and frees what it gave with
    /// logging on; the freed blocks must hold none of the secret's bytes.
    fn assert_no_freed_copy(
        what: &str,
        mut make: impl FnMut(&mut *mut c_char) -> crate::hearth_status,
    ) {
        {
            let mut log = FREED.lock().unwrap();
            log.len = 0;
            log.overflowed = false;
        }
        let mut out: *mut c_char = std::ptr::null_mut();
        LOGGING.with(|l| l.set(true));
        let status = make(&mut out);
        LOGGING.with(|l| l.set(false));
        assert_eq!(status, crate::HEARTH_OK, "{what}");
        // SAFETY: the export returned a NUL-terminated string.
        let secret = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
        LOGGING.with(|l| l.set(true));
        hearth_string_free(out);
        LOGGING.with(|l| l.set(false));
        let log = FREED.lock().unwrap();
        assert!(!log.overflowed, "{what}: the log overflowed");
        assert!(
            log.len > 0,
            "{what}: nothing freed was seen (the check would not fail)"
        );
        // Any 8 bytes of it: a partial copy (a prefix cut off, a chunk of a buffer) counts.
        let part = secret.windows(8).find(|w| log.holds(w));
        assert!(
            part.is_none(),
            "{what}: a freed block held part of the secret ({} bytes)",
            secret.len()
        );
    }

    #[test]
    fn no_freed_buffer_holds_a_generated_token_state_or_verifier() {
        // The check can fail: a freed copy is found.
        {
            let mut log = FREED.lock().unwrap();
            log.len = 0;
            LOGGING.with(|l| l.set(true));
            drop(log);
            drop(b"0123456789abcdefghijklmnop".to_vec());
            LOGGING.with(|l| l.set(false));
            assert!(FREED.lock().unwrap().holds(b"0123456789abcdefghijklmnop"));
        }
        // Every token length the export can give up to 200 characters (16..=150 bytes).
        for bytes in hearth_token_guard::MIN_SECRET_BYTES..=150 {
            assert_no_freed_copy(&format!("hearth_token_generate({bytes})"), |out| {
                crate::hearth_token_generate(bytes, out)
            });
        }
        assert_no_freed_copy("hearth_state_generate", |out| {
            crate::hearth_state_generate(out)
        });
        let mut challenge: *mut c_char = std::ptr::null_mut();
        assert_no_freed_copy("hearth_pkce_generate", |out| {
            crate::hearth_pkce_generate(out, &mut challenge)
        });
        hearth_string_free(challenge);
    }

    #[test]
    fn a_string_modified_in_place_is_still_wiped_and_freed_whole() {
        let Ok(p) = c_string("a\nb\nc\n".to_owned()) else {
            panic!("c_string failed")
        };
        // What `strtok` does: NULs over the separators.
        // SAFETY: `p` has 6 bytes and a NUL.
        unsafe {
            *p.add(1) = 0;
            *p.add(3) = 0;
        }
        hearth_string_free(p); // the full block: checked by Miri/valgrind-style allocators
    }
}
