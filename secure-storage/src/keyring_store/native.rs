//! The platform's own credential store through the `keyring` crate: Secret Service,
//! Keychain, Windows Credential Manager.

use hearth_token_guard::SecretBytes;

use super::KeyringBackend;
use crate::Error;

const BACKEND: KeyringBackend = KeyringBackend::Native;

fn entry(service: &str, account: &str) -> Result<keyring::Entry, Error> {
    // Built explicitly (never `Entry::new` on Linux), so the crate's in-memory mock can
    // never stand in for a real store.
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
    let entry = keyring::secret_service::SsCredential::new_with_target(None, service, account)
        .map(|c| keyring::Entry::new_with_credential(Box::new(c)));
    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
    let entry = keyring::Entry::new(service, account);
    entry.map_err(map_error)
}

pub(super) fn get(service: &str, account: &str) -> Result<Option<SecretBytes>, Error> {
    match entry(service, account)?.get_secret() {
        Ok(bytes) => Ok(Some(SecretBytes::new(bytes))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(map_error(e)),
    }
}

pub(super) fn set(service: &str, account: &str, secret: &SecretBytes) -> Result<(), Error> {
    entry(service, account)?
        .set_secret(secret.expose_secret())
        .map_err(map_error)
}

pub(super) fn delete(service: &str, account: &str) -> Result<bool, Error> {
    match entry(service, account)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(map_error(e)),
    }
}

fn map_error(e: keyring::Error) -> Error {
    let backend = BACKEND.name();
    match e {
        keyring::Error::NoStorageAccess(_) => Error::Locked { backend },
        // Writing into a locked Secret Service collection fails as a platform error.
        keyring::Error::PlatformFailure(err) if err.to_string().contains("IsLocked") => {
            Error::Locked { backend }
        }
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
        other => Error::Unavailable {
            backend,
            reason: other.to_string(),
        },
    }
}
