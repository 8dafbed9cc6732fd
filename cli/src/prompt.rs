//! Reading a secret typed at the terminal, without echo.

use std::io::{self, BufRead as _, Read as _, Write as _};

use hearth_token_guard::SecretBytes;
use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

use crate::exit::Failure;

/// Longest line read: the same 1 MiB as a secret from a pipe.
const LIMIT: usize = 1 << 20;

/// Puts the terminal's echo back when dropped, even on an error path.
struct EchoOff {
    saved: rustix::termios::Termios,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Shows `prompt` on stderr and reads one line from the terminal on stdin with echo off;
/// the line's newline is not part of the secret.
pub(crate) fn hidden(prompt: &str) -> Result<SecretBytes, Failure> {
    let mut err = io::stderr().lock();
    err.write_all(prompt.as_bytes())?;
    err.flush()?;
    let saved = tcgetattr(io::stdin()).map_err(io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(io::stdin(), OptionalActions::Now, &quiet).map_err(io::Error::from)?;
    let guard = EchoOff { saved };
    // Allocated once at full size, so no reallocation leaves an unwiped copy behind.
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(LIMIT + 2));
    io::stdin()
        .lock()
        .take(LIMIT as u64 + 2)
        .read_until(b'\n', &mut line)?;
    drop(guard);
    err.write_all(b"\n")?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > LIMIT {
        return Err(Failure::from(hearth_secure_storage::Error::TooLarge {
            limit: LIMIT,
        }));
    }
    Ok(SecretBytes::from_slice(&line))
}
