//! `retrieve` latency on the real Secret Service, in one run: KeyringStore (one D-Bus item
//! per secret, over the persistent session), keyring 3.6's per-call path reading the same
//! item (a new connection and DH session each time: the peer), the floor — one D-Bus
//! round trip to the same daemon (`org.freedesktop.DBus.Peer.Ping` on
//! `org.freedesktop.secrets`) — and HybridStore and the plain vault. Targets: KeyringStore
//! at least 20x faster than keyring 3.6, at most 3x the floor. Needs a Secret Service: run
//! it under `scripts/with-keyring`:
//!
//! `scripts/with-keyring cargo bench -p hearth-secure-storage --bench keyring`

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use hearth_secure_storage::{
    EncryptedFileStore, HybridStore, Key, KeySource, KeyringBackend, KeyringStore, Namespace,
    SecureStorage,
};
use hearth_token_guard::SecretBytes;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

fn main() {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        eprintln!("no D-Bus session: run under scripts/with-keyring");
        return;
    }
    let app = format!("hearth-bench-{}", std::process::id());
    let dir = std::env::temp_dir().join(&app);
    let _ = std::fs::remove_dir_all(&dir);
    let key: Key = format!("{app}::srv::user::access_token").parse().unwrap();
    let secret = SecretBytes::from_slice(&[b'x'; 64]);

    let keyring = KeyringStore::new(KeyringBackend::Native);
    keyring.store(&key, &secret).unwrap();
    let hybrid = HybridStore::open(
        &app,
        dir.join("hybrid.hearth"),
        KeyringStore::new(KeyringBackend::Native),
    )
    .unwrap();
    hybrid.store(&key, &secret).unwrap();
    let vault = EncryptedFileStore::open(
        dir.join("vault.hearth"),
        KeySource::KeyFile(dir.join("key")),
    )
    .unwrap();
    vault.store(&key, &secret).unwrap();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
        .configure_from_args();
    let (service, account) = key.as_str().split_once("::").unwrap();
    let peer = keyring::Entry::new_with_credential(Box::new(
        keyring::secret_service::SsCredential::new_with_target(None, service, account).unwrap(),
    ));
    assert_eq!(
        peer.get_secret().unwrap(),
        secret.expose_secret(),
        "the peer reads the same item"
    );
    let bus = zbus::blocking::Connection::session().unwrap();
    let ping = || {
        bus.call_method(
            Some("org.freedesktop.secrets"),
            "/org/freedesktop/secrets",
            Some("org.freedesktop.DBus.Peer"),
            "Ping",
            &(),
        )
        .unwrap()
    };
    ping();

    let mut g = c.benchmark_group("keyring_retrieve");
    g.bench_function("keyring", |b| {
        b.iter(|| black_box(keyring.retrieve(&key).unwrap()))
    });
    g.bench_function("keyring-rs-3.6", |b| {
        b.iter(|| black_box(peer.get_secret().unwrap()))
    });
    g.bench_function("floor-dbus-ping", |b| b.iter(|| black_box(ping())));
    g.bench_function("hybrid", |b| {
        b.iter(|| black_box(hybrid.retrieve(&key).unwrap()))
    });
    g.bench_function("vault", |b| {
        b.iter(|| black_box(vault.retrieve(&key).unwrap()))
    });
    g.finish();
    c.final_summary();

    keyring.clear(&Namespace::app(&app).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let m = |f: &str| median_ns(&format!("keyring_retrieve/{f}"));
    if let (Some(k), Some(p), Some(f), Some(h), Some(v)) = (
        m("keyring"),
        m("keyring-rs-3.6"),
        m("floor-dbus-ping"),
        m("hybrid"),
        m("vault"),
    ) {
        println!(
            "retrieve on the Secret Service: KeyringStore {:.1} µs, keyring 3.6 {:.1} µs, \
             floor (one D-Bus ping) {:.1} µs, hybrid {:.2} µs, vault {:.2} µs",
            k / 1e3,
            p / 1e3,
            f / 1e3,
            h / 1e3,
            v / 1e3
        );
        println!(
            "KeyringStore is {:.1}x faster than keyring 3.6 (target >= 20x) and {:.2}x the floor (target <= 3x)",
            p / k,
            k / f
        );
    }
}
