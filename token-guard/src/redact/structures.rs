//! Credentials that a structure marks rather than a name: `Bearer` tokens, `Authorization`
//! values of any scheme, URL userinfo, `curl -u user:password`, cookie values.

use super::Detector;
use super::names::{self, Quote, is_delimiter, quote_at};
use super::scan::{Scan, is_alnum, run, run_within, skip_blanks};

/// Shortest token after `Bearer`, so prose ("the bearer of …") is left alone.
const MIN_BEARER_TOKEN: usize = 8;
/// Longest URL authority or `curl -u` value looked at.
const MAX_AUTHORITY: usize = 1024;
/// A userinfo without a password is masked only from this length (a token as user name,
/// not `git@`).
const MIN_BARE_USERINFO: usize = 20;

fn is_token68(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// `Bearer <token68>` (RFC 6750 §2.1), in a header or anywhere else.
pub(super) fn bearer(scan: &mut Scan<'_>, start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    if start > 0 && (is_alnum(bytes[start - 1]) || bytes[start - 1] == b'_') {
        return None;
    }
    let token = skip_blanks(bytes, end);
    if token == end {
        return None;
    }
    if run_within(bytes, token, MIN_BEARER_TOKEN, is_token68) < token + MIN_BEARER_TOKEN {
        return None;
    }
    let body = run(bytes, token, is_token68);
    let token_end = run(bytes, body, |b| b == b'=');
    scan.mask(token..token_end, Detector::Bearer);
    Some(token_end)
}

/// `Authorization` and `Proxy-Authorization` (also `X-…-Authorization`) values of any
/// scheme: the credentials after the scheme, or the whole value. A value of auth-params
/// (`Digest username="a", response="…"`) is masked to the end of its line or string.
pub(super) fn authorization(scan: &mut Scan<'_>, start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    if start > 0 && is_alnum(bytes[start - 1]) || end < bytes.len() && names::is_name(bytes[end]) {
        return None;
    }
    let mut i = end;
    if let Some((_, after)) = quote_at(bytes, i) {
        i = after;
    }
    i = skip_blanks(bytes, i);
    if !matches!(bytes.get(i), Some(b'=' | b':')) || bytes.get(i + 1) == Some(&b':') {
        return None;
    }
    i = skip_blanks(bytes, i + 1);
    let (value, quote) = match quote_at(bytes, i) {
        Some((quote, after)) => (after, quote),
        None => (i, Quote::None),
    };
    let scheme_end = run_within(bytes, value, 64, |b| is_alnum(b) || b == b'-');
    let after_scheme = skip_blanks(bytes, scheme_end);
    let credentials = if scheme_end > value && after_scheme > scheme_end {
        after_scheme
    } else {
        value
    };
    if bytes[credentials..].starts_with(super::REDACTED.as_bytes()) {
        return None; // masked already
    }
    let params = auth_params(bytes, credentials);
    let credentials_end = match quote {
        Quote::None if params => run(bytes, credentials, |b| b != b'\n' && b != b'\r'),
        Quote::None => run(bytes, credentials, |b| !is_delimiter(b)),
        quote => quote.value_end(bytes, credentials),
    };
    if credentials_end == credentials {
        return None;
    }
    scan.mask(credentials..credentials_end, Detector::Authorization);
    Some(credentials_end)
}

/// Whether credentials at `from` are auth-params (`name=value`, RFC 9110 §11.2) rather
/// than a token68 (which ends in `=` padding only).
fn auth_params(bytes: &[u8], from: usize) -> bool {
    let name_end = run_within(bytes, from, 64, |b| is_alnum(b) || b == b'-' || b == b'_');
    name_end > from
        && bytes.get(name_end) == Some(&b'=')
        && bytes
            .get(name_end + 1)
            .is_some_and(|&b| b != b'=' && !is_delimiter(b) || b == b'"')
}

/// URL userinfo (RFC 3986 §3.2.1) after `://`: the password of `user:password@`, or a
/// long user name alone (a token used as one).
pub(super) fn userinfo(scan: &mut Scan<'_>, _start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    let stop = run_within(bytes, end, MAX_AUTHORITY, |b| {
        !(is_delimiter(b) || matches!(b, b'/' | b'?' | b'#'))
    });
    // Authorities are short: a plain loop beats setting up memchr.
    let at = bytes[end..stop].iter().rposition(|&b| b == b'@')? + end;
    let info = &bytes[end..at];
    let from = match info.iter().position(|&b| b == b':') {
        Some(colon) => end + colon + 1,
        None if info.len() >= MIN_BARE_USERINFO => end,
        None => return None,
    };
    if from == at {
        return None;
    }
    scan.mask(from..at, Detector::UrlUserinfo);
    Some(at)
}

/// `curl -u user:password`, `--user user:password`, `--proxy-user …`: the password.
pub(super) fn curl_user(scan: &mut Scan<'_>, start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    if start > 0 && !bytes[start - 1].is_ascii_whitespace() || !after_curl(bytes, start) {
        return None;
    }
    let mut i = end;
    if bytes.get(i) == Some(&b'=') {
        i += 1;
    } else if bytes[i - 1] != b' ' {
        // `--user` must be followed by `=` or blanks.
        let blanks = skip_blanks(bytes, i);
        if blanks == i {
            return None;
        }
        i = blanks;
    }
    i = skip_blanks(bytes, i);
    let (value, quote) = match quote_at(bytes, i) {
        Some((quote, after)) => (after, quote),
        None => (i, Quote::None),
    };
    let value_end = match quote {
        Quote::None => run_within(bytes, value, MAX_AUTHORITY, |b| !b.is_ascii_whitespace()),
        quote => quote.value_end(bytes, value).min(value + MAX_AUTHORITY),
    };
    let colon = memchr::memchr(b':', &bytes[value..value_end])? + value;
    if colon + 1 >= value_end {
        return None;
    }
    scan.mask(colon + 1..value_end, Detector::CurlUser);
    Some(value_end)
}

/// Whether `curl` comes before `at` on its line (within 256 bytes): `docker run -u
/// 1000:1000` is a user and group, not credentials.
fn after_curl(bytes: &[u8], at: usize) -> bool {
    let from = at.saturating_sub(256);
    let line = &bytes[from..at];
    let line = memchr::memrchr(b'\n', line).map_or(line, |nl| &line[nl + 1..]);
    memchr::memmem::find(line, b"curl").is_some()
}

/// A `Cookie:` or `Set-Cookie:` header (RFC 6265 §4): every value of a `Cookie`, the
/// first (the cookie's own) of a `Set-Cookie`, whose attributes (`Path=/`) stay. `name`
/// is the header's name, `end` where it ends. `None` if this is not a header.
pub(super) fn cookie_header(scan: &mut Scan<'_>, name: &[u8], end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    let set = if name.eq_ignore_ascii_case(b"cookie") {
        false
    } else if name.eq_ignore_ascii_case(b"set-cookie") {
        true
    } else {
        return None;
    };
    let mut i = end;
    if let Some((_, after)) = quote_at(bytes, i) {
        i = after;
    }
    i = skip_blanks(bytes, i);
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i = skip_blanks(bytes, i + 1);
    if let Some((_, after)) = quote_at(bytes, i) {
        i = after;
    }
    let mut masked = None;
    loop {
        // name=value
        let pair_name = run_within(bytes, i, 256, |b| {
            b.is_ascii_graphic() && !matches!(b, b'=' | b';' | b',' | b'"' | b'\\')
        });
        if pair_name == i || bytes.get(pair_name) != Some(&b'=') {
            break;
        }
        let value = pair_name + 1;
        let value_end = run(bytes, value, |b| {
            b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\')
        });
        if value_end > value {
            scan.mask(value..value_end, Detector::Cookie);
            masked = Some(value_end);
        }
        if set || bytes.get(value_end) != Some(&b';') {
            break;
        }
        i = skip_blanks(bytes, value_end + 1);
    }
    masked
}

#[cfg(test)]
mod tests {
    fn masked(text: &str) -> String {
        crate::redact(text).into_owned()
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            masked("Authorization: Bearer abcdefgh12=="),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            masked("sent bearer\tabc.def_ghi~ ok"),
            "sent bearer\t[REDACTED] ok"
        );
        for clean in [
            "the bearer of this letter",
            "Xbearer abcdefghijk",
            "Bearer [REDACTED]",
        ] {
            assert_eq!(masked(clean), clean);
        }
    }

    #[test]
    fn authorization_of_any_scheme() {
        assert_eq!(
            masked("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [REDACTED]"
        );
        assert_eq!(
            masked("proxy-authorization: Negotiate YIIBhgYGKwYB rest"),
            "proxy-authorization: Negotiate [REDACTED] rest"
        );
        assert_eq!(
            masked(r#"{"Authorization":"Token abc def"}"#),
            r#"{"Authorization":"Token [REDACTED]"}"#
        );
        assert_eq!(
            masked("Authorization: Digest username=\"a\", response=\"6629fae4\"\nnext"),
            "Authorization: Digest [REDACTED]\nnext"
        );
        assert_eq!(
            masked(r#"X-Emby-Authorization: MediaBrowser Client="x", Token="abc123""#),
            "X-Emby-Authorization: MediaBrowser [REDACTED]"
        );
        for clean in [
            "Authorization: Basic [REDACTED]",
            "authorization required",
            "authorization_code",
        ] {
            assert_eq!(masked(clean), clean);
        }
    }

    #[test]
    fn url_userinfo_and_curl() {
        assert_eq!(
            masked("https://alice:S3cr3t@host/x"),
            "https://alice:[REDACTED]@host/x"
        );
        assert_eq!(
            masked("postgres://app:pw@db:5432/app"),
            "postgres://app:[REDACTED]@db:5432/app"
        );
        assert_eq!(
            masked("https://0123456789abcdef0123456789abcdef01234567@github.com/o/r"),
            "https://[REDACTED]@github.com/o/r"
        );
        assert_eq!(
            masked("curl -u alice:pw https://x"),
            "curl -u alice:[REDACTED] https://x"
        );
        assert_eq!(
            masked("curl --user 'alice:p w' x"),
            "curl --user 'alice:[REDACTED]' x"
        );
        assert_eq!(
            masked("curl --proxy-user=bob:pw x"),
            "curl --proxy-user=bob:[REDACTED] x"
        );
        for clean in [
            "ssh://git@github.com/o/r",
            "https://example.com/a?b=c#d",
            "mailto:x@example.com",
            "curl -u alice https://x",
            "make-u x:y",
            "docker run -u 1000:1000 --user 1000:1000 img",
        ] {
            assert_eq!(masked(clean), clean);
        }
    }

    #[test]
    fn cookies() {
        assert_eq!(
            masked("Cookie: sessionid=abc123; csrftoken=xyz789"),
            "Cookie: sessionid=[REDACTED]; csrftoken=[REDACTED]"
        );
        assert_eq!(
            masked("Set-Cookie: session=abc123; Path=/; HttpOnly"),
            "Set-Cookie: session=[REDACTED]; Path=/; HttpOnly"
        );
        assert_eq!(masked("cookie=abcdef123"), "cookie=[REDACTED]");
    }
}
