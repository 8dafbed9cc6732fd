//! [`KeyringStore`]: secrets in the OS credential store, through the `keyring` crate.

mod bounded;
#[cfg(target_os = "linux")]
mod keyutils;
mod native;

use std::time::Duration;

use hearth_token_guard::SecretBytes;

use crate::{BackendInfo, Error, Key, Namespace, Persistence, SecureStorage};

/// Which OS credential store a [`KeyringStore`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringBackend {
    /// The platform's own store: the Secret Service on Linux and the BSDs (gnome-keyring,
    /// KWallet, KeePassXC), the login Keychain on macOS, the Credential Manager on Windows.
    Native,
    /// Linux kernel keyutils (the session keyring). Needs no daemon, but **everything is
    /// lost at reboot** (and the non-root quota is 20 000 bytes, 200 keys).
    Keyutils,
}

impl KeyringBackend {
    /// The backend's short name, as in reports and `hearth secret --backend`.
    ///
    /// ```
    /// use hearth_secure_storage::KeyringBackend;
    ///
    /// assert_eq!(KeyringBackend::Keyutils.name(), "keyutils");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KeyringBackend::Native if cfg!(target_os = "macos") => "keychain",
            KeyringBackend::Native if cfg!(windows) => "windows-credential-manager",
            KeyringBackend::Native => "secret-service",
            KeyringBackend::Keyutils => "keyutils",
        }
    }

    /// Largest secret the backend holds: 2 560 bytes on Windows, 32 766 for keyutils (the
    /// user's quota, 20 000 bytes by default, may refuse less: [`Error::QuotaExceeded`]),
    /// 1 MiB elsewhere (a Hearth cap, not the OS's).
    ///
    /// ```
    /// use hearth_secure_storage::KeyringBackend;
    ///
    /// assert_eq!(KeyringBackend::Keyutils.max_secret_len(), 32_766);
    /// ```
    #[must_use]
    pub fn max_secret_len(self) -> usize {
        match self {
            KeyringBackend::Keyutils => 32_766,
            KeyringBackend::Native if cfg!(windows) => 2_560,
            KeyringBackend::Native => 1 << 20,
        }
    }

    fn persistence(self) -> Persistence {
        match self {
            KeyringBackend::Keyutils => Persistence::Boot,
            KeyringBackend::Native => Persistence::Disk,
        }
    }
}

/// Account name of the app-owned index of keys. Hearth keys cannot produce it: no part of
/// a key may start with `:`.
const INDEX_ACCOUNT: &str = ":hearth-index";

/// Secrets in the OS credential store.
///
/// **Mapping.** The key's app is the item's *service* and the rest of the key path its
/// *account* (Secret Service attributes `service` and `username`, Keychain service and
/// account, Windows target `account.service`). So `jellytau::srv-1::user-7::access_token` is
/// service `jellytau`, account `srv-1::user-7::access_token`; other Secret Service clients
/// find it with `secret-tool search service jellytau username srv-1::user-7::access_token`.
///
/// **Listing.** OS stores cannot all enumerate, so Hearth keeps an index of the app's
/// accounts in one more item (account `:hearth-index`), updated on every store and delete
/// and repaired on `list`/`clear` (entries whose item is gone are dropped).
///
/// **Bounded waits.** Every call runs on a helper thread and gives up after
/// [`timeout`](KeyringStore::with_timeout) (default 5 s) with [`Error::Timeout`]; a
/// collection waiting on an unlock prompt gives [`Error::Locked`].
///
/// ```no_run
/// use hearth_secure_storage::{KeyringBackend, KeyringStore, SecureStorage};
/// use hearth_token_guard::SecretBytes;
///
/// let store = KeyringStore::new(KeyringBackend::Native);
/// store.store(&"jellytau::srv-1::user-7::access_token".parse()?, &SecretBytes::from_slice(b"t"))?;
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyringStore {
    backend: KeyringBackend,
    timeout: Duration,
}

impl KeyringStore {
    /// A store on `backend` with the default 5-second timeout.
    ///
    /// ```
    /// use hearth_secure_storage::{KeyringBackend, KeyringStore, SecureStorage};
    ///
    /// let store = KeyringStore::new(KeyringBackend::Keyutils);
    /// assert_eq!(store.info().name, "keyutils");
    /// ```
    #[must_use]
    pub fn new(backend: KeyringBackend) -> Self {
        Self {
            backend,
            timeout: Duration::from_secs(5),
        }
    }

    /// The same store with another bound on every call.
    ///
    /// ```
    /// use hearth_secure_storage::{KeyringBackend, KeyringStore};
    ///
    /// let store = KeyringStore::new(KeyringBackend::Native).with_timeout(std::time::Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The backend.
    ///
    /// ```
    /// use hearth_secure_storage::{KeyringBackend, KeyringStore};
    ///
    /// assert_eq!(KeyringStore::new(KeyringBackend::Native).backend(), KeyringBackend::Native);
    /// ```
    #[must_use]
    pub fn backend(&self) -> KeyringBackend {
        self.backend
    }

    /// Checks that the backend answers: reads an item that need not exist. `Ok` means it
    /// is usable now; errors say why not ([`Error::Locked`], [`Error::Timeout`],
    /// [`Error::Unavailable`]).
    ///
    /// ```no_run
    /// use hearth_secure_storage::{KeyringBackend, KeyringStore};
    ///
    /// if let Err(why) = KeyringStore::new(KeyringBackend::Native).probe() {
    ///     eprintln!("no OS keyring: {why}");
    /// }
    /// ```
    pub fn probe(&self) -> Result<(), Error> {
        if let Some(reason) = sandbox_reason(self.backend) {
            return Err(Error::Unavailable {
                backend: self.backend.name(),
                reason,
            });
        }
        self.get_raw("hearth", ":hearth-probe").map(drop)
    }

    /// Reads the item (service, account) without the index; for Hearth's own items.
    pub(crate) fn get_raw(
        &self,
        service: &str,
        account: &str,
    ) -> Result<Option<SecretBytes>, Error> {
        let (service, account, backend) = (service.to_owned(), account.to_owned(), self.backend);
        bounded::call(self.backend, self.timeout, move || match backend {
            KeyringBackend::Native => native::get(&service, &account),
            KeyringBackend::Keyutils => keyutils_call(|| keyutils::get(&service, &account)),
        })
    }

    /// Writes the item (service, account) without the index; for Hearth's own items.
    pub(crate) fn set_raw(
        &self,
        service: &str,
        account: &str,
        secret: &SecretBytes,
    ) -> Result<(), Error> {
        let limit = self.backend.max_secret_len();
        if secret.expose_secret().len() > limit {
            return Err(Error::TooLarge { limit });
        }
        let (service, account, backend) = (service.to_owned(), account.to_owned(), self.backend);
        let secret = secret.clone();
        bounded::call(self.backend, self.timeout, move || match backend {
            KeyringBackend::Native => native::set(&service, &account, &secret),
            KeyringBackend::Keyutils => {
                keyutils_call(|| keyutils::set(&service, &account, &secret))
            }
        })
    }

    /// Deletes the item (service, account); returns whether it existed.
    pub(crate) fn delete_raw(&self, service: &str, account: &str) -> Result<bool, Error> {
        let (service, account, backend) = (service.to_owned(), account.to_owned(), self.backend);
        bounded::call(self.backend, self.timeout, move || match backend {
            KeyringBackend::Native => native::delete(&service, &account),
            KeyringBackend::Keyutils => keyutils_call(|| keyutils::delete(&service, &account)),
        })
    }

    fn read_index(&self, app: &str) -> Result<Vec<String>, Error> {
        let Some(bytes) = self.get_raw(app, INDEX_ACCOUNT)? else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8_lossy(bytes.expose_secret()).into_owned();
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn write_index(&self, app: &str, accounts: &[String]) -> Result<(), Error> {
        if accounts.is_empty() {
            self.delete_raw(app, INDEX_ACCOUNT)?;
            return Ok(());
        }
        let text = accounts.join("\n");
        self.set_raw(
            app,
            INDEX_ACCOUNT,
            &SecretBytes::from_slice(text.as_bytes()),
        )
    }

    /// The index of `app`, with entries whose item no longer exists dropped (and the
    /// repaired index written back).
    fn repaired_index(&self, app: &str) -> Result<Vec<String>, Error> {
        let indexed = self.read_index(app)?;
        let mut present = Vec::with_capacity(indexed.len());
        for account in &indexed {
            if self.get_raw(app, account)?.is_some() {
                present.push(account.clone());
            }
        }
        if present.len() != indexed.len() {
            self.write_index(app, &present)?;
        }
        Ok(present)
    }
}

/// (service, account) of a key: its app, and the rest of its path.
fn split(key: &Key) -> (&str, &str) {
    let text = key.as_str();
    let app = key.app();
    (app, &text[app.len() + crate::SEPARATOR.len()..])
}

/// Runs a keyutils call, or says keyutils do not exist on this platform.
#[cfg(target_os = "linux")]
fn keyutils_call<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    f()
}

#[cfg(not(target_os = "linux"))]
fn keyutils_call<T>(_: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    Err(Error::Unavailable {
        backend: "keyutils",
        reason: "kernel keyutils exist only on Linux".into(),
    })
}

/// Why a backend cannot work in this sandbox, if it cannot.
fn sandbox_reason(backend: KeyringBackend) -> Option<String> {
    let flatpak = std::path::Path::new("/.flatpak-info").exists();
    (flatpak && backend == KeyringBackend::Native).then(|| {
        "sandboxed (Flatpak): the Secret Service is reachable only through the portal".into()
    })
}

impl SecureStorage for KeyringStore {
    fn store(&self, key: &Key, secret: &SecretBytes) -> Result<(), Error> {
        let (app, account) = split(key);
        // Index first: an index entry without an item is repaired away, an item without an
        // index entry would be invisible to list and clear.
        let mut index = self.read_index(app)?;
        if !index.iter().any(|a| a == account) {
            index.push(account.to_owned());
            index.sort();
            self.write_index(app, &index)?;
        }
        self.set_raw(app, account, secret)
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        let (app, account) = split(key);
        self.get_raw(app, account)
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        let (app, account) = split(key);
        let existed = self.delete_raw(app, account)?;
        let mut index = self.read_index(app)?;
        let before = index.len();
        index.retain(|a| a != account);
        if index.len() != before {
            self.write_index(app, &index)?;
        }
        Ok(existed)
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        let app = namespace
            .as_str()
            .split(crate::SEPARATOR)
            .next()
            .unwrap_or_default();
        let mut keys: Vec<Key> = self
            .repaired_index(app)?
            .iter()
            .filter_map(|account| format!("{app}{}{account}", crate::SEPARATOR).parse().ok())
            .filter(|k| namespace.contains(k))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn clear(&self, namespace: &Namespace) -> Result<usize, Error> {
        let mut removed = 0;
        for key in self.list(namespace)? {
            removed += usize::from(self.delete(&key)?);
        }
        Ok(removed)
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.backend.name(),
            persistence: self.backend.persistence(),
            location: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_service_and_account() {
        let key: Key = "jellytau::srv-1::user-7::access_token".parse().unwrap();
        assert_eq!(split(&key), ("jellytau", "srv-1::user-7::access_token"));
        assert!(INDEX_ACCOUNT.parse::<Key>().is_err());
        assert!(
            format!("app::{INDEX_ACCOUNT}").parse::<Key>().is_err(),
            "no key maps to the index"
        );
    }
}
