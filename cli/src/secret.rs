//! `hearth secret …`: the encrypted-file vault from the command line.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hearth_secure_storage::{
    EncryptedFileStore, HybridStore, Key, KeySource, KeyringBackend, KeyringStore, Namespace,
    SecureStorage, Storage, default_key_file, default_vault_path,
};
use hearth_token_guard::{Password, SecretBytes};

use crate::exit::{self, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Store the secret read from standard input under KEY (one trailing newline is
    /// dropped). The value is never taken from the command line, where other users and
    /// shell history could see it.
    #[command(after_help = exit::HELP)]
    Set {
        /// The key, `app::segment::…`.
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write the secret stored under KEY to standard output, as stored (no newline added).
    #[command(after_help = exit::HELP)]
    Get {
        /// The key, `app::segment::…`.
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete the secret stored under KEY (exit code 3 if there was none).
    #[command(after_help = exit::HELP)]
    Delete {
        /// The key, `app::segment::…`.
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the keys in NAMESPACE (all keys of --app without one), one per line.
    #[command(after_help = exit::HELP)]
    List {
        /// A key prefix, `app` or `app::segment…`.
        namespace: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show the backend recorded for --backend auto, and the chain: each backend tried,
    /// and why it was used or skipped. A locked keyring is exit code 6, never a switch to
    /// another backend.
    #[command(after_help = exit::HELP)]
    Backends {
        /// The app whose chain to show.
        #[arg(long, default_value = "hearth")]
        app: String,
    },
    /// Remove the app's hybrid vault file and its key item from the keyring, with every
    /// secret in them: the way out of "rolled back" (exit 5) once nothing can be restored.
    #[command(after_help = exit::HELP)]
    Reset {
        /// The app whose hybrid store to remove.
        #[arg(long)]
        app: String,
        /// Seconds to wait for the OS keyring before giving up.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        timeout: u64,
    },
    /// Delete every key in NAMESPACE, printing each one.
    #[command(after_help = exit::HELP)]
    Clear {
        /// A key prefix, `app` or `app::segment…`.
        namespace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// The fallback chain: the hybrid store if the OS keyring answers, else the vault with
    /// its key file (see `hearth secret backends`). With --vault, --key-file or
    /// --passphrase-env, the vault.
    Auto,
    /// The platform keyring: Secret Service, Keychain or Windows Credential Manager.
    Keyring,
    /// Linux kernel keyutils: no daemon needed, lost at reboot.
    Keyutils,
    /// The encrypted vault file.
    Vault,
    /// The vault file with its key in the platform keyring.
    Hybrid,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Where secrets are kept.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// The vault file [default: the app's vault in the platform data directory,
    /// e.g. ~/.local/share/APP/vault.hearth, or hybrid.hearth for --backend hybrid].
    #[arg(long, value_name = "PATH")]
    vault: Option<PathBuf>,
    /// Read the vault's passphrase from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "key_file")]
    passphrase_env: Option<String>,
    /// The vault's 32-byte key file, created 0600 on first use [default: the app's key
    /// file in the platform config directory, e.g. ~/.config/APP/vault.key].
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// The app whose store to use [default: the key's first segment, e.g. `jellytau`
    /// for `jellytau::srv::user::access_token`; `hearth` for `list` without a
    /// namespace].
    #[arg(long)]
    app: Option<String>,
    /// Seconds to wait for an OS keyring before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    timeout: u64,
}

impl StoreArgs {
    /// The app whose store is used: `--app`, else the key's or namespace's first segment.
    pub(crate) fn for_app(mut self, app: &str) -> Self {
        self.app.get_or_insert_with(|| app.to_owned());
        self
    }

    fn app(&self) -> &str {
        self.app.as_deref().unwrap_or("hearth")
    }

    fn vault_path(&self) -> Result<PathBuf, Failure> {
        match &self.vault {
            Some(p) => Ok(p.clone()),
            None => Ok(default_vault_path(self.app())?),
        }
    }

    fn source(&self) -> Result<KeySource, Failure> {
        if let Some(var) = &self.passphrase_env {
            let value = std::env::var(var).map_err(|_| {
                Failure::usage(format!(
                    "--passphrase-env {var}: the variable is not set or not UTF-8"
                ))
            })?;
            return Ok(KeySource::Passphrase(Password::new(value)));
        }
        match &self.key_file {
            Some(p) => Ok(KeySource::KeyFile(p.clone())),
            None => Ok(KeySource::KeyFile(default_key_file(self.app())?)),
        }
    }

    fn keyring(&self, backend: KeyringBackend) -> KeyringStore {
        KeyringStore::new(backend).with_timeout(Duration::from_secs(self.timeout))
    }

    /// Opens the store for a write (`create`: what is missing is created and the chain's
    /// choice recorded) or for a read (no side effect: `None` when nothing was stored).
    pub(crate) fn open(&self, create: bool) -> Result<Option<Box<dyn SecureStorage>>, Failure> {
        let explicit_vault =
            self.vault.is_some() || self.key_file.is_some() || self.passphrase_env.is_some();
        Ok(match self.backend {
            Backend::Vault => self.open_vault(create)?,
            Backend::Auto if explicit_vault => self.open_vault(create)?,
            Backend::Auto => {
                let chain = Storage::for_app(self.app())
                    .with_timeout(Duration::from_secs(self.timeout))
                    .prefer_hybrid(None)
                    .fallback_vault(None, None);
                if create {
                    Some(chain.build()?.0)
                } else {
                    chain.open_existing()?
                }
            }
            Backend::Keyring => Some(Box::new(self.keyring(KeyringBackend::Native))),
            Backend::Keyutils => Some(Box::new(self.keyring(KeyringBackend::Keyutils))),
            Backend::Hybrid => {
                let path = self.hybrid_path()?;
                let keyring = self.keyring(KeyringBackend::Native);
                if create {
                    Some(Box::new(HybridStore::open(self.app(), path, keyring)?))
                } else {
                    match HybridStore::open_existing(self.app(), path, keyring) {
                        Ok(store) => Some(Box::new(store)),
                        Err(hearth_secure_storage::Error::NotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        })
    }

    /// Opens the store for a write.
    pub(crate) fn open_for_write(&self) -> Result<Box<dyn SecureStorage>, Failure> {
        self.open(true)?
            .ok_or_else(|| Failure::with_code("the store could not be created".into(), 1))
    }

    fn hybrid_path(&self) -> Result<PathBuf, Failure> {
        Ok(match &self.vault {
            Some(p) => p.clone(),
            None => self.vault_path()?.with_file_name("hybrid.hearth"),
        })
    }

    fn open_vault(&self, create: bool) -> Result<Option<Box<dyn SecureStorage>>, Failure> {
        let (path, source) = (self.vault_path()?, self.source()?);
        if create {
            return Ok(Some(Box::new(EncryptedFileStore::open(path, source)?)));
        }
        match EncryptedFileStore::open_existing(&path, source) {
            Ok(store) => Ok(Some(Box::new(store))),
            // No vault: nothing stored. (A missing key file names itself: an error.)
            Err(hearth_secure_storage::Error::NotFound { path: missing }) if missing == path => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn parse_key(key: &str) -> Result<Key, Failure> {
    key.parse().map_err(|e| Failure::usage(format!("{e}")))
}

fn parse_namespace(ns: &str) -> Result<Namespace, Failure> {
    ns.parse().map_err(|e| Failure::usage(format!("{e}")))
}

pub(crate) fn run(cmd: SecretCommand) -> Result<(), Failure> {
    match cmd {
        SecretCommand::Set { key, store } => {
            let key = parse_key(&key)?;
            let store = store.for_app(key.app());
            let secret = read_secret(&key)?;
            store.open_for_write()?.store(&key, &secret)?;
        }
        SecretCommand::Get { key, store } => {
            let key = parse_key(&key)?;
            let store = store.for_app(key.app());
            let secret = match store.open(false)? {
                Some(opened) => opened.retrieve(&key)?,
                None => None,
            };
            let Some(secret) = secret else {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            };
            let mut out = io::stdout().lock();
            out.write_all(secret.expose_secret())?;
            out.flush()?;
        }
        SecretCommand::Delete { key, store } => {
            let key = parse_key(&key)?;
            let store = store.for_app(key.app());
            let existed = match store.open(false)? {
                Some(opened) => opened.delete(&key)?,
                None => false,
            };
            if !existed {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            }
        }
        SecretCommand::List { namespace, store } => {
            let ns = match &namespace {
                Some(ns) => parse_namespace(ns)?,
                None => Namespace::app(store.app())?,
            };
            let store = store.for_app(app_of(&ns));
            let keys = match store.open(false)? {
                Some(opened) => opened.list(&ns)?,
                None => Vec::new(),
            };
            print_keys(&keys)?;
        }
        SecretCommand::Clear { namespace, store } => {
            let ns = parse_namespace(&namespace)?;
            let store = store.for_app(app_of(&ns));
            if let Some(opened) = store.open(false)? {
                let keys = opened.list(&ns)?;
                opened.clear(&ns)?;
                print_keys(&keys)?;
            }
        }
        SecretCommand::Backends { app } => {
            let chain = Storage::for_app(&app)
                .prefer_hybrid(None)
                .fallback_vault(None, None);
            let mut out = io::stdout().lock();
            match chain.recorded()? {
                Some(backend) => writeln!(out, "recorded: {backend}")?,
                None => writeln!(
                    out,
                    "recorded: none yet (the first write records the choice)"
                )?,
            }
            writeln!(out, "{}", chain.report()?)?;
        }
        SecretCommand::Reset { app, timeout } => {
            let path = default_vault_path(&app)?.with_file_name("hybrid.hearth");
            let keyring = KeyringStore::new(KeyringBackend::Native)
                .with_timeout(Duration::from_secs(timeout));
            let (file, item) = HybridStore::reset(&app, &path, keyring)?;
            let mut out = io::stdout().lock();
            match (file, item) {
                (false, false) => writeln!(out, "nothing to reset for {app}")?,
                _ => {
                    if file {
                        writeln!(out, "removed {} and every secret in it", path.display())?;
                    }
                    if item {
                        writeln!(out, "removed its key and write counter from the keyring")?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The app (first segment) of a namespace.
pub(crate) fn app_of(ns: &Namespace) -> &str {
    ns.as_str().split("::").next().unwrap_or_default()
}

fn print_keys(keys: &[Key]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    for k in keys {
        writeln!(out, "{k}")?;
    }
    out.flush()?;
    Ok(())
}

/// The secret to store: on a terminal, typed twice without echo; else standard input.
fn read_secret(key: &Key) -> Result<SecretBytes, Failure> {
    use std::io::IsTerminal as _;
    if cfg!(not(unix)) || !io::stdin().is_terminal() {
        return read_stdin_secret();
    }
    prompt_twice(key)
}

#[cfg(not(unix))]
fn prompt_twice(_: &Key) -> Result<SecretBytes, Failure> {
    read_stdin_secret()
}

/// Asks for the secret twice without echo; refuses when the two differ.
#[cfg(unix)]
fn prompt_twice(key: &Key) -> Result<SecretBytes, Failure> {
    let first = crate::prompt::hidden(&format!("Secret for {key}: "))?;
    let second = crate::prompt::hidden("Type it again: ")?;
    if !hearth_token_guard::constant_time_eq(first.expose_secret(), second.expose_secret()) {
        return Err(Failure::usage(
            "the two entries differ; nothing was stored".into(),
        ));
    }
    Ok(first)
}

/// Standard input, at most 1 MiB, without one trailing newline.
fn read_stdin_secret() -> Result<SecretBytes, Failure> {
    const LIMIT: usize = 1 << 20;
    // Allocated once at full size, so no reallocation leaves an unwiped copy behind.
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(LIMIT + 2));
    io::stdin()
        .lock()
        .take(LIMIT as u64 + 2)
        .read_to_end(&mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.len() > LIMIT {
        return Err(Failure::from(hearth_secure_storage::Error::TooLarge {
            limit: LIMIT,
        }));
    }
    Ok(SecretBytes::from_slice(&buf))
}
