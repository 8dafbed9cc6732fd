//! Random secrets from the OS CSPRNG, encoded URL-safe base64 without padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::Error;

/// Size of a generated secret when none is given: 32 bytes (256 bits, 43 characters).
pub const DEFAULT_SECRET_BYTES: usize = 32;
/// Smallest size [`Secret::generate_with_len`](crate::Secret::generate_with_len) accepts:
/// 16 bytes (128 bits).
pub const MIN_SECRET_BYTES: usize = 16;
/// Largest size [`Secret::generate_with_len`](crate::Secret::generate_with_len) accepts.
pub const MAX_SECRET_BYTES: usize = 1024;

/// Fills a fresh buffer of `len` bytes from the OS CSPRNG; fails closed.
pub(crate) fn random_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&len) {
        return Err(Error::InvalidLength {
            requested: len,
            min: MIN_SECRET_BYTES,
            max: MAX_SECRET_BYTES,
        });
    }
    let mut buf = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new().fill(&mut buf).map_err(|_| Error::Rng)?;
    Ok(buf)
}

/// `len` random bytes, encoded URL-safe base64 without padding, into a `String` of exactly
/// its length (so wrapping it in a secret moves it without a reallocation or a copy).
pub(crate) fn random_token(len: usize) -> Result<String, Error> {
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&len) {
        return Err(Error::InvalidLength {
            requested: len,
            min: MIN_SECRET_BYTES,
            max: MAX_SECRET_BYTES,
        });
    }
    // Common sizes on the stack (no allocation for the raw bytes), wiped before returning.
    // The heap buffer exists only on the rare large path: dropping even an empty
    // `Zeroizing<Vec>` calls `memset` on its spare capacity, which cost ~60 ns per token
    // here (BENCHMARKS.md, pkce).
    if len <= SMALL {
        let mut small = [0u8; SMALL];
        let token = fill_and_encode(&mut small[..len]);
        small[..len].zeroize();
        token
    } else {
        let mut large = Zeroizing::new(vec![0u8; len]);
        fill_and_encode(&mut large)
    }
}

const SMALL: usize = 96;

fn fill_and_encode(bytes: &mut [u8]) -> Result<String, Error> {
    SystemRandom::new().fill(bytes).map_err(|_| Error::Rng)?;
    Ok(URL_SAFE_NO_PAD.encode(&*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_outside_the_range_are_refused() {
        assert!(matches!(
            random_bytes(15),
            Err(Error::InvalidLength { requested: 15, .. })
        ));
        assert!(matches!(
            random_bytes(MAX_SECRET_BYTES + 1),
            Err(Error::InvalidLength { .. })
        ));
        assert_eq!(
            random_bytes(MIN_SECRET_BYTES).unwrap().len(),
            MIN_SECRET_BYTES
        );
    }

    #[test]
    fn tokens_are_url_safe_unpadded_and_distinct() {
        let a = random_token(DEFAULT_SECRET_BYTES).unwrap();
        let b = random_token(DEFAULT_SECRET_BYTES).unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(*a, *b);
    }
}
