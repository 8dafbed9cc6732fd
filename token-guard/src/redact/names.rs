//! Values of sensitive names: any name whose last word is `token`, `secret`, `password`,
//! `passwd`, `pwd`, `passphrase`, `key`, `apikey`, `credential(s)`, `auth`, `session` or
//! `cookie` (words split at `_`, `-`, `.` and camelCase), in every way logs and configs
//! write a name and its value:
//!
//! `k=v`, `K=v` (env), `k: v`, `k:\tv`, `"k": "v"`, `\"k\":\"v\"` (JSON in a string),
//! `k => 'v'`, `<k>v</k>`, `k%3Dv` (URL-encoded), `--k v`, `--k=v`.
//!
//! Values that cannot be secrets are left alone: booleans, `null`/`none`, status words
//! (`disabled`, `expired`, ...), integers of up to four digits (`primary_key=42`), `***`,
//! an object (`{…}`), an already masked value, the shell's `PWD=/path`; OAuth's bare
//! `code` needs 16+ bytes with a digit (`code = Unavailable` is gRPC's status). A log
//! event's target is not a name: `INFO myapp::session: created` (see `is_log_target`).

use super::scan::{Scan, is_alnum, run, run_within, skip_blanks};
use super::{Detector, REDACTED, structures};

/// One trigger word.
pub(super) struct Word {
    /// The word, lowercase.
    pub(super) word: &'static str,
    /// It may end a name without starting a word (`PGPASSWORD`, `authtoken`).
    suffix: bool,
    /// Only the whole name counts (`code`, not `exit_code`).
    whole: bool,
}

const fn word(word: &'static str, suffix: bool) -> Word {
    Word {
        word,
        suffix,
        whole: false,
    }
}

pub(super) const WORDS: &[Word] = &[
    word("token", true),
    word("secret", true),
    word("password", true),
    word("passwd", true),
    word("passphrase", true),
    word("pwd", false),
    word("key", false),
    word("apikey", true),
    word("credential", true),
    word("credentials", true),
    word("auth", false),
    word("session", false),
    word("cookie", false),
    // OAuth's own parameters that do not end in one of the words above.
    Word {
        word: "code",
        suffix: false,
        whole: true,
    },
    Word {
        word: "code_verifier",
        suffix: false,
        whole: true,
    },
];

/// Longest name looked at, backwards from its last word.
const MAX_NAME: usize = 64;

/// What may appear in a name: letters, digits, `_`, `-`, `.`.
pub(super) fn is_name(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'_' | b'-' | b'.')
}

/// Checks the hit of `w` at `start..end` and masks its value.
pub(super) fn check(scan: &mut Scan<'_>, w: &Word, start: usize, end: usize) -> Option<usize> {
    let bytes = scan.bytes;
    // The name ends with the word...
    if end < bytes.len() && is_name(bytes[end]) {
        return None;
    }
    // ...which starts a word of it, unless the word may end a longer one.
    let starts_word = start == 0
        || !is_alnum(bytes[start - 1])
        || (bytes[start - 1].is_ascii_lowercase() || bytes[start - 1].is_ascii_digit())
            && bytes[start].is_ascii_uppercase();
    if !starts_word && !w.suffix {
        return None;
    }
    let name_start = name_start(bytes, start);
    let mut name = &bytes[name_start..end];
    let option = name.starts_with(b"--");
    name = trim_dashes(name);
    if w.whole && !name.eq_ignore_ascii_case(w.word.as_bytes()) {
        return None;
    }
    let xml = name_start > 0 && bytes[name_start - 1] == b'<' && bytes.get(end) == Some(&b'>');

    if w.word == "cookie"
        && let Some(until) = structures::cookie_header(scan, name, end)
    {
        return Some(until);
    }
    let (value_start, quote) = if xml {
        (end + 1, Quote::Xml)
    } else {
        value_start(bytes, end, option)?
    };
    if matches!(quote, Quote::None) && is_log_target(bytes, name_start, end, value_start) {
        return None;
    }
    let rest = &bytes[value_start..];
    // Decided on the first bytes, before the value is read (a rejected value is not
    // consumed, so reading it whole would be read again by every later hit): masked
    // already; an object (`"credentials": {…}`, its members are names of their own); the
    // shell's working directory (`PWD=/home/alice`).
    if rest.starts_with(REDACTED.as_bytes())
        || rest.first() == Some(&b'{')
        || w.word == "pwd" && matches!(rest.first(), Some(b'/' | b'~'))
    {
        return None;
    }
    let value_end = quote.value_end(bytes, value_start);
    let value = &bytes[value_start..value_end];
    // `<k>v</k>`: an element, closed (`Option<Session>::None` is Rust, not XML).
    let closed = || bytes[value_end..].starts_with(b"</");
    if !could_be_secret(value, w) || matches!(quote, Quote::Xml) && !closed() {
        return None;
    }
    scan.mask(value_start..value_end, Detector::Name);
    Some(value_end)
}

/// Log levels as tracing and env_logger print them.
const LEVELS: &[&[u8]] = &[b"TRACE", b"DEBUG", b"INFO", b"WARN", b"ERROR"];

/// Whether the name at `name_start..end`, followed by `: ` and an unquoted value at
/// `value_start`, is the target of a log event (`INFO myapp::session: created for alice`,
/// tracing's `LEVEL target: message`) rather than a name and its value:
/// - the last segment of a module path (`::session: `), whatever follows; or
/// - a bare target right after the level (`INFO auth: session refreshed`), when the
///   message goes on as prose: a word of letters only, then a blank and a letter
///   (`INFO auth: hunter2` and `INFO auth: s3cr3t-token` are still masked).
fn is_log_target(bytes: &[u8], name_start: usize, end: usize, value_start: usize) -> bool {
    if bytes.get(end..end + 2) != Some(b": ") || value_start != end + 2 {
        return false;
    }
    if bytes[..name_start].ends_with(b"::") {
        return true;
    }
    // Blanks between the level and the target (at most 48: aligned columns).
    let floor = name_start.saturating_sub(48);
    let mut level_end = name_start;
    while level_end > floor && bytes[level_end - 1].is_ascii_whitespace() {
        level_end -= 1;
    }
    if level_end == name_start {
        return false;
    }
    let before = &bytes[..level_end];
    let after_level = |level: &&[u8]| {
        before.ends_with(level)
            && before[..before.len() - level.len()]
                .last()
                .is_none_or(|b| !is_alnum(*b))
    };
    if !LEVELS.iter().any(after_level) {
        return false;
    }
    // A prose word is short; a longer run of letters is read no further and masked.
    let word = run_within(bytes, value_start, MAX_NAME, |b| b.is_ascii_alphabetic());
    word > value_start
        && bytes.get(word) == Some(&b' ')
        && bytes.get(word + 1).is_some_and(u8::is_ascii_alphabetic)
}

/// Where the name that ends at the word starting at `start` begins (at most
/// [`MAX_NAME`] bytes back).
fn name_start(bytes: &[u8], start: usize) -> usize {
    let floor = start.saturating_sub(MAX_NAME);
    let mut i = start;
    while i > floor && is_name(bytes[i - 1]) {
        i -= 1;
    }
    i
}

fn trim_dashes(name: &[u8]) -> &[u8] {
    let n = name.iter().take_while(|&&b| b == b'-').count();
    &name[n..]
}

/// How a value is delimited.
#[derive(Clone, Copy)]
pub(super) enum Quote {
    /// Up to the first delimiter.
    None,
    /// Up to the matching `"` or `'` (a backslash escapes).
    Single(u8),
    /// Up to the matching `\"` or `\'` of a string inside a string.
    Escaped(u8),
    /// Up to the next `<`.
    Xml,
}

impl Quote {
    /// Where a value starting at `from` ends: at its closing quote (the end of the text if
    /// it is never closed: a cut line is masked to its end) or its first delimiter.
    pub(super) fn value_end(self, bytes: &[u8], from: usize) -> usize {
        match self {
            Quote::None => run(bytes, from, |b| !is_delimiter(b)),
            Quote::Xml => run(bytes, from, |b| b != b'<' && b != b'\n' && b != b'\r'),
            Quote::Single(q) => {
                let mut i = from;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b if b == q => return i,
                        _ => i += 1,
                    }
                }
                bytes.len()
            }
            Quote::Escaped(q) => escaped_end(bytes, from, q),
        }
    }
}

/// The end of a string inside a string: the next `\q` preceded by a multiple of four
/// backslashes (a doubly escaped string writes each inner `\` as `\\`), else the end.
fn escaped_end(bytes: &[u8], from: usize, q: u8) -> usize {
    let mut i = from;
    while let Some(at) = memchr::memmem::find(&bytes[i..], &[b'\\', q]) {
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
    bytes.len()
}

/// What ends an unquoted value.
pub(super) fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'"' | b'\'' | b',' | b';' | b'<' | b'>' | b'}' | b']'
        )
}

/// Recognizes `"`, `'`, `\"` or `\'` at `i`.
pub(super) fn quote_at(bytes: &[u8], i: usize) -> Option<(Quote, usize)> {
    match bytes.get(i..).unwrap_or_default() {
        [q @ (b'"' | b'\''), ..] => Some((Quote::Single(*q), i + 1)),
        [b'\\', q @ (b'"' | b'\''), ..] => Some((Quote::Escaped(*q), i + 2)),
        _ => None,
    }
}

/// After a name ending at `end`: an optional closing quote (`"k"`), blanks, a separator
/// (`=`, `:`, `=>`, `%3D`; for a `--option`, blanks alone), blanks, an optional opening
/// quote. Returns where the value starts and how it is delimited.
fn value_start(bytes: &[u8], end: usize, option: bool) -> Option<(usize, Quote)> {
    let mut i = end;
    if let Some((_, after)) = quote_at(bytes, i) {
        i = after;
    }
    let blanks = skip_blanks(bytes, i);
    let rest = &bytes[blanks.min(bytes.len())..];
    let sep = match rest {
        // `==` compares, `::` is a path: neither introduces a value.
        [b'=', b'>', ..] | [b':', b'=', ..] => 2,
        [b'=', b'=', ..] | [b':', b':', ..] => return None,
        [b'=' | b':', ..] => 1,
        [b'%', b'3', b'd' | b'D', ..] => 3,
        _ if option && blanks > i && rest.first().is_some_and(|&b| b != b'-') => 0,
        _ => return None,
    };
    i = skip_blanks(bytes, blanks + sep);
    Some(open_value(bytes, i))
}

/// Where a value that may begin at `i` starts: past an opening quote, or past `[` and a
/// quote (a list: `["hunter2"]`, Go's `map[Authorization:[Basic …]]`), and how it ends.
pub(super) fn open_value(bytes: &[u8], mut i: usize) -> (usize, Quote) {
    if bytes.get(i) == Some(&b'[') && !bytes[i..].starts_with(REDACTED.as_bytes()) {
        i = skip_blanks(bytes, i + 1);
    }
    match quote_at(bytes, i) {
        Some((quote, after)) => (after, quote),
        None => (i, Quote::None),
    }
}

/// Words that are status values, never secrets.
pub(super) const PLAIN: &[&[u8]] = &[
    b"true",
    b"false",
    b"yes",
    b"no",
    b"on",
    b"off",
    b"ok",
    b"null",
    b"nil",
    b"none",
    b"undefined",
    b"empty",
    b"unset",
    b"default",
    b"enabled",
    b"disabled",
    b"required",
    b"optional",
    b"missing",
    b"invalid",
    b"expired",
    b"unknown",
    b"denied",
    b"allowed",
];

/// Whether `value` may be a secret: not empty, not already masked, not a boolean, `null`
/// or another status word, a short integer or stars.
fn could_be_secret(value: &[u8], word: &Word) -> bool {
    if value.is_empty() || value == REDACTED.as_bytes() || value.iter().all(|&b| b == b'*') {
        return false;
    }
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    if digits.len() <= 4 && digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if PLAIN.iter().any(|p| value.eq_ignore_ascii_case(p)) {
        return false;
    }
    // OAuth's `code` is long and has digits; `code = Unavailable` (gRPC) is not one.
    !(word.word == "code" && (value.len() < 16 || !value.iter().any(u8::is_ascii_digit)))
}

#[cfg(test)]
mod tests {
    fn masked(text: &str) -> String {
        crate::redact(text).into_owned()
    }

    #[test]
    fn every_written_form_of_a_name_and_value() {
        for (input, expected) in [
            ("password=hunter2", "password=[REDACTED]"),
            ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED]"),
            (
                "MYSQL_ROOT_PASSWORD=hunter2",
                "MYSQL_ROOT_PASSWORD=[REDACTED]",
            ),
            ("PGPASSWORD=hunter2", "PGPASSWORD=[REDACTED]"),
            ("auth_token=abc123xyz", "auth_token=[REDACTED]"),
            ("session_token=abc123xyz", "session_token=[REDACTED]"),
            ("secret_key=abc123xyz", "secret_key=[REDACTED]"),
            ("accessToken: abc123xyz", "accessToken: [REDACTED]"),
            (r#"{"passwd": "x1"}"#, r#"{"passwd": "[REDACTED]"}"#),
            (r#"{"pwd":"x1"}"#, r#"{"pwd":"[REDACTED]"}"#),
            ("password:\tx1", "password:\t[REDACTED]"),
            ("password => 'x1'", "password => '[REDACTED]'"),
            ("<password>x1</password>", "<password>[REDACTED]</password>"),
            ("a?password%3Dx1&b=2", "a?password%3D[REDACTED]&b=2"),
            ("--password x1 --next", "--password [REDACTED] --next"),
            ("--password=x1", "--password=[REDACTED]"),
            (
                r#"{\"api_key\":\"k-1\"}"#,
                r#"{\"api_key\":\"[REDACTED]\"}"#,
            ),
            ("X-Api-Key: k_live_123", "X-Api-Key: [REDACTED]"),
            (
                "code=SplxlOBeZQQYbYS6WxSbIA&state=x",
                "code=[REDACTED]&state=x",
            ),
            ("code_verifier=dBjftJeZ4CVP", "code_verifier=[REDACTED]"),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "AWS_SECRET_ACCESS_KEY=[REDACTED]",
            ),
            (
                "client.credentials = s3cr3t!",
                "client.credentials = [REDACTED]",
            ),
        ] {
            assert_eq!(masked(input), expected, "{input}");
        }
    }

    #[test]
    fn values_and_names_that_are_not_secrets() {
        for input in [
            "primary_key=42",
            "token_count=12",
            "password_hash_algo=argon2",
            "exit_code=1",
            "error_code=invalid_grant",
            "zipcode=12345678",
            "monkey=banana123",
            "token: expired",
            "the secret: none",
            "auth=ok",
            "remember_password=true",
            "password=",
            "password=null",
            "password=***",
            "PWD=/home/alice",
            "auth: disabled",
            "rpc error: code = Unavailable desc = connection refused",
            "{\"credentials\": {\"type\": \"service_account\"}}",
            "session refreshed for user 7c9e6679",
            "hearth_token_guard::redact",
            "if token == expected",
            "password=[REDACTED]",
            "--password --other",
            "grant_type=authorization_code&x=1",
            "max_tokens=4096",
        ] {
            assert_eq!(masked(input), input);
        }
    }

    #[test]
    fn a_log_events_target_is_not_a_name() {
        // tracing's `LEVEL target: message`: the message is not the target's value.
        for input in [
            "2026-11-22T20:41:50.777Z INFO  auth: session refreshed for user 7c9e6679",
            "INFO myapp::session: created for alice",
            "DEBUG hearth_pkce::token: refreshed 3 tokens",
            "WARN request{id=7}: app::auth::session: expired at 12:00",
            "ERROR key: rotation failed",
        ] {
            assert_eq!(masked(input), input);
        }
        // What still looks like a value is masked: not prose, not after a level, or a
        // value of its own inside the message.
        for (input, expected) in [
            ("INFO auth: hunter2", "INFO auth: [REDACTED]"),
            ("INFO auth: s3cr3t-token next", "INFO auth: [REDACTED] next"),
            ("INFO password: hunter", "INFO password: [REDACTED]"),
            ("user auth: letmein now", "user auth: [REDACTED] now"),
            ("myINFO auth: letmein now", "myINFO auth: [REDACTED] now"),
            (
                "INFO app::session: token=abc123xyz",
                "INFO app::session: token=[REDACTED]",
            ),
            (
                "INFO password:  hunter for bob",
                "INFO password:  [REDACTED] for bob",
            ),
        ] {
            assert_eq!(masked(input), expected, "{input}");
        }
    }
}
