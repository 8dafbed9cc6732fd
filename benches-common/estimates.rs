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
