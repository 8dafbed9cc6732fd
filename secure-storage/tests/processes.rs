//! The vault across real processes: writers killed with SIGKILL mid-write, and two
//! processes writing at once.
//!
//! This file has its own `main` (`harness = false`): the same binary is the parent running
//! the checks and, when `HEARTH_VAULT_CHILD` is set, the child process doing the writes.
//! It prints libtest-style lines so the suite's totals include it.

#[path = "../../tests-common/libtest.rs"]
mod libtest;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearth_secure_storage::{
    EncryptedFileStore, Key, KeySource, Namespace, SecureStorage, VaultOptions,
};
use hearth_token_guard::SecretBytes;

const CHILD_ENV: &str = "HEARTH_VAULT_CHILD";
/// How long a child waits for the vault's lock, and the parent for a child. What is
/// checked is that nothing is lost, not how fast the lock changes hands: a writer that
/// keeps re-taking the lock can hold off the other one for as long as its own run lasts,
/// which on a loaded machine exceeds the 10 s default.
const PATIENCE: Duration = Duration::from_secs(300);
/// Writes a killed child is asked for: more than it can do before the kill, however late
/// that comes, so every round ends with a kill mid-run.
const UNFINISHABLE: usize = 1_000_000;

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    #[cfg(feature = "keyring")]
    if let Ok(spec) = std::env::var(hybrid_race::CHILD_ENV) {
        hybrid_race::child(&spec);
        return;
    }
    let tests: &[libtest::Check<'_, ()>] = &[
        (
            "writers_killed_mid_write_lose_only_the_unfinished_write",
            killed_writers,
        ),
        (
            "two_processes_writing_1000_keys_each_lose_nothing",
            two_writers,
        ),
        #[cfg(feature = "keyring")]
        (
            "two_processes_racing_the_hybrid_counter_never_lower_it",
            hybrid_race::check,
        ),
    ];
    let failed = libtest::run(tests, &());
    if failed > 0 {
        std::process::exit(101);
    }
}

/// Child: `vault|keyfile|prefix|count`. Stores `prefix::k{i}` = `value-{i}` for each i,
/// printing i after each store has returned.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [vault, keyfile, prefix, count] = parts[..] else {
        panic!("bad child spec");
    };
    let count: usize = count.parse().unwrap();
    let options = VaultOptions::default().with_lock_timeout(PATIENCE);
    let store =
        EncryptedFileStore::open_with(vault, KeySource::KeyFile(keyfile.into()), options).unwrap();
    for i in 0..count {
        let key: Key = format!("{prefix}::k{i}").parse().unwrap();
        store
            .store(
                &key,
                &SecretBytes::from_slice(format!("value-{i}").as_bytes()),
            )
            .unwrap();
        println!("{i}");
    }
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-proc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A child writer, killed (and reaped) if a failed check leaves it running.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Writer {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn spawn(dir: &Path, prefix: &str, count: usize) -> Writer {
    let spec = format!(
        "{}|{}|{prefix}|{count}",
        dir.join("vault").display(),
        dir.join("key").display()
    );
    Writer(
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("child still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn reported(child: &mut Child) -> Vec<usize> {
    // (Only for children that ran to the end.)
    let out = child.stdout.take().unwrap();
    BufReader::new(out)
        .lines()
        .map(|l| l.unwrap().parse().unwrap())
        .collect()
}

fn open(dir: &Path) -> EncryptedFileStore {
    EncryptedFileStore::open_existing(dir.join("vault"), KeySource::KeyFile(dir.join("key")))
        .expect("the vault opens after every kill")
}

fn killed_writers(_: &()) {
    let dir = scratch("kill");
    // Create the vault and key file first so every round starts from an existing vault.
    drop(EncryptedFileStore::open(dir.join("vault"), KeySource::KeyFile(dir.join("key"))).unwrap());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..8 {
        let prefix = format!("r{round}");
        let mut child = spawn(&dir, &prefix, UNFINISHABLE);
        // Let a random number of writes finish, then kill at a random instant of a later
        // one (a write takes about a millisecond here: encrypt, write, fsync, rename; on a
        // loaded machine the kill may come some writes later, which changes nothing).
        let target = (next() % 190) as usize;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut done = Vec::new();
        while done.len() < target {
            done.push(lines.next().unwrap().unwrap().parse::<usize>().unwrap());
        }
        std::thread::sleep(Duration::from_micros(next() % 1500));
        let _ = child.kill(); // SIGKILL
        let status = wait(&mut child, PATIENCE);
        done.extend(lines.map(|l| l.unwrap().parse::<usize>().unwrap()));
        eprintln!("  round {round}: killed after {} writes", done.len());
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round} was not killed mid-run: {status:?}"
        );
        assert!(done.len() >= target && done.len() < UNFINISHABLE);

        let store = open(&dir);
        let present = store.list(&Namespace::app(&prefix).unwrap()).unwrap();
        for i in &done {
            let key: Key = format!("{prefix}::k{i}").parse().unwrap();
            let value = store
                .retrieve(&key)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: write {i} returned but is missing"));
            assert_eq!(value.expose_secret(), format!("value-{i}").as_bytes());
        }
        // At most the one write in flight when the kill came may also have landed.
        assert!(
            present.len() == done.len() || present.len() == done.len() + 1,
            "round {round}: {} present, {} reported",
            present.len(),
            done.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn two_writers(_: &()) {
    let dir = scratch("two");
    drop(EncryptedFileStore::open(dir.join("vault"), KeySource::KeyFile(dir.join("key"))).unwrap());
    let mut a = spawn(&dir, "a", 1000);
    let mut b = spawn(&dir, "b", 1000);
    let started = Instant::now();
    assert!(wait(&mut a, PATIENCE).success());
    assert!(wait(&mut b, PATIENCE).success());
    eprintln!("  two writers took {:?}", started.elapsed());
    assert_eq!(reported(&mut a).len(), 1000);
    assert_eq!(reported(&mut b).len(), 1000);
    let store = open(&dir);
    assert_eq!(store.keys().unwrap().len(), 2000);
    for (p, i) in [("a", 0), ("a", 999), ("b", 500)] {
        let key: Key = format!("{p}::k{i}").parse().unwrap();
        assert_eq!(
            store.retrieve(&key).unwrap().unwrap().expose_secret(),
            format!("value-{i}").as_bytes()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two processes writing one hybrid store at once, 100 rounds: each child copies the file
/// after each of its writes; then the newest copy older than the final file, and the
/// oldest, are restored in turn, and each must be `RolledBack` — the keyring's counter was
/// never lowered by a late, out-of-order recording from the other process. On the Secret
/// Service on scripts/with-keyring's private session bus, else kernel keyutils.
#[cfg(feature = "keyring")]
mod hybrid_race {
    use super::*;
    use hearth_secure_storage::{Error, HybridStore, KeyringBackend, KeyringStore};

    pub(super) const CHILD_ENV: &str = "HEARTH_HYBRID_RACE_CHILD";

    fn keyring() -> KeyringStore {
        // Secret Service only on scripts/with-keyring's private bus, never a desktop's.
        let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS");
        let backend = if bus.is_some() && bus == std::env::var_os("HEARTH_PRIVATE_BUS") {
            KeyringBackend::Native
        } else {
            KeyringBackend::Keyutils
        };
        KeyringStore::new(backend).with_timeout(PATIENCE)
    }

    /// Child: `app|vault|writer|snapshots dir`.
    pub(super) fn child(spec: &str) {
        let parts: Vec<&str> = spec.split('|').collect();
        let [app, vault, writer, snaps] = parts[..] else {
            panic!("bad child spec");
        };
        let store = HybridStore::open(app, vault, keyring()).unwrap();
        for i in 0..2 {
            let key: Key = format!("{app}::w{writer}").parse().unwrap();
            store
                .store(&key, &SecretBytes::from_slice(format!("{i}").as_bytes()))
                .unwrap();
            let copy = std::fs::read(vault).unwrap();
            std::fs::write(format!("{snaps}/{writer}-{i}"), copy).unwrap();
        }
    }

    fn generation(bytes: &[u8]) -> u64 {
        u64::from_be_bytes(bytes[40..48].try_into().unwrap())
    }

    pub(super) fn check(_: &()) {
        let dir = scratch("hybrid-race");
        std::fs::create_dir_all(&dir).unwrap();
        let app = format!("race-{}", std::process::id());
        let vault = dir.join("hybrid.hearth");
        drop(HybridStore::open(&app, &vault, keyring()).unwrap());
        for round in 0..100 {
            let snaps = dir.join(format!("snaps-{round}"));
            std::fs::create_dir_all(&snaps).unwrap();
            let mut children: Vec<Writer> = (0..2)
                .map(|w| {
                    let spec = format!("{app}|{}|{w}|{}", vault.display(), snaps.display());
                    Writer(
                        Command::new(std::env::current_exe().unwrap())
                            .env(CHILD_ENV, spec)
                            .spawn()
                            .unwrap(),
                    )
                })
                .collect();
            for c in &mut children {
                assert!(
                    wait(c, PATIENCE).success(),
                    "round {round}: a writer failed"
                );
            }
            let latest = std::fs::read(&vault).unwrap();
            let mut older: Vec<Vec<u8>> = std::fs::read_dir(&snaps)
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .filter(|b| generation(b) < generation(&latest))
                .collect();
            older.sort_by_key(|b| std::cmp::Reverse(generation(b)));
            assert!(!older.is_empty(), "round {round}: no older copy");
            for copy in [&older[0], &older[older.len() - 1]] {
                std::fs::write(&vault, copy).unwrap();
                let err = HybridStore::open(&app, &vault, keyring()).unwrap_err();
                assert!(
                    matches!(err, Error::RolledBack { .. }),
                    "round {round}: the copy at write {} of {} opened: {err:?}",
                    generation(copy),
                    generation(&latest)
                );
            }
            std::fs::write(&vault, &latest).unwrap();
        }
        HybridStore::reset(&app, &vault, keyring()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
