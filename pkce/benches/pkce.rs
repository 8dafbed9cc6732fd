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
use std::time::Duration;

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
