//! The built-in detectors: where a secret starts and ends in a line of text.
//!
//! One multi-literal search finds every place a secret could start; each hit is then
//! confirmed by a small hand-written check. The search is ASCII case-insensitive: the text
//! is lowercased a 4 KiB chunk at a time into a stack buffer and searched for lowercase
//! literals, which lets aho-corasick use its SIMD (Teddy) prefilter; its own
//! case-insensitive mode cannot and runs about 8 times slower. Clean text therefore costs a
//! copy, a fold and one SIMD search, and allocates nothing.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use zeroize::Zeroize;

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
    /// `Authorization: <scheme> <credentials>` (and `Proxy-Authorization`), any scheme.
    Authorization,
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
    ("api_key", Trigger::Param { min: 1 }),
    ("apikey", Trigger::Param { min: 1 }),
    ("x-api-key", Trigger::Param { min: 1 }),
    ("authorization", Trigger::Authorization),
    // Generic words: only values of 8+ bytes, so `token: expired` stays readable. Listed
    // after the longer literals that start with them (leftmost-first picks the first).
    ("code", Trigger::Param { min: 8 }),
    ("token", Trigger::Param { min: 8 }),
    ("secret", Trigger::Param { min: 8 }),
];

/// Minimum length of the token after `Bearer`, so prose ("the bearer of …") is left alone.
const MIN_BEARER_TOKEN: usize = 8;

static SEARCH: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(TRIGGERS.iter().map(|(lit, _)| lit))
        // The literals are constants; building cannot fail (a unit test builds it).
        .expect("built-in redaction literals are valid")
});

/// Bytes of text lowercased and searched at a time.
const CHUNK: usize = 4096;

/// Consecutive chunks overlap by this much, so a literal cut by a chunk boundary is found
/// whole in the next chunk.
const OVERLAP: usize = longest_trigger() - 1;

const fn longest_trigger() -> usize {
    let mut i = 0;
    let mut max = 0;
    while i < TRIGGERS.len() {
        if TRIGGERS[i].0.len() > max {
            max = TRIGGERS[i].0.len();
        }
        i += 1;
    }
    max
}

/// Appends the byte ranges of every built-in secret found in `text` to `spans`.
pub(super) fn find(text: &str, spans: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    let mut folded = [0u8; CHUNK];
    let mut pos = 0;
    loop {
        let end = (pos + CHUNK).min(bytes.len());
        let n = end - pos;
        let last = end == bytes.len();
        folded[..n].copy_from_slice(&bytes[pos..end]);
        folded[..n].make_ascii_lowercase();
        for m in SEARCH.find_iter(&folded[..n]) {
            if !last && m.start() >= n - OVERLAP {
                break; // found again, whole, in the next chunk
            }
            let (start, end) = (pos + m.start(), pos + m.end());
            let found = match TRIGGERS[m.pattern().as_usize()].1 {
                Trigger::Bearer => bearer(bytes, start, end),
                Trigger::Jwt => jwt(bytes, start),
                Trigger::PrivateKey => private_key(bytes, start, end),
                Trigger::Param { min } => param(bytes, start, end, min),
                Trigger::Authorization => authorization(bytes, start, end),
            };
            if let Some(span) = found {
                spans.push(span);
            }
        }
        if last {
            break;
        }
        pos = end - OVERLAP;
    }
    // The buffer held a copy of the text, secrets included.
    folded[..bytes.len().min(CHUNK)].zeroize();
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
    let (value_start, quote) = value_start(bytes, start, end)?;
    let value_end = value_end(bytes, value_start, quote);
    let value = &bytes[value_start..value_end];
    (value.len() >= min && value != REDACTED.as_bytes()).then_some(value_start..value_end)
}

fn authorization(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let (value_start, quote) = value_start(bytes, start, end)?;
    // Skip the scheme (`Basic`, `Bearer`, `Digest`, ...) when one is followed by spaces.
    let scheme_end = run(bytes, value_start, |b| b.is_ascii_alphabetic());
    let after_spaces = run(bytes, scheme_end, |b| b == b' ' || b == b'\t');
    let credentials = if scheme_end > value_start && after_spaces > scheme_end {
        after_spaces
    } else {
        value_start
    };
    let credentials_end = value_end(bytes, credentials, quote);
    let value = &bytes[credentials..credentials_end];
    (!value.is_empty() && value != REDACTED.as_bytes()).then_some(credentials..credentials_end)
}

/// For a key found at `start..end`: checks it is a whole word, then skips an optional
/// closing quote of a JSON key (possibly backslash-escaped), spaces, the `=` or `:`
/// separator, spaces, and an optional opening quote. Returns where the value starts and
/// the quote that opened it, if any.
fn value_start(bytes: &[u8], start: usize, end: usize) -> Option<(usize, Option<&[u8]>)> {
    if !word_starts_at(bytes, start) || end < bytes.len() && is_word(bytes[end]) {
        return None;
    }
    let mut i = end;
    i = skip_quote(bytes, i).map_or(i, |(_, after)| after);
    i = run(bytes, i, |b| b == b' ');
    if i >= bytes.len() || !matches!(bytes[i], b'=' | b':') {
        return None;
    }
    i = run(bytes, i + 1, |b| b == b' ');
    Some(match skip_quote(bytes, i) {
        Some((quote, after)) => (after, Some(quote)),
        None => (i, None),
    })
}

/// Where a value starting at `from` ends: at its closing quote, or at the first delimiter.
fn value_end(bytes: &[u8], from: usize, quote: Option<&[u8]>) -> usize {
    match quote {
        Some(quote) => quoted_end(bytes, from, quote),
        None => run(bytes, from, |b| !is_unquoted_delimiter(b)),
    }
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
        assert!(
            TRIGGERS
                .iter()
                .all(|(lit, _)| lit.bytes().all(|b| !b.is_ascii_uppercase()))
        );
        assert_eq!(OVERLAP, "authorization".len() - 1);
    }

    #[test]
    fn literals_cut_by_a_chunk_boundary_are_found() {
        for offset in CHUNK - 20..CHUNK + 5 {
            let text = format!(
                "{}password=hunter2 and Bearer abcdefgh1234",
                "x ".repeat(offset / 2) + &" ".repeat(offset % 2)
            );
            assert_eq!(spans(&text), ["hunter2", "abcdefgh1234"], "offset {offset}");
        }
        let many = "access_token=abc ".repeat(1000);
        assert_eq!(spans(&many).len(), 1000);
    }

    fn spans(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        find(text, &mut v);
        v.sort_by_key(|r| (r.start, r.end));
        v.dedup();
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
        assert!(spans("token: expired").is_empty());
        assert!(spans("the secret: none").is_empty());
    }

    #[test]
    fn api_keys_and_generic_tokens() {
        assert_eq!(spans("/Items?api_key=4f9c2a7e1b&x=1"), ["4f9c2a7e1b"]);
        assert_eq!(spans("X-Api-Key: k_live_123"), ["k_live_123"]);
        assert_eq!(
            spans("X-Emby-Token: 0123456789abcdef"),
            ["0123456789abcdef"]
        );
        assert_eq!(
            spans("ws://127.0.0.1:8743/?token=Zm9vYmFyYmF6cXV4"),
            ["Zm9vYmFyYmF6cXV4"]
        );
    }

    #[test]
    fn authorization_headers_of_any_scheme() {
        assert_eq!(spans("Authorization: Basic dXNlcjpwYXNz"), ["dXNlcjpwYXNz"]);
        assert_eq!(
            spans("proxy-authorization: Negotiate YIIBhgYGKwYB rest"),
            ["YIIBhgYGKwYB"]
        );
        assert_eq!(spans(r#"{"Authorization":"Token abc def"}"#), ["abc def"]);
        assert_eq!(spans("authorization=raw-key-value"), ["raw-key-value"]);
        assert!(spans("Authorization: Basic [REDACTED]").is_empty());
        assert!(spans("authorization required").is_empty());
    }
}
