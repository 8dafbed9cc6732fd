//! Shared by the criterion benches: read criterion's median estimate back after a run, so
//! each bench can print its ratio against the peer measured in the same run.

use std::path::PathBuf;

/// Criterion's median estimate, in nanoseconds, for `group/function[/parameter]`.
pub(crate) fn median_ns(id: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // The bench binary lives in <target>/<profile>/deps/.
            Some(
                std::env::current_exe()
                    .ok()?
                    .parent()?
                    .parent()?
                    .parent()?
                    .to_path_buf(),
            )
        })?;
    let path = target.join("criterion").join(id).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Medians, in nanoseconds per call, of `rounds` rounds that each run every function in
/// `fns` `calls` times, one after the other. Criterion measures one function after the
/// other, and on a shared VM the speed drifts between them; alternating cancels slow drift.
#[allow(dead_code, reason = "not every bench including this file alternates")]
pub(crate) fn interleaved(fns: &mut [&mut dyn FnMut()], rounds: usize, calls: u32) -> Vec<f64> {
    let mut times = vec![Vec::with_capacity(rounds); fns.len()];
    for _ in 0..rounds {
        for (f, t) in fns.iter_mut().zip(&mut times) {
            let start = std::time::Instant::now();
            for _ in 0..calls {
                f();
            }
            t.push(start.elapsed().as_nanos() as f64 / f64::from(calls));
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
}
