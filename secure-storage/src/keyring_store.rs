//! [`KeyringStore`]: secrets in the OS credential store.

#[cfg(target_os = "linux")]
mod keyutils;
#[cfg(any(target_os = "macos", windows))]
mod native;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
mod secret_service;
#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    windows
))]
mod worker;

#[cfg(not(target_os = "linux"))]
use absent::keyutils;
#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    windows
)))]
use absent::native as platform;
#[cfg(any(target_os = "macos", windows))]
use native as platform;
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
use secret_service as platform;

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
    pub const fn name(self) -> &'static str {
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

/// Secrets in the OS credential store.
///
/// **Mapping.** The key's app is the item's *service* and the rest of the key path its
/// *account* (Secret Service attributes `service` and `username`, Keychain service and
/// account, Windows target `account.service`). So `jellytau::srv-1::user-7::access_token` is
/// service `jellytau`, account `srv-1::user-7::access_token`; other Secret Service clients
/// find it with `secret-tool search service jellytau username srv-1::user-7::access_token`.
///
/// **Listing.** `list` and `clear` ask the store itself: a Secret Service search by the
/// app's `service` attribute, the kernel's listing of the user keyring. Nothing is kept on
/// the side that concurrent writers could lose. (Keychain and Credential Manager: an index
/// item, see the platform notes in the crate's README.)
///
/// **One connection, bounded waits.** Each backend has one worker thread per process; on
/// the Secret Service it keeps one D-Bus connection and one encrypted session for all
/// calls. A call gives up after [`timeout`](KeyringStore::with_timeout) (default 5 s) with
/// [`Error::Timeout`] — for a write that means *its outcome is unknown* — and until that
/// call returns, later calls fail at once with `Timeout` rather than queue behind it. Calls
/// never show an unlock prompt: a locked collection is [`Error::Locked`].
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

    /// Checks that the backend can be used now: the Secret Service's default collection
    /// exists and is unlocked, the user keyring opens. `Ok` means usable; errors say why
    /// not ([`Error::Locked`], [`Error::Timeout`], [`Error::Unavailable`]).
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
        match self.backend {
            KeyringBackend::Native => platform::probe(self.timeout),
            KeyringBackend::Keyutils => keyutils::probe(),
        }
    }

    /// Reads the item (service, account); for Hearth's own items too.
    pub(crate) fn get_raw(
        &self,
        service: &str,
        account: &str,
    ) -> Result<Option<SecretBytes>, Error> {
        match self.backend {
            KeyringBackend::Native => platform::get(self.timeout, service, account),
            KeyringBackend::Keyutils => keyutils::get(service, account),
        }
    }

    /// Writes the item (service, account); for Hearth's own items too.
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
        match self.backend {
            KeyringBackend::Native => platform::set(self.timeout, service, account, secret),
            KeyringBackend::Keyutils => keyutils::set(service, account, secret),
        }
    }

    /// Reads the item (service, account) and writes what `f` makes of it (`None`: leave
    /// it), in **one** call of the backend's worker: nothing of this process runs between
    /// the read and the write, and a call that outlives its timeout still decides on the
    /// value it reads when it finally runs, not on one read before.
    pub(crate) fn update_raw(
        &self,
        service: &str,
        account: &str,
        f: impl FnOnce(Option<SecretBytes>) -> Option<SecretBytes> + Send + 'static,
    ) -> Result<(), Error> {
        match self.backend {
            KeyringBackend::Native => platform::update(self.timeout, service, account, f),
            KeyringBackend::Keyutils => match f(keyutils::get(service, account)?) {
                Some(new) => self.set_raw(service, account, &new),
                None => Ok(()),
            },
        }
    }

    /// Deletes the item (service, account); returns whether it existed.
    pub(crate) fn delete_raw(&self, service: &str, account: &str) -> Result<bool, Error> {
        match self.backend {
            KeyringBackend::Native => platform::delete(self.timeout, service, account),
            KeyringBackend::Keyutils => keyutils::delete(service, account),
        }
    }

    /// Every account of `service`, as the store itself lists them.
    fn accounts(&self, service: &str) -> Result<Vec<String>, Error> {
        match self.backend {
            KeyringBackend::Native => platform::accounts(self.timeout, service),
            KeyringBackend::Keyutils => keyutils::accounts(service),
        }
    }
}

/// (service, account) of a key: its app, and the rest of its path.
fn split(key: &Key) -> (&str, &str) {
    let text = key.as_str();
    let app = key.app();
    (app, &text[app.len() + crate::SEPARATOR.len()..])
}

/// Backends that do not exist on this platform: every call says so.
#[cfg(not(target_os = "linux"))]
mod absent {
    use hearth_token_guard::SecretBytes;

    use crate::Error;

    fn unavailable<T>(backend: &'static str, reason: &str) -> Result<T, Error> {
        Err(Error::Unavailable {
            backend,
            reason: reason.into(),
        })
    }

    pub(super) mod keyutils {
        use super::*;

        const WHY: &str = "kernel keyutils exist only on Linux";

        pub(in super::super) fn probe() -> Result<(), Error> {
            unavailable("keyutils", WHY)
        }
        pub(in super::super) fn get(_: &str, _: &str) -> Result<Option<SecretBytes>, Error> {
            unavailable("keyutils", WHY)
        }
        pub(in super::super) fn set(_: &str, _: &str, _: &SecretBytes) -> Result<(), Error> {
            unavailable("keyutils", WHY)
        }
        pub(in super::super) fn delete(_: &str, _: &str) -> Result<bool, Error> {
            unavailable("keyutils", WHY)
        }
        pub(in super::super) fn accounts(_: &str) -> Result<Vec<String>, Error> {
            unavailable("keyutils", WHY)
        }
    }

    #[cfg(not(any(
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "macos",
        windows
    )))]
    pub(super) mod native {
        use std::time::Duration;

        use super::*;

        const WHY: &str = "this platform has no OS keyring backend in Hearth; use the vault, \
                           or a vault key wrapped by the host (Android Keystore, iOS Keychain)";
        const NAME: &str = super::super::KeyringBackend::Native.name();

        pub(in super::super) fn probe(_: Duration) -> Result<(), Error> {
            unavailable(NAME, WHY)
        }
        pub(in super::super) fn get(
            _: Duration,
            _: &str,
            _: &str,
        ) -> Result<Option<SecretBytes>, Error> {
            unavailable(NAME, WHY)
        }
        pub(in super::super) fn set(
            _: Duration,
            _: &str,
            _: &str,
            _: &SecretBytes,
        ) -> Result<(), Error> {
            unavailable(NAME, WHY)
        }
        pub(in super::super) fn update(
            _: Duration,
            _: &str,
            _: &str,
            _: impl FnOnce(Option<SecretBytes>) -> Option<SecretBytes>,
        ) -> Result<(), Error> {
            unavailable(NAME, WHY)
        }
        pub(in super::super) fn delete(_: Duration, _: &str, _: &str) -> Result<bool, Error> {
            unavailable(NAME, WHY)
        }
        pub(in super::super) fn accounts(_: Duration, _: &str) -> Result<Vec<String>, Error> {
            unavailable(NAME, WHY)
        }
    }
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
        self.set_raw(app, account, secret)
    }

    fn retrieve(&self, key: &Key) -> Result<Option<SecretBytes>, Error> {
        let (app, account) = split(key);
        self.get_raw(app, account)
    }

    fn delete(&self, key: &Key) -> Result<bool, Error> {
        let (app, account) = split(key);
        self.delete_raw(app, account)
    }

    fn list(&self, namespace: &Namespace) -> Result<Vec<Key>, Error> {
        let app = namespace
            .as_str()
            .split(crate::SEPARATOR)
            .next()
            .unwrap_or_default();
        // Hearth's own items (accounts starting with `:`) are not keys and never listed.
        let mut keys: Vec<Key> = self
            .accounts(app)?
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
        for own in [":hearth-index", ":hearth-vault:0123456789abcdef"] {
            assert!(
                format!("app::{own}").parse::<Key>().is_err(),
                "no key maps to Hearth's own items"
            );
        }
    }
}
