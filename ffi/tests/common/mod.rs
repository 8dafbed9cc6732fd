//! Shared by the FFI's integration tests: the freshly built shared library and a
//! bounded wait for child processes.
#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>`, with a `libhearth.so` built from the current sources: `cargo test`
/// builds only the rlib its tests link, so the shared library is built here (once per
/// test process; cargo makes it a no-op when nothing changed).
pub(crate) fn lib_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let release = dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "hearth-ffi", "--lib"]);
            if release {
                build.arg("--release");
            }
            let status = build.status().unwrap();
            assert!(status.success(), "building libhearth.so failed");
            dir
        })
        .clone()
}

/// Whether this process's session bus is scripts/with-keyring's private one (its address
/// equals `HEARTH_PRIVATE_BUS`); `HEARTH_REQUIRE_KEYRING` without it is a mistake.
pub(crate) fn private_bus() -> bool {
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS");
    let private = bus.is_some() && bus == std::env::var_os("HEARTH_PRIVATE_BUS");
    assert!(
        private || std::env::var_os("HEARTH_REQUIRE_KEYRING").is_none(),
        "HEARTH_REQUIRE_KEYRING is set outside scripts/with-keyring's private D-Bus session"
    );
    private
}

/// Runs `program args... dir/run` with `envs`, killed after `limit`; echoes its output.
/// It keeps the D-Bus session only when that is scripts/with-keyring's private one.
/// Its stdout and stderr are read while it runs (a large report must not block it).
pub(crate) fn run(
    program: &str,
    args: &[&Path],
    dir: &Path,
    envs: &[(&str, String)],
    limit: Duration,
) -> Output {
    let mut command = Command::new(program);
    // Outside scripts/with-keyring (which starts a private D-Bus and keyring and names its
    // address in HEARTH_PRIVATE_BUS), the program gets no session bus: a test never
    // touches the developer's own keyring.
    if !private_bus() {
        command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    }
    let mut child = command
        .args(args)
        .arg(dir.join("run"))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-deps installs it)"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
            print!("{}", String::from_utf8_lossy(&out));
            eprint!("{}", String::from_utf8_lossy(&err));
            panic!("{program} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}
