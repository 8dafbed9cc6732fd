//! The encrypted-file vault: [`EncryptedFileStore`]. Format: `VAULT-FORMAT.md`.

mod format;
mod keys;
mod stamp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hearth_token_guard::SecretBytes;
use hearth_token_guard::private_file::{self, DirLock, WriteMode};
use ring::rand::{SecureRandom, SystemRandom};

#[cfg(feature = "keyring")]
pub(crate) use format::MAX_FILE_LEN;
pub use format::{MAX_SECRET_LEN, VaultInfo, inspect};
pub use keys::{Argon2Params, KEY_LEN, KeySource};

use crate::{BackendInfo, Error, Key, Namespace, Persistence, SecureStorage};
use format::{Header, Sealed};
use keys::Subkeys;
use stamp::Stamp;

/// Settings of an [`EncryptedFileStore`].
///
/// ```
/// use hearth_secure_storage::VaultOptions;
///
/// let o = VaultOptions::default();
/// assert_eq!(o.max_secret_len, 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VaultOptions {
    /// Largest secret [`store`](SecureStorage::store) accepts (default 1 MiB, at most
    /// [`MAX_SECRET_LEN`]); larger ones get [`Error::TooLarge`].
    pub max_secret_len: usize,
    /// How long a writer waits for another writer before [`Error::Busy`] (default 10 s).
    pub lock_timeout: Duration,
    /// Argon2id costs used when a passphrase vault is created or re-keyed: one of
    /// [`Argon2Params::PRESETS`], else [`Error::InvalidArgument`].
    pub argon2: Argon2Params,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            max_secret_len: 1 << 20,
            lock_timeout: Duration::from_secs(10),
            argon2: Argon2Params::default(),
        }
    }
}

impl VaultOptions {
    /// These options with another Argon2id cost.
    ///
    /// ```
    /// use hearth_secure_storage::{Argon2Params, VaultOptions};
    ///
    /// let strong = VaultOptions::default().with_argon2(Argon2Params::RFC_9106_SECOND);
    /// ```
    #[must_use]
    pub fn with_argon2(mut self, argon2: Argon2Params) -> Self {
        self.argon2 = argon2;
        self
    }

    /// These options with another secret size cap (at most [`MAX_SECRET_LEN`]).
    ///
    /// ```
    /// let o = hearth_secure_storage::VaultOptions::default().with_max_secret_len(4096);
    /// assert_eq!(o.max_secret_len, 4096);
    /// ```
    #[must_use]
    pub fn with_max_secret_len(mut self, max: usize) -> Self {
        self.max_secret_len = max.min(MAX_SECRET_LEN);
        self
    }

    /// These options with another lock timeout.
    ///
    /// ```
    /// let o = hearth_secure_storage::VaultOptions::default().with_lock_timeout(std::time::Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}

/// Secrets in one authenticated, encrypted file (AES-256-GCM; VAULT-FORMAT.md).
///
/// - Every secret and its name is encrypted; the header and the set of entries are
///   authenticated, so any change to the file is reported ([`Error::Tampered`] or
///   [`Error::Corrupt`]) and a wrong key is told apart ([`Error::WrongKey`]).
/// - When [`store`](SecureStorage::store) returns, the data is on disk: temp file 0600,
///   fsync, rename, directory fsync. A crash leaves the old or the new vault.
/// - Threads and processes may share a vault: writers lock the directory (bounded wait,
///   [`Error::Busy`]) and re-read the file under the lock, so no update is lost; readers
///   see a whole file, re-read only when it changed.
/// - The file must be 0600 and its directory private (created 0700 whatever the umask);
///   symlinks are refused.
///
/// ```
/// use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage};
/// use hearth_token_guard::SecretBytes;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-vault-{}", std::process::id()));
/// let vault = EncryptedFileStore::open(dir.join("vault.hearth"), KeySource::KeyFile(dir.join("vault.key")))?;
/// let key = "jellytau::srv-1::user-7::access_token".parse()?;
/// vault.store(&key, &SecretBytes::from_slice(b"jf-token"))?;
///
/// let again = EncryptedFileStore::open(dir.join("vault.hearth"), KeySource::KeyFile(dir.join("vault.key")))?;
/// assert_eq!(again.retrieve(&key)?.unwrap().expose_secret(), b"jf-token");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub struct EncryptedFileStore {
    path: PathBuf,
    dir: PathBuf,
    options: VaultOptions,
    state: Mutex<State>,
    guard: Option<Box<dyn WriteGuard>>,
}

/// Checks run under the vault's directory lock around every write (the hybrid store's
/// rollback counter): `before` sees the generation on disk (`None`: the file is gone) and
/// may refuse the write; `after` sees the generation just committed.
pub(crate) trait WriteGuard: Send + Sync {
    fn before(&self, on_disk: Option<u64>) -> Result<(), Error>;
    fn after(&self, committed: u64);
}

/// What a handle knows about the vault: the key material and the last file it read.
struct State {
    source: KeySource,
    material: SecretBytes,
    header: Header,
    keys: Subkeys,
    entries: BTreeMap<Key, Sealed>,
    /// Identity of the file `entries` came from; `None` forces a re-read.
    stamp: Option<Stamp>,
}

impl std::fmt::Debug for EncryptedFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedFileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EncryptedFileStore {
    /// Opens the vault at `path`, creating it (and its directory, 0700) if it does not
    /// exist, with default [`VaultOptions`].
    ///
    /// Errors: [`Error::WrongKey`], [`Error::KeySourceMismatch`], [`Error::Tampered`],
    /// [`Error::Corrupt`], [`Error::UnsupportedVersion`], [`Error::InsecurePermissions`],
    /// [`Error::BadKeyFile`], [`Error::Busy`], [`Error::Io`].
    ///
    /// ```
    /// use hearth_secure_storage::{EncryptedFileStore, Error, KeySource};
    /// use hearth_token_guard::{Password, SecretBytes};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-open-{}", std::process::id()));
    /// let key = SecretBytes::generate(32)?;
    /// EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(key))?;
    /// let other = SecretBytes::generate(32)?;
    /// let err = EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(other)).unwrap_err();
    /// assert!(matches!(err, Error::WrongKey { .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn open(path: impl Into<PathBuf>, source: KeySource) -> Result<Self, Error> {
        Self::open_with(path, source, VaultOptions::default())
    }

    /// Like [`open`](Self::open), with options.
    ///
    /// ```
    /// use hearth_secure_storage::{Argon2Params, EncryptedFileStore, KeySource, VaultOptions};
    /// use hearth_token_guard::Password;
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-ow-{}", std::process::id()));
    /// let small = VaultOptions::default().with_argon2(Argon2Params::OWASP_7_MIB);
    /// let v = EncryptedFileStore::open_with(dir.join("v"), KeySource::Passphrase(Password::new("pw")), small)?;
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn open_with(
        path: impl Into<PathBuf>,
        source: KeySource,
        options: VaultOptions,
    ) -> Result<Self, Error> {
        let path = path.into();
        let dir = dir_of(&path);
        // The directory must be private too: anyone who can write to it could swap files.
        private_file::ensure_private_dir(&dir)?;
        let material = source.material()?;
        let state = match read_file(&path)? {
            Some((bytes, stamp)) => load(&path, &bytes, stamp, source, material, None)?,
            None => {
                let lock = DirLock::acquire(&dir, options.lock_timeout)?;
                match read_file(&path)? {
                    Some((bytes, stamp)) => load(&path, &bytes, stamp, source, material, None)?,
                    None => {
                        let mut state = fresh(source, material, &options)?;
                        write(&path, &lock, &mut state)?;
                        state
                    }
                }
            }
        };
        Ok(Self {
            path,
            dir,
            options,
            state: Mutex::new(state),
            guard: None,
        })
    }

    /// The same store with `guard` around every write.
    #[cfg(feature = "keyring")]
    pub(crate) fn with_guard(mut self, guard: Box<dyn WriteGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The lock timeout of this handle.
    #[cfg(feature = "keyring")]
    pub(crate) fn lock_timeout(&self) -> Duration {
        self.options.lock_timeout
    }

    /// Opens the vault at `path` only if it exists ([`Error::NotFound`] otherwise).
    ///
    /// ```
    /// use hearth_secure_storage::{EncryptedFileStore, Error, KeySource};
    /// use hearth_token_guard::SecretBytes;
    ///
    /// let missing = std::env::temp_dir().join("hearth-doc-none/vault");
    /// let err = EncryptedFileStore::open_existing(missing, KeySource::RawKey(SecretBytes::generate(32)?)).unwrap_err();
    /// assert!(matches!(err, Error::NotFound { .. }));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// It has no side effect: it creates no directory, and a missing key file is
    /// [`Error::NotFound`] naming the key file (never a new random key).
    pub fn open_existing(path: impl Into<PathBuf>, source: KeySource) -> Result<Self, Error> {
        Self::open_existing_with(path, source, VaultOptions::default())
    }

    /// Like [`open_existing`](Self::open_existing), with options.
    ///
    /// ```
    /// use hearth_secure_storage::{EncryptedFileStore, Error, KeySource, VaultOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-oew-{}", std::process::id()));
    /// EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k")))?;
    /// // A typo in the key file's name is an error, not a new key.
    /// let err = EncryptedFileStore::open_existing_with(dir.join("v"), KeySource::KeyFile(dir.join("kk")), VaultOptions::default()).unwrap_err();
    /// assert!(matches!(err, Error::NotFound { ref path } if path.ends_with("kk")));
    /// assert!(!dir.join("kk").exists());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn open_existing_with(
        path: impl Into<PathBuf>,
        source: KeySource,
        options: VaultOptions,
    ) -> Result<Self, Error> {
        let path = path.into();
        let Some((bytes, stamp)) = read_file(&path)? else {
            return Err(Error::NotFound { path });
        };
        let dir = dir_of(&path);
        // The file exists, so its directory does: this only checks it.
        private_file::ensure_private_dir(&dir)?;
        let material = source.existing_material()?;
        let state = load(&path, &bytes, stamp, source, material, None)?;
        Ok(Self {
            path,
            dir,
            options,
            state: Mutex::new(state),
            guard: None,
        })
    }

    /// The vault file.
    ///
    /// ```
    /// # use hearth_secure_storage::{EncryptedFileStore, KeySource};
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-p-{}", std::process::id()));
    /// # let v = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k")))?;
    /// assert!(v.path().ends_with("v"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vault's write counter: how many writes it has seen (VAULT-FORMAT.md
    /// `generation`), as of the file on disk now.
    ///
    /// ```
    /// # use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage};
    /// # use hearth_token_guard::SecretBytes;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-gen-{}", std::process::id()));
    /// let v = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k")))?;
    /// let before = v.generation()?;
    /// v.store(&"a::x".parse()?, &SecretBytes::from_slice(b"1"))?;
    /// assert_eq!(v.generation()?, before + 1);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn generation(&self) -> Result<u64, Error> {
        let mut state = self.state();
        self.refresh(&mut state)?;
        Ok(state.header.generation)
    }

    /// Stores many secrets with one durable write (an import, a migration): all or none.
    ///
    /// ```
    /// # use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage};
    /// # use hearth_token_guard::SecretBytes;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-sa-{}", std::process::id()));
    /// let v = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k")))?;
    /// let items = (0..100).map(|i| (format!("app::k{i}").parse().unwrap(), SecretBytes::from_slice(b"s")));
    /// v.store_all(items)?;
    /// assert_eq!(v.keys()?.len(), 100);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn store_all(
        &self,
        items: impl IntoIterator<Item = (Key, SecretBytes)>,
    ) -> Result<(), Error> {
        let limit = self.options.max_secret_len.min(MAX_SECRET_LEN);
        let items: Vec<(Key, SecretBytes)> = items.into_iter().collect();
        if items.iter().any(|(_, s)| s.expose_secret().len() > limit) {
            return Err(Error::TooLarge { limit });
        }
        self.write_txn(|_, state| {
            for (key, secret) in &items {
                let sealed = format::seal(
                    &state.keys,
                    &state.header.vault_id,
                    key,
                    secret.expose_secret(),
                )?;
                state.entries.insert(key.clone(), sealed);
            }
            Ok(((), !items.is_empty()))
        })
    }

    /// Every key in the vault, sorted.
    ///
    /// ```
    /// # use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage};
    /// # use hearth_token_guard::SecretBytes;
    /// # let dir = std::env::temp_dir().join(format!("hearth-doc-keys-{}", std::process::id()));
    /// let v = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k")))?;
    /// v.store(&"a::x".parse()?, &SecretBytes::from_slice(b"1"))?;
    /// v.store(&"b::y".parse()?, &SecretBytes::from_slice(b"2"))?;
    /// assert_eq!(v.keys()?.len(), 2);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<Key>, Error> {
        let mut state = self.state();
        self.refresh(&mut state)?;
        Ok(state.entries.keys().cloned().collect())
    }

    /// Changes the key or passphrase, keeping every entry: all entries are re-encrypted
    /// under a new vault id and written atomically. The old key no longer opens the file.
    ///
    /// ```
    /// use hearth_secure_storage::{EncryptedFileStore, Error, KeySource, SecureStorage};
    /// use hearth_token_guard::SecretBytes;
    ///
    /// let dir = std::env::temp_dir().join(format!("hearth-doc-rk-{}", std::process::id()));
    /// let (old, new) = (SecretBytes::generate(32)?, SecretBytes::generate(32)?);
    /// let v = EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(old.clone()))?;
    /// v.store(&"app::k".parse()?, &SecretBytes::from_slice(b"kept"))?;
    /// v.rekey(KeySource::RawKey(new.clone()))?;
    /// assert!(matches!(EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(old)), Err(Error::WrongKey { .. })));
    /// let v = EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(new))?;
    /// assert_eq!(v.retrieve(&"app::k".parse()?)?.unwrap().expose_secret(), b"kept");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), Error>(())
    /// ```
    pub fn rekey(&self, new_source: KeySource) -> Result<(), Error> {
        let material = new_source.material()?;
        self.write_txn(|path, state| {
            let mut plain = Vec::with_capacity(state.entries.len());
            for (key, sealed) in &state.entries {
                plain.push((
                    key.clone(),
                    format::open(&state.keys, &state.header.vault_id, key, sealed, path)?,
                ));
            }
            let mut next = fresh(new_source, material, &self.options)?;
            for (key, secret) in plain {
                let sealed = format::seal(
                    &next.keys,
                    &next.header.vault_id,
                    &key,
                    secret.expose_secret(),
                )?;
                next.entries.insert(key, sealed);
            }
            next.header.generation = state.header.generation;
            *state = next;
            Ok(((), true))
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // State is replaced whole or not at all, so a poisoned lock holds a consistent value.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads the file if another handle or process replaced it since we last read it.
    fn refresh(&self, state: &mut State) -> Result<(), Error> {
        self.refresh_with(state, false)
    }

    /// `refresh`; with `strict` (writers, under the lock) the header's (vault_id,
    /// generation) must agree with the cache too, not only the file's stamp, which can
    /// miss a same-size rewrite on a file system with coarse timestamps that reused the
    /// inode. Reads keep the stamp alone (a stat, no open, on the hot path).
    fn refresh_with(&self, state: &mut State, strict: bool) -> Result<(), Error> {
        let current = Stamp::of(&self.path)?;
        if current.is_some()
            && current == state.stamp
            && (!strict
                || format::identity(&self.path)
                    == Some((state.header.vault_id, state.header.generation)))
        {
            return Ok(());
        }
        let Some((bytes, stamp)) = read_file(&self.path)? else {
            return Err(Error::NotFound {
                path: self.path.clone(),
            });
        };
        let reuse = Some((&state.header, &state.keys));
        let seen = (state.header.vault_id, state.header.generation);
        let next = load(
            &self.path,
            &bytes,
            stamp,
            state.source.clone(),
            state.material.clone(),
            reuse,
        )?;
        // The same vault must never go back to an earlier write (a file restored or
        // swapped in underneath a running process).
        if next.header.vault_id == seen.0
            && next.header.generation < seen.1
            && state.stamp.is_some()
        {
            return Err(Error::RolledBack {
                path: self.path.clone(),
                expected: seen.1,
                found: next.header.generation,
            });
        }
        *state = next;
        Ok(())
    }

    /// Runs `change` on fresh state under the directory lock; writes if it says so.
    fn write_txn<T>(
        &self,
        change: impl FnOnce(&Path, &mut State) -> Result<(T, bool), Error>,
    ) -> Result<T, Error> {
        let lock = DirLock::acquire(&self.dir, self.options.lock_timeout)?;
        let mut state = self.state();
        let on_disk = match self.refresh_with(&mut state, true) {
            Ok(()) => Some(state.header.generation),
            // Deleted underneath us: a write starts a new vault with the same key (unless
            // the guard knows the vault had been written: then this is a rollback).
            Err(Error::NotFound { .. }) => {
                let (source, material) = (state.source.clone(), state.material.clone());
                *state = fresh(source, material, &self.options)?;
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(guard) = &self.guard
            && let Err(e) = guard.before(on_disk)
        {
            state.stamp = None;
            return Err(e);
        }
        let result = change(&self.path, &mut state).and_then(|(out, dirty)| {
            if dirty {
                write(&self.path, &lock, &mut state)?;
                if let Some(guard) = &self.guard {
                    guard.after(state.header.generation);
                }
            }
            Ok(out)
        });
        if result.is_err() {
            // The file still holds the last committed state: forget ours, re-read next time.
            state.stamp = None;
        }
        result
    }
}

impl SecureStorage for EncryptedFileStore {
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        self.store_all([(key.clone(), secret.clone())])
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        let mut state = self.state();
        self.refresh(&mut state)?;
        match state.entries.get(key) {
            Some(sealed) => {
                format::open(&state.keys, &state.header.vault_id, key, sealed, &self.path).map(Some)
            }
            None => Ok(None),
        }
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        self.write_txn(|_, state| {
            let existed = state.entries.remove(key).is_some();
            Ok((existed, existed))
        })
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        let mut state = self.state();
        self.refresh(&mut state)?;
        Ok(state
            .entries
            .keys()
            .filter(|k| namespace.contains(k))
            .cloned()
            .collect())
    }

    fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        self.write_txn(|_, state| {
            let before = state.entries.len();
            state.entries.retain(|k, _| !namespace.contains(k));
            let removed = before - state.entries.len();
            Ok((removed, removed > 0))
        })
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "vault",
            persistence: Persistence::Disk,
            location: Some(self.path.display().to_string()),
        }
    }
}

/// Decrypts every entry of a vault file held in memory, checking it exactly as opening it
/// would: e.g. to verify a backup copy before restoring it.
///
/// ```
/// use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage, vault};
/// use hearth_token_guard::SecretBytes;
///
/// let dir = std::env::temp_dir().join(format!("hearth-doc-da-{}", std::process::id()));
/// let key = SecretBytes::generate(32)?;
/// let v = EncryptedFileStore::open(dir.join("v"), KeySource::RawKey(key.clone()))?;
/// v.store(&"app::k".parse()?, &SecretBytes::from_slice(b"s"))?;
/// let backup = std::fs::read(dir.join("v")).unwrap();
/// let entries = vault::decrypt_all(&backup, &KeySource::RawKey(key))?;
/// assert_eq!(entries.len(), 1);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub fn decrypt_all(bytes: &[u8], source: &KeySource) -> Result<Vec<(Key, SecretBytes)>, Error> {
    let path = Path::new("<vault bytes>");
    let material = source.material()?;
    let state = load(path, bytes, None, source.clone(), material, None)?;
    state
        .entries
        .iter()
        .map(|(k, sealed)| {
            Ok((
                k.clone(),
                format::open(&state.keys, &state.header.vault_id, k, sealed, path)?,
            ))
        })
        .collect()
}

/// A vault file's bytes and the stamp of the file they came from.
type FileRead = (zeroize::Zeroizing<Vec<u8>>, Option<Stamp>);

/// Reads the vault file with its stamp, or `None` if it does not exist. The stamp is taken
/// before and after the read and must agree, so it names exactly the bytes returned.
fn read_file(path: &Path) -> Result<Option<FileRead>, Error> {
    for _ in 0..5 {
        let before = Stamp::of(path)?;
        if before.is_none() {
            return Ok(None);
        }
        let bytes = match private_file::read(path, format::MAX_FILE_LEN) {
            Ok(b) => b,
            Err(hearth_token_guard::Error::NotFound { .. }) => continue,
            Err(hearth_token_guard::Error::TooLong { .. }) => {
                return Err(Error::Corrupt {
                    path: path.into(),
                    reason: "file larger than 256 MiB",
                });
            }
            Err(e) => return Err(e.into()),
        };
        if Stamp::of(path)? == before {
            return Ok(Some((bytes, before)));
        }
    }
    // The file kept changing under us: use the last read without a stamp (re-read next time).
    match private_file::read(path, format::MAX_FILE_LEN) {
        Ok(b) => Ok(Some((b, None))),
        Err(hearth_token_guard::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Verifies and decodes a vault file. `reuse` passes the previous header and subkeys, so a
/// re-read of an unchanged vault id skips key derivation (Argon2id).
fn load(
    path: &Path,
    bytes: &[u8],
    stamp: Option<Stamp>,
    source: KeySource,
    material: SecretBytes,
    reuse: Option<(&Header, &Subkeys)>,
) -> Result<State, Error> {
    let u = format::parse_header(bytes, path)?;
    let header = u.header;
    if source.is_passphrase() != header.kdf.is_some() {
        return Err(Error::KeySourceMismatch {
            path: path.into(),
            vault_uses: if header.kdf.is_some() {
                "a passphrase"
            } else {
                "a key (raw or key file)"
            },
        });
    }
    // Keys already known to open this vault id at these costs (a re-read by an open
    // handle; a re-key always draws a new vault id).
    let reused = match reuse {
        Some((h, k)) if h.vault_id == header.vault_id && h.kdf == header.kdf => Some(k.clone()),
        _ => None,
    };
    let known = reused.is_some();
    let keys = match reused {
        Some(k) => k,
        None => {
            let master =
                keys::master_key(&material, header.kdf, &header.vault_id).map_err(|e| match e {
                    Error::Corrupt { reason, .. } => Error::Corrupt {
                        path: path.into(),
                        reason,
                    },
                    other => other,
                })?;
            keys::subkeys(&master, &header.vault_id)
        }
    };
    let entries = match format::verify(&u, &keys, path) {
        Err(Error::WrongKey { .. }) if known || header_was_edited(&u, &material, &keys) => {
            return Err(Error::Tampered { path: path.into() });
        }
        other => other?,
    };
    Ok(State {
        source,
        material,
        header,
        keys,
        entries,
        stamp,
    })
}

/// Whether the key in `material` is this vault's key although the key check failed: the
/// header was edited (its `key_check`, version or Argon2id costs). A wrong key passes
/// none of these tests. The cheap ones first: the first entry's name under `keys`, the
/// other version; then one derivation per other preset, least memory first.
fn header_was_edited(u: &format::Unverified<'_>, material: &SecretBytes, keys: &Subkeys) -> bool {
    let written = u.header.kdf;
    let fits = |keys: &Subkeys, costs: Option<Argon2Params>, skip: Option<u16>| {
        format::first_name_opens(u, keys)
            || format::READ_VERSIONS
                .into_iter()
                .filter(|v| Some(*v) != skip)
                .any(|v| format::key_check_matches(u.bytes, v, keys, costs))
    };
    if fits(keys, written, Some(u.version)) {
        return true;
    }
    let Some(written) = written else {
        return false;
    };
    let mut others: Vec<Argon2Params> = Argon2Params::PRESETS
        .into_iter()
        .filter(|p| *p != written)
        .collect();
    others.sort_by_key(|p| p.m_cost_kib);
    others.into_iter().any(|p| {
        keys::master_key(material, Some(p), &u.header.vault_id)
            .is_ok_and(|master| fits(&keys::subkeys(&master, &u.header.vault_id), Some(p), None))
    })
}

/// A new, empty vault's state for `source`: random vault id, derived keys.
fn fresh(source: KeySource, material: SecretBytes, options: &VaultOptions) -> Result<State, Error> {
    let mut vault_id = [0u8; 16];
    SystemRandom::new()
        .fill(&mut vault_id)
        .map_err(|_| Error::Rng)?;
    let kdf = source.is_passphrase().then_some(options.argon2);
    if kdf.is_some_and(|p| !p.is_preset()) {
        // A vault this build could not read back.
        return Err(Error::InvalidArgument {
            reason: "Argon2id costs are not one of Argon2Params::PRESETS",
        });
    }
    let master = keys::master_key(&material, kdf, &vault_id)?;
    let keys = keys::subkeys(&master, &vault_id);
    Ok(State {
        source,
        material,
        header: Header {
            kdf,
            vault_id,
            generation: 0,
        },
        keys,
        entries: BTreeMap::new(),
        stamp: None,
    })
}

/// Writes `state` (generation + 1) durably; records the new file's stamp.
fn write(path: &Path, lock: &DirLock, state: &mut State) -> Result<(), Error> {
    state.header.generation = state.header.generation.wrapping_add(1);
    let bytes = format::encode(&state.header, &state.entries, &state.keys);
    if bytes.len() > format::MAX_FILE_LEN {
        // Its reader would refuse it ("damaged"): refuse the write instead, change nothing.
        state.header.generation = state.header.generation.wrapping_sub(1);
        return Err(Error::QuotaExceeded { backend: "vault" });
    }
    private_file::write_locked(lock, path, &bytes, WriteMode::Replace)?;
    state.stamp = Stamp::of(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewrite that the file's stamp cannot see (same size, same inode, timestamps too
    /// coarse to change) is still noticed by a writer: the header's generation is
    /// compared as well, under the lock.
    #[test]
    fn a_rewrite_the_stamp_misses_is_caught_by_the_header() {
        let dir = std::env::temp_dir().join(format!("hearth-stampmiss-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("v");
        let source = || KeySource::RawKey(SecretBytes::from_slice(&[7; 32]));
        let key: Key = "app::k".parse().unwrap();
        let writer = EncryptedFileStore::open(&path, source()).unwrap();
        writer.store(&key, &SecretBytes::from_slice(b"1")).unwrap();
        let old = std::fs::read(&path).unwrap();
        writer.store(&key, &SecretBytes::from_slice(b"2")).unwrap();
        let reader = EncryptedFileStore::open(&path, source()).unwrap();
        assert_eq!(
            reader.retrieve(&key).unwrap().unwrap().expose_secret(),
            b"2"
        );
        // The old copy written in place, and the reader's stamp made to match (as a
        // file system with one-second timestamps and inode reuse would have it).
        std::fs::write(&path, &old).unwrap();
        reader.state().stamp = Stamp::of(&path).unwrap();
        // A write, under the lock, re-reads the header: it neither writes its stale
        // cache over the file nor accepts the older copy.
        let err = reader
            .store(&key, &SecretBytes::from_slice(b"3"))
            .unwrap_err();
        assert!(matches!(err, Error::RolledBack { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), old, "nothing was written");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
