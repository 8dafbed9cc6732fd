//! Every keyring call on a helper thread, abandoned after a timeout: a locked collection
//! waiting on a prompt or a dead D-Bus must not hang the caller.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::KeyringBackend;
use crate::Error;

/// Runs `f` (a call into `backend`), waiting at most `timeout`.
///
/// A call that times out keeps its thread until the platform returns; the caller gets
/// [`Error::Timeout`] at once. Those threads are the price of never hanging.
pub(super) fn call<T, F>(backend: KeyringBackend, timeout: Duration, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let start = Instant::now();
    std::thread::Builder::new()
        .name("hearth-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Error::Unavailable {
            backend: backend.name(),
            reason: format!("cannot start a thread: {e}"),
        })?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(Error::Timeout {
            backend: backend.name(),
            waited: start.elapsed(),
        }),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Unavailable {
            backend: backend.name(),
            reason: "the keyring call panicked".into(),
        }),
    }
}
