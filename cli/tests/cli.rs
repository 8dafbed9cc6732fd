//! The `hearth` binary as a user runs it: arguments, exit codes, files, pipes.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn hearth(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .output()
        .unwrap();
    common::assert_sentences(&out);
    out
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-cli-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    p
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[test]
fn version_and_help() {
    let out = hearth(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("hearth {}\n", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["token", "new", "--help"],
        &["redact", "--help"],
    ] {
        let out = hearth(args);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Exit codes:") && help.contains("4  refused by policy"),
            "{help}"
        );
    }
}

#[test]
fn token_new_prints_a_fresh_token() {
    let a = hearth(&["token", "new"]);
    let b = hearth(&["token", "new"]);
    assert!(a.status.success() && b.status.success());
    let (a, b) = (
        String::from_utf8(a.stdout).unwrap(),
        String::from_utf8(b.stdout).unwrap(),
    );
    assert_eq!(a.len(), 44, "43 characters and a newline");
    assert!(is_b64url(a.trim_end()));
    assert_ne!(a, b);
    let long = hearth(&["token", "new", "--bytes", "64"]);
    assert_eq!(String::from_utf8(long.stdout).unwrap().trim_end().len(), 86);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["token", "new", "--bytes", "15"][..],
        &["token", "new", "--bytes", "1025"],
        &["token", "new", "--bytes", "x"],
        &["token", "new", "--force"],
        &["frobnicate"],
        &[],
    ] {
        let out = hearth(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn token_new_out_writes_a_private_file_and_prints_nothing() {
    let dir = scratch("out");
    let path = dir.join("sub/ws_token");
    let p = path.to_str().unwrap();
    let out = hearth(&["token", "new", "--out", p]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    let first = fs::read_to_string(&path).unwrap();
    assert!(is_b64url(first.trim_end()) && first.ends_with('\n'));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(dir.join("sub")).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let again = hearth(&["token", "new", "--out", p]);
    assert_eq!(again.status.code(), Some(4));
    assert!(
        String::from_utf8(again.stderr)
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), first, "left untouched");

    let forced = hearth(&["token", "new", "--out", p, "--force"]);
    assert!(forced.status.success());
    assert_ne!(fs::read_to_string(&path).unwrap(), first);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policy_refusals_exit_4_and_say_why() {
    let dir = scratch("policy");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let out = hearth(&["token", "new", "--out", dir.join("t").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("0777") && err.contains("not writable by group or others"),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redact_filters_stdin_to_stdout() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=x\nAuthorization: Bearer abcdefgh12345\nplain line\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "GET /cb?code=[REDACTED]&state=x\nAuthorization: Bearer [REDACTED]\nplain line\n"
    );
}

fn redact_with(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn redact_check_and_stats_for_scanning_ci_logs() {
    let leaky = b"export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345\ncurl -u ci:hunter2 https://x\npushed by ghp_0123456789abcdefghijABCDEFGHIJ012345\n";
    let out = redact_with(&["--check", "--stats"], leaky);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "export GITHUB_TOKEN=[REDACTED]\ncurl -u ci:[REDACTED] https://x\npushed by [REDACTED]\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "curl-user: 1\ngithub: 1\nname: 1\nhearth: error: 3 secrets masked\n"
    );
    assert!(!err.contains("hunter2") && !err.contains("ghp_"));

    let clean = redact_with(&["--check", "--stats"], b"build ok in 3.2 s\n\xff bytes\n");
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(clean.stdout, b"build ok in 3.2 s\n\xff bytes\n");
    assert_eq!(String::from_utf8(clean.stderr).unwrap(), "nothing masked\n");
}

#[test]
fn redact_survives_a_reader_that_goes_away() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    // Writing may itself fail once the child has exited; either way it must exit 0.
    let _ = stdin.write_all(&b"line\n".repeat(100_000));
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Kills `hearth token new --force` at random instants while it rewrites a token file:
/// afterwards the file must always hold one whole token, never a mix or a truncation, and
/// whatever a killed writer left behind is private too.
///
/// The instants are drawn from the whole life of a writer as measured on this machine at
/// this moment (a run to the end every sixth round), not from a fixed span: under load a
/// fixed few milliseconds would only ever hit process start-up, never the write.
#[test]
fn a_writer_killed_mid_write_leaves_old_or_new_never_partial() {
    use std::os::unix::process::ExitStatusExt as _;
    use std::time::{Duration, Instant};

    let dir = scratch("kill");
    let path = dir.join("tok");
    let p = path.to_str().unwrap().to_owned();
    let started = Instant::now();
    assert!(
        hearth(&["token", "new", "--bytes", "1024", "--out", &p])
            .status
            .success()
    );
    let mut lifetime = started.elapsed();
    let mut seen = std::collections::HashSet::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let (mut killed, mut mid_write) = (0, 0);
    let mut strays = 0;
    for round in 0..60 {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["token", "new", "--bytes", "1024", "--force", "--out", &p])
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if round % 6 == 5 {
            // Every sixth writer runs to the end, so the file must change over the run, and
            // says how long a writer lives just now.
            assert!(child.wait().unwrap().success());
            lifetime = started.elapsed();
        } else {
            let nanos = u64::try_from(lifetime.as_nanos()).unwrap().max(1);
            std::thread::sleep(Duration::from_nanos(rng % nanos).saturating_sub(started.elapsed()));
            let _ = child.kill();
            let status = child.wait().unwrap();
            match status.signal() {
                Some(9) => killed += 1,
                _ => assert!(status.success(), "{status:?}"),
            }
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 1367, "one whole 1024-byte token and a newline");
        assert!(is_b64url(text.trim_end()) && text.ends_with('\n'));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        seen.insert(text);
        // A writer killed between creating its temporary file and renaming it leaves that
        // file: only ever `.tok.*.tmp`, and never readable by anyone else.
        let mut now = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name == "tok" {
                continue;
            }
            assert!(
                name.starts_with(".tok.") && name.ends_with(".tmp"),
                "unexpected {name}"
            );
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
            now += 1;
        }
        mid_write += usize::from(now > strays);
        strays = now;
    }
    eprintln!("{killed} writers killed, {mid_write} of them mid-write");
    assert!(killed > 0, "no writer was still running when killed");
    assert!(
        seen.len() > 1,
        "the writers that finished replaced the token"
    );
    fs::remove_dir_all(&dir).unwrap();
}
