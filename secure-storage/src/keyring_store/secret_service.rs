//! The freedesktop Secret Service (gnome-keyring, KWallet, KeePassXC) through the
//! `secret-service` crate, with **one D-Bus connection and one encrypted session per
//! process**, kept by the backend's worker thread and reopened only after it fails. Items
//! found are remembered, so a repeated read is one `GetSecret` round trip.
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

/// The worker's state: the open service (connection + session), if any, and the items it
/// has found, so a repeated read is one D-Bus round trip (`GetSecret`) instead of two.
#[derive(Default)]
pub(super) struct Conn {
    service: Option<Service>,
    items: HashMap<(String, String), Item<'static>>,
}

/// An open service. Items borrow the service they came from, so to keep them between
/// calls the service lives for the rest of the process (`Leaked`): one per connection,
/// and a connection is replaced only after a transport failure (the daemon restarted).
/// After [`MAX_LEAKED`] such replacements the worker stops caching items and owns its
/// connection, so a daemon that keeps restarting cannot grow memory or threads.
enum Service {
    Leaked(&'static SecretService<'static>),
    Owned(Box<SecretService<'static>>),
}

const MAX_LEAKED: usize = 4;
static LEAKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn no_connection() -> Conn {
    Conn::default()
}

static WORKER: Worker<Conn> = Worker::new(BACKEND, no_connection);

impl Conn {
    /// Connects if there is no open service.
    fn connect(&mut self) -> Result<(), Error> {
        if self.service.is_none() {
            let service = SecretService::connect(EncryptionType::Dh).map_err(map_connect_error)?;
            let leaked = LEAKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.service = Some(if leaked < MAX_LEAKED {
                Service::Leaked(Box::leak(Box::new(service)))
            } else {
                Service::Owned(Box::new(service))
            });
        }
        Ok(())
    }

    /// Runs `f` with the service; a transport failure drops the connection (and the
    /// items found through it), so the next call reconnects.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&SecretService<'static>) -> Result<T, secret_service::Error>,
    ) -> Result<T, Error> {
        self.connect()?;
        let result = match self.service.as_ref() {
            Some(Service::Leaked(ss)) => f(ss),
            Some(Service::Owned(ss)) => f(ss),
            None => return Err(map_error(secret_service::Error::Unavailable)),
        };
        if let Err(secret_service::Error::Zbus(_) | secret_service::Error::ZbusFdo(_)) = &result {
            self.service = None;
            self.items.clear();
        }
        result.map_err(map_error)
    }

    /// The service, when its items may be kept between calls.
    fn lasting(&self) -> Option<&'static SecretService<'static>> {
        match self.service {
            Some(Service::Leaked(ss)) => Some(ss),
            _ => None,
        }
    }

    /// Reads (service, account): through the cached item when there is one (a stale one —
    /// deleted, replaced, locked — is dropped and the search decides), else a search.
    fn get(&mut self, service: &str, account: &str) -> Result<Option<SecretBytes>, Error> {
        let id = (service.to_owned(), account.to_owned());
        if let Some(item) = self.items.get(&id) {
            if let Ok(secret) = item.get_secret() {
                return Ok(Some(SecretBytes::new(secret)));
            }
            self.items.remove(&id);
        }
        self.connect()?;
        if let Some(ss) = self.lasting() {
            let found = self.with(|_| find(ss, service, account))?;
            let Some(item) = found.into_iter().next() else {
                return Ok(None);
            };
            let secret = self.with(|_| item.get_secret())?;
            self.items.insert(id, item);
            return Ok(Some(SecretBytes::new(secret)));
        }
        self.with(|ss| match find(ss, service, account)?.first() {
            Some(item) => Ok(Some(SecretBytes::new(item.get_secret()?))),
            None => Ok(None),
        })
    }

    /// Writes (service, account): replaces the secret of the existing item, removing
    /// duplicates that concurrent creators left, or creates the item.
    fn set(&mut self, service: &str, account: &str, secret: &SecretBytes) -> Result<(), Error> {
        self.items.remove(&(service.to_owned(), account.to_owned()));
        self.with(|ss| {
            let collection = ss.get_default_collection()?;
            if collection.is_locked()? {
                return Err(secret_service::Error::Locked);
            }
            let existing = find(ss, service, account)?;
            if let Some((first, extra)) = existing.split_first() {
                first.set_secret(secret.expose_secret(), "application/octet-stream")?;
                for item in extra {
                    item.delete()?;
                }
                return Ok(());
            }
            let mut attrs = attributes(service, account);
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
    WORKER.call(timeout, move |conn| conn.get(&service, &account))
}

pub(super) fn set(
    timeout: Duration,
    service: &str,
    account: &str,
    secret: &SecretBytes,
) -> Result<(), Error> {
    let (service, account, secret) = (service.to_owned(), account.to_owned(), secret.clone());
    WORKER.call(timeout, move |conn| conn.set(&service, &account, &secret))
}

pub(super) fn update(
    timeout: Duration,
    service: &str,
    account: &str,
    f: impl FnOnce(Option<SecretBytes>) -> Option<SecretBytes> + Send + 'static,
) -> Result<(), Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(
        timeout,
        move |conn| match f(conn.get(&service, &account)?) {
            Some(new) => conn.set(&service, &account, &new),
            None => Ok(()),
        },
    )
}

pub(super) fn delete(timeout: Duration, service: &str, account: &str) -> Result<bool, Error> {
    let (service, account) = (service.to_owned(), account.to_owned());
    WORKER.call(timeout, move |conn| {
        conn.items.remove(&(service.clone(), account.clone()));
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

/// A failure to reach the service: no session bus, no daemon, the daemon refused the
/// session. The backend does not exist here, as far as a fallback chain is concerned.
fn map_connect_error(e: secret_service::Error) -> Error {
    match e {
        secret_service::Error::Locked | secret_service::Error::Prompt => {
            Error::Locked { backend: BACKEND }
        }
        secret_service::Error::Unavailable => map_error(e),
        other => Error::Unavailable {
            backend: BACKEND,
            reason: format!("cannot open a Secret Service session: {other}"),
        },
    }
}

/// A failure of a call on an open session: the daemon is there, so anything unclassified
/// is [`Error::BackendFailed`], never a reason to choose another backend.
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
        other => Error::BackendFailed {
            backend: BACKEND,
            reason: other.to_string(),
        },
    }
}
