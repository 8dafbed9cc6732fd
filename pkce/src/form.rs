//! `application/x-www-form-urlencoded` for query strings (WHATWG URL §5), both ways.

use crate::Error;

/// Appends `key=value` to a query, percent-encoding everything but unreserved characters.
pub(crate) fn append(query: &mut String, key: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    encode_into(query, key);
    query.push('=');
    encode_into(query, value);
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A query's `name=value` pairs, still encoded (empty pairs skipped; a pair without `=`
/// has an empty value).
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Decodes one form-encoded name or value: `+` is a space; a bad `%` escape or a result
/// that is not UTF-8 is an error.
pub(crate) fn decode(s: &str) -> Result<String, Error> {
    let bad = |reason| Error::MalformedCallback { reason };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(bad("truncated % escape"))?;
                let text = std::str::from_utf8(hex).map_err(|_| bad("bad % escape"))?;
                out.push(u8::from_str_radix(text, 16).map_err(|_| bad("bad % escape"))?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad("not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Vec<(String, String)>, Error> {
        pairs(q)
            .map(|(k, v)| Ok((decode(k)?, decode(v)?)))
            .collect()
    }

    #[test]
    fn round_trip() {
        let mut q = String::new();
        append(&mut q, "redirect_uri", "http://127.0.0.1:5000/cb?x=1&y");
        append(&mut q, "scope", "openid profile é");
        assert_eq!(
            q,
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb%3Fx%3D1%26y&scope=openid%20profile%20%C3%A9"
        );
        assert_eq!(
            parse(&q).unwrap(),
            vec![
                (
                    "redirect_uri".into(),
                    "http://127.0.0.1:5000/cb?x=1&y".into()
                ),
                ("scope".into(), "openid profile é".into())
            ]
        );
        assert_eq!(
            parse("a=b+c&d").unwrap(),
            vec![("a".into(), "b c".into()), ("d".into(), String::new())]
        );
    }

    #[test]
    fn malformed_escapes_are_errors() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff", "%C3=1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
