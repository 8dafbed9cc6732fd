//! The [`SecureStorage`] trait every backend implements.

use hearth_token_guard::{Kind, Secret, SecretBytes};

use crate::{Error, Key, Namespace};

/// How long what a backend stores survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Persistence {
    /// Gone when the process exits ([`MemoryStore`](crate::MemoryStore)).
    Process,
    /// Gone at reboot (kernel keyutils).
    Boot,
    /// On disk until deleted (the vault file, OS keyrings).
    Disk,
}

/// What a backend is, for logs and for the fallback chain's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// A short stable name, e.g. `"vault"`, `"memory"`, `"secret-service"`.
    pub name: &'static str,
    /// How long secrets survive.
    pub persistence: Persistence,
    /// Where, when there is a place to name (a file path); never secret.
    pub location: Option<String>,
}

/// A place to keep secrets: store, retrieve, delete, list and clear by namespace.
///
/// Object safe, so stores can be chosen at run time (`Box<dyn SecureStorage>`). Secrets go
/// in and out as [`SecretBytes`]; [`SecureStorageExt`] adds typed text secrets
/// (`AccessToken`, `RefreshToken`, ...).
///
/// ```
/// use hearth_secure_storage::{Key, MemoryStore, Namespace, SecureStorage};
/// use hearth_token_guard::SecretBytes;
///
/// let store: Box<dyn SecureStorage> = Box::new(MemoryStore::new());
/// let key: Key = "app::user-1::access_token".parse()?;
/// store.store(&key, &SecretBytes::from_slice(b"t0k3n"))?;
/// assert_eq!(store.retrieve(&key)?.unwrap().expose_secret(), b"t0k3n");
/// assert_eq!(store.list(&Namespace::app("app")?)?, vec![key.clone()]);
/// assert_eq!(store.clear(&Namespace::app("app")?)?, 1); // logout
/// assert!(store.retrieve(&key)?.is_none());
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub trait SecureStorage: Send + Sync {
    /// Stores `secret` under `key`, replacing what was there. When this returns `Ok`, the
    /// secret is as durable as the backend's [`Persistence`] says.
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error>;

    /// The secret under `key`, or `None`.
    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error>;

    /// Deletes the secret under `key`; returns whether there was one.
    fn delete(&self, key: &Key) -> Result<bool, Error>;

    /// Every key in `namespace`, sorted.
    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error>;

    /// Deletes every key in `namespace` (logout, "clear all credentials"); returns how many.
    fn clear(&self, namespace: &Namespace) -> Result<usize, Error>;

    /// What this backend is.
    fn info(&self) -> BackendInfo;
}

/// Typed text secrets on any [`SecureStorage`].
///
/// ```
/// use hearth_secure_storage::{MemoryStore, SecureStorageExt};
/// use hearth_token_guard::RefreshToken;
///
/// let store = MemoryStore::new();
/// let key = "minify::spotify::refresh_token".parse()?;
/// store.store_secret(&key, &RefreshToken::new("AQD-refresh"))?;
/// let back: Option<RefreshToken> = store.retrieve_secret(&key)?;
/// assert_eq!(back.unwrap().expose_secret(), "AQD-refresh");
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub trait SecureStorageExt: SecureStorage {
    /// Stores a text secret (its UTF-8 bytes).
    fn store_secret<K: Kind>(&self, key: &Key, secret: &Secret<K>) -> Result<(), Error> {
        self.store(
            key,
            &SecretBytes::from_slice(secret.expose_secret().as_bytes()),
        )
    }

    /// Reads a text secret back; [`Error::NotText`] if the stored bytes are not UTF-8.
    fn retrieve_secret<K: Kind>(&self, key: &Key) -> Result<Option<Secret<K>>, Error> {
        let Some(bytes) = self.retrieve(key)? else {
            return Ok(None);
        };
        match std::str::from_utf8(bytes.expose_secret()) {
            Ok(text) => Ok(Some(Secret::new(text))),
            Err(_) => Err(Error::NotText {
                key: key.to_string(),
            }),
        }
    }
}

impl<T: SecureStorage + ?Sized> SecureStorageExt for T {}
