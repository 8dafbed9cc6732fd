//! The freedesktop Secret Service (gnome-keyring, KWallet, KeePassXC) through the
//! `secret-service` crate, with **one D-Bus connection and one encrypted session per
//! process**, kept by the backend's worker thread and reopened only after it fails.
//!
//! keyring 3.6 opens a new connection and negotiates a new Diffie-Hellman session on every
//! call (measured 8.3 ms per call in release builds here, seconds under valgrind); users of
//! keyring-rs report prompt storms and daemon crashes from that pattern. Calls here never
//! prompt: a locked collection or item is [`Error::Locked`], for the caller to unlock.
//!
//! Items use keyring-rs's attributes (`service`, `username`, `target` = `default`), so
//! secrets written by earlier Hearth versions, and `secret-tool search service APP`, still
//! find them; `application` is `hearth`.

use std::collections::HashMap;
use std::time::Duration;

use hearth_token_guard::SecretBytes;
use secret_service::EncryptionType;
use secret_service::blocking::{Item, SecretService};

use super::worker::Worker;
use crate::Error;

const BACKEND: &str = "secret-service";
const TARGET: &str = "default";

/// The worker's state: the open service (connection + session), if any.
#[derive(Default)]
pub(super) struct Conn {
    service: Option<SecretService<'static>>,
}

fn no_connection() -> Conn {
    Conn::default()
}

static WORKER: Worker<Conn> = Worker::new(BACKEND, no_connection);

impl Conn {
    /// The open service, connecting first if there is none.
    fn service(&mut self) -> Result<&SecretService<'static>, Error> {
        if self.service.is_none() {
            let service = SecretService::connect(EncryptionType::Dh).map_err(map_error)?;
            self.service = Some(service);
        }
        Ok(self.service.as_ref().expect("just set"))
    }

    /// Runs `f` with the service; a transport failure drops the connection, so the next
    /// call reconnects (a restarted daemon, a closed bus).
    fn with<T>(
        &mut self,
        f: impl FnOnce(&SecretService<'static>) -> Result<T, secret_service::Error>,
    ) -> Result<T, Error> {
        let result = f(self.service()?);
        if let Err(secret_service::Error::Zbus(_) | secret_service::Error::ZbusFdo(_)) = &result {
            self.service = None;
        }
        result.map_err(map_error)
    }
}

fn attributes<'a>(service: &'a str, account: &'a str) -> HashMap<&'a str, &'a str> {
    HashMap::from([
        ("service", service),
        ("username", account),
        ("target", TARGET),
    ])
}

/// The unlocked items for (service, account); `Locked` if the only matches are locked.
fn find<'s>(
    ss: &'s SecretService<'static>,
    service: &str,
    account: &str,
) -> Result<Vec<Item<'s>>, secret_service::Error> {
    let found = ss.search_items(attributes(service, account))?;
    if found.unlocked.is_empty() && !found.locked.is_empty() {
        return Err(secret_service::Error::Locked);
    }
    Ok(found.unlocked)
}

pub(super) fn get(
    timeout: Duration,
    service: &str,
    account: &str,
) -> Result<Option<SecretBytes>, Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |conn| {
        conn.with(|ss| match find(ss, &service, &account)?.first() {
            Some(item) => Ok(Some(SecretBytes::new(item.get_secret()?))),
            None => Ok(None),
        })
    })
}

pub(super) fn set(
    timeout: Duration,
    service: &str,
    account: &str,
    secret: &SecretBytes,
) -> Result<(), Error> {
    let (service, account, secret) = (service.to_owned(), account.to_owned(), secret.clone());
    WORKER.call(timeout, move |conn| {
        conn.with(|ss| {
            let collection = ss.get_default_collection()?;
            if collection.is_locked()? {
                return Err(secret_service::Error::Locked);
            }
            let existing = find(ss, &service, &account)?;
            if let Some((first, extra)) = existing.split_first() {
                first.set_secret(secret.expose_secret(), "application/octet-stream")?;
                // Duplicates (two writers that both created the item): keep one.
                for item in extra {
                    item.delete()?;
                }
                return Ok(());
            }
            let mut attrs = attributes(&service, &account);
            attrs.insert("application", "hearth");
            let label = format!("{account}@{service} (Hearth)");
            collection.create_item(
                &label,
                attrs,
                secret.expose_secret(),
                true, // replace an item with the same attributes: concurrent creators
                "application/octet-stream",
            )?;
            Ok(())
        })
    })
}

pub(super) fn delete(timeout: Duration, service: &str, account: &str) -> Result<bool, Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |conn| {
        conn.with(|ss| {
            let items = find(ss, &service, &account)?;
            for item in &items {
                item.delete()?;
            }
            Ok(!items.is_empty())
        })
    })
}

/// Every account of `service`, from the Secret Service's own search (no index to miss
/// one); `Locked` if any of its items is locked.
pub(super) fn accounts(timeout: Duration, service: &str) -> Result<Vec<String>, Error> {
    let service = service.to_owned();
    WORKER.call(timeout, move |conn| {
        conn.with(|ss| {
            let found = ss.search_items(HashMap::from([
                ("service", service.as_str()),
                ("target", TARGET),
            ]))?;
            if !found.locked.is_empty() {
                return Err(secret_service::Error::Locked);
            }
            let mut accounts = Vec::with_capacity(found.unlocked.len());
            for item in &found.unlocked {
                if let Some(account) = item.get_attributes()?.remove("username") {
                    accounts.push(account);
                }
            }
            accounts.sort();
            accounts.dedup();
            Ok(accounts)
        })
    })
}

/// Usable now: a default collection exists and is unlocked.
pub(super) fn probe(timeout: Duration) -> Result<(), Error> {
    WORKER.call(timeout, |conn| {
        conn.with(|ss| {
            if ss.get_default_collection()?.is_locked()? {
                return Err(secret_service::Error::Locked);
            }
            Ok(())
        })
    })
}

fn map_error(e: secret_service::Error) -> Error {
    match e {
        secret_service::Error::Locked | secret_service::Error::Prompt => {
            Error::Locked { backend: BACKEND }
        }
        secret_service::Error::NoResult => Error::Unavailable {
            backend: BACKEND,
            reason: "there is no default collection (create a login keyring)".into(),
        },
        secret_service::Error::Unavailable => Error::Unavailable {
            backend: BACKEND,
            reason: "no Secret Service (keyring daemon) on the session bus".into(),
        },
        other => Error::Unavailable {
            backend: BACKEND,
            reason: other.to_string(),
        },
    }
}
