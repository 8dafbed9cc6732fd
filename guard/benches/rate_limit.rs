//! Rate-limit decisions: Hearth's limiters against governor 0.10 in the same run.
//!
//! - single key: `GlobalLimiter` (token bucket, one CAS) vs governor's direct limiter,
//!   both with a quota so large every check is admitted (the path that writes);
//! - keyed: `RateLimiter` vs governor's `DefaultKeyedRateLimiter<u64>`, round-robin over
//!   10,000 pre-inserted `u64` keys;
//! - memory per tracked key: a fresh child process per limiter inserts 1,000,000 `u64`
//!   keys and reports its VmRSS growth (as the anchors in ../shared/research did).
//!
//! Run: `cargo bench -p hearth-guard --bench rate_limit`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::process::Command;
use std::time::Duration;

use criterion::Criterion;
use governor::{Quota, RateLimiter as Governor};
use hearth_guard::{GlobalLimiter, Limit, RateLimiter};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const KEYS: u64 = 10_000;
const MEMORY_KEYS: u64 = 1_000_000;

fn huge_bucket() -> Limit {
    Limit::token_bucket(1_000_000_000, Duration::from_secs(1), 1_000_000).unwrap()
}

fn huge_quota() -> Quota {
    Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Child mode: insert MEMORY_KEYS keys into one limiter, print bytes of RSS per key.
fn memory_child(which: &str) {
    let before = rss_bytes();
    let per_key = match which {
        "hearth" => {
            let limiter = RateLimiter::new(huge_bucket())
                .unwrap()
                .with_max_keys(2 * MEMORY_KEYS as usize);
            for k in 0..MEMORY_KEYS {
                limiter.check(&k).unwrap();
            }
            assert_eq!(limiter.tracked_keys() as u64, MEMORY_KEYS);
            (rss_bytes() - before) as f64 / MEMORY_KEYS as f64
        }
        _ => {
            let limiter = Governor::keyed(huge_quota());
            for k in 0..MEMORY_KEYS {
                limiter.check_key(&k).unwrap();
            }
            assert_eq!(limiter.len() as u64, MEMORY_KEYS);
            (rss_bytes() - before) as f64 / MEMORY_KEYS as f64
        }
    };
    println!("{per_key:.1}");
}

fn memory_per_key(which: &str) -> Option<f64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .env("HEARTH_RATE_MEMORY_CHILD", which)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    if let Ok(which) = std::env::var("HEARTH_RATE_MEMORY_CHILD") {
        return memory_child(&which);
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let mut g = c.benchmark_group("rate_limit_single");
    let ours = GlobalLimiter::new(huge_bucket());
    g.bench_function("hearth", |b| b.iter(|| black_box(ours.check().is_ok())));
    let theirs = Governor::direct(huge_quota());
    g.bench_function("governor", |b| b.iter(|| black_box(theirs.check().is_ok())));
    g.finish();

    let mut g = c.benchmark_group("rate_limit_keyed_10k");
    let ours = RateLimiter::new(huge_bucket()).unwrap();
    let theirs = Governor::keyed(huge_quota());
    for k in 0..KEYS {
        ours.check(&k).unwrap();
        theirs.check_key(&k).unwrap();
    }
    let mut next = 0u64;
    g.bench_function("hearth", |b| {
        b.iter(|| {
            next = (next + 1) % KEYS;
            black_box(ours.check(&next).is_ok())
        })
    });
    g.bench_function("governor", |b| {
        b.iter(|| {
            next = (next + 1) % KEYS;
            black_box(theirs.check_key(&next).is_ok())
        })
    });
    g.finish();
    c.final_summary();

    for group in ["rate_limit_single", "rate_limit_keyed_10k"] {
        let m = |f: &str| median_ns(&format!("{group}/{f}"));
        if let (Some(h), Some(g)) = (m("hearth"), m("governor")) {
            println!(
                "{group}: hearth {h:.1} ns, governor {g:.1} ns, ratio {:.2}x ({:.1} M decisions/s vs {:.1} M/s)",
                h / g,
                1e3 / h,
                1e3 / g
            );
        }
    }
    if let (Some(h), Some(g)) = (memory_per_key("hearth"), memory_per_key("governor")) {
        println!(
            "memory per tracked u64 key ({MEMORY_KEYS} keys, RSS growth): hearth {h:.1} B, governor {g:.1} B, ratio {:.2}x",
            h / g
        );
    }
}
