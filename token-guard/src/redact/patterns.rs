//! The built-in detectors: where a secret starts and ends in a line of text.
//!
//! One multi-literal search (aho-corasick, ASCII case-insensitive) finds every place a
//! secret could start; each hit is then confirmed by a small hand-written check. Clean text
//! therefore costs one pass of a SIMD-accelerated search and nothing else.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::REDACTED;

/// What each search literal introduces.
#[derive(Clone, Copy)]
enum Trigger {
    /// `Bearer <token68>`.
    Bearer,
    /// A JWT / JWS / JWE: `eyJ…` then at least two more dot-separated segments.
    Jwt,
    /// `-----BEGIN … PRIVATE KEY-----` up to its `-----END … -----` line.
    PrivateKey,
    /// `key=value`, `key: value`, `"key":"value"` for a sensitive key; values shorter than
    /// `min` bytes are left alone (so `code=200` stays readable).
    Param { min: usize },
}

const TRIGGERS: &[(&str, Trigger)] = &[
    ("bearer", Trigger::Bearer),
    ("eyj", Trigger::Jwt),
    ("-----begin ", Trigger::PrivateKey),
    ("access_token", Trigger::Param { min: 1 }),
    ("refresh_token", Trigger::Param { min: 1 }),
    ("id_token", Trigger::Param { min: 1 }),
    ("client_secret", Trigger::Param { min: 1 }),
    ("code_verifier", Trigger::Param { min: 1 }),
    ("password", Trigger::Param { min: 1 }),
    // Listed after `code_verifier` so that the longer literal wins (leftmost-first).
    ("code", Trigger::Param { min: 8 }),
];

/// Minimum length of the token after `Bearer`, so prose ("the bearer of …") is left alone.
const MIN_BEARER_TOKEN: usize = 8;

static SEARCH: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .build(TRIGGERS.iter().map(|(lit, _)| lit))
        // The literals are constants; building cannot fail (a unit test builds it).
        .expect("built-in redaction literals are valid")
});

/// Appends the byte ranges of every built-in secret found in `text` to `spans`.
pub(super) fn find(text: &str, spans: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for m in SEARCH.find_iter(text) {
        let (_, trigger) = TRIGGERS[m.pattern().as_usize()];
        let found = match trigger {
            Trigger::Bearer => bearer(bytes, m.start(), m.end()),
            Trigger::Jwt => jwt(bytes, m.start()),
            Trigger::PrivateKey => private_key(bytes, m.start(), m.end()),
            Trigger::Param { min } => param(bytes, m.start(), m.end(), min),
        };
        if let Some(span) = found {
            spans.push(span);
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_b64token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// True if the byte before `start` cannot continue a word (so `start` begins a word).
fn word_starts_at(bytes: &[u8], start: usize) -> bool {
    start == 0 || !is_word(bytes[start - 1])
}

fn run(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    from + bytes[from..].iter().take_while(|&&b| pred(b)).count()
}

fn bearer(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    if !word_starts_at(bytes, start) {
        return None;
    }
    let token_start = run(bytes, end, |b| b == b' ' || b == b'\t');
    if token_start == end {
        return None;
    }
    let body_end = run(bytes, token_start, is_b64token);
    let token_end = run(bytes, body_end, |b| b == b'=');
    (body_end - token_start >= MIN_BEARER_TOKEN).then_some(token_start..token_end)
}

fn jwt(bytes: &[u8], start: usize) -> Option<Range<usize>> {
    // The header of every JWS/JWE is base64url of `{"`, which always begins `eyJ`.
    if &bytes[start..start + 3] != b"eyJ" || (start > 0 && is_b64url(bytes[start - 1])) {
        return None;
    }
    let mut end = run(bytes, start, is_b64url);
    let mut segments = 1;
    while end < bytes.len() && bytes[end] == b'.' {
        let next = run(bytes, end + 1, is_b64url);
        if segments == 1 && next == end + 1 {
            // An empty second segment: not a JWS payload; too weak a signal to redact.
            return None;
        }
        end = next;
        segments += 1;
    }
    (segments >= 3).then_some(start..end)
}

fn private_key(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let line_end = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |i| end + i);
    let label = &bytes[end..line_end];
    let label = label.strip_suffix(b"\r").unwrap_or(label);
    if !label.ends_with(b"PRIVATE KEY-----") {
        return None;
    }
    let rest = &bytes[line_end..];
    let Some(footer) = memchr::memmem::find(rest, b"-----END ") else {
        // Truncated block: everything after the header is key material.
        return Some(start..bytes.len());
    };
    let footer_start = line_end + footer;
    let tail = &bytes[footer_start + 9..];
    let close =
        memchr::memmem::find(tail, b"-----").map_or(bytes.len(), |i| footer_start + 9 + i + 5);
    Some(start..close)
}

/// True if `text` opens a PEM private key block that it does not close: the lines that
/// follow it in a stream are key material.
pub(super) fn opens_private_key(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(begin) = memchr::memmem::rfind(bytes, b"-----BEGIN ") else {
        return false;
    };
    let end = begin + b"-----BEGIN ".len();
    private_key(bytes, begin, end).is_some()
        && memchr::memmem::find(&bytes[end..], b"-----END ").is_none()
}

/// If `line` closes a PEM block, the offset just past its `-----END …-----` marker.
pub(super) fn closes_private_key(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let footer = memchr::memmem::find(bytes, b"-----END ")?;
    let tail = footer + b"-----END ".len();
    Some(memchr::memmem::find(&bytes[tail..], b"-----").map_or(bytes.len(), |i| tail + i + 5))
}

fn param(bytes: &[u8], start: usize, end: usize, min: usize) -> Option<Range<usize>> {
    if !word_starts_at(bytes, start) || end < bytes.len() && is_word(bytes[end]) {
        return None;
    }
    // Optional closing quote of a JSON key (possibly backslash-escaped), spaces, then the
    // separator, spaces, and an optional opening quote.
    let mut i = end;
    i = skip_quote(bytes, i).map_or(i, |(_, after)| after);
    i = run(bytes, i, |b| b == b' ');
    if i >= bytes.len() || !matches!(bytes[i], b'=' | b':') {
        return None;
    }
    i = run(bytes, i + 1, |b| b == b' ');
    let (value_start, value_end) = match skip_quote(bytes, i) {
        Some((quote, after)) => (after, quoted_end(bytes, after, quote)),
        None => (i, run(bytes, i, |b| !is_unquoted_delimiter(b))),
    };
    let value = &bytes[value_start..value_end];
    (value.len() >= min && value != REDACTED.as_bytes()).then_some(value_start..value_end)
}

/// Recognizes `"`, `'`, `\"` or `\'` at `i`: returns the quote sequence and where it ends.
fn skip_quote(bytes: &[u8], i: usize) -> Option<(&[u8], usize)> {
    let rest = &bytes[i..];
    let len = match rest {
        [b'"' | b'\'', ..] => 1,
        [b'\\', b'"' | b'\'', ..] => 2,
        _ => return None,
    };
    Some((&rest[..len], i + len))
}

/// The end of a quoted value opened by `quote`: the next unescaped `quote`, or the end of
/// the text if it is never closed (a truncated line is redacted to its end).
fn quoted_end(bytes: &[u8], from: usize, quote: &[u8]) -> usize {
    if quote.len() == 2 {
        // A doubly-escaped string encodes each inner `\` as `\\`, so the inner string's
        // closing quote is a `\"` preceded by a multiple of four backslashes; `\\\"` (two
        // before it) is an escaped quote inside the value.
        let mut i = from;
        while let Some(at) = memchr::memmem::find(&bytes[i..], quote) {
            let at = i + at;
            let before = bytes[from..at]
                .iter()
                .rev()
                .take_while(|&&b| b == b'\\')
                .count();
            if before % 4 == 0 {
                return at;
            }
            i = at + 1;
        }
        return bytes.len();
    }
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote[0] => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn is_unquoted_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b'"' | b'\'' | b',' | b';' | b'<' | b'>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_builds() {
        assert_eq!(SEARCH.patterns_len(), TRIGGERS.len());
    }

    fn spans(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        find(text, &mut v);
        v.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn bearer_needs_a_word_boundary_and_a_long_token() {
        assert_eq!(
            spans("Authorization: Bearer abcdefgh12=="),
            ["abcdefgh12=="]
        );
        assert_eq!(
            spans("authorization:bearer\tabc.def_ghi~"),
            ["abc.def_ghi~"]
        );
        assert!(spans("the bearer of this letter").is_empty());
        assert!(spans("Xbearer abcdefghijk").is_empty());
        assert!(spans("Bearer [REDACTED]").is_empty());
    }

    #[test]
    fn jwts_need_three_segments() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        assert_eq!(spans(&format!("id={jwt} next")), [jwt]);
        assert_eq!(
            spans("eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."),
            ["eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."]
        );
        assert!(spans("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0").is_empty());
        assert!(spans("keyJane.smith.example").is_empty());
        assert!(spans("EYJ.abc.def").is_empty());
    }

    #[test]
    fn private_keys_are_redacted_whole_or_to_the_end() {
        let pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\nIBAQ==\n-----END EC PRIVATE KEY-----";
        assert_eq!(spans(&format!("key: {pem}\nafter")), [pem]);
        let cut = "-----BEGIN PRIVATE KEY-----\r\nMIIEvQIB";
        assert_eq!(spans(cut), [cut]);
        assert!(spans("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
    }

    #[test]
    fn params_in_queries_forms_json_and_logs() {
        assert_eq!(
            spans("/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz"),
            ["SplxlOBeZQQYbYS6WxSbIA"]
        );
        assert_eq!(
            spans("grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA"),
            ["tGzv3JOkF0XG5Qx2TlKWIA"]
        );
        assert_eq!(
            spans(r#"{"access_token" : "2YotnFZFEjr1zCsicMWpAA","x":1}"#),
            ["2YotnFZFEjr1zCsicMWpAA"]
        );
        assert_eq!(
            spans(r#"{\"client_secret\":\"s3cr\\\"et\"}"#),
            [r#"s3cr\\\"et"#]
        );
        assert_eq!(spans(r#"{"password":"a\"b"}"#), [r#"a\"b"#]);
        assert_eq!(spans("PASSWORD: hunter2 ok"), ["hunter2"]);
        assert_eq!(spans("password='never closed"), ["never closed"]);
    }

    #[test]
    fn params_leave_ordinary_text_alone() {
        assert!(spans("exit code=1").is_empty());
        assert!(spans("zipcode=12345678").is_empty());
        assert!(spans("authorization_code").is_empty());
        assert!(spans("the code is clean").is_empty());
        assert!(spans("access_token=[REDACTED]").is_empty());
        assert!(spans("access_tokens=abc").is_empty());
        assert!(spans("password=").is_empty());
    }
}
