//! Secure storage: the vault, the OS keyring, the fallback chain, and the secrets they
//! return.

use std::ffi::c_char;

use hearth_secure_storage::{
    EncryptedFileStore, Error, Key, KeySource, KeyringBackend, KeyringStore, Namespace,
    SecureStorage, Storage, default_store,
};
use hearth_token_guard::{Password, SecretBytes};

use crate::convert::{bytes_arg, c_string, check_out, str_arg, write_out};
use crate::status::{Failure, HEARTH_NOT_FOUND, boundary, boundary_or, hearth_status};

/// An open secret store (vault, keyring or the fallback chain's choice). Thread-safe:
/// one store may be used from several threads at once. Freed with `hearth_store_free`.
#[allow(non_camel_case_types, reason = "the C name")]
pub struct hearth_store {
    inner: Box<dyn SecureStorage>,
}

/// A secret read from a store. Its bytes are read with `hearth_secret_data` and are
/// overwritten with zeros by `hearth_secret_free`.
#[allow(non_camel_case_types, reason = "the C name")]
pub struct hearth_secret {
    bytes: SecretBytes,
}

fn storage_failure(e: Error) -> Failure {
    Failure::from(e)
}

pub(crate) fn hand_out(store: Box<dyn SecureStorage>, out: *mut *mut hearth_store) {
    let ptr = Box::into_raw(Box::new(hearth_store { inner: store }));
    // SAFETY: every caller checked `out` non-NULL before doing any work.
    unsafe { write_out(out, ptr) };
}

/// # Safety
/// `s` is NULL or a live store from one of the open functions.
unsafe fn store_arg<'a>(s: *mut hearth_store) -> Result<&'a dyn SecureStorage, Failure> {
    if s.is_null() {
        return Err(Failure::invalid("store is NULL"));
    }
    // SAFETY: a live `hearth_store` (Box::into_raw in `hand_out`, not yet freed).
    Ok(unsafe { &*(*s).inner })
}

/// # Safety
/// `key` is NULL or a NUL-terminated string.
unsafe fn key_arg(key: *const c_char) -> Result<Key, Failure> {
    // SAFETY: forwarded contract.
    let text = unsafe { str_arg(key, "key") }?;
    text.parse().map_err(storage_failure)
}

/// Opens (creating if missing) the encrypted-file vault at `path`, unlocked by
/// `passphrase` (Argon2id). The directory is created 0700 and the file 0600. A wrong
/// passphrase is `HEARTH_INTEGRITY`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_vault_open(
    path: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (path, passphrase) =
            unsafe { (str_arg(path, "path")?, str_arg(passphrase, "passphrase")?) };
        if passphrase.is_empty() {
            return Err(Failure::invalid("passphrase is empty"));
        }
        let source = KeySource::Passphrase(Password::new(passphrase));
        let vault = EncryptedFileStore::open(path, source).map_err(storage_failure)?;
        hand_out(Box::new(vault), out);
        Ok(())
    })
}

/// Opens (creating if missing) the vault at `path`, unlocked by the 32-byte key file at
/// `key_file` (created 0600 with random bytes on first use).
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_vault_open_key_file(
    path: *const c_char,
    key_file: *const c_char,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (path, key_file) = unsafe { (str_arg(path, "path")?, str_arg(key_file, "key_file")?) };
        let source = KeySource::KeyFile(key_file.into());
        let vault = EncryptedFileStore::open(path, source).map_err(storage_failure)?;
        hand_out(Box::new(vault), out);
        Ok(())
    })
}

/// Opens the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
/// Windows). Every call waits at most 5 seconds for the keyring; a missing daemon is
/// `HEARTH_UNAVAILABLE` on first use, a locked keyring `HEARTH_BUSY`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_keyring_open(out: *mut *mut hearth_store) -> hearth_status {
    hearth_keyring_open_with_timeout(5_000, out)
}

/// Opens the OS keyring as `hearth_keyring_open` does, with every call waiting at most
/// `timeout_ms` milliseconds (1 to 600 000; anything else is `HEARTH_INVALID_ARGUMENT`).
/// A call that runs out of time is `HEARTH_BUSY`; for a write that means its outcome is
/// unknown. Free with `hearth_store_free`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_keyring_open_with_timeout(
    timeout_ms: u32,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        let timeout = timeout_arg(timeout_ms)?;
        let store = KeyringStore::new(KeyringBackend::Native).with_timeout(timeout);
        hand_out(Box::new(store), out);
        Ok(())
    })
}

/// Opens the best store for `app` (1-64 of `[a-z0-9_-]`): the OS keyring holding a vault
/// key when it answers, else the vault in the platform's data directory with a key file.
/// Works with no keyring daemon.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_open_default(
    app: *const c_char,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: a NUL-terminated string or NULL (checked).
        let app = unsafe { str_arg(app, "app") }?;
        let (store, _report) = default_store(app).map_err(storage_failure)?;
        hand_out(store, out);
        Ok(())
    })
}

/// Opens the store for `app` as `hearth_store_open_default` does, with every keyring call
/// waiting at most `timeout_ms` milliseconds (1 to 600 000). The backend chosen on first
/// use is recorded and kept: a locked or silent keyring is `HEARTH_BUSY`, never a switch
/// to another store. Free with `hearth_store_free`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_open_default_with_timeout(
    app: *const c_char,
    timeout_ms: u32,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: a NUL-terminated string or NULL (checked).
        let app = unsafe { str_arg(app, "app") }?;
        let timeout = timeout_arg(timeout_ms)?;
        let (store, _report) = Storage::for_app(app)
            .with_timeout(timeout)
            .prefer_hybrid(None)
            .fallback_vault(None, None)
            .build()
            .map_err(storage_failure)?;
        hand_out(store, out);
        Ok(())
    })
}

fn timeout_arg(timeout_ms: u32) -> Result<std::time::Duration, Failure> {
    if !(1..=600_000).contains(&timeout_ms) {
        return Err(Failure::invalid(
            "timeout_ms must be between 1 and 600000 milliseconds",
        ));
    }
    Ok(std::time::Duration::from_millis(u64::from(timeout_ms)))
}

/// The backend a store uses (`"vault"`, `"secret-service"`, `"hybrid"`, ...). Free with
/// `hearth_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_backend(
    s: *mut hearth_store,
    out_name: *mut *mut c_char,
) -> hearth_status {
    boundary(|| {
        check_out(out_name, "out_name")?;
        // SAFETY: NULL (checked) or a live store.
        let store = unsafe { store_arg(s) }?;
        let name = c_string(store.info().name.to_owned())?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_name, name) };
        Ok(())
    })
}

/// Stores `len` bytes at `value` under `key` (`app::segment[::segment...]`), replacing any
/// previous value. `value` may be NULL when `len` is 0.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_set(
    s: *mut hearth_store,
    key: *const c_char,
    value: *const u8,
    len: usize,
) -> hearth_status {
    boundary(|| {
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, key, value) = unsafe {
            (
                store_arg(s)?,
                key_arg(key)?,
                bytes_arg(value, len, "value")?,
            )
        };
        store
            .store(&key, &SecretBytes::from_slice(value))
            .map_err(storage_failure)
    })
}

/// Reads the secret under `key`; `HEARTH_NOT_FOUND` when there is none. Free the result
/// with `hearth_secret_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_get(
    s: *mut hearth_store,
    key: *const c_char,
    out: *mut *mut hearth_secret,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, key) = unsafe { (store_arg(s)?, key_arg(key)?) };
        let bytes = store
            .retrieve(&key)
            .map_err(storage_failure)?
            .ok_or_else(|| Failure::new(HEARTH_NOT_FOUND, format!("no secret under {key}")))?;
        let secret = Box::into_raw(Box::new(hearth_secret { bytes }));
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, secret) };
        Ok(())
    })
}

/// The bytes of a secret (valid until `hearth_secret_free`) and their count in
/// `*out_len`. NULL `secret` gives NULL and length 0. The bytes are not NUL-terminated.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_secret_data(
    secret: *const hearth_secret,
    out_len: *mut usize,
) -> *const u8 {
    boundary_or(std::ptr::null(), || {
        let (ptr, len) = if secret.is_null() {
            (std::ptr::null(), 0)
        } else {
            // SAFETY: a live secret from `hearth_store_get` (documented).
            let bytes = unsafe { (*secret).bytes.expose_secret() };
            (bytes.as_ptr(), bytes.len())
        };
        if !out_len.is_null() {
            // SAFETY: non-NULL; the caller passes a writable size_t.
            unsafe { out_len.write(len) };
        }
        ptr
    })
}

/// Overwrites a secret's bytes with zeros and frees it. NULL does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_secret_free(secret: *mut hearth_secret) {
    boundary_or((), || {
        if !secret.is_null() {
            // SAFETY: from Box::into_raw in `hearth_store_get`, freed once (documented);
            // `SecretBytes` zeroizes on drop.
            drop(unsafe { Box::from_raw(secret) });
        }
    });
}

/// Deletes the secret under `key`; `HEARTH_NOT_FOUND` when there was none (nothing is
/// changed either way for other keys).
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_delete(s: *mut hearth_store, key: *const c_char) -> hearth_status {
    boundary(|| {
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, key) = unsafe { (store_arg(s)?, key_arg(key)?) };
        if store.delete(&key).map_err(storage_failure)? {
            Ok(())
        } else {
            Err(Failure::new(
                HEARTH_NOT_FOUND,
                format!("no secret under {key}"),
            ))
        }
    })
}

/// # Safety
/// `namespace_` is NULL or a NUL-terminated string.
unsafe fn namespace_arg(namespace_: *const c_char) -> Result<Namespace, Failure> {
    // SAFETY: forwarded contract.
    let text = unsafe { str_arg(namespace_, "namespace_") }?;
    text.parse().map_err(storage_failure)
}

/// Deprecated: use `hearth_store_list_keys`, which returns a list that needs no parsing.
///
/// Lists the keys under `namespace_` (`app` or `app::segment...`), sorted, as one string
/// with a `\n` after each key (key names never contain a newline), and their count. Free
/// the string with `hearth_string_free`. The string must not be modified in place (no
/// `strtok`): copy it first.
#[deprecated(since = "0.1.0", note = "use hearth_store_list_keys")]
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_list(
    s: *mut hearth_store,
    namespace_: *const c_char,
    out_keys: *mut *mut c_char,
    out_count: *mut usize,
) -> hearth_status {
    boundary(|| {
        check_out(out_keys, "out_keys")?;
        check_out(out_count, "out_count")?;
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, ns) = unsafe { (store_arg(s)?, namespace_arg(namespace_)?) };
        let mut keys = store.list(&ns).map_err(storage_failure)?;
        keys.sort();
        let joined: String = keys.iter().map(|k| format!("{k}\n")).collect();
        let text = c_string(joined)?;
        // SAFETY: both checked non-NULL above.
        unsafe {
            write_out(out_keys, text);
            write_out(out_count, keys.len());
        }
        Ok(())
    })
}

/// A list of key names, from `hearth_store_list_keys`. Read it with `hearth_key_list_len`
/// and `hearth_key_list_get`; free it with `hearth_key_list_free` (the strings it hands out
/// belong to it and live until then). May be read from several threads at once.
#[allow(non_camel_case_types, reason = "the C name")]
pub struct hearth_key_list {
    keys: Vec<std::ffi::CString>,
}

/// Lists the keys under `namespace_` (`app` or `app::segment...`), sorted, into a new
/// `hearth_key_list` (free it with `hearth_key_list_free`).
///
/// ```c
/// hearth_key_list *keys;
/// if (hearth_store_list_keys(store, "jellytau", &keys) == HEARTH_OK) {
///     for (size_t i = 0; i < hearth_key_list_len(keys); i++)
///         puts(hearth_key_list_get(keys, i));
///     hearth_key_list_free(keys);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_list_keys(
    s: *mut hearth_store,
    namespace_: *const c_char,
    out: *mut *mut hearth_key_list,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, ns) = unsafe { (store_arg(s)?, namespace_arg(namespace_)?) };
        let mut keys = store.list(&ns).map_err(storage_failure)?;
        keys.sort();
        let keys = keys
            .iter()
            .map(|k| std::ffi::CString::new(k.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Failure::new(crate::status::HEARTH_ERROR, "a key name held a NUL"))?;
        let list = Box::into_raw(Box::new(hearth_key_list { keys }));
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, list) };
        Ok(())
    })
}

/// How many keys `l` holds (0 for NULL).
#[unsafe(no_mangle)]
pub extern "C" fn hearth_key_list_len(l: *const hearth_key_list) -> usize {
    boundary_or(0, || {
        // SAFETY: NULL or a live list from `hearth_store_list_keys` (the header's rule).
        unsafe { l.as_ref() }.map_or(0, |l| l.keys.len())
    })
}

/// The `i`-th key of `l` (sorted), valid until `hearth_key_list_free(l)`; NULL when `l`
/// is NULL or `i` is out of range. Must not be modified or freed.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_key_list_get(l: *const hearth_key_list, i: usize) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: NULL or a live list from `hearth_store_list_keys` (the header's rule).
        unsafe { l.as_ref() }
            .and_then(|l| l.keys.get(i))
            .map_or(std::ptr::null(), |k| k.as_ptr())
    })
}

/// Frees a list from `hearth_store_list_keys` and the strings it handed out. NULL does
/// nothing; each list is freed once, after every thread is done with it.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_key_list_free(l: *mut hearth_key_list) {
    boundary_or((), || {
        if !l.is_null() {
            // SAFETY: `l` came from `Box::into_raw` in `hearth_store_list_keys` and is
            // freed once (the header's rule).
            drop(unsafe { Box::from_raw(l) });
        }
    });
}

/// Deletes every secret under `namespace_` (a logout) and writes how many to
/// `*out_count` (which may be NULL).
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_clear(
    s: *mut hearth_store,
    namespace_: *const c_char,
    out_count: *mut usize,
) -> hearth_status {
    boundary(|| {
        // SAFETY: NULL (checked) or live pointers of the documented kinds.
        let (store, ns) = unsafe { (store_arg(s)?, namespace_arg(namespace_)?) };
        let n = store.clear(&ns).map_err(storage_failure)?;
        if !out_count.is_null() {
            // SAFETY: non-NULL, a writable size_t (documented).
            unsafe { write_out(out_count, n) };
        }
        Ok(())
    })
}

/// Closes a store. NULL does nothing. Secrets already read stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_free(s: *mut hearth_store) {
    boundary_or((), || {
        if !s.is_null() {
            // SAFETY: from Box::into_raw in `hand_out`, freed once (documented).
            drop(unsafe { Box::from_raw(s) });
        }
    });
}
