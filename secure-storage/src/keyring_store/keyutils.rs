//! Linux kernel keyutils, used directly: `user` keys in the user keyring (`@u`), shared by
//! every process of the user and lost at reboot.
//!
//! Payloads carry one leading format byte (`0x01`), so an empty secret can be stored (the
//! kernel refuses empty `user` keys).

use hearth_token_guard::SecretBytes;
use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

use super::KeyringBackend;
use crate::Error;

const BACKEND: KeyringBackend = KeyringBackend::Keyutils;
const FORMAT_V1: u8 = 1;

fn keyring() -> Result<KeyRing, Error> {
    KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(map_error)
}

fn description(service: &str, account: &str) -> String {
    format!("hearth:{service}{}{account}", crate::SEPARATOR)
}

/// Every account of `service` in the user keyring, from the kernel's own listing of the
/// keyring's links (no index to miss one).
pub(super) fn accounts(service: &str) -> Result<Vec<String>, Error> {
    let prefix = description(service, "");
    // 4 bytes per link; the kernel's per-user quota (200 keys unprivileged, 1 000 000 for
    // root by default) keeps real keyrings far below this.
    let links = keyring()?.get_links(1 << 17).map_err(map_error)?;
    let mut accounts: Vec<String> = links
        .iter()
        .filter_map(linux_keyutils::LinkNode::as_key)
        .filter_map(|key| key.metadata().ok())
        .filter_map(|meta| {
            meta.get_description()
                .strip_prefix(prefix.as_str())
                .map(str::to_owned)
        })
        .collect();
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// Usable now: the user keyring can be opened.
pub(super) fn probe() -> Result<(), Error> {
    keyring().map(drop)
}

pub(super) fn get(service: &str, account: &str) -> Result<Option<SecretBytes>, Error> {
    let key = match keyring()?.search(&description(service, account)) {
        Ok(key) => key,
        Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
            return Ok(None);
        }
        Err(e) => return Err(map_error(e)),
    };
    let payload = zeroize::Zeroizing::new(key.read_to_vec().map_err(map_error)?);
    match payload.split_first() {
        Some((&FORMAT_V1, secret)) => Ok(Some(SecretBytes::from_slice(secret))),
        _ => Err(Error::BackendFailed {
            backend: BACKEND.name(),
            reason: "a key with Hearth's name holds data Hearth did not write".into(),
        }),
    }
}

pub(super) fn set(service: &str, account: &str, secret: &SecretBytes) -> Result<(), Error> {
    let mut payload = zeroize::Zeroizing::new(Vec::with_capacity(secret.expose_secret().len() + 1));
    payload.push(FORMAT_V1);
    payload.extend_from_slice(secret.expose_secret());
    keyring()?
        .add_key(&description(service, account), &*payload)
        .map(drop)
        .map_err(map_error)
}

pub(super) fn delete(service: &str, account: &str) -> Result<bool, Error> {
    match keyring()?.search(&description(service, account)) {
        Ok(key) => key.invalidate().map(|()| true).map_err(map_error),
        Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Ok(false),
        Err(e) => Err(map_error(e)),
    }
}

fn map_error(e: KeyError) -> Error {
    match e {
        KeyError::QuotaExceeded => Error::QuotaExceeded {
            backend: BACKEND.name(),
        },
        // Refused outright: containers and sandboxes deny the keyring calls.
        other @ (KeyError::AccessDenied | KeyError::OperationNotSupported) => Error::Unavailable {
            backend: BACKEND.name(),
            reason: describe(&other).into(),
        },
        other => Error::BackendFailed {
            backend: BACKEND.name(),
            reason: describe(&other).into(),
        },
    }
}

/// A sentence for a kernel error (linux-keyutils' own Display is its Debug name).
fn describe(e: &KeyError) -> &'static str {
    match e {
        KeyError::AccessDenied => "the kernel denied access to the user keyring",
        KeyError::QuotaExceeded => "the user's key quota is used up",
        KeyError::OperationNotSupported => "kernel keyutils are not supported here",
        KeyError::KeyDoesNotExist => "the key does not exist",
        KeyError::KeyExpired => "the key has expired",
        KeyError::KeyRevoked => "the key was revoked",
        _ => "a kernel keyutils call failed",
    }
}
