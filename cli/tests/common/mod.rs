//! Shared by the CLI's integration tests: run the `hearth` binary as a user would, with
//! standard input written and all output captured.
#![allow(dead_code, reason = "each test binary uses the part it needs")]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `hearth ARGS...` with `stdin`, after `configure` has set its environment.
pub(crate) fn run_hearth(
    args: &[&str],
    stdin: &[u8],
    configure: impl FnOnce(&mut Command),
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().unwrap();
    // A child that exits before reading its input closes the pipe: not this helper's error.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    assert_sentences(&out);
    out
}

/// Every message `hearth` prints on stderr is made of sentences, never Rust `Debug` text.
pub(crate) fn assert_sentences(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    for debug in ["Other(", "Error(", "{ ", "Some(", "OtherError", "Os { code"] {
        assert!(
            !stderr.contains(debug),
            "Debug text in hearth's stderr: {stderr}"
        );
    }
}

/// The arguments that point `hearth` at an encrypted-file vault in `dir` (unlocked by a
/// key file beside it), so that a test needs no keyring.
pub(crate) fn vault_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        "--backend".into(),
        "vault".into(),
        "--vault".into(),
        dir.join("vault.hearth").display().to_string(),
        "--key-file".into(),
        dir.join("vault.key").display().to_string(),
    ]
}
