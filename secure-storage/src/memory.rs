//! [`MemoryStore`]: secrets in process memory, for tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use hearth_token_guard::SecretBytes;

use crate::{BackendInfo, Error, Key, Namespace, Persistence, SecureStorage};

/// Secrets held in this process's memory only, lost when it exits.
///
/// Meant for tests and examples. Hearth never substitutes it for a real backend behind the
/// caller's back: the fallback chain reports it by name if it is ever chosen.
///
/// ```
/// use hearth_secure_storage::{MemoryStore, Persistence, SecureStorage};
///
/// let store = MemoryStore::new();
/// assert_eq!(store.info().persistence, Persistence::Process);
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<Key, SecretBytes>>,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// let store = hearth_secure_storage::MemoryStore::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, SecretBytes>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated: every
        // operation below is a single map call.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SecureStorage for MemoryStore {
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        self.entries().insert(key.clone(), secret.clone());
        Ok(())
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        Ok(self.entries().get(key).cloned())
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        Ok(self.entries().remove(key).is_some())
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        Ok(self
            .entries()
            .keys()
            .filter(|k| namespace.contains(k))
            .cloned()
            .collect())
    }

    fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|k, _| !namespace.contains(k));
        Ok(before - entries.len())
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "memory",
            persistence: Persistence::Process,
            location: None,
        }
    }
}
