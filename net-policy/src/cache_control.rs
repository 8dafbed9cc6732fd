//! How long a response may be kept, from its `Cache-Control` header (RFC 9111 §5.2.2).

use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// The freshness lifetime a response's `Cache-Control` gives: `max-age` (the smallest
/// when repeated), zero for `no-store`, `no-cache` or a malformed `max-age` (RFC 9111
/// §4.2.1 treats those as stale), `None` when no directive says. Every `Cache-Control`
/// field counts; a value that is not visible ASCII is ignored. Linear in the headers'
/// length.
///
/// ```
/// use std::time::Duration;
/// use hearth_net_policy::cache_max_age;
///
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(cache_max_age(&headers), None);
/// headers.insert("cache-control", "public, max-age=300, must-revalidate".parse()?);
/// assert_eq!(cache_max_age(&headers), Some(Duration::from_secs(300)));
/// headers.insert("cache-control", "no-cache".parse()?);
/// assert_eq!(cache_max_age(&headers), Some(Duration::ZERO));
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
#[must_use]
pub fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut age: Option<u64> = None;
    let mut keep = |seconds: u64| age = Some(age.map_or(seconds, |a| a.min(seconds)));
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim())),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                keep(0);
            } else if name.eq_ignore_ascii_case("max-age") {
                keep(argument.and_then(seconds).unwrap_or(0));
            }
        }
    }
    age.map(Duration::from_secs)
}

/// The largest `delta-seconds` kept (RFC 9111 §1.2.2: 2^31, about 68 years).
const MAX_DELTA: u64 = 1 << 31;

/// `delta-seconds` (RFC 9111 §1.2.2), quoted or not; a larger value is 2^31.
fn seconds(argument: &str) -> Option<u64> {
    let digits = argument
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(argument);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(MAX_DELTA).min(MAX_DELTA))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(values: &[&str]) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CACHE_CONTROL, v.parse().unwrap());
        }
        cache_max_age(&headers)
    }

    #[test]
    fn directives() {
        let s = Duration::from_secs;
        assert_eq!(age(&[]), None);
        assert_eq!(age(&["public"]), None);
        assert_eq!(age(&["max-age=60"]), Some(s(60)));
        assert_eq!(age(&["MAX-AGE = \"60\" "]), Some(s(60)));
        assert_eq!(age(&["max-age=60, no-cache"]), Some(s(0)));
        assert_eq!(age(&["max-age=60", "max-age=30"]), Some(s(30)));
        assert_eq!(age(&["max-age=-1"]), Some(s(0)));
        assert_eq!(age(&["max-age=1e3"]), Some(s(0)));
        assert_eq!(age(&["max-age"]), Some(s(0)));
        assert_eq!(age(&["s-maxage=60"]), None, "for shared caches only");
        assert_eq!(
            age(&["max-age=99999999999999999999999"]),
            Some(s(MAX_DELTA))
        );
        assert_eq!(
            age(&["max-age=2147483649"]),
            Some(s(1 << 31)),
            "RFC 9111 §1.2.2 cap"
        );
    }
}
