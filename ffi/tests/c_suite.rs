//! Runs the C test suite (`hearth_test.c`) against the committed header and the built
//! `libhearth.so`: compiled with `-Wall -Wextra -Werror`, then run plain, under
//! AddressSanitizer + UBSan, and under valgrind (`--leak-check=full --error-exitcode=1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{lib_dir, run};

use hearth_net_policy::Pin;
use hearth_token_guard::apikey::{KeyRegistry, Role, parse};

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-ffi-c-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

fn compile(out: &Path, extra: &[&str]) {
    let lib = lib_dir();
    assert!(
        lib.join("libhearth.so").exists(),
        "{} has no libhearth.so",
        lib.display()
    );
    // The library's SONAME is `libhearth.so.0` (ffi/build.rs): what an installed copy is
    // called, and what the program asks the loader for. Beside the program, as an install
    // would link it.
    let dir = out.parent().unwrap();
    let soname = dir.join("libhearth.so.0");
    let _ = std::fs::remove_file(&soname);
    std::os::unix::fs::symlink(lib.join("libhearth.so"), &soname).unwrap();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-pthread"])
        .args(extra)
        .arg("-I")
        .arg(include_dir())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hearth_test.c"))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .arg("-lhearth")
        .status()
        .expect("cc (gcc) is needed: scripts/install-deps installs it");
    assert!(status.success(), "the C suite did not compile");
}

/// The inputs the C program checks against, computed here with the Rust API.
fn fixtures(dir: &Path) -> Vec<(&'static str, String)> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["c.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = dir.join("cert.der");
    std::fs::write(&cert_path, cert.der()).unwrap();
    let pin = Pin::of_certificate(cert.der()).unwrap().to_string();

    let registry_path = dir.join("keys/registry");
    let registry = KeyRegistry::open(&registry_path);
    let (good, good_record) = registry.create(Role::Consumer, "c", None).unwrap();
    let (revoked, revoked_record) = registry.create(Role::Consumer, "gone", None).unwrap();
    registry.revoke(&revoked_record.id).unwrap();
    let other = KeyRegistry::open(dir.join("other/registry"));
    let (foreign, _) = other.create(Role::Consumer, "elsewhere", None).unwrap();
    assert_eq!(parse(good.expose_secret(), "hth").unwrap(), good_record.id);
    vec![
        ("HEARTH_TEST_CERT", cert_path.display().to_string()),
        ("HEARTH_TEST_PIN", pin),
        ("HEARTH_TEST_REGISTRY", registry_path.display().to_string()),
        ("HEARTH_TEST_KEY", good.expose_secret().to_owned()),
        ("HEARTH_TEST_KEY_ID", good_record.id.to_string()),
        (
            "HEARTH_TEST_REVOKED_KEY",
            revoked.expose_secret().to_owned(),
        ),
        (
            "HEARTH_TEST_FOREIGN_KEY",
            foreign.expose_secret().to_owned(),
        ),
        // The default store's files go here, not into the user's data directory.
        ("XDG_DATA_HOME", dir.join("data").display().to_string()),
        ("XDG_CONFIG_HOME", dir.join("config").display().to_string()),
    ]
}

fn assert_suite_passed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the C suite failed: {:?}", out.status);
    assert!(!stdout.contains("not ok"), "a C check failed");
    let checks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(checks >= 150, "only {checks} C checks ran");
}

#[test]
fn the_c_suite_passes() {
    let dir = scratch("plain");
    let exe = dir.join("hearth_test");
    compile(&exe, &[]);
    let envs = fixtures(&dir);
    let out = run(
        exe.to_str().unwrap(),
        &[],
        &dir,
        &envs,
        Duration::from_secs(120),
    );
    assert_suite_passed(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_c_suite_passes_under_address_and_undefined_behaviour_sanitizers() {
    let dir = scratch("asan");
    let exe = dir.join("hearth_test_asan");
    compile(
        &exe,
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let mut envs = fixtures(&dir);
    // Leaks are valgrind's job (below); ASan checks every access.
    envs.push(("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1".into()));
    // Instrumented code on a loaded machine: a keyring limit that fits (the C program's
    // default, as the library's, is 5 s).
    envs.push(("HEARTH_TEST_KEYRING_TIMEOUT_MS", "60000".into()));
    let out = run(
        exe.to_str().unwrap(),
        &[],
        &dir,
        &envs,
        Duration::from_secs(180),
    );
    assert_suite_passed(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_c_suite_is_clean_under_valgrind() {
    let dir = scratch("valgrind");
    let exe = dir.join("hearth_test_vg");
    compile(&exe, &[]);
    let mut envs = fixtures(&dir);
    // Every D-Bus message and the session's Diffie-Hellman run under valgrind's JIT:
    // calls that take milliseconds natively take seconds here.
    envs.push(("HEARTH_TEST_KEYRING_TIMEOUT_MS", "300000".into()));
    // No suppressions: an earlier report in ring's GHASH (a tag byte written to the vault
    // seen as uninitialised) no longer appears, with or without a keyring, under
    // `--track-origins=yes`; any report now fails the suite.
    let out = run(
        "valgrind",
        &[
            Path::new("--leak-check=full"),
            Path::new("--error-exitcode=1"),
            Path::new("--errors-for-leak-kinds=definite,indirect"),
            Path::new("--quiet"),
            &exe,
        ],
        &dir,
        &envs,
        Duration::from_secs(600),
    );
    assert_suite_passed(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_caller_of_a_deprecated_function_is_warned() {
    let dir = scratch("deprecated");
    let src = dir.join("old.c");
    std::fs::write(
        &src,
        "#include \"hearth.h\"\n\
         int list(hearth_store *s) { char *k; size_t n;\n\
         return hearth_store_list(s, \"app\", &k, &n); }\n",
    )
    .unwrap();
    let out = Command::new("cc")
        .args(["-std=c11", "-c", "-Werror=deprecated-declarations", "-I"])
        .arg(include_dir())
        .arg(&src)
        .arg("-o")
        .arg(dir.join("old.o"))
        .output()
        .expect("cc (gcc) is needed: scripts/install-deps installs it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no deprecation warning");
    assert!(
        stderr.contains("use hearth_store_list_keys"),
        "the warning names the replacement: {stderr}"
    );
}

#[test]
fn the_library_carries_its_soname() {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(lib_dir().join("libhearth.so"))
        .output()
        .expect("readelf (binutils) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Library soname: [libhearth.so.0]"), "{text}");
}
