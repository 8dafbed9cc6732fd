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
use super::scan::Scan;

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
    let body = header_end(bytes, start)?;
    let lines = match bytes.get(body..body + 2) {
        Some([b'\n' | b'\r', _]) | Some([b'\n']) => Lines::Newline,
        Some([b'\\', b'n' | b'r']) => Lines::Escaped,
        Some([b' ', _]) => Lines::Spaces,
        _ if bytes.get(body) == Some(&b'\n') => Lines::Newline,
        _ => return None,
    };
    let stop = (body + MAX_BODY).min(bytes.len());
    let (at, line_count) = scan_body(bytes, body, stop, lines);
    if line_count > MAX_LINES {
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
    if at == bytes.len() && scan.end_is_final && line_count > 0 {
        scan.mask(start..at, Detector::PrivateKey);
        return Some(at);
    }
    None
}

/// Reads a body from `from` (not past `stop`) while it looks like one: returns where it
/// stopped and how many lines it read.
fn scan_body(bytes: &[u8], from: usize, stop: usize, lines: Lines) -> (usize, usize) {
    let mut i = from;
    let mut count = 0;
    let mut line_start = true;
    while i < stop && count <= MAX_LINES {
        let b = bytes[i];
        match lines {
            Lines::Newline => {
                if line_start && let Some(len) = encryption_header(&bytes[i..stop]) {
                    i += len;
                    continue;
                }
                match b {
                    b'\n' => {
                        count += 1;
                        line_start = true;
                    }
                    b'\r' => {}
                    b if is_base64(b) => line_start = false,
                    _ => break,
                }
            }
            Lines::Escaped => match b {
                b'\\' if matches!(bytes.get(i + 1), Some(b'n')) => {
                    count += 1;
                    i += 1;
                }
                b'\\' if matches!(bytes.get(i + 1), Some(b'r')) => i += 1,
                b if is_base64(b) => {}
                _ => break,
            },
            Lines::Spaces => match b {
                b' ' => count += 1,
                b if is_base64(b) => {}
                _ => break,
            },
        }
        i += 1;
    }
    (i, count)
}

/// `Proc-Type: 4,ENCRYPTED` or `DEK-Info: AES-128-CBC,…` at the start of `rest`: its
/// length, without the newline.
fn encryption_header(rest: &[u8]) -> Option<usize> {
    if !(rest.starts_with(b"Proc-Type: ") || rest.starts_with(b"DEK-Info: ")) {
        return None;
    }
    let len = rest.iter().take(128).position(|&b| b == b'\n')?;
    let line = &rest[..len];
    line.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b" :,-\r".contains(&b))
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

/// Whether `line` (without its newline) can be a body line: base64, blank, or an
/// encryption header.
pub(super) fn is_body_line(line: &[u8]) -> bool {
    let line = line.trim_ascii_end();
    line.iter().all(|&b| is_base64(b)) || encryption_header(&[line, b"\n"].concat()).is_some()
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
        assert_eq!(
            masked("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
        );
        let cut = "-----BEGIN PRIVATE KEY-----\r\nMIIEvQIB";
        assert_eq!(masked(cut), "[REDACTED]");
        let far = format!(
            "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----",
            "QUFB\n".repeat(101)
        );
        assert_eq!(masked(&far), far);
    }
}
