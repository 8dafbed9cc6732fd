//! Constant-time equality that leaks neither content nor length.

use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

/// Compares two secrets in time independent of where they differ *and* of their lengths.
///
/// Both sides are first hashed to fixed-length SHA-256 digests, then the two 32-byte
/// digests are compared with [`subtle`]. A plain `==` stops at the first differing byte,
/// and `subtle`'s slice comparison returns at once on a length mismatch; hashing first
/// removes both signals.
///
/// ```
/// use hearth_token_guard::constant_time_eq;
///
/// assert!(constant_time_eq(b"s3cret-token", b"s3cret-token"));
/// assert!(!constant_time_eq(b"s3cret-token", b"s3cret-tokeN"));
/// assert!(!constant_time_eq(b"s3cret-token", b"s3cret"));
/// ```
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let da = digest(&SHA256, a);
    let db = digest(&SHA256, b);
    da.as_ref().ct_eq(db.as_ref()).into()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_inputs_compare_equal() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(&[7u8; 1000], &[7u8; 1000]));
    }

    #[test]
    fn any_difference_is_detected() {
        let base = b"abcdefghijklmnopqrstuvwxyz".to_vec();
        for i in 0..base.len() {
            let mut other = base.clone();
            other[i] ^= 1;
            assert!(!constant_time_eq(&base, &other), "byte {i}");
        }
        assert!(!constant_time_eq(&base, &base[..base.len() - 1]));
        assert!(!constant_time_eq(b"", b"\0"));
    }
}
