//! `hearth secret …`: the encrypted-file vault from the command line.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use hearth_secure_storage::{
    EncryptedFileStore, HybridStore, Key, KeySource, KeyringBackend, KeyringStore, Namespace,
    SecureStorage, Storage, default_key_file, default_store, default_vault_path,
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

#[derive(Debug, Args)]
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
    /// The app whose default vault and key file to use.
    #[arg(long, default_value = "hearth")]
    app: String,
    /// Seconds to wait for an OS keyring before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    timeout: u64,
}

impl StoreArgs {
    fn vault_path(&self) -> Result<PathBuf, Failure> {
        match &self.vault {
            Some(p) => Ok(p.clone()),
            None => Ok(default_vault_path(&self.app)?),
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
            None => Ok(KeySource::KeyFile(default_key_file(&self.app)?)),
        }
    }

    fn keyring(&self, backend: KeyringBackend) -> KeyringStore {
        KeyringStore::new(backend).with_timeout(Duration::from_secs(self.timeout))
    }

    /// Opens the store; a vault is created only when `create` (a write).
    pub(crate) fn open(&self, create: bool) -> Result<Box<dyn SecureStorage>, Failure> {
        let explicit_vault =
            self.vault.is_some() || self.key_file.is_some() || self.passphrase_env.is_some();
        Ok(match self.backend {
            Backend::Vault => self.open_vault(create)?,
            Backend::Auto if explicit_vault => self.open_vault(create)?,
            Backend::Auto => {
                let (store, _report) = Storage::for_app(&self.app)
                    .with_timeout(Duration::from_secs(self.timeout))
                    .prefer_hybrid(None)
                    .fallback_vault(None, None)
                    .build()?;
                store
            }
            Backend::Keyring => Box::new(self.keyring(KeyringBackend::Native)),
            Backend::Keyutils => Box::new(self.keyring(KeyringBackend::Keyutils)),
            Backend::Hybrid => {
                let path = match &self.vault {
                    Some(p) => p.clone(),
                    None => self.vault_path()?.with_file_name("hybrid.hearth"),
                };
                Box::new(HybridStore::open(
                    &self.app,
                    path,
                    self.keyring(KeyringBackend::Native),
                )?)
            }
        })
    }

    fn open_vault(&self, create: bool) -> Result<Box<dyn SecureStorage>, Failure> {
        let (path, source) = (self.vault_path()?, self.source()?);
        Ok(Box::new(if create {
            EncryptedFileStore::open(path, source)?
        } else {
            EncryptedFileStore::open_existing(path, source)?
        }))
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
            let secret = read_stdin_secret()?;
            store.open(true)?.store(&key, &secret)?;
        }
        SecretCommand::Get { key, store } => {
            let key = parse_key(&key)?;
            let Some(secret) = store.open(false)?.retrieve(&key)? else {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            };
            let mut out = io::stdout().lock();
            out.write_all(secret.expose_secret())?;
            out.flush()?;
        }
        SecretCommand::Delete { key, store } => {
            let key = parse_key(&key)?;
            if !store.open(false)?.delete(&key)? {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            }
        }
        SecretCommand::List { namespace, store } => {
            let opened = store.open(false)?;
            let keys = match namespace {
                Some(ns) => opened.list(&parse_namespace(&ns)?)?,
                None => opened.list(&Namespace::app(&store.app)?)?,
            };
            print_keys(&keys)?;
        }
        SecretCommand::Clear { namespace, store } => {
            let ns = parse_namespace(&namespace)?;
            let opened = store.open(false)?;
            let keys = opened.list(&ns)?;
            opened.clear(&ns)?;
            print_keys(&keys)?;
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
                    "recorded: none yet (this first use records the choice)"
                )?,
            }
            let (_, report) = default_store(&app)?;
            writeln!(out, "{report}")?;
        }
    }
    Ok(())
}

fn print_keys(keys: &[Key]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    for k in keys {
        writeln!(out, "{k}")?;
    }
    out.flush()?;
    Ok(())
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
