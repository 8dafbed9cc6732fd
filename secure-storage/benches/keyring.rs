//! `retrieve` latency on the real Secret Service: KeyringStore (one D-Bus item per secret)
//! against HybridStore (key in the keyring, secrets in the vault) and the plain vault, in
//! the same run. Needs a Secret Service: run it under `scripts/with-keyring`:
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
    let mut g = c.benchmark_group("keyring_retrieve");
    g.bench_function("keyring", |b| {
        b.iter(|| black_box(keyring.retrieve(&key).unwrap()))
    });
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
    if let (Some(k), Some(h), Some(v)) = (m("keyring"), m("hybrid"), m("vault")) {
        println!(
            "retrieve on the Secret Service: keyring {:.1} µs, hybrid {:.2} µs, vault {:.2} µs; keyring/hybrid = {:.0}x",
            k / 1e3,
            h / 1e3,
            v / 1e3,
            k / h
        );
    }
}
