//! [`AsyncSecureStorage`] and the [`Blocking`] adapter (feature `async`).

use std::sync::Arc;

use hearth_token_guard::SecretBytes;

use crate::{BackendInfo, Error, Key, Namespace, SecureStorage};

/// The async twin of [`SecureStorage`], for callers that must not block their runtime
/// (Tauri commands, hyper handlers).
///
/// ```
/// use hearth_secure_storage::{AsyncSecureStorage, Blocking, MemoryStore};
/// use hearth_token_guard::SecretBytes;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Blocking::new(MemoryStore::new());
/// let key = "app::token".parse()?;
/// store.store(&key, &SecretBytes::from_slice(b"t")).await?;
/// assert!(store.retrieve(&key).await?.is_some());
/// # Ok::<(), hearth_secure_storage::Error>(())
/// # }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait AsyncSecureStorage: Send + Sync {
    /// See [`SecureStorage::store`].
    async fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error>;
    /// See [`SecureStorage::retrieve`].
    async fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error>;
    /// See [`SecureStorage::delete`].
    async fn delete(&self, key: &Key) -> Result<bool, Error>;
    /// See [`SecureStorage::list`].
    async fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error>;
    /// See [`SecureStorage::clear`].
    async fn clear(&self, namespace: &Namespace) -> Result<usize, Error>;
    /// See [`SecureStorage::info`].
    fn info(&self) -> BackendInfo;
}

/// Runs any [`SecureStorage`] on tokio's blocking pool, so a keyring call or an fsync never
/// stalls the async runtime. Must be used inside a tokio runtime.
///
/// ```
/// use hearth_secure_storage::{AsyncSecureStorage, Blocking, MemoryStore};
///
/// let store = Blocking::new(MemoryStore::new());
/// assert_eq!(store.info().name, "memory");
/// ```
#[derive(Debug)]
pub struct Blocking<S: ?Sized> {
    inner: Arc<S>,
}

impl<S: SecureStorage + 'static> Blocking<S> {
    /// Wraps `store`.
    ///
    /// ```
    /// let store = hearth_secure_storage::Blocking::new(hearth_secure_storage::MemoryStore::new());
    /// ```
    pub fn new(store: S) -> Self {
        Self {
            inner: Arc::new(store),
        }
    }
}

impl<S: SecureStorage + ?Sized + 'static> Blocking<S> {
    /// Wraps a store that is shared with synchronous code.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hearth_secure_storage::{Blocking, MemoryStore, SecureStorage};
    ///
    /// let shared: Arc<dyn SecureStorage> = Arc::new(MemoryStore::new());
    /// let store = Blocking::from_arc(shared.clone());
    /// ```
    pub fn from_arc(store: Arc<S>) -> Self {
        Self { inner: store }
    }

    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&S) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|_| Error::TaskFailed)?
    }
}

#[async_trait::async_trait]
impl<S: SecureStorage + ?Sized + 'static> AsyncSecureStorage for Blocking<S> {
    async fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        let (key, secret) = (key.clone(), secret.clone());
        self.run(move |s| s.store(&key, &secret)).await
    }

    async fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        let key = key.clone();
        self.run(move |s| s.retrieve(&key)).await
    }

    async fn delete(&self, key: &Key) -> Result<bool, Error> {
        let key = key.clone();
        self.run(move |s| s.delete(&key)).await
    }

    async fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        let ns = namespace.clone();
        self.run(move |s| s.list(&ns)).await
    }

    async fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        let ns = namespace.clone();
        self.run(move |s| s.clear(&ns)).await
    }

    fn info(&self) -> BackendInfo {
        self.inner.info()
    }
}
