//! [`AuditKey`]: the HMAC-SHA256 key that chains the records.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::Error;

/// The log's MAC key: 32 bytes, kept away from the log (in secure storage).
/// `Debug` never shows it.
///
/// ```
/// use hearth_audit::AuditKey;
///
/// let (key, bytes) = AuditKey::generate()?;
/// assert_eq!(bytes.expose_secret().len(), 32);
/// assert_eq!(format!("{key:?}"), "AuditKey([REDACTED])");
/// assert!(AuditKey::from_bytes(&[0; 16]).is_err());
/// # Ok::<(), hearth_audit::Error>(())
/// ```
pub struct AuditKey(pub(crate) hmac::Key);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([REDACTED])")
    }
}

impl AuditKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != 32 {
            return Err(Error::BadKey {
                reason: "it is not 32 bytes",
            });
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// A new key from the OS random generator, and its bytes to store.
    pub fn generate() -> Result<(Self, hearth_token_guard::SecretBytes), Error> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Rng)?;
        Ok((
            Self::from_bytes(bytes.as_ref())?,
            hearth_token_guard::SecretBytes::from_slice(bytes.as_ref()),
        ))
    }

    /// The key stored under `key`, if there is one.
    #[cfg(feature = "storage")]
    pub fn load(
        store: &dyn hearth_secure_storage::SecureStorage,
        key: &hearth_secure_storage::Key,
    ) -> Result<Option<Self>, Error> {
        store
            .retrieve(key)?
            .map(|b| Self::from_bytes(b.expose_secret()))
            .transpose()
    }

    /// The key stored under `key`, or a new one stored there first. Call it only while
    /// holding the log's writer lock ([`AuditLog::open_in`](crate::AuditLog::open_in) does),
    /// so that two first writers cannot each make their own.
    #[cfg(feature = "storage")]
    pub(crate) fn load_or_create(
        store: &dyn hearth_secure_storage::SecureStorage,
        key: &hearth_secure_storage::Key,
    ) -> Result<Self, Error> {
        if let Some(existing) = Self::load(store, key)? {
            return Ok(existing);
        }
        let (fresh, bytes) = Self::generate()?;
        store.store(key, &bytes)?;
        Ok(fresh)
    }
}
