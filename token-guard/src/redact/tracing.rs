//! A `tracing_subscriber::fmt::MakeWriter` that scrubs every formatted event.
//!
//! A tracing `Layer` cannot rewrite an event's fields (tokio-rs/tracing#3486 was closed),
//! so scrubbing happens where the text exists: between the fmt layer's formatter and the
//! writer. The fmt layer formats each event into one buffer and writes it with one
//! `write_all`; [`RedactingWriter`] collects what it is given and writes it scrubbed when
//! it is flushed or dropped, so a secret split across `write` calls is still masked whole.

use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use super::Redactor;

/// Wraps a `MakeWriter` (stdout, a file, a non-blocking appender) so that every event it
/// writes is scrubbed with a [`Redactor`]: the built-in patterns and the live secrets
/// registered with it.
///
/// ```
/// use std::sync::Arc;
/// use hearth_token_guard::{AccessToken, Redactor, RedactingMakeWriter};
///
/// let redactor = Arc::new(Redactor::new());
/// redactor.register(&AccessToken::new("opaque-live-token"))?;
/// let subscriber = tracing_subscriber::fmt()
///     .with_writer(RedactingMakeWriter::new(std::io::stderr, Arc::clone(&redactor)))
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(token = "opaque-live-token", "signed in with password=hunter2");
///     // stderr: ... signed in with password=[REDACTED] token="[REDACTED]"
/// });
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    redactor: Arc<Redactor>,
}

impl<M> RedactingMakeWriter<M> {
    /// Scrubs what `inner`'s writers receive with `redactor`.
    pub fn new(inner: M, redactor: Arc<Redactor>) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            redactor: &self.redactor,
            pending: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing_core::Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer_for(meta),
            redactor: &self.redactor,
            pending: Vec::new(),
        }
    }
}

/// The writer of one event: collects it, writes it scrubbed on flush or drop. Its `Debug`
/// shows how much is pending, never what.
pub struct RedactingWriter<'a, W: Write> {
    inner: W,
    redactor: &'a Redactor,
    pending: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for RedactingWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactingWriter")
            .field("pending_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> RedactingWriter<'_, W> {
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        strip_ansi(&mut self.pending);
        let result = self
            .inner
            .write_all(&self.redactor.redact_bytes(&self.pending));
        zeroize::Zeroize::zeroize(&mut self.pending);
        self.pending.clear();
        result
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ … final`, and two-byte `ESC x`) in place.
fn strip_ansi(buf: &mut Vec<u8>) {
    if !buf.contains(&0x1b) {
        return;
    }
    let mut out = 0;
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == 0x1b {
            if buf.get(i + 1) == Some(&b'[') {
                // Parameters and intermediates, then one final byte in 0x40..=0x7e.
                i += 2;
                while i < buf.len() && !(0x40..=0x7e).contains(&buf[i]) {
                    i += 1;
                }
                i += 1;
            } else {
                i += 2;
            }
            continue;
        }
        buf[out] = buf[i];
        out += 1;
        i += 1;
    }
    zeroize::Zeroize::zeroize(&mut buf[out..]);
    buf.truncate(out);
}

impl<W: Write> Write for RedactingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<'_, W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write from a destructor; the fmt layer ignores
        // write errors too.
        let _ = self.write_pending();
    }
}
