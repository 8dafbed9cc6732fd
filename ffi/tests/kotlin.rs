//! The Kotlin example (`examples/kotlin/`) compiled with Debian's `kotlinc` (1.3) against
//! Debian's JNA and run on the JVM: it stores, reads back, lists and clears secrets in a
//! vault through `libhearth.so`, and checks the RFC 7636 vector.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{lib_dir, run};

const JNA: &str = "/usr/share/java/jna.jar";

#[test]
fn the_kotlin_example_runs_against_the_c_abi() {
    let dir = std::env::temp_dir().join(format!("hearth-ffi-kotlin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(
        Path::new(JNA).exists(),
        "{JNA} is missing: scripts/install-deps installs libjna-java"
    );
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kotlin");
    let jar = dir.join("hearth-example.jar");
    let status = Command::new("kotlinc")
        .arg(sources.join("Hearth.kt"))
        .arg(sources.join("Main.kt"))
        .args(["-include-runtime", "-cp", JNA, "-d"])
        .arg(&jar)
        .status()
        .expect("kotlinc is missing: scripts/install-deps installs kotlin");
    assert!(status.success(), "kotlinc failed");

    let classpath = format!("{}:{JNA}", jar.display());
    let library_path = format!("-Djna.library.path={}", lib_dir().display());
    let out = run(
        "java",
        &[
            Path::new(&library_path),
            Path::new("-cp"),
            Path::new(&classpath),
            Path::new("MainKt"),
        ],
        &dir,
        &[],
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the Kotlin example failed");
    assert!(!stdout.contains("not ok"));
    assert!(stdout.lines().filter(|l| l.starts_with("ok - ")).count() >= 22);
    assert!(stdout.contains("# failures: 0"));
    std::fs::remove_dir_all(&dir).unwrap();
}
