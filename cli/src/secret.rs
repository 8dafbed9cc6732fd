//! `hearth secret …`: the encrypted-file vault from the command line.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hearth_secure_storage::{
    EncryptedFileStore, Key, KeySource, Namespace, SecureStorage, default_key_file,
    default_vault_path,
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
        vault: VaultArgs,
    },
    /// Write the secret stored under KEY to standard output, as stored (no newline added).
    #[command(after_help = exit::HELP)]
    Get {
        /// The key, `app::segment::…`.
        key: String,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Delete the secret stored under KEY (exit code 3 if there was none).
    #[command(after_help = exit::HELP)]
    Delete {
        /// The key, `app::segment::…`.
        key: String,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Print the keys in NAMESPACE (all keys without one), one per line.
    #[command(after_help = exit::HELP)]
    List {
        /// A key prefix, `app` or `app::segment…`.
        namespace: Option<String>,
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Delete every key in NAMESPACE, printing each one.
    #[command(after_help = exit::HELP)]
    Clear {
        /// A key prefix, `app` or `app::segment…`.
        namespace: String,
        #[command(flatten)]
        vault: VaultArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct VaultArgs {
    /// The vault file [default: the app's vault in the platform data directory,
    /// e.g. ~/.local/share/APP/vault.hearth].
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
}

impl VaultArgs {
    fn path(&self) -> Result<PathBuf, Failure> {
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

    /// Opens the vault, creating it only when `create` (a write).
    fn open(&self, create: bool) -> Result<EncryptedFileStore, Failure> {
        let (path, source) = (self.path()?, self.source()?);
        Ok(if create {
            EncryptedFileStore::open(path, source)?
        } else {
            EncryptedFileStore::open_existing(path, source)?
        })
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
        SecretCommand::Set { key, vault } => {
            let key = parse_key(&key)?;
            let secret = read_stdin_secret()?;
            vault.open(true)?.store(&key, &secret)?;
        }
        SecretCommand::Get { key, vault } => {
            let key = parse_key(&key)?;
            let Some(secret) = vault.open(false)?.retrieve(&key)? else {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            };
            let mut out = io::stdout().lock();
            out.write_all(secret.expose_secret())?;
            out.flush()?;
        }
        SecretCommand::Delete { key, vault } => {
            let key = parse_key(&key)?;
            if !vault.open(false)?.delete(&key)? {
                return Err(Failure::not_found(format!("no secret stored under {key}")));
            }
        }
        SecretCommand::List { namespace, vault } => {
            let store = vault.open(false)?;
            let keys = match namespace {
                Some(ns) => store.list(&parse_namespace(&ns)?)?,
                None => store.keys()?,
            };
            print_keys(&keys)?;
        }
        SecretCommand::Clear { namespace, vault } => {
            let ns = parse_namespace(&namespace)?;
            let store = vault.open(false)?;
            let keys = store.list(&ns)?;
            store.clear(&ns)?;
            print_keys(&keys)?;
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
