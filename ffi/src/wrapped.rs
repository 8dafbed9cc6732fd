//! Stores whose key is held by the host: a key provider's wrap/unwrap callbacks (the
//! Android Keystore, the iOS Keychain), a raw key, and the default chain under a given
//! directory (Android processes have no HOME). Also the numeric version.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};

use hearth_secure_storage::{EncryptedFileStore, KeySource, Namespace, Storage};
use hearth_token_guard::SecretBytes;
use hearth_token_guard::private_file::{self, WriteMode};

use crate::convert::{bytes_arg, check_out, str_arg, wipe};
use zeroize::Zeroizing;

use crate::status::{
    Failure, HEARTH_BUSY, HEARTH_ERROR, HEARTH_INTEGRITY, HEARTH_OK, boundary, hearth_status,
};
use crate::store::{hand_out, hearth_store};

/// A host key provider: it wraps Hearth's vault key so that only the host (a hardware
/// keystore) can unwrap it. Hearth calls `wrap` once, when it creates the key, and
/// `unwrap` on every open; then `drop` (if not NULL), once, before the open function
/// returns. `ctx` is passed to each. A callback returns `HEARTH_OK`; `HEARTH_BUSY` when its
/// key waits for the user to authenticate (the open is then `HEARTH_BUSY`: authenticate and
/// open again); any other status is a failure (`HEARTH_INTEGRITY` for an unwrap,
/// `HEARTH_ERROR` for a wrap). It writes at most `*out_len` bytes to `out` and sets
/// `*out_len` to what it wrote.
#[repr(C)]
#[allow(non_camel_case_types, reason = "the C name")]
pub struct hearth_key_provider {
    /// The host's state, passed to every callback.
    pub ctx: *mut c_void,
    /// Wraps `key` (32 bytes) into `out`.
    pub wrap: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            key: *const u8,
            key_len: usize,
            out: *mut u8,
            out_len: *mut usize,
        ) -> hearth_status,
    >,
    /// Unwraps `wrapped` into `out` (32 bytes expected).
    pub unwrap: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            wrapped: *const u8,
            wrapped_len: usize,
            out: *mut u8,
            out_len: *mut usize,
        ) -> hearth_status,
    >,
    /// Releases `ctx`; may be NULL.
    pub drop: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// Checks an app name that becomes part of a file name under the caller's directory: a
/// valid namespace, and never a path (`/`, `\\`, `.`, `..`).
fn app_name(app: &str) -> Result<(), Failure> {
    Namespace::app(app)?;
    if app == "." || app == ".." || app.contains(['/', '\\']) {
        return Err(Failure::invalid("app must be a name, not a path"));
    }
    Ok(())
}

/// Largest wrapped key accepted from a provider or read from disk.
const MAX_WRAPPED: usize = 4096;
const KEY_LEN: usize = 32;

/// A provider's wrap or unwrap callback.
type Callback =
    unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u8, *mut usize) -> hearth_status;

/// Calls `f(ctx, input, out, out_len)` with a buffer of `cap` bytes; the bytes it wrote.
/// The buffer is wiped whole (the provider may have written past what it reported); the
/// result wipes itself when dropped. A failure is the provider's status.
fn call(
    f: Callback,
    ctx: *mut c_void,
    input: &[u8],
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, hearth_status> {
    let mut out = vec![0u8; cap];
    let mut len = cap;
    // SAFETY: the provider's contract (the header's rule): `input` is readable for its
    // length, `out` writable for `len` bytes, `len` a valid pointer; the callback writes
    // at most `len` bytes.
    let status = unsafe { f(ctx, input.as_ptr(), input.len(), out.as_mut_ptr(), &mut len) };
    let result = match (status, out.get(..len)) {
        (HEARTH_OK, Some(written)) => Ok(Zeroizing::new(written.to_vec())),
        (HEARTH_OK, None) => Err(HEARTH_INTEGRITY),
        (status, _) => Err(status),
    };
    wipe(&mut out);
    result
}

/// What a provider's failure means to the caller: a locked provider (`HEARTH_BUSY`: the
/// user has not authenticated) is busy, so that the host can authenticate and retry; any
/// other failure is `otherwise`. A provider's own numbers are never handed on as they are.
fn provider_failure(status: hearth_status, otherwise: hearth_status, message: &str) -> Failure {
    if status == HEARTH_BUSY {
        Failure::new(
            HEARTH_BUSY,
            "the key provider is locked (the user has not authenticated): authenticate and retry",
        )
    } else {
        Failure::new(otherwise, message)
    }
}

/// The vault key of `dir/app.hearth`: unwrapped from `dir/app.key.wrapped`, or made and
/// wrapped on first use.
fn vault_key(
    provider: &hearth_key_provider,
    vault: &Path,
    wrapped_path: &Path,
) -> Result<SecretBytes, Failure> {
    let integrity = |m: &str| Failure::new(HEARTH_INTEGRITY, m);
    let (Some(wrap), Some(unwrap)) = (provider.wrap, provider.unwrap) else {
        return Err(Failure::invalid(
            "the key provider's wrap and unwrap must not be NULL",
        ));
    };
    match private_file::read(wrapped_path, MAX_WRAPPED) {
        Ok(wrapped) => {
            let key = call(unwrap, provider.ctx, &wrapped, KEY_LEN * 8).map_err(|s| {
                provider_failure(
                    s,
                    HEARTH_INTEGRITY,
                    "the key provider could not unwrap the vault key",
                )
            })?;
            if key.len() != KEY_LEN {
                return Err(integrity(
                    "the key provider unwrapped a key that is not 32 bytes",
                ));
            }
            Ok(SecretBytes::from_slice(&key))
        }
        Err(hearth_token_guard::Error::NotFound { .. }) => {
            if vault.exists() {
                return Err(integrity(
                    "the vault exists but its wrapped key is missing: the secrets cannot be read",
                ));
            }
            let key = SecretBytes::generate(KEY_LEN)?;
            let wrapped =
                call(wrap, provider.ctx, key.expose_secret(), MAX_WRAPPED).map_err(|s| {
                    provider_failure(
                        s,
                        HEARTH_ERROR,
                        "the key provider could not wrap the vault key",
                    )
                })?;
            if wrapped.is_empty() {
                return Err(integrity("the key provider wrapped the key into nothing"));
            }
            // A wrap that answers OK without writing (or writes garbage) would lock the
            // vault for good: the wrapped key must unwrap to the key before it is kept.
            let back = call(unwrap, provider.ctx, &wrapped, KEY_LEN * 8).map_err(|s| {
                provider_failure(
                    s,
                    HEARTH_INTEGRITY,
                    "the key provider cannot unwrap what it wrapped; nothing was written",
                )
            })?;
            if !hearth_token_guard::constant_time_eq(&back, key.expose_secret()) {
                return Err(integrity(
                    "the key provider's wrapped key does not unwrap to the key; nothing was written",
                ));
            }
            match private_file::write(wrapped_path, &wrapped, WriteMode::CreateNew) {
                Ok(()) => Ok(key),
                // Another process made the key first: use theirs.
                Err(hearth_token_guard::Error::AlreadyExists { .. }) => {
                    vault_key(provider, vault, wrapped_path)
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens (creating on first use) the vault `dir/APP.hearth`, whose random key is kept only
/// wrapped by `provider` (in `dir/APP.key.wrapped`): nothing beside the vault unlocks it.
/// A key the provider cannot unwrap, or a missing wrapped key beside an existing vault,
/// is `HEARTH_INTEGRITY`. `provider->drop` is called before this returns. Free the store
/// with `hearth_store_free`; it may be used from several threads at once.
///
/// ```c
/// hearth_key_provider p = { .ctx = keystore, .wrap = ks_wrap, .unwrap = ks_unwrap };
/// hearth_store *s;
/// if (hearth_store_open_wrapped(files_dir, "jellytau", &p, &s) == HEARTH_OK) { ... }
/// ```
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_open_wrapped(
    dir: *const c_char,
    app: *const c_char,
    provider: *const hearth_key_provider,
    out: *mut *mut hearth_store,
) -> hearth_status {
    // SAFETY: NULL or a valid provider (the header's rule), read before anything else.
    let provider = unsafe { provider.as_ref() };
    let status = boundary(|| {
        check_out(out, "out")?;
        let provider = provider.ok_or_else(|| Failure::invalid("provider is NULL"))?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (dir, app) = unsafe { (str_arg(dir, "dir")?, str_arg(app, "app")?) };
        app_name(app)?;
        let dir = PathBuf::from(dir);
        let vault = dir.join(format!("{app}.hearth"));
        let key = vault_key(provider, &vault, &dir.join(format!("{app}.key.wrapped")))?;
        let store = EncryptedFileStore::open(vault, KeySource::RawKey(key))?;
        hand_out(Box::new(store), out);
        Ok(())
    });
    if let Some(drop) = provider.and_then(|p| p.drop) {
        // SAFETY: the provider's own release function, called once (the header's rule).
        unsafe { drop(provider.map_or(std::ptr::null_mut(), |p| p.ctx)) };
    }
    status
}

/// Opens (creating if missing) the vault at `path` with a raw 32-byte key the caller
/// holds (e.g. unwrapped by its own keystore). Free with `hearth_store_free`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_vault_open_raw_key(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: a NUL-terminated string or NULL, and `key_len` readable bytes (checked).
        let (path, key) = unsafe { (str_arg(path, "path")?, bytes_arg(key, key_len, "key")?) };
        if key.len() != KEY_LEN {
            return Err(Failure::invalid("key must be 32 bytes"));
        }
        let store =
            EncryptedFileStore::open(path, KeySource::RawKey(SecretBytes::from_slice(key)))?;
        hand_out(Box::new(store), out);
        Ok(())
    })
}

/// Opens the best store for `app` as `hearth_store_open_default` does, with every file
/// (the backend marker, the hybrid vault, the fallback vault and its key file) under `dir`
/// instead of the platform's data directory: for processes without HOME (Android). Free
/// with `hearth_store_free`.
///
/// Ownership: free the store with `hearth_store_free`, once, after every thread is done
/// with it; until then several threads may use it at once.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_store_open_default_in(
    dir: *const c_char,
    app: *const c_char,
    out: *mut *mut hearth_store,
) -> hearth_status {
    boundary(|| {
        check_out(out, "out")?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (dir, app) = unsafe { (str_arg(dir, "dir")?, str_arg(app, "app")?) };
        app_name(app)?;
        let dir = PathBuf::from(dir).join(app);
        let (store, _report) = Storage::for_app(app)
            .with_marker(dir.join("backend"))
            .prefer_hybrid(Some(dir.join("hybrid.hearth")))
            .fallback_vault(
                Some(dir.join("vault.hearth")),
                Some(KeySource::KeyFile(dir.join("vault.key"))),
            )
            .build()?;
        hand_out(store, out);
        Ok(())
    })
}

/// The library's version as a number, `MAJOR << 16 | MINOR << 8 | PATCH`, to compare
/// with the header's `HEARTH_VERSION_NUMBER` at run time.
#[unsafe(no_mangle)]
pub extern "C" fn hearth_version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | part(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | part(env!("CARGO_PKG_VERSION_PATCH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callback that writes nothing and answers `S`: `HEARTH_OK` (a Kotlin callback
    /// whose Error JNA turned into 0), `HEARTH_BUSY` (a keystore key bound to user
    /// authentication, before the user authenticated), or a number that is no status.
    unsafe extern "C" fn answering<const S: hearth_status>(
        _: *mut c_void,
        _: *const u8,
        _: usize,
        _: *mut u8,
        _: *mut usize,
    ) -> hearth_status {
        S
    }

    const SILENT: Callback = answering::<HEARTH_OK>;
    const LOCKED: Callback = answering::<HEARTH_BUSY>;
    const ODD: Callback = answering::<42>;

    #[test]
    fn a_locked_provider_is_busy_and_any_other_failure_is_a_known_status() {
        let dir = std::env::temp_dir().join(format!("hearth-wrap-locked-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let provider = |f: Callback| hearth_key_provider {
            ctx: std::ptr::null_mut(),
            wrap: Some(f),
            unwrap: Some(f),
            drop: None,
        };
        let wrapped = dir.join("app.key.wrapped");
        let vault = dir.join("app.hearth");
        let busy = vault_key(&provider(LOCKED), &vault, &wrapped).unwrap_err();
        assert_eq!(busy.status, HEARTH_BUSY);
        assert_eq!(
            vault_key(&provider(ODD), &vault, &wrapped)
                .unwrap_err()
                .status,
            HEARTH_ERROR
        );
        private_file::write(&wrapped, &[7u8; 60], WriteMode::CreateNew).unwrap();
        let unwrap_busy = vault_key(&provider(LOCKED), &vault, &wrapped).unwrap_err();
        assert_eq!(unwrap_busy.status, HEARTH_BUSY);
        let unwrap_odd = vault_key(&provider(ODD), &vault, &wrapped).unwrap_err();
        assert_eq!(unwrap_odd.status, HEARTH_INTEGRITY);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_wrap_that_writes_nothing_is_refused_and_leaves_no_wrapped_key() {
        let dir = std::env::temp_dir().join(format!("hearth-wrap-silent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let provider = hearth_key_provider {
            ctx: std::ptr::null_mut(),
            wrap: Some(SILENT),
            unwrap: Some(SILENT),
            drop: None,
        };
        let wrapped = dir.join("app.key.wrapped");
        let err = vault_key(&provider, &dir.join("app.hearth"), &wrapped).unwrap_err();
        assert_eq!(err.status, HEARTH_INTEGRITY);
        assert!(!wrapped.exists(), "a key that cannot be unwrapped was kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
