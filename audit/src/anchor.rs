//! [`Anchor`]: where the chain's head is kept away from the log, so that cutting records
//! off the end, or putting an older copy back, is found.

use crate::Error;
use crate::record::{hex, unhex};

/// The last record's sequence number and MAC.
///
/// ```
/// use hearth_audit::Head;
///
/// assert_eq!(Head::GENESIS.seq, 0);
/// let head = Head { seq: 7, mac: [1; 32] };
/// assert_eq!(Head::parse(&head.to_string()), Some(head));
/// assert_eq!(Head::parse(&head.to_string().replace(":7:", ":07:")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last record's `seq` (0 before the first).
    pub seq: u64,
    /// Its MAC (zeros before the first record).
    pub mac: [u8; 32],
}

impl Head {
    /// Before the first record.
    pub const GENESIS: Head = Head {
        seq: 0,
        mac: [0; 32],
    };

    /// Reads what [`Display`](std::fmt::Display) wrote: `v1:SEQ:MAC`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("v1:")?;
        let (seq, mac) = rest.split_once(':')?;
        // One text per head: digits only, no leading zero.
        if seq.is_empty()
            || !seq.bytes().all(|b| b.is_ascii_digit())
            || (seq.len() > 1 && seq.starts_with('0'))
        {
            return None;
        }
        Some(Self {
            seq: seq.parse().ok()?,
            mac: unhex(mac)?,
        })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v1:{}:{}", self.seq, hex(&self.mac))
    }
}

/// Keeps the head outside the log file (the OS keyring, a TPM-backed store, another
/// machine). The log stores the head after each group commit's fsync, and refuses to open
/// or verify a log that ends before the anchored head, or holds another record there.
pub trait Anchor: Send + Sync {
    /// The anchored head, if one was ever stored.
    fn load(&self) -> Result<Option<Head>, Error>;
    /// Replaces the anchored head.
    fn store(&self, head: &Head) -> Result<(), Error>;
}

#[cfg(feature = "storage")]
pub use storage::StorageAnchor;

#[cfg(feature = "storage")]
mod storage {
    use std::sync::Arc;

    use hearth_secure_storage::{Key, SecureStorage};
    use hearth_token_guard::SecretBytes;

    use super::{Anchor, Head};
    use crate::Error;

    /// The head kept under one key of a [`SecureStorage`] (the OS keyring, or the hybrid
    /// store), like the hybrid store's own write counter.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hearth_audit::{Anchor, Head, StorageAnchor};
    /// use hearth_secure_storage::MemoryStore;
    ///
    /// let anchor = StorageAnchor::new(Arc::new(MemoryStore::new()), "app::audit::head".parse().unwrap());
    /// assert_eq!(anchor.load()?, None);
    /// anchor.store(&Head { seq: 3, mac: [9; 32] })?;
    /// assert_eq!(anchor.load()?.unwrap().seq, 3);
    /// # Ok::<(), hearth_audit::Error>(())
    /// ```
    pub struct StorageAnchor {
        store: Arc<dyn SecureStorage>,
        key: Key,
    }

    impl StorageAnchor {
        /// The head under `key` in `store`.
        #[must_use]
        pub fn new(store: Arc<dyn SecureStorage>, key: Key) -> Self {
            Self { store, key }
        }
    }

    impl std::fmt::Debug for StorageAnchor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("StorageAnchor")
                .field("store", &self.store.info().name)
                .field("key", &self.key.to_string())
                .finish()
        }
    }

    impl Anchor for StorageAnchor {
        fn load(&self) -> Result<Option<Head>, Error> {
            let Some(value) = self.store.retrieve(&self.key)? else {
                return Ok(None);
            };
            let text = std::str::from_utf8(value.expose_secret()).ok();
            text.and_then(Head::parse).map(Some).ok_or(Error::BadKey {
                reason: "the anchored head is not readable",
            })
        }

        fn store(&self, head: &Head) -> Result<(), Error> {
            let value = SecretBytes::new(head.to_string().into_bytes());
            Ok(self.store.store(&self.key, &value)?)
        }
    }
}
