//! PEM private key blocks (RFC 7468): `-----BEGIN … PRIVATE KEY-----`, base64 lines, the
//! matching `-----END … -----`. Lines may be separated by newlines, by `\n` escapes (a key
//! inside a JSON string, as in a service account file) or by spaces (a log that flattened
//! the newlines). The legacy encrypted form's `Proc-Type:` / `DEK-Info:` lines are allowed.
//!
//! A block is masked only if its body looks like base64 and its `END` line comes within
//! [`MAX_LINES`] lines and [`MAX_BODY`] bytes. Otherwise nothing is masked and the lines
//! stay as they are (each scanned on its own): a value that merely *ends* in a BEGIN line
//! cannot hide the log lines after it. A text whose end cuts a valid body is masked to its
//! end when the text is the whole input.

use super::Detector;
use super::scan::{Scan, run};

/// Most body lines between BEGIN and END.
pub(super) const MAX_LINES: usize = 100;
/// Most body bytes between BEGIN and END.
pub(super) const MAX_BODY: usize = 64 * 1024;
/// Longest label (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, ...).
const MAX_LABEL: usize = 64;

/// How the lines of a block are separated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    Newline,
    Escaped,
    Spaces,
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Where `-----` first occurs in a short `window` (cheaper than building a substring
/// searcher for every header).
fn dashes(window: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'-', &window[from..]) {
        let at = from + i;
        if window[at..].starts_with(b"-----") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// If a private key header `-----BEGIN <label>-----` starts at `start`, where it ends.
fn header_end(bytes: &[u8], start: usize) -> Option<usize> {
    let after = start + b"-----BEGIN ".len();
    if bytes.get(start..after)? != b"-----BEGIN " {
        return None;
    }
    let window = &bytes[after..(after + MAX_LABEL + 5).min(bytes.len())];
    let close = dashes(window)?;
    let label = &window[..close];
    let private = label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK");
    let plain = label
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
    (private && plain).then_some(after + close + 5)
}

/// Checks the `-----BEGIN ` hit at `start`.
pub(super) fn check(scan: &mut Scan<'_>, start: usize, _end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    let header = header_end(bytes, start)?;
    // Blanks may trail the header line.
    let body = run(bytes, header, |b| b == b' ' || b == b'\t');
    let lines = match bytes.get(body..body + 2) {
        Some([b'\n' | b'\r', _]) | Some([b'\n']) => Lines::Newline,
        Some([b'\\', b'n' | b'r']) => Lines::Escaped,
        // Flattened: the body follows on the same line (after spaces, or none at all).
        Some([b, _]) if is_base64(*b) => Lines::Spaces,
        _ if bytes.get(body) == Some(&b'\n') => Lines::Newline,
        _ => return None,
    };
    let stop = (body + MAX_BODY).min(bytes.len());
    let (at, line_count, longest) = scan_body(bytes, body, stop, lines);
    // A key's lines are long (64 base64 characters but the last): a BEGIN/END pair around
    // short words (`OK`, `200`) is not a key and hides nothing.
    if line_count > MAX_LINES || longest < MIN_LONGEST_LINE {
        return None;
    }
    if bytes[at..].starts_with(b"-----END ") {
        let tail = at + b"-----END ".len();
        let window = &bytes[tail..(tail + MAX_LABEL + 5).min(bytes.len())];
        let close =
            memchr::memmem::find(window, b"-----").map_or(tail + window.len(), |i| tail + i + 5);
        scan.mask(start..close, Detector::PrivateKey);
        return Some(close);
    }
    // Cut off by the end of the input, with key material in it.
    if at == bytes.len() && scan.end_is_final {
        scan.mask(start..at, Detector::PrivateKey);
        return Some(at);
    }
    None
}

/// Reads a body from `from` (not past `stop`) while it looks like one: returns where it
/// stopped, how many lines it read, and the longest run of base64 in one line.
///
/// Newline-separated lines may be indented (YAML, Helm) and have trailing blanks, and
/// before the first base64 line there may be header lines (`Proc-Type:`, `DEK-Info:`,
/// OpenPGP's `Version:`, `Comment:`); `\n`-escaped lines may escape `/` as `\/` (PHP's
/// JSON); flattened lines are separated by spaces.
fn scan_body(bytes: &[u8], from: usize, stop: usize, lines: Lines) -> (usize, usize, usize) {
    let mut i = from;
    let mut count = 0;
    let (mut run, mut longest) = (0usize, 0usize);
    let mut line_start = true;
    let mut trailing = false;
    let mut seen_base64 = false;
    while i < stop && count <= MAX_LINES {
        let b = bytes[i];
        match lines {
            Lines::Newline => {
                if line_start
                    && !seen_base64
                    && let Some(len) = header_line(&bytes[i..stop])
                {
                    i += len;
                    continue;
                }
                match b {
                    b'\n' => {
                        count += 1;
                        longest = longest.max(run);
                        run = 0;
                        line_start = true;
                        trailing = false;
                    }
                    b'\r' => {}
                    b' ' | b'\t' if line_start || trailing || run > 0 => {
                        if run > 0 {
                            trailing = true;
                        }
                    }
                    b if is_base64(b) && !trailing => {
                        line_start = false;
                        seen_base64 = true;
                        run += 1;
                    }
                    _ => break,
                }
            }
            Lines::Escaped => match b {
                b'\\' if matches!(bytes.get(i + 1), Some(b'n')) => {
                    count += 1;
                    longest = longest.max(run);
                    run = 0;
                    i += 1;
                }
                b'\\' if matches!(bytes.get(i + 1), Some(b'r')) => i += 1,
                b'\\' if matches!(bytes.get(i + 1), Some(b'/')) => {
                    run += 1;
                    i += 1;
                }
                b if is_base64(b) => run += 1,
                _ => break,
            },
            Lines::Spaces => match b {
                b' ' => {
                    count += 1;
                    longest = longest.max(run);
                    run = 0;
                }
                b if is_base64(b) => run += 1,
                _ => break,
            },
        }
        i += 1;
    }
    (i, count, longest.max(run))
}

/// Shortest longest line of a key's body.
const MIN_LONGEST_LINE: usize = 40;

/// A header line at the start of `rest` (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: …`,
/// `Version: …`, `Comment: …`): its length, without the newline.
fn header_line(rest: &[u8]) -> Option<usize> {
    let name = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    if name == 0 || !rest[name..].starts_with(b": ") {
        return None;
    }
    let len = rest.iter().take(128).position(|&b| b == b'\n')?;
    let line = &rest[..len];
    line.iter()
        .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r')
        .then_some(len)
}

/// Whether `line` ends with a private key header that nothing after it closes: the lines
/// that follow may be its body.
pub(super) fn opens(line: &[u8]) -> bool {
    let Some(begin) = memchr::memmem::rfind(line, b"-----BEGIN ") else {
        return false;
    };
    header_end(line, begin).is_some_and(|end| line[end..].iter().all(u8::is_ascii_whitespace))
}

/// Whether `line` (without its newline) can be a body line: base64 (indented or not),
/// blank, or a header line.
pub(super) fn is_body_line(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line.iter().all(|&b| is_base64(b)) || header_line(&[line, b"\n"].concat()).is_some()
}

/// Whether `line` starts with an `-----END ` footer.
pub(super) fn is_end_line(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(b"-----END ")
}

#[cfg(test)]
mod tests {
    fn masked(text: &str) -> String {
        crate::redact(text).into_owned()
    }

    const BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==";

    #[test]
    fn blocks_with_newlines_escapes_or_spaces() {
        let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{BODY}\n-----END RSA PRIVATE KEY-----");
        assert_eq!(
            masked(&format!("key: {pem}\nafter")),
            "key: [REDACTED]\nafter"
        );
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(masked(&crlf), "[REDACTED]");
        let json = format!(
            r#"{{"private_key": "{}\n", "x": 1}}"#,
            pem.replace('\n', "\\n")
        );
        assert_eq!(masked(&json), r#"{"private_key": "[REDACTED]", "x": 1}"#);
        // Not in a string: the PEM detector alone.
        let escaped = pem.replace('\n', "\\n");
        assert_eq!(
            masked(&format!("got {escaped}\\n ok")),
            "got [REDACTED]\\n ok"
        );
        let flat = pem.replace('\n', " ");
        assert_eq!(masked(&format!("got {flat} ok")), "got [REDACTED] ok");
    }

    #[test]
    fn indented_trailing_blank_escaped_slash_and_unbroken_blocks() {
        let pem = format!("-----BEGIN EC PRIVATE KEY-----\n{BODY}\n-----END EC PRIVATE KEY-----");
        let yaml = format!(
            "data:\n  tls.pem: |\n{}\n",
            pem.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(masked(&yaml), "data:\n  tls.pem: |\n    [REDACTED]\n");
        let trailing = pem.replacen("KEY-----\n", "KEY----- \n", 1);
        assert_eq!(masked(&trailing), "[REDACTED]");
        let php = format!(
            r#"{{"k":"{}"}}"#,
            pem.replace('\n', "\\n").replace('/', "\\/")
        );
        assert_eq!(masked(&php), r#"{"k":"[REDACTED]"}"#);
        let unbroken = pem.replace('\n', "");
        assert_eq!(masked(&format!("x {unbroken} y")), "x [REDACTED] y");
    }

    #[test]
    fn encrypted_legacy_blocks() {
        let pem = format!(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n{BODY}\n-----END RSA PRIVATE KEY-----\n"
        );
        assert_eq!(masked(&pem), "[REDACTED]\n");
    }

    #[test]
    fn a_begin_line_without_a_body_hides_nothing() {
        let text = "name=-----BEGIN RSA PRIVATE KEY-----\nINFO next line: user logged in\n-----END RSA PRIVATE KEY-----";
        assert_eq!(masked(text), text);
        // Short words between a BEGIN and an END are not a key.
        let words = "x -----BEGIN RSA PRIVATE KEY-----\nOK\n200\n\nDone\n-----END RSA PRIVATE KEY-----\nnext";
        assert_eq!(masked(words), words);
        assert_eq!(
            masked("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
        );
        let cut = "-----BEGIN PRIVATE KEY-----\r\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\r\nKUpRKf";
        assert_eq!(masked(cut), "[REDACTED]");
        let far = format!(
            "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----",
            "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n".repeat(101)
        );
        assert_eq!(masked(&far), far);
    }
}
