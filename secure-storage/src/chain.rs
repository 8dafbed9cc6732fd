//! The observable fallback chain: on first use, try backends in order, use the first that
//! works, say why each one before it was skipped, and record the choice; from then on use
//! only the recorded backend.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::{
    EncryptedFileStore, Error, HybridStore, KeySource, KeyringBackend, KeyringStore, SecureStorage,
    default_key_file, default_vault_path, marker,
};

/// One link of the chain.
#[derive(Debug, Clone)]
enum Link {
    Keyring(KeyringBackend),
    Hybrid(KeyringBackend, Option<PathBuf>),
    Vault(Option<PathBuf>, Option<KeySource>),
}

/// Builds a store from an ordered list of backends. Nothing is tried until
/// [`build`](Self::build); the in-memory store is never part of a chain.
///
/// **Decided once.** Only a backend that *cannot exist here* is skipped: no keyring daemon
/// or D-Bus session, a sandbox, an exhausted quota. A locked or silent keyring
/// ([`Error::Locked`], [`Error::Timeout`]) and every integrity error ([`Error::RolledBack`],
/// [`Error::Tampered`], [`Error::Corrupt`], [`Error::WrongKey`],
/// [`Error::VaultKeyMissing`], ...) are returned to the caller: they are never a reason to
/// write into another store. The backend chosen is recorded in a marker file (`backend`,
/// 0600, not secret) in the app's data directory; once recorded, only that backend is
/// used, and its errors are returned — another backend is used only after an explicit
/// [`migrate`](crate::migrate) and [`Storage::record`].
///
/// ```no_run
/// use hearth_secure_storage::Storage;
///
/// let (store, report) = Storage::for_app("jellytau").prefer_keyring().fallback_vault(None, None).build()?;
/// println!("{report}"); // e.g. "secret-service: skipped (locked)\nvault: chosen (...)"
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Storage {
    app: String,
    links: Vec<Link>,
    timeout: Duration,
    marker: Marker,
}

/// Where the chain's choice is recorded.
#[derive(Debug, Clone)]
enum Marker {
    /// `<data dir>/<app>/backend`.
    Default,
    /// An explicit file.
    At(PathBuf),
}

/// Why a backend was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The keyring is locked and nobody can answer the unlock prompt.
    Locked,
    /// The keyring did not answer in time.
    TimedOut,
    /// No keyring daemon or D-Bus session, or the platform refused; its message.
    NoDaemon(String),
    /// A sandbox (Flatpak) hides the keyring.
    Sandboxed(String),
    /// The keyring's quota is used up.
    Quota,
    /// A vault that exists but does not open (wrong key, tampered, rolled back, ...).
    Failed(String),
    /// Another backend was recorded for this app; this one is not tried.
    NotRecorded,
    /// This backend answers now, but another was recorded: migrate the secrets, then
    /// [`Storage::record`] it, to move.
    AvailableNotRecorded,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Locked => f.write_str("locked"),
            SkipReason::TimedOut => f.write_str("timed out"),
            SkipReason::NoDaemon(why) => write!(f, "no keyring daemon: {why}"),
            SkipReason::Sandboxed(why) => write!(f, "sandboxed: {why}"),
            SkipReason::Quota => f.write_str("quota exhausted"),
            SkipReason::Failed(why) => write!(f, "failed: {why}"),
            SkipReason::NotRecorded => f.write_str("not the recorded backend"),
            SkipReason::AvailableNotRecorded => f.write_str(
                "available now, not recorded: to move, migrate the secrets here and record it",
            ),
        }
    }
}

/// What happened to one backend of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The backend's name (`"hybrid"`, `"secret-service"`, `"keyutils"`, `"vault"`, ...).
    pub backend: String,
    /// `Ok(where)` if chosen, `Err(why)` if skipped.
    pub outcome: Result<String, SkipReason>,
}

/// Every backend tried, in order, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FallbackReport {
    /// The attempts, in order; the last one is the chosen backend if any was.
    pub attempts: Vec<Attempt>,
}

impl FallbackReport {
    /// The chosen backend's name, if any.
    #[must_use]
    pub fn chosen(&self) -> Option<&str> {
        self.attempts
            .iter()
            .find(|a| a.outcome.is_ok())
            .map(|a| a.backend.as_str())
    }
}

impl fmt::Display for FallbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.attempts.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match &a.outcome {
                Ok(location) => write!(f, "{}: chosen ({location})", a.backend)?,
                Err(why) => write!(f, "{}: skipped ({why})", a.backend)?,
            }
        }
        Ok(())
    }
}

impl Storage {
    /// An empty chain for `app` (the namespace of its keys and default file names).
    pub fn for_app(app: &str) -> Self {
        Self {
            app: app.to_owned(),
            links: Vec::new(),
            timeout: Duration::from_secs(5),
            marker: Marker::Default,
        }
    }

    /// Record the choice in `path` instead of `<data dir>/<app>/backend`.
    pub fn with_marker(mut self, path: impl Into<PathBuf>) -> Self {
        self.marker = Marker::At(path.into());
        self
    }

    fn marker_path(&self) -> Result<PathBuf, Error> {
        match &self.marker {
            Marker::At(p) => Ok(p.clone()),
            Marker::Default => Ok(default_vault_path(&self.app)?.with_file_name("backend")),
        }
    }

    /// The backend recorded for this chain's app, if one was (`"hybrid"`, `"vault"`, ...).
    ///
    /// Errors: the marker exists but cannot be read or was not written by Hearth
    /// ([`Error::Corrupt`]).
    pub fn recorded(&self) -> Result<Option<String>, Error> {
        marker::read(&self.marker_path()?)
    }

    /// Records `backend` as this app's choice (after a [`migrate`](crate::migrate) to
    /// it): the next [`build`](Self::build) uses only that backend.
    pub fn record(&self, backend: &str) -> Result<(), Error> {
        if !self.links.iter().any(|l| self.link_name(l) == backend) {
            return Err(Error::InvalidArgument {
                reason: "the backend to record is not one of this chain's links",
            });
        }
        marker::write(&self.marker_path()?, backend)
    }

    /// Records a first use's choice unless one was recorded meanwhile; whether `backend`
    /// is the choice that stands.
    fn record_first(&self, backend: &str) -> Result<bool, Error> {
        Ok(marker::write_first(&self.marker_path()?, backend)? == backend)
    }

    /// Try the platform keyring directly (each secret one keyring item).
    pub fn prefer_keyring(mut self) -> Self {
        self.links.push(Link::Keyring(KeyringBackend::Native));
        self
    }

    /// Try kernel keyutils (lost at reboot).
    pub fn prefer_keyutils(mut self) -> Self {
        self.links.push(Link::Keyring(KeyringBackend::Keyutils));
        self
    }

    /// Try a [`HybridStore`]: vault key in the platform keyring, secrets in a vault file
    /// (`None`: `<data dir>/<app>/hybrid.hearth`).
    pub fn prefer_hybrid(mut self, vault_path: Option<PathBuf>) -> Self {
        self.links
            .push(Link::Hybrid(KeyringBackend::Native, vault_path));
        self
    }

    /// Fall back to a vault (`None`: [`default_vault_path`]) unlocked by `source`
    /// (`None`: the [`default_key_file`]).
    pub fn fallback_vault(mut self, path: Option<PathBuf>, source: Option<KeySource>) -> Self {
        self.links.push(Link::Vault(path, source));
        self
    }

    /// Bound on each keyring call, probing included (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With a recorded choice, opens that backend and returns its errors as they are.
    /// Without one, tries each backend in order, skipping only backends that cannot exist
    /// here (see the type's docs), returns the first that opens, and records it. If none
    /// can exist, [`Error::NoBackend`] carries the report.
    pub fn build(self) -> Result<(Box<dyn SecureStorage>, FallbackReport), Error> {
        // A bad app name is the caller's mistake, not "no backend is usable".
        crate::paths::app_dir(&self.app)?;
        let mut report = FallbackReport::default();
        if let Some(recorded) = self.recorded()? {
            let Some(link) = self.links.iter().find(|l| self.link_name(l) == recorded) else {
                return Err(Error::NoBackend {
                    report: format!(
                        "{recorded}: recorded for {} but not offered by this chain \
                         (migrate the secrets, then record the new backend)",
                        self.app
                    ),
                });
            };
            for other in self.links.iter().filter(|l| self.link_name(l) != recorded) {
                report.attempts.push(Attempt {
                    backend: self.link_name(other),
                    outcome: Err(SkipReason::NotRecorded),
                });
            }
            let (name, store) = self.try_link(link);
            let store = store?;
            report.attempts.push(Attempt {
                backend: name,
                outcome: Ok(location(store.as_ref())),
            });
            return Ok((store, report));
        }
        // A store written before choices were recorded keeps its secrets: adopt it.
        if let Some(link) = self.links.iter().find(|l| self.has_data(l)) {
            let (name, store) = self.try_link(link);
            let store = store?;
            if !self.record_first(&name)? {
                return self.clone().build();
            }
            report.attempts.push(Attempt {
                backend: name,
                outcome: Ok(location(store.as_ref())),
            });
            return Ok((store, report));
        }
        for link in &self.links {
            let (name, result) = self.try_link(link);
            match result {
                Ok(store) => {
                    if !self.record_first(&name)? {
                        // Another process's first use recorded its choice first: use it.
                        return self.clone().build();
                    }
                    report.attempts.push(Attempt {
                        backend: name,
                        outcome: Ok(location(store.as_ref())),
                    });
                    return Ok((store, report));
                }
                Err(e) if cannot_exist_here(&e) => report.attempts.push(Attempt {
                    backend: name,
                    outcome: Err(skip_reason(e)),
                }),
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoBackend {
            report: report.to_string(),
        })
    }

    fn link_name(&self, link: &Link) -> String {
        match link {
            Link::Keyring(backend) => backend.name().to_owned(),
            Link::Hybrid(..) => "hybrid".to_owned(),
            Link::Vault(..) => "vault".to_owned(),
        }
    }

    fn try_link(&self, link: &Link) -> (String, Result<Box<dyn SecureStorage>, Error>) {
        let name = self.link_name(link);
        let result = self.open_link(link, Mode::Create);
        (name, result)
    }

    /// The hybrid link's vault path, or the vault link's path and key source.
    fn hybrid_path(&self, path: &Option<PathBuf>) -> Result<PathBuf, Error> {
        match path {
            Some(p) => Ok(p.clone()),
            None => Ok(default_vault_path(&self.app)?.with_file_name("hybrid.hearth")),
        }
    }

    fn vault_path(&self, path: &Option<PathBuf>) -> Result<PathBuf, Error> {
        match path {
            Some(p) => Ok(p.clone()),
            None => default_vault_path(&self.app),
        }
    }

    /// Opens (`Create`: creating what is missing; `Existing`: only what exists, no side
    /// effect) the store of `link`.
    fn open_link(&self, link: &Link, mode: Mode) -> Result<Box<dyn SecureStorage>, Error> {
        match link {
            Link::Keyring(backend) => {
                let store = KeyringStore::new(*backend).with_timeout(self.timeout);
                if mode == Mode::Create {
                    store.probe()?;
                }
                Ok(Box::new(store))
            }
            Link::Hybrid(backend, path) => {
                let keyring = KeyringStore::new(*backend).with_timeout(self.timeout);
                let path = self.hybrid_path(path)?;
                Ok(Box::new(match mode {
                    Mode::Create => {
                        keyring.probe()?;
                        HybridStore::open(&self.app, path, keyring)?
                    }
                    Mode::Existing => HybridStore::open_existing(&self.app, path, keyring)?,
                }))
            }
            Link::Vault(path, source) => {
                let path = self.vault_path(path)?;
                let source = match source {
                    Some(s) => s.clone(),
                    None => KeySource::KeyFile(default_key_file(&self.app)?),
                };
                Ok(Box::new(match mode {
                    Mode::Create => EncryptedFileStore::open(path, source)?,
                    Mode::Existing => EncryptedFileStore::open_existing(path, source)?,
                }))
            }
        }
    }

    /// Whether `link` already holds a store file (an app that used the chain before
    /// choices were recorded). Keyring links cannot tell: `false`.
    fn has_data(&self, link: &Link) -> bool {
        let path = match link {
            Link::Keyring(_) => return false,
            Link::Hybrid(_, p) => self.hybrid_path(p),
            Link::Vault(p, _) => self.vault_path(p),
        };
        path.is_ok_and(|p| std::fs::symlink_metadata(p).is_ok())
    }

    /// The link reads should go to: the recorded one, else one that already holds data.
    fn reading_link(&self) -> Result<Option<&Link>, Error> {
        if let Some(recorded) = self.recorded()? {
            return match self.links.iter().find(|l| self.link_name(l) == recorded) {
                Some(link) => Ok(Some(link)),
                None => Err(Error::NoBackend {
                    report: format!(
                        "{recorded}: recorded for {} but not offered by this chain",
                        self.app
                    ),
                }),
            };
        }
        Ok(self.links.iter().find(|l| self.has_data(l)))
    }

    /// For reading: the store that holds this app's secrets, opened without any side
    /// effect (no file, directory, keyring item or marker is created). `Ok(None)` when
    /// nothing was recorded or written yet — there is nothing to read.
    ///
    /// ```no_run
    /// use hearth_secure_storage::{SecureStorage, Storage};
    ///
    /// let chain = Storage::for_app("jellytau").prefer_hybrid(None).fallback_vault(None, None);
    /// match chain.open_existing()? {
    ///     Some(store) => println!("{} keys", store.list(&"jellytau".parse()?)?.len()),
    ///     None => println!("no secrets yet"),
    /// }
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn open_existing(&self) -> Result<Option<Box<dyn SecureStorage>>, Error> {
        crate::paths::app_dir(&self.app)?;
        let Some(link) = self.reading_link()? else {
            return Ok(None);
        };
        // A missing vault file means nothing to read; a missing *key file* is an error.
        let vault_file = match link {
            Link::Vault(p, _) => Some(self.vault_path(p)?),
            _ => None,
        };
        match self.open_link(link, Mode::Existing) {
            Ok(store) => Ok(Some(store)),
            Err(Error::NotFound { path }) if vault_file.as_ref().is_some_and(|v| *v != path) => {
                Err(Error::NotFound { path })
            }
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What [`build`](Self::build) would do, without doing it: the recorded backend (or
    /// the one a first use would choose, and why the ones before it would be passed
    /// over), checked for reachability but not opened, and nothing written. A vault
    /// recorded while a keyring link now answers is reported with how to move.
    ///
    /// ```no_run
    /// use hearth_secure_storage::Storage;
    ///
    /// let chain = Storage::for_app("jellytau").prefer_hybrid(None).fallback_vault(None, None);
    /// println!("{}", chain.report()?);
    /// # Ok::<(), hearth_secure_storage::Error>(())
    /// ```
    pub fn report(&self) -> Result<FallbackReport, Error> {
        crate::paths::app_dir(&self.app)?;
        let mut report = FallbackReport::default();
        let recorded = self.recorded()?;
        let chosen = match &recorded {
            Some(_) => self.reading_link()?,
            None => self.links.iter().find(|l| self.has_data(l)),
        };
        for link in &self.links {
            let name = self.link_name(link);
            let outcome = if let Some(chosen) = chosen {
                if std::ptr::eq(link, chosen) {
                    self.reach(link).map(|()| self.where_is(link))?;
                    Ok(self.where_is(link))
                } else if self.reach(link).is_ok() && matches!(link, Link::Hybrid(..)) {
                    Err(SkipReason::AvailableNotRecorded)
                } else {
                    Err(SkipReason::NotRecorded)
                }
            } else {
                match self.reach(link) {
                    Ok(()) => Ok(self.where_is(link)),
                    Err(e) if cannot_exist_here(&e) => Err(skip_reason(e)),
                    Err(e) => return Err(e),
                }
            };
            let done = outcome.is_ok();
            report.attempts.push(Attempt {
                backend: name,
                outcome,
            });
            if done && chosen.is_none() {
                break;
            }
        }
        Ok(report)
    }

    /// Whether `link`'s backend answers now (keyrings probed; a vault always can).
    fn reach(&self, link: &Link) -> Result<(), Error> {
        match link {
            Link::Keyring(backend) | Link::Hybrid(backend, _) => KeyringStore::new(*backend)
                .with_timeout(self.timeout)
                .probe(),
            Link::Vault(..) => Ok(()),
        }
    }

    fn where_is(&self, link: &Link) -> String {
        match link {
            Link::Keyring(_) => "OS keyring".into(),
            Link::Hybrid(backend, p) => match self.hybrid_path(p) {
                Ok(p) => format!("{} (key in {})", p.display(), backend.name()),
                Err(e) => e.to_string(),
            },
            Link::Vault(p, _) => match self.vault_path(p) {
                Ok(p) => p.display().to_string(),
                Err(e) => e.to_string(),
            },
        }
    }
}

/// How [`Storage::open_link`] opens a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Existing,
}

fn location(store: &dyn SecureStorage) -> String {
    store.info().location.unwrap_or_else(|| "OS keyring".into())
}

/// Errors that mean the backend does not exist here (no daemon, no D-Bus, a sandbox, an
/// exhausted quota): the only reasons a first use may pass a backend over.
fn cannot_exist_here(e: &Error) -> bool {
    matches!(e, Error::Unavailable { .. } | Error::QuotaExceeded { .. })
}

fn skip_reason(e: Error) -> SkipReason {
    match e {
        Error::Locked { .. } => SkipReason::Locked,
        Error::Timeout { .. } => SkipReason::TimedOut,
        Error::QuotaExceeded { .. } => SkipReason::Quota,
        Error::Unavailable { reason, .. } if reason.starts_with("sandboxed") => {
            SkipReason::Sandboxed(reason)
        }
        Error::Unavailable { reason, .. } => SkipReason::NoDaemon(reason),
        other => SkipReason::Failed(other.to_string()),
    }
}

/// The store an app should use, in one line: a [`HybridStore`] on the platform keyring
/// (`<data dir>/<app>/hybrid.hearth`), else — only where no keyring exists — the vault at
/// [`default_vault_path`] with the [`default_key_file`]. The choice is recorded and kept
/// (see [`Storage`]): a locked keyring is [`Error::Locked`], never a switch to the vault.
/// Returns the report of what was tried.
///
/// ```no_run
/// let (store, report) = hearth_secure_storage::default_store("jellytau")?;
/// eprintln!("secrets in {}", report.chosen().unwrap_or("?"));
/// # Ok::<(), hearth_secure_storage::Error>(())
/// ```
pub fn default_store(app: &str) -> Result<(Box<dyn SecureStorage>, FallbackReport), Error> {
    Storage::for_app(app)
        .prefer_hybrid(None)
        .fallback_vault(None, None)
        .build()
}
