//! KeyringStore against a "D-Bus daemon" that accepts connections and never answers: every
//! call gives up within its timeout, later calls fail at once instead of queueing, and a
//! thousand calls cost no more threads than one call: the backend's worker (zbus runs its
//! connection on a current-thread runtime inside it) and at most one thread of tokio's
//! blocking pool, which exits when idle — two, not one per call.
//!
//! The test re-runs its own binary as a child with `DBUS_SESSION_BUS_ADDRESS` pointing at
//! the dead socket (setting it in-process would need `unsafe`), and checks there.
#![cfg(all(target_os = "linux", feature = "keyring"))]

use std::process::Command;
use std::time::{Duration, Instant};

use hearth_secure_storage::{Error, KeyringBackend, KeyringStore, SecureStorage};
use hearth_token_guard::SecretBytes;

const CHILD: &str = "HEARTH_DEAD_BUS_CHILD";
const NAME: &str = "a_thousand_calls_to_a_silent_peer_cost_no_more_threads_than_one";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_thousand_calls_to_a_silent_peer_cost_no_more_threads_than_one() {
    if std::env::var_os(CHILD).is_some() {
        return calls_in_the_child();
    }
    let dir = std::env::temp_dir().join(format!("hearth-deadbus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // keep it open, never reply
        }
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        // The child's own libtest summary would be counted twice by scripts/test; its
        // checks report on stderr.
        .stdout(std::process::Stdio::null())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the calls against a silent peer hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the child's checks failed: {status}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn calls_in_the_child() {
    let before = threads();
    let store = KeyringStore::new(KeyringBackend::Native).with_timeout(Duration::from_millis(200));
    let key = "app::k".parse().unwrap();
    let start = Instant::now();
    let first = store.retrieve(&key).unwrap_err();
    assert!(matches!(first, Error::Timeout { .. }), "{first}");
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "gave up early"
    );
    let after_one = threads().saturating_sub(before);
    for i in 0..999 {
        let err = if i % 2 == 0 {
            store.retrieve(&key).unwrap_err()
        } else {
            store
                .store(&key, &SecretBytes::from_slice(b"v"))
                .unwrap_err()
        };
        assert!(matches!(err, Error::Timeout { .. }), "call {i}: {err}");
    }
    // Had the 999 calls queued, each would have waited its 200 ms: over 3 minutes.
    assert!(
        start.elapsed() < Duration::from_secs(100),
        "later calls queued behind the stuck one: {:?}",
        start.elapsed()
    );
    let extra = threads().saturating_sub(before);
    assert_eq!(extra, after_one, "threads grew with the calls");
    assert!(extra <= 2, "{extra} extra threads after 1 000 calls");
    eprintln!("1 000 calls: {extra} extra threads, {:?}", start.elapsed());
}
