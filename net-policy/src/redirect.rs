//! Following a redirect: where it goes (RFC 3986 §5.2 reference resolution) and what the
//! next request may carry (reqwest's rules, and stricter for bodies).

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST,
    PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use http::{HeaderName, Method, Request, StatusCode, Uri};

use crate::Error;

/// Longest `Location` value accepted.
const MAX_LOCATION: usize = 8 * 1024;

/// Resolves a redirect's `Location` against the URL it answered (RFC 3986 §5.2.2, with
/// dot segments removed as §5.2.4 says): absolute (`https://b/x`), network-path
/// (`//b/x`), absolute-path (`/x`), relative-path (`x`, `../x`), query-only (`?q`).
/// A fragment is dropped (it never reaches a server). Only `http` and `https` URLs are
/// followed.
///
/// ```
/// use hearth_net_policy::resolve_location;
///
/// let base: http::Uri = "https://a.example/dir/page?x=1".parse().unwrap();
/// assert_eq!(resolve_location(&base, "other")?, "https://a.example/dir/other");
/// assert_eq!(resolve_location(&base, "../up?y=2#frag")?, "https://a.example/up?y=2");
/// assert_eq!(resolve_location(&base, "//b.example/z")?, "https://b.example/z");
/// assert_eq!(resolve_location(&base, "?q=3")?, "https://a.example/dir/page?q=3");
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
pub fn resolve_location(base: &Uri, location: &str) -> Result<Uri, Error> {
    let invalid = || Error::InvalidUrl {
        reason: "redirect Location is not a URL",
    };
    if location.len() > MAX_LOCATION || location.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(invalid());
    }
    let location = location.split_once('#').map_or(location, |(l, _)| l);
    let scheme = base
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))
        .ok_or_else(invalid)?;
    let authority = base.authority().ok_or_else(invalid)?.as_str();
    let (path, query) = split_query(location);
    let target = if let Some((s, rest)) = split_scheme(location) {
        let (auth, p) = split_authority(rest).ok_or_else(invalid)?;
        let (p, q) = split_query(p);
        join(s, auth, &remove_dot_segments(p), q)
    } else if let Some(rest) = location.strip_prefix("//") {
        let (auth, p) = split_authority(&format!("//{rest}"))
            .map(|(a, p)| (a.to_owned(), p.to_owned()))
            .ok_or_else(invalid)?;
        let (p, q) = split_query(&p);
        join(scheme, &auth, &remove_dot_segments(p), q)
    } else if path.is_empty() {
        let base_path = base.path();
        let q = query.or_else(|| base.query());
        join(scheme, authority, base_path, q)
    } else if path.starts_with('/') {
        join(scheme, authority, &remove_dot_segments(path), query)
    } else {
        let base_path = base.path();
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        join(
            scheme,
            authority,
            &remove_dot_segments(&format!("{dir}{path}")),
            query,
        )
    };
    let uri: Uri = target.parse().map_err(|_| invalid())?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    if !web || uri.host().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(uri)
}

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let valid = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// `//authority/path` into (authority, path).
fn split_authority(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("//")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(end);
    (!auth.is_empty()).then_some((auth, path))
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

fn join(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// RFC 3986 §5.2.4: `.` and `..` segments removed, never above the root.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// What the next hop of a redirect may carry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RedirectRules {
    /// Header names, besides the built-in ones, dropped when a redirect leaves the origin.
    pub(crate) sensitive: Vec<HeaderName>,
    /// Follow a cross-origin 307/308 that would resend a body.
    pub(crate) cross_origin_bodies: bool,
}

/// Headers dropped on every cross-origin hop (with every header marked sensitive).
const CROSS_ORIGIN_DROPPED: [HeaderName; 4] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, HOST];

/// Headers that describe a body, dropped when a redirect turns the request into a GET.
const BODY_HEADERS: [HeaderName; 4] = [
    CONTENT_TYPE,
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    TRANSFER_ENCODING,
];

impl RedirectRules {
    /// The request for the hop to `target` after `status` answered `prev`.
    pub(crate) fn next(
        &self,
        prev: &Request<Bytes>,
        status: StatusCode,
        target: Uri,
    ) -> Result<Request<Bytes>, Error> {
        let cross_origin = origin(&target) != origin(prev.uri());
        let to_get = status == StatusCode::SEE_OTHER && prev.method() != Method::HEAD
            || matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && prev.method() == Method::POST;
        if cross_origin && !to_get && !prev.body().is_empty() && !self.cross_origin_bodies {
            return Err(Error::RedirectRefused {
                reason: "a redirect to another origin would resend the request body",
            });
        }
        let mut next = Request::new(if to_get {
            Bytes::new()
        } else {
            prev.body().clone()
        });
        *next.method_mut() = if to_get {
            Method::GET
        } else {
            prev.method().clone()
        };
        *next.uri_mut() = target;
        for (name, value) in prev.headers() {
            let dropped = cross_origin
                && (value.is_sensitive()
                    || CROSS_ORIGIN_DROPPED.contains(name)
                    || name.as_str() == "x-api-key"
                    || self.sensitive.contains(name))
                || to_get && BODY_HEADERS.contains(name);
            if !dropped {
                next.headers_mut().append(name.clone(), value.clone());
            }
        }
        Ok(next)
    }
}

/// Scheme, host and port (default ports made explicit).
fn origin(u: &Uri) -> (Option<&str>, Option<String>, u16) {
    let scheme = u.scheme_str();
    let port = u
        .port_u16()
        .unwrap_or(if scheme == Some("http") { 80 } else { 443 });
    (scheme, u.host().map(str::to_ascii_lowercase), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, loc: &str) -> String {
        resolve_location(&base.parse().unwrap(), loc)
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// RFC 3986 §5.4.1's normal examples (those an HTTP redirect can give).
    #[test]
    fn rfc_3986_normal_examples() {
        let base = "http://a/b/c/d;p?q";
        for (loc, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("https://other/x?y", "https://other/x?y"),
        ] {
            assert_eq!(r(base, loc), want, "{loc:?}");
        }
    }

    #[test]
    fn hostile_locations_are_errors() {
        for loc in [
            "http://",
            "//",
            "https:///x",
            "a b",
            "\u{0}x",
            "http://a\r\nX: y",
        ] {
            assert!(r("https://a/b", loc).starts_with("error"), "{loc:?}");
        }
        assert!(r("https://a/b", &"x".repeat(9000)).starts_with("error"));
    }
}
