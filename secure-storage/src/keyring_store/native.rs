//! The Keychain (macOS) and the Credential Manager (Windows) through the `keyring` crate,
//! on the backend's worker thread.
//!
//! Neither store is enumerated here, so the app's accounts are kept in one more item
//! (account `:hearth-index`). Its read-modify-write runs inside the same worker call as the
//! item's own write, so the threads of one process cannot lose an entry, and under the
//! app's lock file (`<data dir>/<app>/.hearth.lock`, the one its vaults use), so writers in
//! several processes cannot either. (Compiled for Windows here; not run: there is no macOS
//! or Windows machine to test on.)

use std::time::Duration;

use hearth_token_guard::SecretBytes;
use hearth_token_guard::private_file::DirLock;

use super::worker::Worker;
use crate::Error;

const BACKEND: &str = super::KeyringBackend::Native.name();

/// Account name of the app-owned index of keys. Hearth keys cannot produce it: no part of
/// a key may start with `:`.
const INDEX_ACCOUNT: &str = ":hearth-index";

fn stateless() {}

static WORKER: Worker<()> = Worker::new(BACKEND, stateless);

fn entry(service: &str, account: &str) -> Result<keyring::Entry, Error> {
    keyring::Entry::new(service, account).map_err(map_error)
}

fn get_now(service: &str, account: &str) -> Result<Option<SecretBytes>, Error> {
    match entry(service, account)?.get_secret() {
        Ok(bytes) => Ok(Some(SecretBytes::new(bytes))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(map_error(e)),
    }
}

fn set_now(service: &str, account: &str, secret: &[u8]) -> Result<(), Error> {
    entry(service, account)?
        .set_secret(secret)
        .map_err(map_error)
}

fn delete_now(service: &str, account: &str) -> Result<bool, Error> {
    match entry(service, account)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(map_error(e)),
    }
}

fn read_index(service: &str) -> Result<Vec<String>, Error> {
    let Some(bytes) = get_now(service, INDEX_ACCOUNT)? else {
        return Ok(Vec::new());
    };
    let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| Error::BackendFailed {
        backend: BACKEND,
        reason: "the key index item is not UTF-8: it was not written by Hearth".into(),
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn write_index(service: &str, accounts: &[String]) -> Result<(), Error> {
    if accounts.is_empty() {
        return delete_now(service, INDEX_ACCOUNT).map(drop);
    }
    set_now(service, INDEX_ACCOUNT, accounts.join("\n").as_bytes())
}

fn is_own(account: &str) -> bool {
    account.starts_with(':')
}

pub(super) fn get(
    timeout: Duration,
    service: &str,
    account: &str,
) -> Result<Option<SecretBytes>, Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |()| get_now(&service, &account))
}

/// Takes the app's lock file, which serialises the index's read-modify-write across
/// processes (the worker does within this one).
fn index_lock(service: &str, timeout: Duration) -> Result<DirLock, Error> {
    let vault = crate::default_vault_path(service)?;
    Ok(DirLock::acquire(&crate::vault::dir_of(&vault), timeout)?)
}

pub(super) fn set(
    timeout: Duration,
    service: &str,
    account: &str,
    secret: &SecretBytes,
) -> Result<(), Error> {
    let (service, account, secret) = (service.to_owned(), account.to_owned(), secret.clone());
    WORKER.call(timeout, move |()| {
        let _lock = index_lock(&service, timeout)?;
        set_indexed(&service, &account, &secret)
    })
}

pub(super) fn update(
    timeout: Duration,
    service: &str,
    account: &str,
    f: impl FnOnce(Option<SecretBytes>) -> Option<SecretBytes> + Send + 'static,
) -> Result<(), Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |()| match f(get_now(&service, &account)?) {
        Some(new) => {
            let _lock = index_lock(&service, timeout)?;
            set_indexed(&service, &account, &new)
        }
        None => Ok(()),
    })
}

/// Writes the item, entering it in the app's index first: an index entry without an item
/// is dropped by `accounts`, an item without an index entry would be invisible to list and
/// clear.
fn set_indexed(service: &str, account: &str, secret: &SecretBytes) -> Result<(), Error> {
    if !is_own(account) {
        let mut index = read_index(service)?;
        if !index.iter().any(|a| a == account) {
            index.push(account.to_owned());
            index.sort();
            write_index(service, &index)?;
        }
    }
    set_now(service, account, secret.expose_secret())
}

pub(super) fn delete(timeout: Duration, service: &str, account: &str) -> Result<bool, Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |()| {
        let _lock = index_lock(&service, timeout)?;
        let existed = delete_now(&service, &account)?;
        if !is_own(&account) {
            let mut index = read_index(&service)?;
            let before = index.len();
            index.retain(|a| *a != account);
            if index.len() != before {
                write_index(&service, &index)?;
            }
        }
        Ok(existed)
    })
}

pub(super) fn accounts(timeout: Duration, service: &str) -> Result<Vec<String>, Error> {
    let service = service.to_owned();
    WORKER.call(timeout, move |()| {
        let indexed = read_index(&service)?;
        let mut present = Vec::with_capacity(indexed.len());
        for account in &indexed {
            if get_now(&service, account)?.is_some() {
                present.push(account.clone());
            }
        }
        if present.len() != indexed.len() {
            // Repair under the lock, from a fresh read: a writer may have added one since.
            let _lock = index_lock(&service, timeout)?;
            let mut index = read_index(&service)?;
            index.retain(|a| !indexed.contains(a) || present.contains(a));
            write_index(&service, &index)?;
            return Ok(index);
        }
        Ok(present)
    })
}

pub(super) fn probe(timeout: Duration) -> Result<(), Error> {
    get(timeout, "hearth", ":hearth-probe").map(drop)
}

fn map_error(e: keyring::Error) -> Error {
    match e {
        keyring::Error::NoStorageAccess(_) => Error::Locked { backend: BACKEND },
        keyring::Error::TooLong(attr, limit) if attr == "password" || attr == "secret" => {
            Error::TooLarge {
                limit: limit as usize,
            }
        }
        keyring::Error::TooLong(..) => Error::InvalidKey {
            reason: "key too long for this OS keyring",
        },
        keyring::Error::Invalid(..) => Error::InvalidKey {
            reason: "key rejected by this OS keyring",
        },
        // The platform's store answered with a failure (macOS: a cancelled prompt
        // included): it exists, so this is never a reason to choose another backend.
        other => Error::BackendFailed {
            backend: BACKEND,
            reason: other.to_string(),
        },
    }
}
