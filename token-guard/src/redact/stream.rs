//! Line-by-line scrubbing of a stream, for `tail -f app.log | hearth redact`.

use std::io::{self, BufRead, Write};

use super::{Redactor, patterns};

/// Longest line handled in one piece; a longer one is cut and each piece is redacted
/// separately, so a hostile stream without newlines cannot exhaust memory.
pub(super) const MAX_LINE: usize = 1 << 20;

impl Redactor {
    /// Copies `input` to `output` line by line, redacting each line, and flushes whenever
    /// the input has nothing more ready (so it works behind `tail -f`).
    ///
    /// The body of a PEM private key block spans lines: every line after an unterminated
    /// `BEGIN … PRIVATE KEY` header up to its `END` line is dropped. Invalid UTF-8 is
    /// replaced by U+FFFD. Lines longer than 1 MiB are redacted in 1 MiB pieces.
    ///
    /// ```
    /// use hearth_token_guard::Redactor;
    ///
    /// let log = "ok\nAuthorization: Bearer abcdefgh123\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\ndone\n";
    /// let mut out = Vec::new();
    /// Redactor::new().redact_stream(log.as_bytes(), &mut out)?;
    /// assert_eq!(String::from_utf8(out).unwrap(), "ok\nAuthorization: Bearer [REDACTED]\n[REDACTED]\ndone\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn redact_stream(&self, mut input: impl BufRead, mut output: impl Write) -> io::Result<()> {
        let mut raw = Vec::new();
        let mut in_key = false;
        loop {
            raw.clear();
            let n = io::Read::take(&mut input, MAX_LINE as u64).read_until(b'\n', &mut raw)?;
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&raw);
            let (mut content, eol) = split_eol(&line);
            if in_key {
                let Some(end) = patterns::closes_private_key(content) else {
                    continue;
                };
                in_key = false;
                content = &content[end..];
                if content.trim().is_empty() {
                    continue;
                }
            }
            output.write_all(self.redact(content).as_bytes())?;
            output.write_all(eol.as_bytes())?;
            output.flush()?;
            in_key = patterns::opens_private_key(content);
        }
        output.flush()
    }
}

/// Splits a line into its content and its ending (`"\r\n"`, `"\n"` or `""`).
fn split_eol(line: &str) -> (&str, &str) {
    let content = line
        .strip_suffix('\n')
        .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
    line.split_at(content.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> String {
        let mut out = Vec::new();
        Redactor::new().redact_stream(input, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_redacted_independently() {
        assert_eq!(run(b"a password=x\nb\n"), "a password=[REDACTED]\nb\n");
        assert_eq!(run(b"no newline at end"), "no newline at end");
        assert_eq!(run(b""), "");
    }

    #[test]
    fn multi_line_private_keys_are_dropped() {
        let input = b"k=-----BEGIN RSA PRIVATE KEY-----\r\nAAAA\r\nBBBB\r\n-----END RSA PRIVATE KEY----- tail\r\nnext\n";
        assert_eq!(run(input), "k=[REDACTED]\r\n tail\r\nnext\n");
        let cut = b"-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB";
        assert_eq!(run(cut), "[REDACTED]\n");
    }

    #[test]
    fn invalid_utf8_does_not_stop_the_stream() {
        assert_eq!(
            run(b"\xff Bearer abcdefgh123\n"),
            "\u{fffd} Bearer [REDACTED]\n"
        );
    }

    #[test]
    fn very_long_lines_are_cut_not_buffered_whole() {
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.push(b'\n');
        assert_eq!(run(&input).len(), MAX_LINE + 11);
    }
}
