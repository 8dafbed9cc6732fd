//! Vault `retrieve` and `store` at 10, 1 000 and 10 000 entries, next to the floor any
//! crash-safe file store pays, measured in the same run: write 4 KiB to a temp file, fsync,
//! rename over the target, fsync the directory.
//!
//! Run: `cargo bench -p hearth-secure-storage --bench vault`

use std::fs::{self, File};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use hearth_secure_storage::{EncryptedFileStore, Key, KeySource, SecureStorage};
use hearth_token_guard::SecretBytes;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn key(i: usize) -> Key {
    format!("jellytau::srv-{}::user-{i}::access_token", i % 7)
        .parse()
        .unwrap()
}

/// A 64-byte token, as an OAuth access token typically is.
fn secret(i: usize) -> SecretBytes {
    SecretBytes::from_slice(format!("{i:064}").as_bytes())
}

fn vault(dir: &Path, n: usize) -> EncryptedFileStore {
    let path = dir.join(format!("vault-{n}"));
    let _ = fs::remove_file(&path);
    let v = EncryptedFileStore::open(&path, KeySource::RawKey(SecretBytes::from_slice(&[7; 32])))
        .unwrap();
    v.store_all((0..n).map(|i| (key(i), secret(i)))).unwrap();
    v
}

/// The floor: 4 KiB to a temp file, fsync, rename, directory fsync.
fn durable_write(dir: &Path, data: &[u8]) {
    let tmp = dir.join("floor.tmp");
    let mut f = File::create(&tmp).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
    fs::rename(&tmp, dir.join("floor")).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
}

fn main() {
    let dir = std::env::temp_dir().join(format!("hearth-bench-vault-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    hearth_token_guard::private_file::ensure_private_dir(&dir).unwrap();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();

    let page = vec![0x5a; 4096];
    let mut g = c.benchmark_group("vault_floor");
    g.bench_function("4KiB", |b| b.iter(|| durable_write(&dir, black_box(&page))));
    g.finish();

    let mut g = c.benchmark_group("vault_retrieve");
    for n in SIZES {
        let v = vault(&dir, n);
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(v.retrieve(&key(i)).unwrap())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("vault_store");
    for n in SIZES {
        let v = vault(&dir, n);
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 7919) % n;
                v.store(&key(i), &secret(i + 1)).unwrap()
            })
        });
    }
    g.finish();
    c.final_summary();
    let _ = fs::remove_dir_all(&dir);

    let floor = median_ns("vault_floor/4KiB");
    println!(
        "\nfloor (4 KiB temp write + fsync + rename + dir fsync): {:.1} µs",
        floor.unwrap_or(f64::NAN) / 1e3
    );
    for n in SIZES {
        let (r, s) = (
            median_ns(&format!("vault_retrieve/{n}")),
            median_ns(&format!("vault_store/{n}")),
        );
        if let (Some(r), Some(s), Some(f)) = (r, s, floor) {
            println!(
                "{n:>6} entries: retrieve {:.2} µs, store {:.1} µs = {:.2}x the floor",
                r / 1e3,
                s / 1e3,
                s / f
            );
        }
    }
    if let (Some(a), Some(b)) = (median_ns("vault_store/10"), median_ns("vault_store/10000")) {
        println!("store growth 10 -> 10000 entries: {:.1}x", b / a);
    }
    if let (Some(a), Some(b)) = (
        median_ns("vault_retrieve/10"),
        median_ns("vault_retrieve/10000"),
    ) {
        println!("retrieve growth 10 -> 10000 entries: {:.2}x", b / a);
    }
}
