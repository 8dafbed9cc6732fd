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
const MIN_BARE_USERINFO: usize = 32;

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
    // A word (`Bearer authentication`) is prose; tokens carry digits, capitals or symbols.
    // `Bearer realm="…"` (a challenge's auth-param) is no token either.
    let param = bytes.get(body) == Some(&b'=') && bytes.get(body + 1) == Some(&b'"');
    if param || bytes[token..body].iter().all(u8::is_ascii_lowercase) {
        return None;
    }
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
    let (value, quote) = names::open_value(bytes, i);
    let scheme_end = run_within(bytes, value, 64, |b| is_alnum(b) || b == b'-');
    // `Authorization: none`, `authorization: denied for …`: a status, not credentials.
    let word = &bytes[value..scheme_end];
    if names::PLAIN.iter().any(|p| word.eq_ignore_ascii_case(p)) {
        return None;
    }
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
    // The authority ends at `/ ? #` (RFC 3986 §3.2); `& , ; '` are sub-delimiters that a
    // password may hold. A backslash is the escape of `\/` in JSON.
    // The run of authority bytes is measured once: a later `://` inside it (a hostile
    // `://a:b@://a:b@…`) ends where it ends.
    let run_end = match &scan.authority {
        Some(r) if r.start <= end && end <= r.end => r.end,
        _ => {
            let e = run(bytes, end, |b| {
                !(b.is_ascii_whitespace()
                    || matches!(b, b'/' | b'?' | b'#' | b'"' | b'<' | b'>' | b'\\'))
            });
            scan.authority = Some(end..e);
            e
        }
    };
    let stop = run_end.min(end + MAX_AUTHORITY);
    // Authorities are short: a plain loop beats setting up memchr.
    let at = bytes[end..stop].iter().rposition(|&b| b == b'@')? + end;
    let info = &bytes[end..at];
    let from = match info.iter().position(|&b| b == b':') {
        Some(colon) => end + colon + 1,
        None if info.len() >= MIN_BARE_USERINFO && info.iter().any(u8::is_ascii_digit) => end,
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
    if start > 0 && !bytes[start - 1].is_ascii_whitespace() || !after_curl(scan, start) {
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

/// Whether `at` is in a `curl` command: a `curl` came before it (remembered by the scan)
/// with no end of command between (a newline that is not a `\` continuation, `;`, `|`,
/// `&&`): `docker run -u 1000:1000` is a user and group, not credentials. Each byte since
/// the `curl` is looked at once, however many `-u` follow.
fn after_curl(scan: &mut Scan<'_>, at: usize) -> bool {
    let Some(curl) = scan.curl else {
        return false;
    };
    let from = scan.curl_checked.max(curl);
    let bytes = scan.bytes;
    let ends = (from..at.min(bytes.len())).any(|i| match bytes[i] {
        b'\n' => i == 0 || bytes[i - 1] != b'\\',
        b';' | b'|' => true,
        b'&' => bytes.get(i + 1) == Some(&b'&'),
        _ => false,
    });
    if ends {
        scan.curl = None;
        return false;
    }
    scan.curl_checked = at;
    true
}

/// A `curl` hit: remembered for the `-u` that may follow.
pub(super) fn curl(scan: &mut Scan<'_>, start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    let word =
        (start == 0 || !is_alnum(bytes[start - 1])) && bytes.get(end).is_none_or(|b| !is_alnum(*b));
    if word {
        scan.curl = Some(end);
        scan.curl_checked = end;
    }
    None
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
    if bytes.get(i) == Some(&b'[') {
        i = skip_blanks(bytes, i + 1);
    }
    if let Some((_, after)) = quote_at(bytes, i) {
        i = after;
    }
    // Where the walk got to: the pairs read are not read again, masked or not.
    let mut walked = None;
    loop {
        // name=value
        let pair_name = run_within(bytes, i, 256, |b| {
            b.is_ascii_graphic() && !matches!(b, b'=' | b';' | b',' | b'"' | b'\\')
        });
        if pair_name == i || bytes.get(pair_name) != Some(&b'=') {
            break;
        }
        let mut value = pair_name + 1;
        let quoted = bytes.get(value) == Some(&b'"');
        if quoted {
            value += 1;
        }
        let value_end = run(bytes, value, |b| {
            b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\')
        });
        if value_end > value {
            scan.mask(value..value_end, Detector::Cookie);
        }
        let after = value_end + usize::from(quoted && bytes.get(value_end) == Some(&b'"'));
        walked = Some(after);
        // `Cookie` pairs are separated by `;` (and `,` by old clients); a `Set-Cookie`'s
        // first pair is the cookie, the rest are its attributes.
        if set || !matches!(bytes.get(after), Some(b';' | b',')) {
            break;
        }
        i = skip_blanks(bytes, after + 1);
    }
    walked
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
            "Using Bearer authentication for api.example.com",
            "WWW-Authenticate: Bearer authorization_uri=\"https://login.example/x\"",
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
            "authorization: denied for user alice",
            "Authorization: none",
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
            "ssh://deploy-automation-account@build01.example/x",
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
    fn sub_delimiters_in_passwords_and_escaped_urls() {
        for (input, want) in [
            (
                "DATABASE_URL=postgres://app:s3cr&t@db:5432/app",
                "DATABASE_URL=postgres://app:[REDACTED]@db:5432/app",
            ),
            (
                "postgres://app:pa,ss;word@db/app",
                "postgres://app:[REDACTED]@db/app",
            ),
            (
                "redis://:p'ssw0rd@cache:6379",
                "redis://:[REDACTED]@cache:6379",
            ),
            (
                r#"{"url":"https:\/\/alice:S3cr3t@example.com\/x"}"#,
                r#"{"url":"https:\/\/alice:[REDACTED]@example.com\/x"}"#,
            ),
        ] {
            assert_eq!(masked(input), want, "{input}");
        }
    }

    #[test]
    fn bracketed_and_quoted_values() {
        assert_eq!(
            masked("map[Authorization:[Basic dXNlcjpwYXNzd29yZA==] Accept:[*/*]]"),
            "map[Authorization:[Basic [REDACTED]] Accept:[*/*]]"
        );
        assert_eq!(
            masked("Cookie: sessionid=\"abc123def456\""),
            "Cookie: sessionid=\"[REDACTED]\""
        );
        assert_eq!(
            masked("Cookie: theme=dark, sessionid=abc123def456"),
            "Cookie: theme=[REDACTED], sessionid=[REDACTED]"
        );
        assert_eq!(
            masked("{ 'set-cookie': [ 'connect.sid=s%3AAbCd.sig; Path=/' ] }"),
            "{ 'set-cookie': [ 'connect.sid=[REDACTED]; Path=/' ] }"
        );
    }

    #[test]
    fn curl_commands_end_where_the_shell_says() {
        assert_eq!(
            masked("curl -sS https://x/health && docker run -u 1000:1000 app"),
            "curl -sS https://x/health && docker run -u 1000:1000 app"
        );
        assert_eq!(
            masked("curl -H 'A: b' \\\n    -u alice:hunter2 \\\n    https://x"),
            "curl -H 'A: b' \\\n    -u alice:[REDACTED] \\\n    https://x"
        );
        let long = format!("curl {} -u alice:hunter2 x", "-H 'X-Filler: y' ".repeat(40));
        assert!(!masked(&long).contains("hunter2"));
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
