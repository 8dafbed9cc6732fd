//! Scrubbing a stream line by line, for `tail -f app.log | hearth redact`.
//!
//! Bytes pass through as they are (invalid UTF-8 included); only secrets change. A line
//! longer than [`PIECE`] is scrubbed in pieces that overlap by [`OVERLAP`] bytes, so no
//! secret that fits in the overlap is split, and the [`CONTEXT`] bytes before each cut
//! (names, prefixes) are seen again with what follows them. A PEM private key block that
//! spans lines is held until its END line (at most 100 lines, 64 KiB): masked whole if its
//! lines look like base64, otherwise passed through, each line scrubbed on its own.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use super::{Detector, Found, Redactor, pem, write_masked};

/// Most bytes of a line scrubbed in one piece; a hostile stream without newlines cannot
/// make the redactor buffer more.
pub(super) const PIECE: usize = 1 << 20;
/// Consecutive pieces of a long line overlap by this much: a PEM body's limit and more.
const OVERLAP: usize = pem::MAX_BODY + 4096;
/// Bytes before a cut that the next piece sees again (already written).
const CONTEXT: usize = 256;

/// How many secrets each detector masked in a stream.
///
/// ```
/// use hearth_token_guard::{Detector, Redactor};
///
/// let mut out = Vec::new();
/// let tally = Redactor::new().redact_stream(&b"password=x1\nBearer abcdefgh1234\n"[..], &mut out)?;
/// assert_eq!(tally.total(), 2);
/// assert_eq!(tally.count(Detector::Bearer), 1);
/// assert_eq!(tally.to_string(), "bearer: 1\nname: 1");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: Vec<(Detector, usize)>,
}

impl Tally {
    fn add(&mut self, detector: Detector) {
        match self.counts.iter_mut().find(|(d, _)| *d == detector) {
            Some((_, n)) => *n += 1,
            None => {
                self.counts.push((detector, 1));
                self.counts.sort_by_key(|(d, _)| d.name());
            }
        }
    }

    /// Secrets masked, all detectors together.
    #[must_use]
    pub fn total(&self) -> usize {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// Secrets masked by `detector`.
    #[must_use]
    pub fn count(&self, detector: Detector) -> usize {
        self.counts
            .iter()
            .find(|(d, _)| *d == detector)
            .map_or(0, |(_, n)| *n)
    }

    /// Each detector that masked something, by name, with its count.
    pub fn iter(&self) -> impl Iterator<Item = (Detector, usize)> + '_ {
        self.counts.iter().copied()
    }
}

impl fmt::Display for Tally {
    /// One `detector: count` line per detector, by name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (d, n)) in self.counts.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}: {n}")?;
        }
        Ok(())
    }
}

impl Redactor {
    /// Copies `input` to `output`, masking secrets, and flushes after every line (so it
    /// works behind `tail -f`). Returns how many secrets each detector masked.
    ///
    /// Bytes other than secrets pass through unchanged, invalid UTF-8 included. Lines
    /// longer than 1 MiB are scrubbed in overlapping pieces (a masked value that outruns a
    /// piece is masked up to the next whitespace). A PEM private key block is held until its
    /// END line and masked whole; if its lines stop looking like base64, or no END comes
    /// within 100 lines or 64 KiB, the held lines pass through, each scrubbed on its own.
    ///
    /// ```
    /// use hearth_token_guard::Redactor;
    ///
    /// let key = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu";
    /// let log = format!("ok\nAuthorization: Bearer abcdefgh123\n-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----\ndone\n");
    /// let mut out = Vec::new();
    /// Redactor::new().redact_stream(log.as_bytes(), &mut out)?;
    /// assert_eq!(String::from_utf8(out).unwrap(), "ok\nAuthorization: Bearer [REDACTED]\n[REDACTED]\ndone\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn redact_stream(&self, mut input: impl BufRead, output: impl Write) -> io::Result<Tally> {
        let mut sink = Sink {
            redactor: self,
            output,
            tally: Tally::default(),
            held: Vec::new(),
            held_from: 0,
            held_lines: 0,
            holding: false,
            scratch: Vec::new(),
        };
        // The bytes of the current line not yet written, after `ctx` bytes of context
        // that were.
        let mut buf = Vec::new();
        let mut ctx = 0;
        let mut swallow = false;
        loop {
            let room = PIECE - (buf.len() - ctx);
            let n = (&mut input).take(room as u64).read_until(b'\n', &mut buf)?;
            if n == 0 {
                if buf.len() > ctx {
                    sink.line(&buf, ctx, true)?;
                }
                sink.release(true)?;
                return sink.finish();
            }
            if swallow {
                match buf[ctx..].iter().position(u8::is_ascii_whitespace) {
                    Some(p) => {
                        buf.drain(ctx..ctx + p);
                        swallow = false;
                    }
                    None => {
                        buf.truncate(ctx);
                        continue;
                    }
                }
            }
            // A whole line, or the input's last bytes (read_until stopped short of `room`).
            if buf.ends_with(b"\n") || n < room {
                sink.line(&buf, ctx, true)?;
                buf.clear();
                ctx = 0;
                continue;
            }
            // A piece of a line longer than PIECE. A held key block ends here if this line
            // is its END (however long the rest of it); otherwise it is not a key block.
            if sink.holding && pem::is_end_line(&buf[ctx..]) {
                sink.held.extend_from_slice(&buf[ctx..]);
                sink.release(true)?;
                buf.clear();
                ctx = 0;
                continue;
            }
            sink.release(false)?;
            let mut found = self.find_in(&buf, false);
            found.sort_unstable_by_key(|f| f.range.start);
            let len = buf.len();
            let mut cut = len.saturating_sub(OVERLAP).max(ctx);
            let mut outran = false;
            for f in &found {
                if f.range.start < cut && f.range.end > cut {
                    if f.range.end < len {
                        cut = f.range.end;
                    } else {
                        outran = true;
                    }
                }
            }
            if outran {
                // A masked value runs past this piece: mask it to the next whitespace.
                sink.write(&buf, found, ctx..len)?;
                buf.clear();
                ctx = 0;
                swallow = true;
                continue;
            }
            sink.write(&buf, found, ctx..cut)?;
            let keep = cut.saturating_sub(CONTEXT);
            buf.drain(..keep);
            ctx = cut - keep;
        }
    }
}

/// Where scrubbed bytes go, with the PEM block being held.
struct Sink<'r, W> {
    redactor: &'r Redactor,
    output: W,
    tally: Tally,
    /// Lines held while a PEM block may be open, the first from `held_from` on.
    held: Vec<u8>,
    held_from: usize,
    held_lines: usize,
    holding: bool,
    scratch: Vec<u8>,
}

impl<W: Write> Sink<'_, W> {
    /// One whole line (or the last bytes of the input), after `ctx` bytes of context.
    fn line(&mut self, line: &[u8], ctx: usize, end_is_final: bool) -> io::Result<()> {
        let content = trim_eol(&line[ctx..]);
        if self.holding {
            if pem::is_end_line(content) {
                self.held.extend_from_slice(&line[ctx..]);
                return self.release(true);
            }
            let body_len = self.held.len() - self.held_from;
            if pem::is_body_line(content)
                && self.held_lines < pem::MAX_LINES
                && body_len + content.len() <= pem::MAX_BODY
            {
                self.held.extend_from_slice(&line[ctx..]);
                self.held_lines += 1;
                if line.ends_with(b"\n") {
                    return Ok(());
                }
                // The input ends inside the block: key material up to its end.
                return self.release(true);
            }
            self.release(false)?;
        }
        if line.ends_with(b"\n") && pem::opens(content) {
            self.held.clear();
            self.held.extend_from_slice(line);
            self.held_from = ctx;
            self.held_lines = 0;
            self.holding = true;
            return Ok(());
        }
        let found = self.redactor.find_in(line, end_is_final);
        self.write(line, found, ctx..line.len())
    }

    /// Writes the held lines: a block masked whole if it is one, else each line scrubbed.
    fn release(&mut self, end_is_final: bool) -> io::Result<()> {
        if !self.holding {
            return Ok(());
        }
        self.holding = false;
        let held = std::mem::take(&mut self.held);
        let found = self.redactor.find_in(&held, end_is_final);
        let result = self.write(&held, found, self.held_from..held.len());
        self.held = held;
        zeroize::Zeroize::zeroize(&mut self.held);
        self.held.clear();
        result
    }

    /// Writes `bytes[range]` with `found` masked, counts what was masked, flushes.
    fn write(
        &mut self,
        bytes: &[u8],
        found: Vec<Found>,
        range: std::ops::Range<usize>,
    ) -> io::Result<()> {
        for f in &found {
            if f.range.end > range.start && f.range.start < range.end {
                self.tally.add(f.detector);
            }
        }
        self.scratch.clear();
        write_masked(bytes, found, range, &mut self.scratch);
        self.output.write_all(&self.scratch)?;
        self.output.flush()
    }

    fn finish(mut self) -> io::Result<Tally> {
        self.output.flush()?;
        Ok(self.tally)
    }
}

/// `line` without its `\n` or `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Redactor::new().redact_stream(input, &mut out).unwrap();
        out
    }

    fn text(input: &[u8]) -> String {
        String::from_utf8(run(input)).unwrap()
    }

    #[test]
    fn lines_are_scrubbed_and_bytes_kept() {
        assert_eq!(text(b"a password=x1\nb\n"), "a password=[REDACTED]\nb\n");
        assert_eq!(text(b"no newline at end"), "no newline at end");
        assert_eq!(text(b""), "");
        assert_eq!(
            run(b"\xff Bearer abcdefgh123\n\xc3"),
            b"\xff Bearer [REDACTED]\n\xc3"
        );
    }

    #[test]
    fn multi_line_private_keys_are_masked_whole() {
        let input = b"k=-----BEGIN RSA PRIVATE KEY-----\r\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\r\nBBBB\r\n-----END RSA PRIVATE KEY----- tail\r\nnext\n";
        assert_eq!(text(input), "k=[REDACTED] tail\r\nnext\n");
        assert_eq!(
            text(b"-----BEGIN PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nBBBB"),
            "[REDACTED]"
        );
    }

    #[test]
    fn a_begin_line_that_opens_no_key_hides_nothing() {
        let input = b"name=-----BEGIN RSA PRIVATE KEY-----\nuser: alice logged in\npassword=x1\nok\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            text(input),
            "name=-----BEGIN RSA PRIVATE KEY-----\nuser: alice logged in\npassword=[REDACTED]\nok\n-----END RSA PRIVATE KEY-----\n"
        );
        let mut long = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
        for _ in 0..150 {
            long.extend_from_slice(
                b"MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n",
            );
        }
        assert_eq!(run(&long), long, "no END within 100 lines: passed through");
    }

    #[test]
    fn a_long_line_is_cut_where_no_secret_is() {
        for pad in [
            PIECE - 12,
            PIECE - 30,
            PIECE,
            PIECE + 5,
            2 * PIECE - OVERLAP,
        ] {
            let mut input = vec![b'a'; pad];
            input.extend_from_slice(
                b" password=hunter2secret and Bearer abcdefgh12345678 \xe2\x82\xac end\n",
            );
            let out = run(&input);
            let tail = String::from_utf8(out[pad..].to_vec()).unwrap();
            assert_eq!(
                tail, " password=[REDACTED] and Bearer [REDACTED] \u{20ac} end\n",
                "pad {pad}"
            );
            assert!(out[..pad].iter().all(|&b| b == b'a'));
        }
    }

    #[test]
    fn a_value_that_outruns_a_piece_is_masked_to_the_next_space() {
        let mut input = b"password=".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * PIECE));
        input.extend_from_slice(b" after\n");
        assert_eq!(text(&input), "password=[REDACTED] after\n");
    }
}
