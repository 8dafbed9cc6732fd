//! KeyringStore against the real Secret Service (gnome-keyring) and real kernel keyutils.
//!
//! Run under `scripts/with-keyring` (as `scripts/test` does), which starts a private,
//! unlocked gnome-keyring and sets `HEARTH_REQUIRE_KEYRING=1`. Without that variable the
//! Secret Service tests say so and return (whatever session bus exists: it would be the
//! developer's own keyring); with it they must pass.
#![cfg(all(target_os = "linux", feature = "keyring"))]

use std::process::Command;

use hearth_secure_storage::{Error, Key, KeyringBackend, KeyringStore, Namespace, SecureStorage};
use hearth_token_guard::SecretBytes;

/// Whether the Secret Service tests run: only under `scripts/with-keyring`, whose private
/// gnome-keyring they may fill and empty. A desktop session's bus is the developer's own
/// keyring, which a test must never touch.
fn secret_service_available() -> bool {
    let required = std::env::var_os("HEARTH_REQUIRE_KEYRING").is_some();
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS");
    // The bus must be scripts/with-keyring's own (it names it in HEARTH_PRIVATE_BUS).
    let private = bus.is_some() && bus == std::env::var_os("HEARTH_PRIVATE_BUS");
    assert!(
        private || !required,
        "HEARTH_REQUIRE_KEYRING is set outside scripts/with-keyring's private D-Bus session"
    );
    if !private {
        eprintln!(
            "not under scripts/with-keyring: Secret Service test not run (it would use this session's own keyring)"
        );
    }
    private
}

/// An app name no other test (or run) uses.
fn app(name: &str) -> String {
    format!("hearth-test-{name}-{}", std::process::id())
}

fn key(app: &str, rest: &str) -> Key {
    format!("{app}::{rest}").parse().unwrap()
}

fn round_trip_list_clear(store: &KeyringStore, app: &str) {
    let ns = Namespace::app(app).unwrap();
    let other = format!("{app}-other");
    store
        .store(
            &key(app, "srv::u1::access_token"),
            &SecretBytes::from_slice(b"tok-1"),
        )
        .unwrap();
    store
        .store(
            &key(app, "srv::u2::access_token"),
            &SecretBytes::from_slice(b"tok-2"),
        )
        .unwrap();
    store
        .store(&key(app, "x"), &SecretBytes::from_slice(b"\x00\xffbinary"))
        .unwrap();
    store
        .store(&key(app, "empty"), &SecretBytes::from_slice(b""))
        .unwrap();
    assert_eq!(
        store
            .retrieve(&key(app, "empty"))
            .unwrap()
            .unwrap()
            .expose_secret(),
        b""
    );
    assert!(store.delete(&key(app, "empty")).unwrap());
    store
        .store(&key(&other, "keep"), &SecretBytes::from_slice(b"keep"))
        .unwrap();
    store
        .store(
            &key(app, "srv::u1::access_token"),
            &SecretBytes::from_slice(b"tok-1b"),
        )
        .unwrap();

    let got = store
        .retrieve(&key(app, "srv::u1::access_token"))
        .unwrap()
        .unwrap();
    assert_eq!(got.expose_secret(), b"tok-1b");
    assert_eq!(
        store
            .retrieve(&key(app, "x"))
            .unwrap()
            .unwrap()
            .expose_secret(),
        b"\x00\xffbinary"
    );
    assert!(store.retrieve(&key(app, "missing")).unwrap().is_none());
    assert_eq!(store.list(&ns).unwrap().len(), 3);
    let srv = ns.child("srv").unwrap();
    assert_eq!(
        store.list(&srv).unwrap(),
        vec![
            key(app, "srv::u1::access_token"),
            key(app, "srv::u2::access_token")
        ]
    );

    assert_eq!(store.clear(&srv).unwrap(), 2);
    assert_eq!(store.list(&ns).unwrap(), vec![key(app, "x")]);
    assert!(store.delete(&key(app, "x")).unwrap());
    assert!(!store.delete(&key(app, "x")).unwrap());
    assert!(store.list(&ns).unwrap().is_empty());
    // Nothing outside the namespace was touched.
    let other_key = key(&other, "keep");
    assert_eq!(
        store.retrieve(&other_key).unwrap().unwrap().expose_secret(),
        b"keep"
    );
    assert_eq!(store.clear(&Namespace::app(&other).unwrap()).unwrap(), 1);
}

#[test]
fn secret_service_round_trip_list_and_clear() {
    if !secret_service_available() {
        return;
    }
    let store = KeyringStore::new(KeyringBackend::Native);
    store.probe().unwrap();
    round_trip_list_clear(&store, &app("ss"));
}

#[test]
fn keyutils_round_trip_list_and_clear() {
    let store = KeyringStore::new(KeyringBackend::Keyutils);
    store.probe().unwrap();
    round_trip_list_clear(&store, &app("ku"));
}

#[test]
fn items_are_found_by_another_secret_service_client() {
    if !secret_service_available() {
        return;
    }
    let app = app("interop");
    let store = KeyringStore::new(KeyringBackend::Native);
    let k = key(&app, "srv-1::user-7::access_token");
    store
        .store(&k, &SecretBytes::from_slice(b"interop-secret"))
        .unwrap();
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            &app,
            "username",
            "srv-1::user-7::access_token",
        ])
        .output()
        .expect("secret-tool (apt libsecret-tools) is installed by scripts/test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"interop-secret");
    let search = Command::new("secret-tool")
        .args(["search", "--all", "service", &app])
        .output()
        .unwrap();
    // secret-tool prints labels and secrets on stdout, attributes on stderr.
    let listing = String::from_utf8_lossy(&search.stdout) + String::from_utf8_lossy(&search.stderr);
    assert!(
        listing.contains("attribute.username = srv-1::user-7::access_token"),
        "{listing}"
    );
    store.clear(&Namespace::app(&app).unwrap()).unwrap();
}

#[test]
fn the_index_is_repaired_when_items_vanish() {
    let store = KeyringStore::new(KeyringBackend::Keyutils);
    let app = app("repair");
    store
        .store(&key(&app, "a"), &SecretBytes::from_slice(b"1"))
        .unwrap();
    store
        .store(&key(&app, "b"), &SecretBytes::from_slice(b"2"))
        .unwrap();
    // Another program removes an item behind Hearth's back.
    let out = Command::new("keyctl")
        .args(["search", "@u", "user", &format!("hearth:{app}::a")])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !id.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        Command::new("keyctl")
            .args(["unlink", &id, "@u"])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        store.list(&Namespace::app(&app).unwrap()).unwrap(),
        vec![key(&app, "b")]
    );
    assert_eq!(store.clear(&Namespace::app(&app).unwrap()).unwrap(), 1);
}

#[test]
fn oversize_secrets_are_refused_with_the_limit() {
    let store = KeyringStore::new(KeyringBackend::Keyutils);
    let app = app("big");
    let err = store
        .store(&key(&app, "k"), &SecretBytes::new(vec![1; 40_000]))
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 32_766 }), "{err:?}");
    assert!(
        store
            .list(&Namespace::app(&app).unwrap())
            .unwrap()
            .is_empty(),
        "nothing half-stored"
    );
}

fn scratch(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-kr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn hybrid_keyring() -> KeyringStore {
    // The hybrid store runs on scripts/with-keyring's Secret Service, else on keyutils
    // (never on a desktop session's own keyring).
    if secret_service_available() {
        KeyringStore::new(KeyringBackend::Native)
    } else {
        KeyringStore::new(KeyringBackend::Keyutils)
    }
}

#[test]
fn hybrid_holds_any_size_lists_and_survives_reopen() {
    use hearth_secure_storage::HybridStore;
    let keyring = hybrid_keyring();
    let dir = scratch("hybrid");
    let app = app("hybrid");
    let path = dir.join("hybrid.hearth");
    let store = HybridStore::open(&app, &path, keyring.clone()).unwrap();
    let big = SecretBytes::new(vec![0x5a; 100_000]); // far past Windows' 2 560 and keyutils' quota
    store.store(&key(&app, "big"), &big).unwrap();
    store
        .store(&key(&app, "small"), &SecretBytes::from_slice(b"s"))
        .unwrap();
    drop(store);

    let store = HybridStore::open(&app, &path, keyring.clone()).unwrap();
    assert_eq!(store.retrieve(&key(&app, "big")).unwrap().unwrap(), big);
    assert_eq!(store.list(&Namespace::app(&app).unwrap()).unwrap().len(), 2);
    assert_eq!(store.info().name, "hybrid");
    assert_eq!(store.clear(&Namespace::app(&app).unwrap()).unwrap(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hybrid_detects_a_vault_rolled_back_to_an_older_copy() {
    use hearth_secure_storage::HybridStore;
    let keyring = hybrid_keyring();
    let dir = scratch("rollback");
    let app = app("rollback");
    let path = dir.join("hybrid.hearth");
    let store = HybridStore::open(&app, &path, keyring.clone()).unwrap();
    store
        .store(&key(&app, "token"), &SecretBytes::from_slice(b"old-token"))
        .unwrap();
    let backup = std::fs::read(&path).unwrap();
    store
        .store(&key(&app, "token"), &SecretBytes::from_slice(b"new-token"))
        .unwrap();
    drop(store);

    std::fs::write(&path, &backup).unwrap(); // the attacker restores the old file
    let err = HybridStore::open(&app, &path, keyring.clone()).unwrap_err();
    assert!(
        matches!(err, Error::RolledBack { expected, found, .. } if found < expected),
        "{err:?}"
    );

    // Deleting the file does not reset the counter: every open, and every write through
    // a handle opened before, is RolledBack and creates nothing.
    let live = HybridStore::open(&app, dir.join("./hybrid.hearth"), keyring.clone());
    assert!(matches!(live, Err(Error::RolledBack { .. })), "{live:?}");
    std::fs::remove_file(&path).unwrap();
    for _ in 0..3 {
        let err = HybridStore::open(&app, &path, keyring.clone()).unwrap_err();
        assert!(matches!(err, Error::RolledBack { found: 0, .. }), "{err:?}");
        assert!(!path.exists(), "no fresh vault was created");
    }
    std::fs::write(&path, &backup).unwrap(); // and the old copy comes back
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let err = HybridStore::open(&app, &path, keyring.clone()).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err:?}");
    // Only an explicit reset starts over.
    assert_eq!(
        HybridStore::reset(&app, &path, keyring.clone()).unwrap(),
        (true, true)
    );
    let fresh = HybridStore::open(&app, &path, keyring.clone()).unwrap();
    assert!(fresh.retrieve(&key(&app, "token")).unwrap().is_none());
    drop(fresh);

    // A vault holding secrets whose key is gone from the keyring is reported, not
    // replaced; an empty one (its key never reached the keyring) is started over.
    let missing = dir.join("other.hearth");
    let store = HybridStore::open(&app, &missing, keyring.clone()).unwrap();
    store
        .store(&key(&app, "t"), &SecretBytes::from_slice(b"x"))
        .unwrap();
    drop(store);
    let other_app = format!("{app}-x");
    let err = HybridStore::open(&other_app, &missing, keyring.clone()).unwrap_err();
    assert!(matches!(err, Error::VaultKeyMissing { .. }), "{err:?}");
    let empty = dir.join("empty.hearth");
    drop(HybridStore::open(&app, &empty, keyring.clone()).unwrap());
    let adopted = HybridStore::open(&other_app, &empty, keyring.clone()).unwrap();
    adopted
        .store(&key(&other_app, "t"), &SecretBytes::from_slice(b"y"))
        .unwrap();
    HybridStore::reset(&app, &missing, keyring.clone()).unwrap();
    HybridStore::reset(&app, &empty, keyring.clone()).unwrap();
    HybridStore::reset(&other_app, &empty, keyring.clone()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_chain_reports_its_choice_and_migrate_moves_verified() {
    use hearth_secure_storage::{EncryptedFileStore, KeySource, Storage, migrate};
    if !secret_service_available() {
        return;
    }
    let dir = scratch("chain");
    let app = app("chain");
    let (store, report) = Storage::for_app(&app)
        .prefer_keyring()
        .fallback_vault(Some(dir.join("v")), Some(KeySource::KeyFile(dir.join("k"))))
        .build()
        .unwrap();
    assert_eq!(report.chosen(), Some("secret-service"));
    assert_eq!(store.info().name, "secret-service");
    assert!(
        report.to_string().starts_with("secret-service: chosen"),
        "{report}"
    );

    // Move everything from a vault into the keyring.
    let vault = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k"))).unwrap();
    for i in 0..3 {
        vault
            .store(
                &key(&app, &format!("k{i}")),
                &SecretBytes::from_slice(format!("v{i}").as_bytes()),
            )
            .unwrap();
    }
    let ns = Namespace::app(&app).unwrap();
    assert_eq!(migrate(&vault, store.as_ref(), &ns, true).unwrap().len(), 3);
    assert_eq!(
        store.list(&ns).unwrap().len(),
        0,
        "a dry run writes nothing"
    );
    assert_eq!(
        migrate(&vault, store.as_ref(), &ns, false).unwrap().len(),
        3
    );
    assert!(vault.list(&ns).unwrap().is_empty());
    assert_eq!(
        store
            .retrieve(&key(&app, "k2"))
            .unwrap()
            .unwrap()
            .expose_secret(),
        b"v2"
    );
    assert_eq!(store.clear(&ns).unwrap(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two writers racing the counter, 100 rounds: after each round the copy of the file from
/// just before the last write (and an older one) is restored, and every one is
/// `RolledBack` — the counter was never lowered by a late, out-of-order recording.
#[test]
fn racing_writers_never_lower_the_rollback_counter() {
    use hearth_secure_storage::HybridStore;
    use std::sync::{Arc, Mutex};
    let keyring = hybrid_keyring();
    let dir = scratch("race");
    let app = app("race");
    let path = dir.join("hybrid.hearth");
    drop(HybridStore::open(&app, &path, keyring.clone()).unwrap());
    let gen_of = |bytes: &[u8]| u64::from_be_bytes(bytes[40..48].try_into().unwrap());
    for round in 0..100 {
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (app, path, keyring, seen) = (
                    app.clone(),
                    path.clone(),
                    keyring.clone(),
                    Arc::clone(&seen),
                );
                std::thread::spawn(move || {
                    let store = HybridStore::open(&app, &path, keyring).unwrap();
                    for i in 0..2 {
                        store
                            .store(
                                &key(&app, &format!("w{w}")),
                                &SecretBytes::from_slice(format!("{round}-{i}").as_bytes()),
                            )
                            .unwrap();
                        seen.lock().unwrap().push(std::fs::read(&path).unwrap());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let latest = std::fs::read(&path).unwrap();
        let mut older: Vec<Vec<u8>> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|b| gen_of(b) < gen_of(&latest))
            .cloned()
            .collect();
        older.sort_by_key(|b| std::cmp::Reverse(gen_of(b)));
        assert!(!older.is_empty(), "round {round}: no older copy seen");
        for copy in [&older[0], older.last().unwrap()] {
            std::fs::write(&path, copy).unwrap();
            let err = HybridStore::open(&app, &path, keyring.clone()).unwrap_err();
            assert!(
                matches!(err, Error::RolledBack { .. }),
                "round {round}: a copy at write {} of {} opened: {err:?}",
                gen_of(copy),
                gen_of(&latest)
            );
        }
        std::fs::write(&path, &latest).unwrap();
    }
    HybridStore::reset(&app, &path, keyring).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads go through the item found last time (one round trip); another program deleting
/// or replacing that item in between is still seen at once.
#[test]
fn a_remembered_item_changed_by_another_program_is_read_fresh() {
    if !secret_service_available() {
        return;
    }
    let store = KeyringStore::new(KeyringBackend::Native);
    let app = app("fresh");
    let k = key(&app, "srv::token");
    let account = "srv::token";
    store.store(&k, &SecretBytes::from_slice(b"mine")).unwrap();
    for _ in 0..3 {
        assert_eq!(
            store.retrieve(&k).unwrap().unwrap().expose_secret(),
            b"mine"
        );
    }
    let secret_tool = |args: &[&str], stdin: &[u8]| {
        use std::io::Write as _;
        let mut child = Command::new("secret-tool")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("secret-tool (scripts/install-deps installs it)");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        assert!(child.wait().unwrap().success(), "secret-tool {args:?}");
    };
    secret_tool(&["clear", "service", &app, "username", account], b"");
    assert!(
        store.retrieve(&k).unwrap().is_none(),
        "a deleted item was read"
    );
    secret_tool(
        &[
            "store",
            "--label=other",
            "service",
            &app,
            "username",
            account,
            "target",
            "default",
        ],
        b"theirs",
    );
    assert_eq!(
        store.retrieve(&k).unwrap().unwrap().expose_secret(),
        b"theirs"
    );
    secret_tool(
        &[
            "store",
            "--label=other",
            "service",
            &app,
            "username",
            account,
            "target",
            "default",
        ],
        b"theirs-2",
    );
    assert_eq!(
        store.retrieve(&k).unwrap().unwrap().expose_secret(),
        b"theirs-2"
    );
    assert!(store.delete(&k).unwrap());
    assert!(store.retrieve(&k).unwrap().is_none());
}

/// A vault path under a symlinked ancestor that does not exist yet names the same keyring
/// item on first use as on every later open (the secrets stay reachable).
#[test]
fn a_first_use_under_a_symlinked_ancestor_reopens_the_same_vault() {
    use hearth_secure_storage::HybridStore;
    let keyring = hybrid_keyring();
    let dir = scratch("symlinked");
    let real = dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("link")).unwrap();
    let app = app("symlinked");
    let path = dir.join("link/app-data/hybrid.hearth");
    let store = HybridStore::open(&app, &path, keyring.clone()).unwrap();
    store
        .store(&key(&app, "t"), &SecretBytes::from_slice(b"kept"))
        .unwrap();
    drop(store);
    for spelling in [path.clone(), real.join("app-data/hybrid.hearth")] {
        let again = HybridStore::open(&app, &spelling, keyring.clone()).unwrap();
        assert_eq!(
            again
                .retrieve(&key(&app, "t"))
                .unwrap()
                .unwrap()
                .expose_secret(),
            b"kept"
        );
    }
    HybridStore::reset(&app, &path, keyring).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A first use whose hybrid key item answers with something Hearth did not write is an
/// error the caller sees, not "no keyring here": the chain does not fall back to the
/// key-file vault, and nothing is written anywhere.
#[test]
fn an_unrecognised_keyring_answer_is_never_a_reason_to_fall_back() {
    use hearth_secure_storage::{KeySource, Storage};
    if !secret_service_available() {
        return;
    }
    let dir = scratch("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let app = app("foreign");
    let vault = std::fs::canonicalize(&dir).unwrap().join("h.hearth");
    let digest = ring::digest::digest(&ring::digest::SHA256, vault.as_os_str().as_encoded_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let account = format!(":hearth-vault:{hex}");
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=foreign",
            "service",
            &app,
            "username",
            &account,
        ])
        .args(["target", "default"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool (scripts/install-deps installs it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"not a vault key")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let chain = Storage::for_app(&app)
        .with_marker(dir.join("backend"))
        .prefer_hybrid(Some(vault.clone()))
        .fallback_vault(Some(dir.join("v")), Some(KeySource::KeyFile(dir.join("k"))));
    let err = chain.build().err().expect("the chain fell back");
    assert!(matches!(err, Error::BackendFailed { .. }), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "written on a failed first use: {left:?}");

    let cleared = Command::new("secret-tool")
        .args(["clear", "service", &app, "username", &account])
        .status()
        .unwrap();
    assert!(cleared.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
