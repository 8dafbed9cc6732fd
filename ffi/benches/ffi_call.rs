//! The cost of crossing the C ABI: `hearth_pkce_challenge` (parse a C string, compute the
//! S256 challenge, hand back a C string, free it with zeroization) against the direct Rust
//! call `CodeVerifier::parse(v)?.challenge()` in the same run.
//!
//! Run: `cargo bench -p hearth-ffi --bench ffi_call`

use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hearth::{HEARTH_OK, hearth_pkce_challenge, hearth_string_free};
use hearth_pkce::CodeVerifier;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Criterion measures one function after the other, so a drift of the machine's speed
/// between the two shows up as overhead. This alternates rounds of both and takes the
/// median of each, which cancels slow drift.
fn interleaved(verifier: &CString) -> (f64, f64) {
    const ROUNDS: usize = 31;
    const CALLS: u32 = 200_000;
    let (mut rust, mut ffi) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..CALLS {
            black_box(
                CodeVerifier::parse(black_box(VERIFIER))
                    .unwrap()
                    .challenge(),
            );
        }
        rust.push(t.elapsed().as_nanos() as f64 / f64::from(CALLS));
        let t = Instant::now();
        for _ in 0..CALLS {
            let mut out: *mut c_char = std::ptr::null_mut();
            assert_eq!(
                hearth_pkce_challenge(black_box(verifier.as_ptr()), &mut out),
                HEARTH_OK
            );
            hearth_string_free(black_box(out));
        }
        ffi.push(t.elapsed().as_nanos() as f64 / f64::from(CALLS));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut rust), median(&mut ffi))
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("pkce_challenge");
    g.bench_function("rust", |b| {
        b.iter(|| {
            black_box(
                CodeVerifier::parse(black_box(VERIFIER))
                    .unwrap()
                    .challenge(),
            )
        })
    });
    let verifier = CString::new(VERIFIER).unwrap();
    g.bench_function("ffi", |b| {
        b.iter(|| {
            let mut out: *mut c_char = std::ptr::null_mut();
            let status = hearth_pkce_challenge(black_box(verifier.as_ptr()), &mut out);
            assert_eq!(status, HEARTH_OK);
            hearth_string_free(black_box(out));
        })
    });
    g.finish();
    c.final_summary();
    let (r, f) = interleaved(&verifier);
    println!(
        "pkce_challenge interleaved (median of 31 alternating rounds of 200,000 calls): rust {r:.1} ns, ffi {f:.1} ns, overhead {:+.1}%",
        (f / r - 1.0) * 100.0
    );
    if let (Some(r), Some(f)) = (
        median_ns("pkce_challenge/rust"),
        median_ns("pkce_challenge/ffi"),
    ) {
        println!(
            "pkce_challenge: rust {r:.1} ns, ffi {f:.1} ns, overhead {:+.1}% (target < 10%)",
            (f / r - 1.0) * 100.0
        );
    }
}
