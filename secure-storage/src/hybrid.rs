//! [`HybridStore`]: the vault key in the OS keyring, the secrets in the vault file.

use std::path::{Path, PathBuf};

use hearth_token_guard::SecretBytes;
use ring::digest::{SHA256, digest};

use hearth_token_guard::private_file::{DirLock, LOCK_TIMEOUT};

use crate::vault::{KEY_LEN, WriteGuard};
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
/// - **Rollback detection**: every write records the vault's write counter in the keyring,
///   under the vault's directory lock, never lowering it. A vault file older than the
///   counter (a restored copy), or a missing file whose counter says it had been written,
///   is [`Error::RolledBack`] — never a fresh vault — until [`HybridStore::reset`].
/// - **Key first**: on first use the key reaches the keyring before the vault file
///   exists, so a locked or absent keyring leaves no vault whose key is lost.
/// - The keyring item is service = the app, account = `:hearth-vault:` and a digest of the
///   vault's canonical path (`a/../a/h.hearth` and `a/h.hearth` are one vault), so several
///   vaults of one app do not collide.
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
}

/// The keyring item of one hybrid vault.
#[derive(Debug, Clone)]
struct Item {
    keyring: KeyringStore,
    app: String,
    account: String,
}

impl Item {
    /// The key and the recorded write counter, if the item exists.
    fn read(&self) -> Result<Option<(SecretBytes, u64)>, Error> {
        let Some(item) = self.keyring.get_raw(&self.app, &self.account)? else {
            return Ok(None);
        };
        parse_item(&item)
            .map(Some)
            .ok_or_else(|| Error::BackendFailed {
                backend: self.keyring.backend().name(),
                reason: "the vault key item holds something else".into(),
            })
    }

    fn write(&self, key: &SecretBytes, counter: u64) -> Result<(), Error> {
        self.keyring
            .set_raw(&self.app, &self.account, &item_bytes(key, counter))
    }

    /// Raises the item's counter to `committed`, never lowering it: the comparison and the
    /// write are one keyring call, so a write that outlives its timeout compares with the
    /// counter it finds when it runs — a newer writer's higher counter stays.
    fn raise(&self, committed: u64) -> Result<(), Error> {
        self.keyring
            .update_raw(&self.app, &self.account, move |current| {
                let (key, counter) = parse_item(current.as_ref()?)?;
                (committed > counter).then(|| item_bytes(&key, committed))
            })
    }
}

/// The key and the counter of an item's bytes.
fn parse_item(item: &SecretBytes) -> Option<(SecretBytes, u64)> {
    let bytes = item.expose_secret();
    if bytes.len() != ITEM_LEN {
        return None;
    }
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&bytes[KEY_LEN..]);
    Some((
        SecretBytes::from_slice(&bytes[..KEY_LEN]),
        u64::from_be_bytes(counter),
    ))
}

fn item_bytes(key: &SecretBytes, counter: u64) -> SecretBytes {
    let mut item = zeroize::Zeroizing::new(Vec::with_capacity(ITEM_LEN));
    item.extend_from_slice(key.expose_secret());
    item.extend_from_slice(&counter.to_be_bytes());
    SecretBytes::from_slice(&item)
}

/// The rollback check around every vault write, run under the vault's lock.
struct CounterGuard {
    item: Item,
    path: PathBuf,
}

impl WriteGuard for CounterGuard {
    fn before(&self, on_disk: Option<u64>) -> Result<(), Error> {
        let Some((_, counter)) = self.item.read()? else {
            return Err(Error::VaultKeyMissing {
                path: self.path.clone(),
                backend: self.item.keyring.backend().name(),
            });
        };
        let found = on_disk.unwrap_or(0);
        if found < counter {
            return Err(Error::RolledBack {
                path: self.path.clone(),
                expected: counter,
                found,
            });
        }
        Ok(())
    }

    fn after(&self, committed: u64) {
        // The data is committed whatever happens here. If the keyring does not take the
        // new counter now, it lags until the next write or open records it.
        let _ = self.item.raise(committed);
    }
}

impl HybridStore {
    /// Opens (or creates) the vault at `vault_path` with its key from `keyring`, creating
    /// the key on first use — in the keyring first, then the file.
    ///
    /// Errors: [`Error::VaultKeyMissing`] if the vault holds secrets but the keyring has
    /// no key for it; [`Error::RolledBack`] if the file is older than the keyring's
    /// counter or missing after writes; the keyring's errors ([`Error::Locked`],
    /// [`Error::Timeout`], [`Error::Unavailable`]); the vault's.
    pub fn open(
        app: &str,
        vault_path: impl Into<PathBuf>,
        keyring: KeyringStore,
    ) -> Result<Self, Error> {
        Self::open_inner(app, vault_path.into(), keyring, true)
    }

    /// Opens the hybrid vault at `vault_path` only if it exists: [`Error::NotFound`] when
    /// nothing was ever written there. No side effect: it creates no file, directory or
    /// keyring item. Other errors as [`open`](Self::open).
    ///
    /// ```no_run
    /// use hearth_secure_storage::{Error, HybridStore, KeyringBackend, KeyringStore};
    ///
    /// match HybridStore::open_existing("jellytau", "/nowhere/hybrid.hearth", KeyringStore::new(KeyringBackend::Native)) {
    ///     Err(Error::NotFound { .. }) => println!("no secrets yet"),
    ///     other => { other?; }
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn open_existing(
        app: &str,
        vault_path: impl Into<PathBuf>,
        keyring: KeyringStore,
    ) -> Result<Self, Error> {
        Self::open_inner(app, vault_path.into(), keyring, false)
    }

    fn open_inner(
        app: &str,
        vault_path: PathBuf,
        keyring: KeyringStore,
        create: bool,
    ) -> Result<Self, Error> {
        Namespace::app(app)?;
        if create && let Some(dir) = vault_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The directory first, so the path is canonicalised the same way now as on
            // every later open (a symlinked ancestor resolves only once it exists).
            hearth_token_guard::private_file::ensure_private_dir(dir)?;
        }
        let path = canonical(&vault_path);
        let item = Item {
            keyring: keyring.clone(),
            app: app.to_owned(),
            account: item_account(&path),
        };
        let dir = crate::vault::dir_of(&path);
        let (key, counter) = match item.read()? {
            Some(found) => found,
            None if !create => {
                return match std::fs::symlink_metadata(&path) {
                    Err(_) => Err(Error::NotFound { path }),
                    Ok(_) => Err(Error::VaultKeyMissing {
                        path,
                        backend: keyring.backend().name(),
                    }),
                };
            }
            None => {
                let _lock = DirLock::acquire(&dir, LOCK_TIMEOUT)?;
                match item.read()? {
                    // Another process created it meanwhile.
                    Some(found) => found,
                    None => {
                        adopt_unkeyed(&path, &keyring)?;
                        let key = SecretBytes::generate(KEY_LEN)?;
                        item.write(&key, 0)?;
                        (key, 0)
                    }
                }
            }
        };
        let exists = std::fs::symlink_metadata(&path).is_ok();
        if !exists && counter > 0 {
            return Err(Error::RolledBack {
                path,
                expected: counter,
                found: 0,
            });
        }
        if !exists && !create {
            return Err(Error::NotFound { path });
        }
        let vault = if create {
            EncryptedFileStore::open(&path, KeySource::RawKey(key.clone()))?
        } else {
            EncryptedFileStore::open_existing(&path, KeySource::RawKey(key.clone()))?
        };
        let generation = vault.generation()?;
        if generation < counter {
            return Err(Error::RolledBack {
                path,
                expected: counter,
                found: generation,
            });
        }
        if generation > counter && create {
            // A write whose counter did not reach the keyring: catch up, under the lock.
            let _lock = DirLock::acquire(&dir, vault.lock_timeout())?;
            item.raise(vault.generation()?)?;
        }
        let guard = CounterGuard {
            item,
            path: path.clone(),
        };
        Ok(Self {
            vault: vault.with_guard(Box::new(guard)),
            keyring,
        })
    }

    /// Removes the vault file at `vault_path` and its key item from `keyring`: every
    /// secret in it is gone. This is the only way out of [`Error::RolledBack`] and
    /// [`Error::VaultKeyMissing`] (after restoring what can be restored). Returns what it
    /// removed: (file, key item).
    ///
    /// ```no_run
    /// use hearth_secure_storage::{HybridStore, KeyringBackend, KeyringStore};
    ///
    /// let path = hearth_secure_storage::default_vault_path("jellytau")?.with_file_name("hybrid.hearth");
    /// let (file, item) = HybridStore::reset("jellytau", path, KeyringStore::new(KeyringBackend::Native))?;
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn reset(
        app: &str,
        vault_path: impl Into<PathBuf>,
        keyring: KeyringStore,
    ) -> Result<(bool, bool), Error> {
        Namespace::app(app)?;
        let path = canonical(&vault_path.into());
        let dir = crate::vault::dir_of(&path);
        let file = if dir.exists() {
            let _lock = DirLock::acquire(&dir, LOCK_TIMEOUT)?;
            match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(Error::Io { path, source: e }),
            }
        } else {
            false
        };
        let item = keyring.delete_raw(app, &item_account(&path))?;
        Ok((file, item))
    }

    /// The vault file.
    #[must_use]
    pub fn vault_path(&self) -> &Path {
        self.vault.path()
    }
}

/// A vault file without a key item: if it holds no secret (an earlier version created the
/// file before the keyring refused the key), it is removed so a new one can start; if it
/// holds secrets, their key is lost: [`Error::VaultKeyMissing`].
fn adopt_unkeyed(path: &Path, keyring: &KeyringStore) -> Result<(), Error> {
    let bytes = match hearth_token_guard::private_file::read(path, crate::vault::MAX_FILE_LEN) {
        Ok(bytes) => bytes,
        Err(hearth_token_guard::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match crate::vault::inspect(&bytes) {
        Ok(info) if info.entries == 0 => std::fs::remove_file(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        }),
        _ => Err(Error::VaultKeyMissing {
            path: path.into(),
            backend: keyring.backend().name(),
        }),
    }
}

/// The vault's path with its directory resolved (`..`, symlinks) when that directory
/// exists, so that every spelling of one file names one keyring item.
fn canonical(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => match std::fs::canonicalize(dir) {
            Ok(dir) => dir.join(name),
            Err(_) => abs,
        },
        _ => abs,
    }
}

/// `:hearth-vault:` and 16 hex digits of SHA-256 of the vault's canonical path.
fn item_account(path: &Path) -> String {
    let d = digest(&SHA256, path.as_os_str().as_encoded_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(":hearth-vault:{hex}")
}

impl SecureStorage for HybridStore {
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        self.vault.store(key, secret)
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        self.vault.retrieve(key)
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        self.vault.delete(key)
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        self.vault.list(namespace)
    }

    fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        self.vault.clear(namespace)
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
