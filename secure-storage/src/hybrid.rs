//! [`HybridStore`]: the vault key in the OS keyring, the secrets in the vault file.

use std::path::{Path, PathBuf};

use hearth_token_guard::SecretBytes;
use ring::digest::{SHA256, digest};

use crate::vault::KEY_LEN;
use crate::{
    BackendInfo, EncryptedFileStore, Error, Key, KeySource, KeyringStore, Namespace, Persistence,
    SecureStorage,
};

/// The keyring item's value: the vault key, then the vault's write counter (big-endian).
const ITEM_LEN: usize = KEY_LEN + 8;

/// Secrets in an [`EncryptedFileStore`] whose 32-byte key lives in the OS keyring.
///
/// - **Any size, enumerable**: the vault holds the secrets, so Windows' 2 560-byte limit
///   and keyutils' quota do not apply, and `list`/`clear` are exact.
/// - **One keyring call at open** reads the key and the write counter; reads after that
///   touch only the file.
/// - **Rollback detection**: every write also records the vault's write counter in the
///   keyring; a vault file older than the counter (a restored copy) fails with
///   [`Error::RolledBack`].
/// - The keyring item is service = the app, account = `:hearth-vault:` and a digest of the
///   vault's path, so several vaults of one app do not collide.
///
/// ```no_run
/// use hearth_secure_storage::{HybridStore, KeyringBackend, KeyringStore, SecureStorage, default_vault_path};
/// use hearth_token_guard::SecretBytes;
///
/// let store = HybridStore::open("jellytau", default_vault_path("jellytau")?, KeyringStore::new(KeyringBackend::Native))?;
/// store.store(&"jellytau::srv::user::access_token".parse()?, &SecretBytes::from_slice(&[0; 4096]))?;
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
#[derive(Debug)]
pub struct HybridStore {
    vault: EncryptedFileStore,
    keyring: KeyringStore,
    app: String,
    account: String,
    key: SecretBytes,
}

impl HybridStore {
    /// Opens (or creates) the vault at `vault_path` with its key from `keyring`, creating
    /// the key on first use.
    ///
    /// Errors: [`Error::VaultKeyMissing`] if the vault exists but the keyring has no key
    /// for it; [`Error::RolledBack`]; the keyring's errors ([`Error::Locked`],
    /// [`Error::Timeout`], [`Error::Unavailable`]); the vault's.
    pub fn open(
        app: &str,
        vault_path: impl Into<PathBuf>,
        keyring: KeyringStore,
    ) -> Result<Self, Error> {
        Namespace::app(app)?;
        let path = vault_path.into();
        let account = item_account(&path);
        let item = keyring.get_raw(app, &account)?;
        let exists = std::fs::symlink_metadata(&path).is_ok();
        let (key, counter) = match item {
            Some(item) if item.expose_secret().len() == ITEM_LEN => {
                let bytes = item.expose_secret();
                let mut counter = [0u8; 8];
                counter.copy_from_slice(&bytes[KEY_LEN..]);
                (
                    SecretBytes::from_slice(&bytes[..KEY_LEN]),
                    u64::from_be_bytes(counter),
                )
            }
            Some(_) => {
                return Err(Error::Unavailable {
                    backend: keyring.backend().name(),
                    reason: "the vault key item holds something else".into(),
                });
            }
            None if exists => {
                return Err(Error::VaultKeyMissing {
                    path,
                    backend: keyring.backend().name(),
                });
            }
            None => (SecretBytes::generate(KEY_LEN)?, 0),
        };
        let vault = EncryptedFileStore::open(&path, KeySource::RawKey(key.clone()))?;
        let store = Self {
            vault,
            keyring,
            app: app.to_owned(),
            account,
            key,
        };
        let generation = store.vault.generation()?;
        if exists && generation < counter {
            return Err(Error::RolledBack {
                path,
                expected: counter,
                found: generation,
            });
        }
        if !exists || generation != counter {
            store.record(generation)?;
        }
        Ok(store)
    }

    /// The vault file.
    #[must_use]
    pub fn vault_path(&self) -> &Path {
        self.vault.path()
    }

    /// Writes the key and the write counter `generation` to the keyring.
    fn record(&self, generation: u64) -> Result<(), Error> {
        let mut item = zeroize::Zeroizing::new(Vec::with_capacity(ITEM_LEN));
        item.extend_from_slice(self.key.expose_secret());
        item.extend_from_slice(&generation.to_be_bytes());
        self.keyring
            .set_raw(&self.app, &self.account, &SecretBytes::from_slice(&item))
    }

    /// After a write: record the vault's new counter.
    fn written(&self) -> Result<(), Error> {
        self.record(self.vault.generation()?)
    }
}

/// `:hearth-vault:` and 16 hex digits of SHA-256 of the vault's path.
fn item_account(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let d = digest(&SHA256, abs.as_os_str().as_encoded_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(":hearth-vault:{hex}")
}

impl SecureStorage for HybridStore {
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        self.vault.store(key, secret)?;
        self.written()
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        self.vault.retrieve(key)
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        let existed = self.vault.delete(key)?;
        if existed {
            self.written()?;
        }
        Ok(existed)
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        self.vault.list(namespace)
    }

    fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        let removed = self.vault.clear(namespace)?;
        if removed > 0 {
            self.written()?;
        }
        Ok(removed)
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "hybrid",
            persistence: Persistence::Disk,
            location: Some(format!(
                "{} (key in {})",
                self.vault.path().display(),
                self.keyring.backend().name()
            )),
        }
    }
}
