//! [`SecretBytes`]: a secret that is binary rather than text (keys, seeds, nonces).

use std::fmt;

use secrecy::{ExposeSecret as _, SecretSlice};
use zeroize::Zeroize;

use crate::{ExposeSecretBytes, compare::constant_time_eq, error::Error, random};

/// Secret bytes: an encryption key, a seed, raw random material.
///
/// Same guarantees as [`Secret`](crate::Secret): `Debug` prints `SecretBytes([REDACTED])`
/// (not even the length), no `Display`, zeroized on drop, constant-time `==`.
///
/// ```
/// use hearth_token_guard::SecretBytes;
///
/// let key = SecretBytes::generate(32)?;
/// assert_eq!(key.expose_secret().len(), 32);
/// assert_eq!(format!("{key:?}"), "SecretBytes([REDACTED])");
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub struct SecretBytes {
    inner: SecretSlice<u8>,
}

impl SecretBytes {
    /// Wraps `bytes`; the `Vec` is zeroized once copied.
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    ///
    /// let k = SecretBytes::new(vec![1, 2, 3]);
    /// assert_eq!(k.expose_secret(), &[1, 2, 3]);
    /// ```
    pub fn new(mut bytes: Vec<u8>) -> Self {
        let inner = SecretSlice::from(bytes.as_slice().to_vec());
        bytes.zeroize();
        Self { inner }
    }

    /// Copies `bytes` into a new secret.
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    ///
    /// assert_eq!(SecretBytes::from_slice(b"k").expose_secret(), b"k");
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self {
            inner: SecretSlice::from(bytes.to_vec()),
        }
    }

    /// `len` random bytes from the OS CSPRNG (16 to 1024), failing closed with
    /// [`Error::Rng`].
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    ///
    /// assert_ne!(SecretBytes::generate(16)?, SecretBytes::generate(16)?);
    /// # Ok::<(), hearth_token_guard::Error>(())
    /// ```
    pub fn generate(len: usize) -> Result<Self, Error> {
        let bytes = random::random_bytes(len)?;
        Ok(Self::from_slice(&bytes))
    }

    /// The secret bytes.
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    ///
    /// assert_eq!(SecretBytes::from_slice(&[9]).expose_secret(), &[9]);
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        self.inner.expose_secret()
    }

    /// Compares with `presented` in constant time (content and length).
    ///
    /// ```
    /// use hearth_token_guard::SecretBytes;
    ///
    /// assert!(SecretBytes::from_slice(b"abc").verify(b"abc"));
    /// ```
    #[must_use]
    pub fn verify(&self, presented: impl AsRef<[u8]>) -> bool {
        constant_time_eq(self.expose_secret(), presented.as_ref())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([REDACTED])")
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::from_slice(self.expose_secret())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.verify(other.expose_secret())
    }
}

impl Eq for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl ExposeSecretBytes for SecretBytes {
    fn expose_secret_bytes(&self) -> &[u8] {
        self.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_content_and_length() {
        let s = SecretBytes::new(vec![0x41; 40]);
        assert_eq!(format!("{s:?}"), "SecretBytes([REDACTED])");
        assert_eq!(format!("{s:#?}"), "SecretBytes([REDACTED])");
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::new(b"ab".to_vec())
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"abc")
        );
        let s = SecretBytes::generate(32).unwrap();
        assert_eq!(s.clone(), s);
    }
}
