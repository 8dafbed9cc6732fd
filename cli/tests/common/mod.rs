//! Shared by the CLI's integration tests: run the `hearth` binary as a user would, with
//! standard input written and all output captured.

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
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
