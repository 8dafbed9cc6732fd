//! Verifier + S256 challenge generation, next to the floor of its parts and to oauth2-rs,
//! in one run:
//! - hearth: `CodeVerifier::generate()` + `challenge()`;
//! - floor: 32 bytes from `ring::rand::SystemRandom` (a getrandom syscall), one SHA-256,
//!   two base64url encodings, into fresh `String`s;
//! - oauth2-rs: `PkceCodeChallenge::new_random_sha256()`, which draws from rand's
//!   user-space `thread_rng` (no syscall per call).
//!
//! Run: `cargo bench -p hearth-pkce --bench pkce`

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use ring::rand::{SecureRandom, SystemRandom};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

fn floor(rng: &SystemRandom) -> (String, String) {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let hash = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(hash.as_ref()))
}

/// Criterion measures one function after the other; on this VM the speed drifts between
/// them (the floor itself moved by a third across runs), so this also alternates 31 rounds
/// of 20,000 calls of each and takes each one's median: slow drift cancels out.
fn interleaved(rng: &SystemRandom) -> (f64, f64, f64) {
    const ROUNDS: usize = 31;
    const CALLS: u32 = 20_000;
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    let per_call = |t: Instant| t.elapsed().as_nanos() as f64 / f64::from(CALLS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..CALLS {
            let v = hearth_pkce::CodeVerifier::generate().unwrap();
            black_box(v.challenge());
            black_box(v);
        }
        times[0].push(per_call(t));
        let t = Instant::now();
        for _ in 0..CALLS {
            black_box(floor(rng));
        }
        times[1].push(per_call(t));
        let t = Instant::now();
        for _ in 0..CALLS {
            black_box(oauth2::PkceCodeChallenge::new_random_sha256());
        }
        times[2].push(per_call(t));
    }
    let [mut h, mut f, mut o] = times;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut h), median(&mut f), median(&mut o))
}

fn main() {
    let rng = SystemRandom::new();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    let mut g = c.benchmark_group("pkce_generate");
    g.bench_function("hearth", |b| {
        b.iter(|| {
            let v = hearth_pkce::CodeVerifier::generate().unwrap();
            black_box(v.challenge());
            v
        })
    });
    g.bench_function("floor", |b| b.iter(|| black_box(floor(&rng))));
    g.bench_function("oauth2-rs", |b| {
        b.iter(|| black_box(oauth2::PkceCodeChallenge::new_random_sha256()))
    });
    g.finish();
    c.final_summary();

    let (h, f, o) = interleaved(&rng);
    println!(
        "PKCE generation, interleaved medians: hearth {h:.0} ns, floor {f:.0} ns ({:.2}x the floor), oauth2-rs {o:.0} ns ({:.2}x oauth2-rs)",
        h / f,
        h / o
    );
    let m = |f: &str| median_ns(&format!("pkce_generate/{f}"));
    if let (Some(h), Some(f), Some(o)) = (m("hearth"), m("floor"), m("oauth2-rs")) {
        println!(
            "PKCE generation: hearth {:.0} ns, floor {:.0} ns ({:.2}x the floor), oauth2-rs {:.0} ns ({:.2}x oauth2-rs: it skips the syscall by using a user-space RNG)",
            h,
            f,
            h / f,
            o,
            h / o
        );
    }
}
