//! The vault against damage, wrong keys, hostile permissions and concurrent writers.
//! Every test in this binary runs under umask 000.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use hearth_secure_storage::{
    Argon2Params, EncryptedFileStore, Error, Key, KeySource, Namespace, SecureStorage,
    SecureStorageExt, VaultOptions, vault,
};
use hearth_token_guard::{AccessToken, Password, SecretBytes};

fn scratch(name: &str) -> PathBuf {
    static UMASK: Once = Once::new();
    UMASK.call_once(|| {
        rustix_umask_000();
    });
    let p = std::env::temp_dir().join(format!("hearth-vault-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    p
}

/// The most permissive umask: whatever mode the vault ends up with, it set itself.
fn rustix_umask_000() {
    rustix::process::umask(rustix::fs::Mode::empty());
}

fn raw() -> SecretBytes {
    SecretBytes::from_slice(&[0x42; 32])
}

/// The cheapest preset, to keep the suite quick.
fn fast_kdf() -> VaultOptions {
    VaultOptions::default().with_argon2(Argon2Params::OWASP_7_MIB)
}

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A small vault with two entries, and its bytes.
fn small_vault(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("v");
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    v.store(&key("app::a"), &SecretBytes::from_slice(b"alpha-secret"))
        .unwrap();
    v.store(&key("app::b::c"), &SecretBytes::from_slice(b"beta"))
        .unwrap();
    (path.clone(), fs::read(&path).unwrap())
}

fn open_bytes(path: &Path, bytes: &[u8]) -> Result<EncryptedFileStore, Error> {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    EncryptedFileStore::open_existing(path, KeySource::RawKey(raw()))
}

#[test]
fn round_trip_list_clear_and_reopen() {
    let dir = scratch("roundtrip");
    let path = dir.join("v");
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    let ns = Namespace::app("jellytau").unwrap().child("srv").unwrap();
    for u in 0..5 {
        let k = ns.key([format!("u{u}"), "access_token".into()]).unwrap();
        v.store_secret(&k, &AccessToken::new(format!("token-{u}")))
            .unwrap();
    }
    v.store(&key("other::x"), &SecretBytes::from_slice(b"keep"))
        .unwrap();
    assert_eq!(v.list(&ns).unwrap().len(), 5);
    drop(v);

    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    let t: AccessToken = v
        .retrieve_secret(&key("jellytau::srv::u3::access_token"))
        .unwrap()
        .unwrap();
    assert_eq!(t.expose_secret(), "token-3");
    assert_eq!(v.clear(&ns).unwrap(), 5);
    assert_eq!(v.clear(&ns).unwrap(), 0);
    assert!(v.delete(&key("other::x")).unwrap());
    assert!(!v.delete(&key("other::x")).unwrap());
    assert!(
        v.list(&Namespace::app("other").unwrap())
            .unwrap()
            .is_empty()
    );
    assert_eq!(v.info().name, "vault");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_are_0600_in_0700_directories_under_umask_000() {
    let dir = scratch("modes");
    let path = dir.join("data/app/v");
    let keyfile = dir.join("config/app/key");
    let v = EncryptedFileStore::open(&path, KeySource::KeyFile(keyfile.clone())).unwrap();
    v.store(&key("app::k"), &SecretBytes::from_slice(b"s"))
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&keyfile), 0o600);
    for d in ["data", "data/app", "config", "config/app"] {
        assert_eq!(mode(&dir.join(d)), 0o700, "{d}");
    }
    assert_eq!(fs::read(&keyfile).unwrap().len(), 32);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_single_bit_flip_is_detected() {
    let dir = scratch("bitflip");
    let (path, good) = small_vault(&dir);
    assert!(good.len() < 600, "small vault: {} bytes", good.len());
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            match open_bytes(&path, &bad) {
                Err(Error::Corrupt { .. } | Error::Tampered { .. }) => {}
                Ok(v) => {
                    // Opening may succeed only if reading then fails: never wrong plaintext.
                    panic!(
                        "byte {i} bit {bit}: opened with {:?}",
                        v.list(&Namespace::app("app").unwrap())
                    );
                }
                Err(other) => panic!("byte {i} bit {bit}: {other:?}"),
            }
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_is_detected() {
    let dir = scratch("truncate");
    let (path, good) = small_vault(&dir);
    for len in 0..good.len() {
        match open_bytes(&path, &good[..len]) {
            Err(Error::Corrupt { .. }) => {}
            other => panic!("length {len}: {other:?}"),
        }
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        open_bytes(&path, &longer),
        Err(Error::Corrupt { .. })
    ));
    assert!(open_bytes(&path, &good).is_ok());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn entries_cannot_be_swapped_between_vaults_with_the_same_key() {
    let dir = scratch("swap");
    let a = dir.join("a");
    let b = dir.join("b");
    let va = EncryptedFileStore::open(&a, KeySource::RawKey(raw())).unwrap();
    let vb = EncryptedFileStore::open(&b, KeySource::RawKey(raw())).unwrap();
    va.store(&key("app::k"), &SecretBytes::from_slice(b"secret-of-A"))
        .unwrap();
    vb.store(&key("app::k"), &SecretBytes::from_slice(b"secret-of-B"))
        .unwrap();
    let (fa, fb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(fa.len(), fb.len());
    // B's header with A's body (and either MAC): the body was written for another vault.
    let body = 124..fa.len() - 32;
    for mac_from_a in [true, false] {
        let mut spliced = fb.clone();
        spliced[body.clone()].copy_from_slice(&fa[body.clone()]);
        if mac_from_a {
            let n = spliced.len();
            spliced[n - 32..].copy_from_slice(&fa[n - 32..]);
        }
        assert!(matches!(
            open_bytes(&b, &spliced),
            Err(Error::Tampered { .. })
        ));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_passphrase_wrong_key_and_wrong_kind_of_key() {
    let dir = scratch("wrongkey");
    let path = dir.join("v");
    let pw = |s: &str| KeySource::Passphrase(Password::new(s));
    let v = EncryptedFileStore::open_with(&path, pw("right horse"), fast_kdf()).unwrap();
    v.store(&key("app::k"), &SecretBytes::from_slice(b"s"))
        .unwrap();
    drop(v);
    let err = EncryptedFileStore::open_with(&path, pw("wrong horse"), fast_kdf()).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong key or passphrase"));
    assert!(!err.to_string().contains("horse"));
    let err = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeySourceMismatch {
                vault_uses: "a passphrase",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(EncryptedFileStore::open_with(&path, pw("right horse"), fast_kdf()).is_ok());

    let raw_path = dir.join("r");
    EncryptedFileStore::open(&raw_path, KeySource::RawKey(raw())).unwrap();
    let err = EncryptedFileStore::open(
        &raw_path,
        KeySource::RawKey(SecretBytes::from_slice(&[1; 32])),
    );
    assert!(matches!(err, Err(Error::WrongKey { .. })));
    let err = EncryptedFileStore::open(
        &raw_path,
        KeySource::RawKey(SecretBytes::from_slice(&[1; 31])),
    );
    assert!(matches!(err, Err(Error::BadKeyFile { .. })));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_default_kdf_is_at_least_the_owasp_minimum_and_stored_in_the_header() {
    let dir = scratch("kdf");
    let path = dir.join("v");
    EncryptedFileStore::open(&path, KeySource::Passphrase(Password::new("pw"))).unwrap();
    let info = vault::inspect(&fs::read(&path).unwrap()).unwrap();
    let p = info.kdf.unwrap();
    assert!(
        p.m_cost_kib >= 19_456 && p.t_cost >= 2 && p.p_cost >= 1,
        "{p:?}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rekey_from_passphrase_to_key_file_keeps_entries() {
    let dir = scratch("rekey");
    let path = dir.join("v");
    let v = EncryptedFileStore::open_with(
        &path,
        KeySource::Passphrase(Password::new("old")),
        fast_kdf(),
    )
    .unwrap();
    for i in 0..20 {
        v.store(
            &key(&format!("app::k{i}")),
            &SecretBytes::from_slice(format!("s{i}").as_bytes()),
        )
        .unwrap();
    }
    v.rekey(KeySource::KeyFile(dir.join("key"))).unwrap();
    assert!(matches!(
        EncryptedFileStore::open_with(
            &path,
            KeySource::Passphrase(Password::new("old")),
            fast_kdf()
        ),
        Err(Error::KeySourceMismatch { .. })
    ));
    let v = EncryptedFileStore::open(&path, KeySource::KeyFile(dir.join("key"))).unwrap();
    for i in 0..20 {
        let s = v.retrieve(&key(&format!("app::k{i}"))).unwrap().unwrap();
        assert_eq!(s.expose_secret(), format!("s{i}").as_bytes());
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn insecure_files_and_symlinks_are_refused() {
    let dir = scratch("insecure");
    let (path, _) = small_vault(&dir);
    for loose in [0o620, 0o602, 0o640, 0o666] {
        fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
        let err = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap_err();
        assert!(
            matches!(err, Error::InsecurePermissions(_)),
            "{loose:o}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{loose:04o}")), "{err}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("link");
    symlink(&path, &link).unwrap();
    let err = EncryptedFileStore::open(&link, KeySource::RawKey(raw())).unwrap_err();
    assert!(
        matches!(err, Error::InsecurePermissions(_)) && err.to_string().contains("symbolic link"),
        "{err}"
    );

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap_err();
    assert!(err.to_string().contains("0777"), "{err}");
    let v = EncryptedFileStore::open(dir.join("new"), KeySource::RawKey(raw()));
    assert!(matches!(v, Err(Error::InsecurePermissions(_))), "{v:?}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oversize_secrets_are_refused_and_nothing_is_lost() {
    let dir = scratch("toolarge");
    let path = dir.join("v");
    let v = EncryptedFileStore::open_with(
        &path,
        KeySource::RawKey(raw()),
        VaultOptions::default().with_max_secret_len(1000),
    )
    .unwrap();
    v.store(&key("app::k"), &SecretBytes::from_slice(b"before"))
        .unwrap();
    let err = v
        .store(&key("app::k"), &SecretBytes::new(vec![7; 1001]))
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000 }));
    assert_eq!(
        v.retrieve(&key("app::k")).unwrap().unwrap().expose_secret(),
        b"before"
    );
    v.store(&key("app::k"), &SecretBytes::new(vec![7; 1000]))
        .unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_handles_see_each_others_writes() {
    let dir = scratch("handles");
    let path = dir.join("v");
    let a = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    let b = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    a.store(&key("app::x"), &SecretBytes::from_slice(b"1"))
        .unwrap();
    assert_eq!(
        b.retrieve(&key("app::x")).unwrap().unwrap().expose_secret(),
        b"1"
    );
    b.store(&key("app::y"), &SecretBytes::from_slice(b"2"))
        .unwrap();
    assert_eq!(
        a.list(&Namespace::app("app").unwrap()).unwrap().len(),
        2,
        "b's write did not lose a's"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn threads_writing_concurrently_lose_nothing() {
    let dir = scratch("threads");
    let path = dir.join("v");
    // What is checked is that no write is lost, not how fast the lock changes hands: a
    // thread that keeps re-taking it can hold the others off for as long as its own 50
    // writes take, which with slow fsyncs on a loaded machine can exceed the 10 s default.
    let patient = || VaultOptions::default().with_lock_timeout(std::time::Duration::from_secs(300));
    let v = Arc::new(
        EncryptedFileStore::open_with(&path, KeySource::RawKey(raw()), patient()).unwrap(),
    );
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (v, path) = (Arc::clone(&v), path.clone());
            std::thread::spawn(move || {
                // Half the threads share the handle, half open their own.
                let own = EncryptedFileStore::open_with(&path, KeySource::RawKey(raw()), patient())
                    .unwrap();
                for i in 0..50 {
                    let k = key(&format!("app::t{t}::k{i}"));
                    let s = SecretBytes::from_slice(format!("{t}-{i}").as_bytes());
                    if t % 2 == 0 {
                        v.store(&k, &s).unwrap()
                    } else {
                        own.store(&k, &s).unwrap()
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let fresh = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    assert_eq!(
        fresh.list(&Namespace::app("app").unwrap()).unwrap().len(),
        200
    );
    // One write created the vault, then one per store.
    assert_eq!(
        vault::inspect(&fs::read(&path).unwrap())
            .unwrap()
            .generation,
        201
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_vault_deleted_underneath_is_reported_then_recreated_by_a_write() {
    let dir = scratch("deleted");
    let path = dir.join("v");
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    v.store(&key("app::k"), &SecretBytes::from_slice(b"x"))
        .unwrap();
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        v.retrieve(&key("app::k")),
        Err(Error::NotFound { .. })
    ));
    v.store(&key("app::k2"), &SecretBytes::from_slice(b"y"))
        .unwrap();
    assert_eq!(
        v.list(&Namespace::app("app").unwrap()).unwrap(),
        vec![key("app::k2")]
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_reads_the_header_without_the_key() {
    let dir = scratch("inspect");
    let (path, bytes) = small_vault(&dir);
    let info = vault::inspect(&bytes).unwrap();
    assert_eq!(
        (info.version, info.kdf, info.entries, info.generation),
        (2, None, 2, 3)
    );
    assert!(
        bytes.windows(5).all(|w| w != b"alpha"),
        "secrets are encrypted"
    );
    assert!(
        bytes.windows(6).all(|w| w != b"app::a"),
        "names are encrypted"
    );
    drop(path);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_writer_waits_a_bounded_time_then_reports_busy() {
    let dir = scratch("busy");
    let path = dir.join("v");
    let opts = VaultOptions::default().with_lock_timeout(std::time::Duration::from_millis(50));
    let v = EncryptedFileStore::open_with(&path, KeySource::RawKey(raw()), opts).unwrap();
    let held =
        hearth_token_guard::private_file::DirLock::acquire(&dir, std::time::Duration::from_secs(1))
            .unwrap();
    let start = std::time::Instant::now();
    let err = v
        .store(&key("app::k"), &SecretBytes::from_slice(b"x"))
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    // It waited its 50 ms, and not much more: the lock is never released, so without the
    // bound it would wait forever (the margin is for a loaded machine).
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(50)
            && waited < std::time::Duration::from_secs(5),
        "{waited:?}"
    );
    // Readers are not blocked by a writer's lock.
    assert!(v.retrieve(&key("app::k")).unwrap().is_none());
    drop(held);
    v.store(&key("app::k"), &SecretBytes::from_slice(b"x"))
        .unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_secret_in_debug_or_errors() {
    let dir = scratch("debug");
    let path = dir.join("v");
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    v.store(&key("app::k"), &SecretBytes::from_slice(b"CANARY-SECRET"))
        .unwrap();
    assert!(!format!("{v:?}").contains("CANARY"));
    let mem = hearth_secure_storage::MemoryStore::new();
    mem.store(&key("app::k"), &SecretBytes::from_slice(b"CANARY-SECRET"))
        .unwrap();
    assert!(!format!("{mem:?} {mem:#?}").contains("CANARY"));
    let source = KeySource::Passphrase(Password::new("CANARY-PASS"));
    assert!(!format!("{source:?}").contains("CANARY"));
    let err = EncryptedFileStore::open(&path, source).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("CANARY"));
    fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites bytes `at..at+new.len()` of a vault file and recomputes `header_sum` (an
/// attacker's edit, not accidental damage).
fn edit_header(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + new.len()].copy_from_slice(new);
    let sum = ring::digest::digest(&ring::digest::SHA256, &b[..92]);
    b[92..124].copy_from_slice(sum.as_ref());
    b
}

#[test]
fn edited_header_fields_are_tampered_or_corrupt_never_a_wrong_key() {
    let dir = scratch("headeredit");
    let (path, bytes) = small_vault(&dir);
    let be_u64 = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
    let generation = be_u64(40);
    let count = u32::from_be_bytes(bytes[48..52].try_into().unwrap());
    let body_len = be_u64(52);
    let edits: Vec<(&str, Vec<u8>)> = vec![
        (
            "generation + 1",
            edit_header(&bytes, 40, &(generation + 1).to_be_bytes()),
        ),
        (
            "generation - 1",
            edit_header(&bytes, 40, &(generation - 1).to_be_bytes()),
        ),
        (
            "generation max",
            edit_header(&bytes, 40, &u64::MAX.to_be_bytes()),
        ),
        (
            "entry count - 1",
            edit_header(&bytes, 48, &(count - 1).to_be_bytes()),
        ),
        (
            "entry count 0",
            edit_header(&bytes, 48, &0u32.to_be_bytes()),
        ),
        (
            "entry count + 1",
            edit_header(&bytes, 48, &(count + 1).to_be_bytes()),
        ),
        (
            "body length - 1",
            edit_header(&bytes, 52, &(body_len - 1).to_be_bytes()),
        ),
        (
            "body length + 1",
            edit_header(&bytes, 52, &(body_len + 1).to_be_bytes()),
        ),
        // A key-file vault declares no KDF: any cost in its header is refused.
        (
            "kdf costs on a key vault",
            edit_header(&bytes, 12, &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1]),
        ),
        ("kdf id on a key vault", edit_header(&bytes, 11, &[1])),
        ("version 2 to 1", edit_header(&bytes, 8, &[0, 1])),
        ("key check", edit_header(&bytes, 60, &[bytes[60] ^ 1])),
        (
            "key check, last byte",
            edit_header(&bytes, 91, &[bytes[91] ^ 0x80]),
        ),
        (
            "key check and generation",
            edit_header(
                &edit_header(&bytes, 60, &[bytes[60] ^ 1]),
                40,
                &(generation + 1).to_be_bytes(),
            ),
        ),
    ];
    for (what, edited) in edits {
        let err = open_bytes(&path, &edited).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tampered { .. } | Error::Corrupt { .. } | Error::KeySourceMismatch { .. }
            ),
            "{what}: {err:?}"
        );
    }
    // The untouched file still opens with both entries; an open handle that re-reads an
    // edited key check says Tampered too.
    let v = open_bytes(&path, &bytes).unwrap();
    assert_eq!(v.keys().unwrap().len(), 2);
    fs::write(&path, edit_header(&bytes, 60, &[bytes[60] ^ 1])).unwrap();
    let err = v.keys().unwrap_err();
    assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_argon2_costs_in_a_header_are_refused_before_any_derivation() {
    let dir = scratch("hostilekdf");
    let path = dir.join("v");
    let pw = || KeySource::Passphrase(Password::new("pw"));
    EncryptedFileStore::open_with(&path, pw(), fast_kdf()).unwrap();
    let bytes = fs::read(&path).unwrap();
    let costs = |m: u32, t: u32, p: u32| {
        let mut c = Vec::new();
        for v in [m, t, p] {
            c.extend_from_slice(&v.to_be_bytes());
        }
        c
    };
    for (m, t, p) in [
        (2 << 20, 64, 1),
        (256 * 1024 + 1, 1, 1),
        (19_456, 11, 1),
        (19_456, 2, 9),
        (u32::MAX, u32::MAX, u32::MAX),
    ] {
        let edited = edit_header(&bytes, 12, &costs(m, t, p));
        fs::write(&path, &edited).unwrap();
        let start = std::time::Instant::now();
        let err = EncryptedFileStore::open_existing(&path, pw()).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { .. }),
            "m={m} t={t} p={p}: {err:?}"
        );
        // Refused from the header alone: far below one derivation at those costs.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "m={m} t={t}: derived first?"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn edited_argon2_costs_in_a_passphrase_vault_are_tampered_or_corrupt_never_a_wrong_key() {
    let dir = scratch("editedkdf");
    let path = dir.join("v");
    let pw = |s: &str| KeySource::Passphrase(Password::new(s));
    let v = EncryptedFileStore::open_with(&path, pw("pw"), fast_kdf()).unwrap();
    v.store(&key("app::a"), &SecretBytes::from_slice(b"alpha"))
        .unwrap();
    drop(v);
    let bytes = fs::read(&path).unwrap();
    let costs = |p: Argon2Params| {
        let mut c = Vec::new();
        for v in [p.m_cost_kib, p.t_cost, p.p_cost] {
            c.extend_from_slice(&v.to_be_bytes());
        }
        c
    };
    let written = Argon2Params::OWASP_7_MIB;
    // Every other preset (each derives a key the passphrase does not open), and single
    // fields edited by one.
    let mut edits: Vec<Argon2Params> = Argon2Params::PRESETS
        .into_iter()
        .filter(|p| *p != written)
        .collect();
    edits.extend([
        Argon2Params {
            t_cost: 4,
            ..written
        },
        Argon2Params {
            m_cost_kib: 7_169,
            ..written
        },
        Argon2Params {
            p_cost: 2,
            ..written
        },
    ]);
    let mut edited: Vec<(String, Vec<u8>)> = edits
        .into_iter()
        .map(|p| (format!("{p:?}"), edit_header(&bytes, 12, &costs(p))))
        .collect();
    edited.push(("version 2 to 1".into(), edit_header(&bytes, 8, &[0, 1])));
    edited.push((
        "key check".into(),
        edit_header(&bytes, 60, &[bytes[60] ^ 1]),
    ));
    let other = Argon2Params::OWASP_46_MIB;
    edited.push((
        "costs and key check".into(),
        edit_header(
            &edit_header(&bytes, 12, &costs(other)),
            60,
            &[bytes[60] ^ 1],
        ),
    ));
    for (p, edited) in edited {
        fs::write(&path, &edited).unwrap();
        let err = EncryptedFileStore::open_existing(&path, pw("pw")).unwrap_err();
        assert!(
            matches!(err, Error::Tampered { .. } | Error::Corrupt { .. }),
            "{p}: {err:?}"
        );
        // A wrong passphrase on an edited header is refused too, never opened.
        assert!(EncryptedFileStore::open_existing(&path, pw("other")).is_err());
    }
    // The original opens; a wrong passphrase on it is WrongKey.
    fs::write(&path, &bytes).unwrap();
    let v = EncryptedFileStore::open_existing(&path, pw("pw")).unwrap();
    assert_eq!(
        v.retrieve(&key("app::a")).unwrap().unwrap().expose_secret(),
        b"alpha"
    );
    drop(v);
    let err = EncryptedFileStore::open_existing(&path, pw("other")).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_passphrase_and_out_of_bounds_costs_are_refused_and_create_nothing() {
    let dir = scratch("emptypw");
    let path = dir.join("v");
    let err =
        EncryptedFileStore::open(&path, KeySource::Passphrase(Password::new(""))).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let too_costly = VaultOptions::default().with_argon2(Argon2Params {
        m_cost_kib: 2 << 20,
        t_cost: 64,
        p_cost: 1,
    });
    let err = EncryptedFileStore::open_with(
        &path,
        KeySource::Passphrase(Password::new("pw")),
        too_costly,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(!path.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_write_past_the_readers_limit_is_refused_and_every_secret_stays_readable() {
    let dir = scratch("quota");
    let path = dir.join("v");
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(raw())).unwrap();
    const MIB: usize = 1 << 20;
    // 255 secrets of 1 MiB in one write: just under the 256 MiB a reader accepts.
    v.store_all((0..255).map(|i| {
        (
            key(&format!("app::k{i:03}")),
            SecretBytes::new(vec![i as u8; MIB]),
        )
    }))
    .unwrap();
    let before = fs::read(&path).unwrap().len();
    let generation = v.generation().unwrap();
    let err = v
        .store(&key("app::one-more"), &SecretBytes::new(vec![1; MIB]))
        .unwrap_err();
    assert!(
        matches!(err, Error::QuotaExceeded { backend: "vault" }),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap().len(), before, "nothing changed");
    // A fresh handle (as the next command) reads every secret.
    let again = EncryptedFileStore::open_existing(&path, KeySource::RawKey(raw())).unwrap();
    assert_eq!(again.generation().unwrap(), generation);
    assert_eq!(again.keys().unwrap().len(), 255);
    for i in [0usize, 1, 127, 254] {
        let s = again
            .retrieve(&key(&format!("app::k{i:03}")))
            .unwrap()
            .unwrap();
        assert!(s.expose_secret().len() == MIB && s.expose_secret().iter().all(|b| *b == i as u8));
    }
    assert!(again.retrieve(&key("app::one-more")).unwrap().is_none());
    fs::remove_dir_all(&dir).unwrap();
}

/// A version-1 file, computed here from VAULT-FORMAT.md with ring (independently of the
/// crate's encoder): this build's file with version 1 and v1's key check over bytes 0..60.
fn as_version_1(bytes: &[u8], raw_key: &[u8]) -> Vec<u8> {
    use ring::{hkdf, hmac};
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let mut b = bytes.to_vec();
    b[8..10].copy_from_slice(&1u16.to_be_bytes());
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &b[24..40]).extract(raw_key);
    let mut k_mac = [0u8; 32];
    prk.expand(&[b"hearth-vault v1 hmac-sha256"], Len32)
        .unwrap()
        .fill(&mut k_mac)
        .unwrap();
    let k_mac = hmac::Key::new(hmac::HMAC_SHA256, &k_mac);
    let mac = |label: &[u8], data: &[u8]| {
        let mut ctx = hmac::Context::with_key(&k_mac);
        ctx.update(label);
        ctx.update(data);
        ctx.sign()
    };
    let check = mac(b"hearth-vault v1 key-check", &b[..60]);
    b[60..92].copy_from_slice(check.as_ref());
    let sum = ring::digest::digest(&ring::digest::SHA256, &b[..92]);
    b[92..124].copy_from_slice(sum.as_ref());
    let end = b.len() - 32;
    let body = mac(b"hearth-vault v1 body", &b[..end]);
    b[end..].copy_from_slice(body.as_ref());
    b
}

#[test]
fn version_1_vaults_are_read_and_rewritten_as_version_2() {
    let dir = scratch("v1");
    let (path, bytes) = small_vault(&dir);
    let v1 = as_version_1(&bytes, &[0x42; 32]);
    assert_eq!(vault::inspect(&v1).unwrap().version, 1);
    let v = open_bytes(&path, &v1).unwrap();
    assert_eq!(
        v.retrieve(&key("app::a")).unwrap().unwrap().expose_secret(),
        b"alpha-secret"
    );
    let v = open_bytes(&path, &v1).unwrap();
    v.store(&key("app::d"), &SecretBytes::from_slice(b"delta"))
        .unwrap();
    assert_eq!(
        vault::inspect(&fs::read(&path).unwrap()).unwrap().version,
        2
    );
    assert_eq!(v.keys().unwrap().len(), 3);
    fs::remove_dir_all(&dir).unwrap();
}
