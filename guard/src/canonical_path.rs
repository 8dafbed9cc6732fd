//! Canonical request paths: the one spelling of a path that every path rule and rate
//! limit is matched against.
//!
//! A path with more than one spelling escapes rules written for one of them:
//! `require("/keys", …)` does not match `//keys/new` or `/%6Beys/new`, though most
//! routers send both to `/keys/new`. Hearth **refuses** such paths (400) instead of
//! normalising them: a normaliser must agree with every router behind it on every corner
//! (`%2F`, `\`, `;`, dot segments after decoding), and a refusal needs no agreement. A
//! path is canonical when:
//!
//! - it starts with `/` and has no empty segment (`//`), except that it may end in `/`;
//! - no segment is `.` or `..`;
//! - it holds no `\` and no NUL, raw or percent-encoded;
//! - every `%` starts an escape of two uppercase hex digits (RFC 3986 §2.1), which is
//!   neither `/` (`%2F`) nor a character that needs no escape: letters, digits and
//!   `-._~` (RFC 3986 §2.3, §6.2.2.2).
//!
//! The check is one pass over the path: linear in its length.

use std::fmt;

/// Why a path is not canonical (see [`check_canonical_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathProblem {
    /// It does not start with `/` (`*`, an empty path).
    NotAbsolute,
    /// An empty segment: `//`.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A backslash, raw or as `%5C`.
    Backslash,
    /// A NUL, raw or as `%00`.
    Nul,
    /// `%2F`: a slash that is not a separator.
    EncodedSlash,
    /// An escape of a character that needs none (`%6B` for `k`).
    EncodedUnreserved,
    /// A `%` without two hex digits after it, or with lowercase ones.
    BadEscape,
    /// A spelling that some servers read as another path: a `;` (servlet containers
    /// strip `;params` from a segment) or a segment ending in a dot or a space (`%20`),
    /// which Windows drops.
    Ambiguous,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::NotAbsolute => "the path does not start with /",
            PathProblem::EmptySegment => "the path has an empty segment (//)",
            PathProblem::DotSegment => "the path has a . or .. segment",
            PathProblem::Backslash => "the path holds a backslash",
            PathProblem::Nul => "the path holds a NUL",
            PathProblem::EncodedSlash => "the path holds an encoded slash (%2F)",
            PathProblem::EncodedUnreserved => {
                "the path escapes a character that needs no escape (such as %6B for k)"
            }
            PathProblem::BadEscape => {
                "the path has a % that is not followed by two uppercase hex digits"
            }
            PathProblem::Ambiguous => {
                "the path holds a ';' or a segment ending in a dot or space, which some \
                 servers read as another path"
            }
        })
    }
}

/// Checks that `path` (a request URI's path, without its query) is canonical: the one
/// spelling that every path rule and rate limit of [`LocalGuard`](crate::LocalGuard) is
/// matched against. A path with more than one spelling would escape rules written for one
/// of them (`require("/keys", …)` does not match `//keys/new` or `/%6Beys/new`, though
/// most routers send both to `/keys/new`), so such paths are **refused** (400) rather than
/// normalised: a normaliser must agree with every router behind it on every corner, a
/// refusal needs no agreement. A path is canonical when:
///
/// - it starts with `/` and has no empty segment (`//`), except that it may end in `/`;
/// - no segment is `.` or `..`;
/// - it holds no `\` and no NUL, raw or percent-encoded;
/// - every `%` starts an escape of two uppercase hex digits (RFC 3986 §2.1), which is
///   neither `/` (`%2F`) nor a character that needs no escape: letters, digits and
///   `-._~` (RFC 3986 §2.3, §6.2.2.2);
/// - it holds no `;` (servlet containers strip `;params` from a segment), and no segment
///   ends in a dot or a space (`%20`), which Windows drops.
///
/// Rules then match the path byte for byte, case-sensitively: a handler that serves
/// files from a case-insensitive filesystem (macOS, Windows) should refuse or fold case
/// itself.
///
/// One pass over the path: linear in its length.
///
/// ```
/// use hearth_guard::{PathProblem, check_canonical_path};
///
/// assert_eq!(check_canonical_path("/keys/new"), Ok(()));
/// assert_eq!(check_canonical_path("/caf%C3%A9/"), Ok(()));
/// assert_eq!(check_canonical_path("//keys/new"), Err(PathProblem::EmptySegment));
/// assert_eq!(check_canonical_path("/%6Beys/new"), Err(PathProblem::EncodedUnreserved));
/// assert_eq!(check_canonical_path("/a/../keys"), Err(PathProblem::DotSegment));
/// ```
pub fn check_canonical_path(path: &str) -> Result<(), PathProblem> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathProblem::NotAbsolute);
    }
    // Each segment after its `/`: `start` is where the current one began.
    let mut start = 1;
    let mut i = 1;
    while i <= bytes.len() {
        let b = bytes.get(i).copied();
        match b {
            None | Some(b'/') => {
                let segment = &bytes[start..i];
                match segment {
                    b"." | b".." => return Err(PathProblem::DotSegment),
                    // Empty: `//`, or the path's trailing `/` (allowed), or `/` itself.
                    b"" if b.is_some() => return Err(PathProblem::EmptySegment),
                    _ if segment.ends_with(b".") || segment.ends_with(b"%20") => {
                        return Err(PathProblem::Ambiguous);
                    }
                    _ => {}
                }
                start = i + 1;
            }
            Some(b'\\') => return Err(PathProblem::Backslash),
            Some(b';') => return Err(PathProblem::Ambiguous),
            Some(0) => return Err(PathProblem::Nul),
            Some(b'%') => {
                let decoded = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
                    _ => None,
                }
                .ok_or(PathProblem::BadEscape)?;
                match decoded {
                    b'/' => return Err(PathProblem::EncodedSlash),
                    b'\\' => return Err(PathProblem::Backslash),
                    0 => return Err(PathProblem::Nul),
                    d if d.is_ascii_alphanumeric() || matches!(d, b'-' | b'.' | b'_' | b'~') => {
                        return Err(PathProblem::EncodedUnreserved);
                    }
                    _ => {}
                }
                i += 2;
            }
            Some(_) => {}
        }
        i += 1;
    }
    Ok(())
}

/// An uppercase hex digit's value.
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_pass() {
        for path in [
            "/",
            "/keys",
            "/keys/",
            "/keys/new",
            "/a.b/c..d/x",
            "/.well-known/openid-configuration",
            "/caf%C3%A9",
            "/a%20b",
            "/a%3Bb%25",
            "/~user/x_y-z",
            "/a%3Bb",
            "/v1.2/x",
        ] {
            assert_eq!(check_canonical_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn every_other_spelling_is_refused() {
        use PathProblem as P;
        for (path, problem) in [
            ("", P::NotAbsolute),
            ("*", P::NotAbsolute),
            ("keys", P::NotAbsolute),
            ("//keys/new", P::EmptySegment),
            ("/keys//new", P::EmptySegment),
            ("//", P::EmptySegment),
            ("/./keys", P::DotSegment),
            ("/keys/.", P::DotSegment),
            ("/a/../keys", P::DotSegment),
            ("/..", P::DotSegment),
            ("/keys/../", P::DotSegment),
            ("/%2e%2e/keys", P::BadEscape),
            ("/%2E%2E/keys", P::EncodedUnreserved),
            ("/.%2E/keys", P::EncodedUnreserved),
            ("/%6Beys/new", P::EncodedUnreserved),
            ("/%7E", P::EncodedUnreserved),
            ("/keys%2Fnew", P::EncodedSlash),
            ("/keys%2fnew", P::BadEscape),
            ("/keys%5Cnew", P::Backslash),
            ("/keys\\new", P::Backslash),
            ("/keys%00", P::Nul),
            ("/keys\0", P::Nul),
            ("/keys%", P::BadEscape),
            ("/keys%4", P::BadEscape),
            ("/keys%G0", P::BadEscape),
            ("/caf%c3%a9", P::BadEscape),
            ("/keys;x/new", P::Ambiguous),
            ("/keys;", P::Ambiguous),
            ("/keys./new", P::Ambiguous),
            ("/keys%20/new", P::Ambiguous),
            ("/keys.", P::Ambiguous),
        ] {
            assert_eq!(check_canonical_path(path), Err(problem), "{path:?}");
        }
    }
}
