//! `find_secrets` against a slow, obviously correct reference for two of its rule sets:
//! sensitive names and vendor prefixes. The reference tries every rule at every byte
//! offset with plain loops (quadratic, no search automaton, no skipping); the engine must
//!
//! - mask every byte the reference would (no survivors), and
//! - report no name or vendor span the reference would not (no invented matches).
//!
//! The one allowed difference: a match that *starts* inside another detector's span (a
//! name inside a vendor token's base64 body, a vendor prefix inside a JWT) is that
//! detector's business: the engine does not read a masked span again.
#![no_main]

use std::ops::Range;

use hearth_token_guard::{Detector, find_secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = find_secrets(data);
    let mut masked = vec![false; data.len()];
    for f in &fast {
        masked[f.range.clone()].iter_mut().for_each(|m| *m = true);
    }
    let reference = reference(data);
    for (range, is_vendor) in &reference {
        let own = |d: Detector| {
            matches!(d, Detector::Vendor(_)) == *is_vendor
                && matches!(d, Detector::Name | Detector::Vendor(_))
        };
        if fast
            .iter()
            .any(|f| !own(f.detector) && f.range.start <= range.start && range.start < f.range.end)
        {
            continue;
        }
        assert!(
            masked[range.clone()].iter().all(|&m| m),
            "the reference masks {range:?} ({}), the engine leaves some of it",
            if *is_vendor { "vendor" } else { "name" }
        );
    }
    for f in &fast {
        if matches!(f.detector, Detector::Name | Detector::Vendor(_)) {
            assert!(
                reference
                    .iter()
                    .any(|(r, _)| r.start <= f.range.start && f.range.end <= r.end),
                "the engine reports {:?} by {:?}; the reference does not",
                f.range,
                f.detector
            );
        }
    }
});

/// Every (span, is-vendor) the name and vendor rules give, tried at every offset.
fn reference(t: &[u8]) -> Vec<(Range<usize>, bool)> {
    let mut out = Vec::new();
    for i in 0..t.len() {
        for &(prefix, class, min) in VENDORS {
            if let Some(span) = vendor_at(t, i, prefix, class, min) {
                out.push((span, true));
            }
        }
        for &(word, suffix, whole) in WORDS {
            if let Some(span) = name_at(t, i, word, suffix, whole) {
                out.push((span, false));
            }
        }
    }
    out
}

// ---- vendor prefixes: the formats of token-guard's table, spelled out again ----

const VENDORS: &[(&str, &str, usize)] = &[
    ("ghp_", "alnum", 36),
    ("gho_", "alnum", 36),
    ("ghu_", "alnum", 36),
    ("ghs_", "alnum", 36),
    ("ghr_", "alnum", 36),
    ("github_pat_", "word", 82),
    ("glpat-", "url", 20),
    ("gldt-", "url", 20),
    ("glrt-", "url", 20),
    ("glptt-", "hex", 40),
    ("glsoat-", "url", 20),
    ("xoxb-", "dash", 20),
    ("xoxp-", "dash", 20),
    ("xoxe-", "dash", 20),
    ("xoxa-", "dash", 20),
    ("xoxr-", "dash", 20),
    ("xoxs-", "dash", 20),
    ("xoxo-", "dash", 20),
    ("xapp-", "dash", 20),
    ("hooks.slack.com/services/", "base64", 20),
    ("AKIA", "base32", 16),
    ("ASIA", "base32", 16),
    ("ABIA", "base32", 16),
    ("ACCA", "base32", 16),
    ("AIza", "url", 35),
    ("sk-proj-", "url", 40),
    ("sk-svcacct-", "url", 40),
    ("sk-admin-", "url", 40),
    ("sk-", "alnum", 40),
    ("sk-ant-", "url", 40),
    ("sk_live_", "alnum", 10),
    ("sk_test_", "alnum", 10),
    ("sk_prod_", "alnum", 10),
    ("rk_live_", "alnum", 10),
    ("rk_test_", "alnum", 10),
    ("rk_prod_", "alnum", 10),
    ("whsec_", "alnum", 32),
    ("npm_", "alnum", 36),
    ("pypi-AgEIcHlwaS5vcmc", "url", 50),
    ("hf_", "alpha", 34),
    ("api_org_", "alpha", 34),
    ("shpat_", "hex", 32),
    ("shpca_", "hex", 32),
    ("shppa_", "hex", 32),
    ("shpss_", "hex", 32),
    ("SG.", "dotted", 66),
    ("dop_v1_", "hex", 64),
    ("doo_v1_", "hex", 64),
    ("dor_v1_", "hex", 64),
    ("dp.pt.", "alnum", 43),
    ("dapi", "hex", 32),
    ("glc_", "base64", 32),
    ("glsa_", "word", 32),
    ("PMAK-", "dash", 59),
    ("lin_api_", "alnum", 40),
    ("AGE-SECRET-KEY-1", "alnum", 58),
    ("hvs.", "url", 24),
    ("hvb.", "url", 24),
    ("pul-", "hex", 40),
    ("sntrys_", "base64", 32),
    ("sntryu_", "hex", 64),
    ("sq0atp-", "url", 22),
    ("sq0csp-", "url", 43),
    ("figd_", "url", 40),
    ("NRAK-", "alnum", 27),
    ("LTAI", "alnum", 20),
    ("ops_eyJ", "base64", 100),
    ("hth_", "alnum", 46),
];

fn in_class(b: u8, class: &str) -> bool {
    let alnum = b.is_ascii_alphanumeric();
    match class {
        "alnum" => alnum,
        "word" => alnum || b == b'_',
        "url" => alnum || b == b'_' || b == b'-',
        "dash" => alnum || b == b'-',
        "hex" => b.is_ascii_hexdigit(),
        "base32" => b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b),
        "alpha" => b.is_ascii_alphabetic(),
        "base64" => alnum || b"+/=_-".contains(&b),
        "dotted" => alnum || b"=_.-".contains(&b),
        _ => unreachable!("a class of the table"),
    }
}

fn vendor_at(t: &[u8], i: usize, prefix: &str, class: &str, min: usize) -> Option<Range<usize>> {
    if !t[i..].starts_with(prefix.as_bytes()) || (i > 0 && t[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let body_start = i + prefix.len();
    let mut end = body_start;
    while end < t.len() && in_class(t[end], class) {
        end += 1;
    }
    if end - body_start < min {
        return None;
    }
    // AWS key ids are exactly 16 after their prefix, and not followed by a letter or digit.
    let aws = matches!(prefix, "AKIA" | "ASIA" | "ABIA" | "ACCA");
    if aws && (end - body_start != min || t.get(end).is_some_and(u8::is_ascii_alphanumeric)) {
        return None;
    }
    if prefix == "hth_" {
        let key = std::str::from_utf8(&t[i..end]).ok()?;
        hearth_token_guard::apikey::parse(key, "hth").ok()?;
    }
    let from = if prefix.ends_with('/') { body_start } else { i };
    Some(from..end)
}

// ---- sensitive names ----

/// (word, may end a longer word, whole name only)
const WORDS: &[(&str, bool, bool)] = &[
    ("token", true, false),
    ("secret", true, false),
    ("password", true, false),
    ("passwd", true, false),
    ("passphrase", true, false),
    ("pwd", false, false),
    ("key", false, false),
    ("apikey", true, false),
    ("credential", true, false),
    ("credentials", true, false),
    ("auth", false, false),
    ("session", false, false),
    ("cookie", false, false),
    ("code", false, true),
    ("code_verifier", false, true),
];

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || b"&\"',;<>}]".contains(&b)
}

fn blanks(t: &[u8], mut i: usize) -> usize {
    let limit = i + 48;
    while i < t.len() && i < limit && (t[i] == b' ' || t[i] == b'\t') {
        i += 1;
    }
    i
}

/// A quote at `i`: its closing byte, whether escaped (`\"`), and where the value starts.
fn quote(t: &[u8], i: usize) -> Option<(u8, bool, usize)> {
    match (t.get(i), t.get(i + 1)) {
        (Some(&q @ (b'"' | b'\'')), _) => Some((q, false, i + 1)),
        (Some(b'\\'), Some(&q @ (b'"' | b'\''))) => Some((q, true, i + 2)),
        _ => None,
    }
}

/// tracing's `LEVEL target: message`: a name right after `::`, or right after a level word
/// and blanks with a message of prose (letters, a space, a letter), followed by `: `.
fn log_target(t: &[u8], name_start: usize, end: usize, value_start: usize) -> bool {
    if t.get(end..end + 2) != Some(b": ") || value_start != end + 2 {
        return false;
    }
    if name_start >= 2 && &t[name_start - 2..name_start] == b"::" {
        return true;
    }
    let mut b = name_start;
    while b > name_start.saturating_sub(48) && t[b - 1].is_ascii_whitespace() {
        b -= 1;
    }
    if b == name_start {
        return false;
    }
    let level = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].iter().any(|l| {
        b >= l.len()
            && &t[b - l.len()..b] == l.as_bytes()
            && (b == l.len() || !t[b - l.len() - 1].is_ascii_alphanumeric())
    });
    let mut w = value_start;
    while w < t.len() && w < value_start + 64 && t[w].is_ascii_alphabetic() {
        w += 1;
    }
    level
        && w > value_start
        && t.get(w) == Some(&b' ')
        && t.get(w + 1).is_some_and(|c| c.is_ascii_alphabetic())
}

fn name_at(t: &[u8], i: usize, word: &str, suffix: bool, whole: bool) -> Option<Range<usize>> {
    let end = i + word.len();
    if end > t.len() || !t[i..end].eq_ignore_ascii_case(word.as_bytes()) {
        return None;
    }
    if end < t.len() && is_name(t[end]) {
        return None;
    }
    let camel = i > 0
        && (t[i - 1].is_ascii_lowercase() || t[i - 1].is_ascii_digit())
        && t[i].is_ascii_uppercase();
    let starts_word = i == 0 || !t[i - 1].is_ascii_alphanumeric() || camel;
    if !starts_word && !suffix {
        return None;
    }
    let mut name_start = i;
    while name_start > i.saturating_sub(64) && is_name(t[name_start - 1]) {
        name_start -= 1;
    }
    let full = &t[name_start..end];
    let option = full.starts_with(b"--");
    let name: &[u8] = &full[full.iter().take_while(|&&b| b == b'-').count()..];
    let exact = name.eq_ignore_ascii_case(word.as_bytes());
    if whole && !exact {
        return None;
    }
    if word == "cookie" && cookie_header(t, name, end) {
        return None;
    }
    let xml = name_start > 0 && t[name_start - 1] == b'<' && t.get(end) == Some(&b'>');
    let (value_start, closing): (usize, Option<(u8, bool)>) = if xml {
        (end + 1, Some((b'<', false)))
    } else {
        let mut j = end;
        if let Some((_, _, after)) = quote(t, j) {
            j = after;
        }
        let after_blanks = blanks(t, j);
        let sep = match &t[after_blanks.min(t.len())..] {
            [b'=', b'>', ..] | [b':', b'=', ..] => 2,
            [b'=', b'=', ..] | [b':', b':', ..] => return None,
            [b'=' | b':', ..] => 1,
            [b'%', b'3', b'd' | b'D', ..] => 3,
            [first, ..] if option && after_blanks > j && *first != b'-' => 0,
            _ => return None,
        };
        let mut v = blanks(t, after_blanks + sep);
        if t.get(v) == Some(&b'[') {
            v = blanks(t, v + 1);
        }
        match quote(t, v) {
            Some((q, escaped, after)) => (after, Some((q, escaped))),
            None => (v, None),
        }
    };
    if closing.is_none() && log_target(t, name_start, end, value_start) {
        return None;
    }
    let rest = &t[value_start.min(t.len())..];
    if rest.starts_with(b"[REDACTED]")
        || rest.first() == Some(&b'{')
        || word == "pwd" && matches!(rest.first(), Some(b'/' | b'~'))
    {
        return None;
    }
    let value_end = match closing {
        None => {
            let mut k = value_start;
            while k < t.len() && !is_delimiter(t[k]) {
                k += 1;
            }
            k
        }
        Some((b'<', false)) if xml => {
            let mut k = value_start;
            while k < t.len() && !b"<\n\r".contains(&t[k]) {
                k += 1;
            }
            k
        }
        Some((q, false)) => {
            let mut k = value_start;
            loop {
                if k >= t.len() {
                    break t.len();
                }
                if t[k] == b'\\' {
                    k += 2;
                } else if t[k] == q {
                    break k;
                } else {
                    k += 1;
                }
            }
        }
        Some((q, true)) => {
            let mut k = value_start;
            loop {
                if k + 1 >= t.len() {
                    break t.len();
                }
                if t[k] == b'\\' && t[k + 1] == q {
                    let backslashes = t[value_start..k]
                        .iter()
                        .rev()
                        .take_while(|&&b| b == b'\\')
                        .count();
                    if backslashes % 4 == 0 {
                        break k;
                    }
                }
                k += 1;
            }
        }
    };
    let value = &t[value_start.min(value_end)..value_end];
    secret_like(value, word).then_some(value_start..value_end)
}

fn secret_like(v: &[u8], word: &str) -> bool {
    if v.is_empty() || v == b"[REDACTED]" || v.iter().all(|&b| b == b'*') {
        return false;
    }
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    if digits.len() <= 4 && digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let plain = [
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "ok",
        "null",
        "nil",
        "none",
        "undefined",
        "empty",
        "unset",
        "default",
        "enabled",
        "disabled",
        "required",
        "optional",
        "missing",
        "invalid",
        "expired",
        "unknown",
        "denied",
        "allowed",
    ];
    if plain.iter().any(|p| v.eq_ignore_ascii_case(p.as_bytes())) {
        return false;
    }
    !(word == "code" && (v.len() < 16 || !v.iter().any(u8::is_ascii_digit)))
}

/// `Cookie:` / `Set-Cookie:` with a first `name=value` pair: the cookie rule's, not a name's.
fn cookie_header(t: &[u8], name: &[u8], end: usize) -> bool {
    if !(name.eq_ignore_ascii_case(b"cookie") || name.eq_ignore_ascii_case(b"set-cookie")) {
        return false;
    }
    let mut i = end;
    if let Some((_, _, after)) = quote(t, i) {
        i = after;
    }
    i = blanks(t, i);
    if t.get(i) != Some(&b':') {
        return false;
    }
    i = blanks(t, i + 1);
    if t.get(i) == Some(&b'[') {
        i = blanks(t, i + 1);
    }
    if let Some((_, _, after)) = quote(t, i) {
        i = after;
    }
    // The cookie rule takes over once it reads a first `name=` pair.
    let pair_char = |b: u8| b.is_ascii_graphic() && !b"=;,\"\\".contains(&b);
    let mut n = i;
    while n < t.len() && n < i + 256 && pair_char(t[n]) {
        n += 1;
    }
    n > i && t.get(n) == Some(&b'=')
}
