//! Stores whose key is held by the host: a key provider's wrap/unwrap callbacks (the
//! Android Keystore, the iOS Keychain), a raw key, and the default chain under a given
//! directory (Android processes have no HOME). Also the numeric version.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};

use hearth_secure_storage::{EncryptedFileStore, KeySource, Namespace, Storage};
use hearth_token_guard::SecretBytes;
use hearth_token_guard::private_file::{self, DirLock, LOCK_TIMEOUT, WriteMode};

use crate::convert::{bytes_arg, check_out, str_arg, wipe};
use zeroize::Zeroizing;

use crate::status::{
    Failure, HEARTH_BUSY, HEARTH_ERROR, HEARTH_INTEGRITY, HEARTH_OK, HEARTH_UNAVAILABLE, boundary,
    hearth_status,
};
use crate::store::{hand_out, hearth_store};

/// A host key provider: it wraps Hearth's vault key so that only the host (a hardware
/// keystore) can unwrap it. Hearth calls `wrap` when it creates the key (and then `unwrap`
/// once, to check that what was wrapped unwraps to the key), and `unwrap` on every open;
/// then `drop` (if not NULL), once, before the open function returns. `ctx` is passed to
/// each. A callback writes at most `*out_len` bytes to `out`, sets `*out_len` to what it
/// wrote and returns:
/// - `HEARTH_OK`;
/// - `HEARTH_BUSY` when its key waits for the user to authenticate (the open is then
///   `HEARTH_BUSY`: authenticate and open again);
/// - `HEARTH_INTEGRITY` from `unwrap` for a wrapped key that does not decrypt (its tag
///   fails, the keystore key is gone for good): the open is `HEARTH_INTEGRITY`, and the
///   vault cannot be read again;
/// - anything else for a failure that says nothing about the wrapped key (the keystore
///   did not answer, the device is not unlocked yet): the open is `HEARTH_ERROR` and may
///   be retried. An unwrap that answers `HEARTH_OK` with another key is caught by the
///   key's check value (`HEARTH_INTEGRITY`).
///
/// The struct is copied when the open function starts. Callbacks must return normally: a
/// C++ exception or a `longjmp` out of one is undefined behaviour.
#[repr(C)]
#[derive(Clone, Copy)]
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

/// Checks an app name that becomes a directory name under the caller's directory: a
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

/// What a provider's failure means to the caller. A locked provider (`HEARTH_BUSY`: the
/// user has not authenticated) is busy, so that the host can authenticate and retry; a
/// provider that says the wrapped key does not decrypt (`HEARTH_INTEGRITY`) is
/// `integrity` (`HEARTH_INTEGRITY` for an unwrap, `HEARTH_ERROR` for a wrap); any other
/// answer says nothing about the wrapped key and is a retryable `HEARTH_ERROR`, so that no
/// app deletes a vault over a keystore that did not answer. A provider's own numbers are
/// never handed on as they are.
fn provider_failure(status: hearth_status, integrity: hearth_status, message: &str) -> Failure {
    match status {
        HEARTH_BUSY => Failure::new(
            HEARTH_BUSY,
            "the key provider is locked (the user has not authenticated): authenticate and retry",
        ),
        HEARTH_INTEGRITY => Failure::new(integrity, message),
        _ => Failure::new(
            HEARTH_ERROR,
            "the key provider failed without judging the key (its keystore did not answer): retry",
        ),
    }
}

/// The wrapped-key file: this magic, the key's check value, then what the provider wrapped.
const MAGIC: &[u8; 4] = b"HWK1";
const CHECK_LEN: usize = 32;

/// The vault key's check value: HMAC-SHA256 under the key of a fixed label. It tells a key
/// that unwrapped to something else (a replaced keystore key, an edited file, a provider
/// that answers OK without writing) from the key, and reveals nothing of it.
fn key_check(key: &[u8]) -> [u8; CHECK_LEN] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, b"hearth wrapped vault key check v1");
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The parts of a wrapped-key file: the check value and the provider's bytes.
fn parse_wrapped(file: &[u8]) -> Result<(&[u8], &[u8]), Failure> {
    match file.strip_prefix(MAGIC.as_slice()) {
        Some(rest) if rest.len() > CHECK_LEN => Ok(rest.split_at(CHECK_LEN)),
        _ => Err(Failure::new(
            HEARTH_INTEGRITY,
            "the wrapped vault key file is damaged (not a Hearth wrapped key)",
        )),
    }
}

/// Unwraps `wrapped` and checks the result against `check`.
fn unwrap_checked(
    unwrap: Callback,
    ctx: *mut c_void,
    wrapped: &[u8],
    check: &[u8],
    what: &str,
) -> Result<SecretBytes, Failure> {
    let integrity = |m: &str| Failure::new(HEARTH_INTEGRITY, m);
    let key = call(unwrap, ctx, wrapped, KEY_LEN * 8)
        .map_err(|s| provider_failure(s, HEARTH_INTEGRITY, what))?;
    if key.len() != KEY_LEN {
        return Err(integrity(
            "the key provider unwrapped a key that is not 32 bytes",
        ));
    }
    if !hearth_token_guard::constant_time_eq(&key_check(&key), check) {
        return Err(integrity(
            "the key provider unwrapped a different key than it wrapped (its key was replaced, \
             or the wrapped key file was changed)",
        ));
    }
    Ok(SecretBytes::from_slice(&key))
}

/// The vault key of `vault`: unwrapped from `wrapped_path`, or made and wrapped on first
/// use. `dir` is their directory, locked while a key is made so that two first opens
/// cannot race (the second finds the first's wrapped key).
fn vault_key(
    provider: &hearth_key_provider,
    dir: &Path,
    vault: &Path,
    wrapped_path: &Path,
) -> Result<SecretBytes, Failure> {
    let (Some(wrap), Some(unwrap)) = (provider.wrap, provider.unwrap) else {
        return Err(Failure::invalid(
            "the key provider's wrap and unwrap must not be NULL",
        ));
    };
    if let Some(file) = read_wrapped(wrapped_path)? {
        return unwrap_file(unwrap, provider.ctx, &file);
    }
    let lock = DirLock::acquire(dir, LOCK_TIMEOUT)?;
    // Under the lock: another open may have made the key since the read above.
    if let Some(file) = read_wrapped(wrapped_path)? {
        return unwrap_file(unwrap, provider.ctx, &file);
    }
    // A wrapped key is written (under this lock) before its vault is created, so a vault
    // without one lost its key: nothing can read it.
    if vault.exists() {
        return Err(Failure::new(
            HEARTH_INTEGRITY,
            "the vault exists but its wrapped key is missing: the secrets cannot be read",
        ));
    }
    let key = SecretBytes::generate(KEY_LEN)?;
    let check = key_check(key.expose_secret());
    let wrapped = call(wrap, provider.ctx, key.expose_secret(), MAX_WRAPPED).map_err(|s| {
        provider_failure(
            s,
            HEARTH_ERROR,
            "the key provider could not wrap the vault key",
        )
    })?;
    if wrapped.is_empty() {
        return Err(Failure::new(
            HEARTH_INTEGRITY,
            "the key provider wrapped the key into nothing",
        ));
    }
    // A wrap that answers OK without writing (or writes garbage) would lock the vault for
    // good: the wrapped key must unwrap to the key before it is kept.
    unwrap_checked(
        unwrap,
        provider.ctx,
        &wrapped,
        &check,
        "the key provider cannot unwrap what it wrapped; nothing was written",
    )?;
    let file = [MAGIC.as_slice(), &check, &wrapped].concat();
    private_file::write_locked(&lock, wrapped_path, &file, WriteMode::CreateNew)?;
    Ok(key)
}

/// The wrapped-key file, or `None` if there is none yet.
fn read_wrapped(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
    match private_file::read(path, MAGIC.len() + CHECK_LEN + MAX_WRAPPED) {
        Ok(file) => Ok(Some(file)),
        Err(hearth_token_guard::Error::NotFound { .. }) => Ok(None),
        Err(hearth_token_guard::Error::TooLong { .. }) => Err(Failure::new(
            HEARTH_INTEGRITY,
            "the wrapped vault key file is damaged (longer than any wrapped key)",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The key in a wrapped-key file, checked against its check value.
fn unwrap_file(unwrap: Callback, ctx: *mut c_void, file: &[u8]) -> Result<SecretBytes, Failure> {
    let (check, wrapped) = parse_wrapped(file)?;
    unwrap_checked(
        unwrap,
        ctx,
        wrapped,
        check,
        "the key provider could not unwrap the vault key",
    )
}

/// Opens (creating on first use) the vault `dir/APP/vault.hearth`, whose random key is
/// kept only wrapped by `provider` (in `dir/APP/key.wrapped`, with a check value that tells
/// the key from any other): nothing beside the vault unlocks it. `dir` may be shared with
/// others of the app's files (Android's `filesDir`, mode 0771): `dir/APP` is created 0700,
/// and checked before the provider is asked for anything. A key the provider cannot
/// unwrap, or unwraps to a different key, or a missing wrapped key beside an existing
/// vault, is `HEARTH_INTEGRITY`; a locked provider is `HEARTH_BUSY`. `provider->drop` is
/// called before this returns.
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
    // SAFETY: NULL or a readable provider (the header's rule), copied before anything
    // else so that nothing here borrows the caller's memory across a callback; any bit
    // pattern of its pointer fields is a valid value, and no alignment is assumed.
    let provider = (!provider.is_null()).then(|| unsafe { provider.read_unaligned() });
    let status = boundary(|| {
        check_out(out, "out")?;
        let provider = provider
            .as_ref()
            .ok_or_else(|| Failure::invalid("provider is NULL"))?;
        // SAFETY: NUL-terminated strings or NULL (checked).
        let (dir, app) = unsafe { (str_arg(dir, "dir")?, str_arg(app, "app")?) };
        app_name(app)?;
        let dir = PathBuf::from(dir).join(app);
        private_file::ensure_private_dir(&dir)?;
        let vault = dir.join("vault.hearth");
        let key = vault_key(provider, &dir, &vault, &dir.join("key.wrapped"))?;
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
/// (the backend marker, the hybrid vault, the fallback vault and its key file) under
/// `dir/APP` instead of the platform's data directory: for desktop processes without HOME
/// (system services, sandboxes). Its last fallback keeps a key file beside the vault, which
/// protects nothing on a device without a keyring, so on Android it is
/// `HEARTH_UNAVAILABLE`: use `hearth_store_open_wrapped` with a Keystore provider there.
/// Free with `hearth_store_free`.
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
        if cfg!(target_os = "android") {
            return Err(Failure::new(
                HEARTH_UNAVAILABLE,
                "Android has no keyring and a key file beside the vault protects nothing: \
                 use hearth_store_open_wrapped with an Android Keystore provider",
            ));
        }
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
    const FAILING: Callback = answering::<HEARTH_ERROR>;
    const REFUSING: Callback = answering::<HEARTH_INTEGRITY>;
    const ODD: Callback = answering::<42>;

    /// A provider of `wrap` and `unwrap` with no context or drop.
    fn provider(wrap: Callback, unwrap: Callback) -> hearth_key_provider {
        hearth_key_provider {
            ctx: std::ptr::null_mut(),
            wrap: Some(wrap),
            unwrap: Some(unwrap),
            drop: None,
        }
    }

    /// "Wraps" by XOR with `M` (a test's stand-in for a keystore): its own inverse.
    unsafe extern "C" fn xor<const M: u8>(
        _: *mut c_void,
        input: *const u8,
        input_len: usize,
        out: *mut u8,
        out_len: *mut usize,
    ) -> hearth_status {
        // SAFETY: the caller's contract: `input` readable for `input_len`, `out` writable
        // for `*out_len` bytes.
        unsafe {
            if *out_len < input_len {
                return HEARTH_ERROR;
            }
            for i in 0..input_len {
                *out.add(i) = *input.add(i) ^ M;
            }
            *out_len = input_len;
        }
        HEARTH_OK
    }

    /// Answers OK with 32 bytes reported and none written.
    unsafe extern "C" fn claims_32(
        _: *mut c_void,
        _: *const u8,
        _: usize,
        _: *mut u8,
        out_len: *mut usize,
    ) -> hearth_status {
        // SAFETY: the caller's contract: `out_len` is valid.
        unsafe { *out_len = 32 };
        HEARTH_OK
    }

    /// Reports more bytes than the buffer holds.
    unsafe extern "C" fn overstates(
        _: *mut c_void,
        _: *const u8,
        _: usize,
        _: *mut u8,
        out_len: *mut usize,
    ) -> hearth_status {
        // SAFETY: the caller's contract: `out_len` is valid.
        unsafe { *out_len += 1 };
        HEARTH_OK
    }

    /// A fresh directory for one test.
    fn fresh(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hearth-wrap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_locked_provider_is_busy_and_any_other_failure_is_a_known_status() {
        let dir = fresh("locked");
        let wrapped = dir.join("key.wrapped");
        let vault = dir.join("vault.hearth");
        let status =
            |p: hearth_key_provider| vault_key(&p, &dir, &vault, &wrapped).unwrap_err().status;
        assert_eq!(status(provider(LOCKED, LOCKED)), HEARTH_BUSY);
        assert_eq!(status(provider(FAILING, FAILING)), HEARTH_ERROR);
        assert_eq!(status(provider(ODD, ODD)), HEARTH_ERROR);
        let file = [MAGIC.as_slice(), &[0u8; CHECK_LEN], &[7u8; 60]].concat();
        private_file::write(&wrapped, &file, WriteMode::CreateNew).unwrap();
        assert_eq!(status(provider(ODD, LOCKED)), HEARTH_BUSY);
        assert_eq!(status(provider(ODD, FAILING)), HEARTH_ERROR);
        assert_eq!(status(provider(ODD, ODD)), HEARTH_ERROR);
        assert_eq!(status(provider(ODD, REFUSING)), HEARTH_INTEGRITY);
        assert_eq!(status(provider(ODD, overstates)), HEARTH_INTEGRITY);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_wrap_that_writes_nothing_is_refused_and_leaves_no_wrapped_key() {
        let dir = fresh("silent");
        let wrapped = dir.join("key.wrapped");
        for p in [provider(SILENT, SILENT), provider(claims_32, claims_32)] {
            let err = vault_key(&p, &dir, &dir.join("vault.hearth"), &wrapped).unwrap_err();
            assert_eq!(err.status, HEARTH_INTEGRITY);
            assert!(!wrapped.exists(), "a key that cannot be unwrapped was kept");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn first_opens_at_once_agree_on_one_key() {
        for round in 0..20 {
            let dir = fresh(&format!("race{round}"));
            let (vault, wrapped) = (dir.join("vault.hearth"), dir.join("key.wrapped"));
            let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
                let opens: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            let p = provider(xor::<0x5A>, xor::<0x5A>);
                            vault_key(&p, &dir, &vault, &wrapped)
                                .unwrap_or_else(|f| panic!("{}", f.message))
                                .expose_secret()
                                .to_vec()
                        })
                    })
                    .collect();
                opens.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(keys.windows(2).all(|w| w[0] == w[1]), "round {round}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn only_the_wrapped_key_unwraps_and_nothing_beside_the_vault_holds_the_key() {
        let dir = fresh("check");
        let (vault, wrapped) = (dir.join("vault.hearth"), dir.join("key.wrapped"));
        let good = provider(xor::<0x5A>, xor::<0x5A>);
        let open =
            || vault_key(&good, &dir, &vault, &wrapped).unwrap_or_else(|f| panic!("{}", f.message));
        let (key, again) = (open(), open());
        assert_eq!(key.expose_secret(), again.expose_secret());
        let file = std::fs::read(&wrapped).unwrap();
        assert!(
            key.expose_secret()
                .windows(8)
                .all(|w| !file.windows(8).any(|f| f == w)),
            "the wrapped key file holds part of the key"
        );
        // The vault file is missing (a crash between the two writes): an unwrap that
        // answers OK with another key, or with nothing written, is still refused.
        for p in [
            provider(xor::<0x5A>, xor::<0x33>),
            provider(xor::<0x5A>, claims_32),
            provider(xor::<0x5A>, SILENT),
        ] {
            let err = vault_key(&p, &dir, &vault, &wrapped).unwrap_err();
            assert_eq!(err.status, HEARTH_INTEGRITY, "{}", err.message);
        }
        // A damaged file: a flipped check byte, no magic, or longer than any wrapped key.
        let mut flipped = file.clone();
        flipped[MAGIC.len()] ^= 1;
        let long = [file.as_slice(), &[0u8; MAX_WRAPPED + 1]].concat();
        for bytes in [flipped, file[MAGIC.len()..].to_vec(), long] {
            private_file::write(&wrapped, &bytes, WriteMode::Replace).unwrap();
            let err = vault_key(&good, &dir, &vault, &wrapped).unwrap_err();
            assert_eq!(err.status, HEARTH_INTEGRITY, "{}", err.message);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
