//! [`HostPattern`]: which hosts a set of pins applies to, in OkHttp's syntax.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::Error;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    /// `example.com` (or an IP address): that host only.
    Exact,
    /// `*.example.com`: exactly one more label (`www.example.com`, not `example.com` nor
    /// `a.b.example.com`).
    OneLabel,
    /// `**.example.com`: the name itself and any number of labels before it.
    AnyDepth,
}

/// A host pattern: `example.com`, `*.example.com` (one label) or `**.example.com` (any
/// depth, the name itself included), case-insensitive; or an IP address.
///
/// ```
/// use hearth_net_policy::HostPattern;
///
/// let one: HostPattern = "*.example.com".parse()?;
/// assert!(one.matches("www.example.com"));
/// assert!(!one.matches("example.com") && !one.matches("a.b.example.com"));
///
/// let any: HostPattern = "**.example.com".parse()?;
/// assert!(any.matches("example.com") && any.matches("a.b.EXAMPLE.com."));
/// assert!(!any.matches("notexample.com"));
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    kind: Kind,
    base: String,
    /// For an address pattern: the address, canonical.
    ip: Option<IpAddr>,
}

impl HostPattern {
    /// Whether `host` (a DNS name, or an IP address with or without brackets) matches.
    ///
    /// Addresses are compared as addresses, not as text: `::1` matches `0:0:0:0:0:0:0:1`
    /// and `[::1]`, `127.0.0.1` matches `127.1`, `0x7f.0.0.1`, `2130706433` and
    /// `::ffff:127.0.0.1` — every spelling a resolver would connect to the same address.
    ///
    /// ```
    /// use hearth_net_policy::HostPattern;
    ///
    /// let lo: HostPattern = "127.0.0.1".parse()?;
    /// assert!(lo.matches("127.1") && lo.matches("0x7f.0.0.1") && lo.matches("[::ffff:7f00:1]"));
    /// let v6: HostPattern = "0:0:0:0:0:0:0:1".parse()?;
    /// assert!(v6.matches("::1"));
    /// # Ok::<(), hearth_net_policy::Error>(())
    /// ```
    #[must_use]
    pub fn matches(&self, host: &str) -> bool {
        if let Some(ip) = self.ip {
            return Self::canonical_ip(host) == Some(ip);
        }
        if Self::canonical_ip(host).is_some() {
            return false; // an address never matches a DNS-name pattern
        }
        let host = normalize(host);
        let Some(prefix) = host.strip_suffix(self.base.as_str()) else {
            return false;
        };
        match self.kind {
            Kind::Exact => prefix.is_empty(),
            Kind::OneLabel => prefix
                .strip_suffix('.')
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            Kind::AnyDepth => prefix.is_empty() || (prefix.ends_with('.') && prefix.len() > 1),
        }
    }
}

impl HostPattern {
    /// `host` as an IP address, if it is one in any form a resolver accepts: IPv6 (with or
    /// without brackets; an IPv4-mapped address as its IPv4 address), or IPv4 in the
    /// WHATWG URL / `inet_aton` forms — one to four parts, each decimal, octal (`0` prefix)
    /// or hex (`0x`), the last filling the remaining bytes (`127.1`, `2130706433`).
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use hearth_net_policy::HostPattern;
    ///
    /// let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// for spelling in ["127.0.0.1", "127.1", "0177.0.0.1", "0x7f000001", "2130706433", "::ffff:127.0.0.1"] {
    ///     assert_eq!(HostPattern::canonical_ip(spelling), lo, "{spelling}");
    /// }
    /// assert_eq!(HostPattern::canonical_ip("jellyfin.home.arpa"), None);
    /// ```
    #[must_use]
    pub fn canonical_ip(host: &str) -> Option<IpAddr> {
        let host = normalize(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(ip.to_canonical());
        }
        loose_ipv4(&host).map(IpAddr::V4)
    }
}

/// The WHATWG URL IPv4 parser (the forms `inet_aton` accepts), or `None`.
fn loose_ipv4(host: &str) -> Option<std::net::Ipv4Addr> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.last() == Some(&"") && parts.len() > 1 {
        parts.pop();
    }
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if part.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        let n = if digits.is_empty() {
            0 // `0x` alone is zero, as in the URL standard
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        numbers.push(n);
    }
    let (last, first) = numbers.split_last()?;
    if first.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - first.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut value = *last;
    for (i, &n) in first.iter().enumerate() {
        value |= n << (8 * (3 - i as u32));
    }
    u32::try_from(value).ok().map(std::net::Ipv4Addr::from)
}

/// Lowercase, without brackets around an IPv6 literal or a trailing dot.
fn normalize(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl FromStr for HostPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (kind, rest) = if let Some(rest) = s.strip_prefix("**.") {
            (Kind::AnyDepth, rest)
        } else if let Some(rest) = s.strip_prefix("*.") {
            (Kind::OneLabel, rest)
        } else {
            (Kind::Exact, s)
        };
        let ip = HostPattern::canonical_ip(rest);
        if ip.is_some() && kind != Kind::Exact {
            return Err(Error::InvalidHostPattern {
                reason: "wildcards apply to DNS names, not IP addresses",
            });
        }
        let base = match ip {
            Some(ip) => ip.to_string(),
            None => normalize(rest),
        };
        if ip.is_none() && !valid_dns_name(&base) {
            return Err(Error::InvalidHostPattern {
                reason: "not a host name, '*.name', '**.name' or an IP address",
            });
        }
        Ok(Self { kind, base, ip })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            Kind::Exact => "",
            Kind::OneLabel => "*.",
            Kind::AnyDepth => "**.",
        };
        write!(f, "{prefix}{}", self.base)
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn exact_names_and_addresses() {
        assert!(p("jellyfin.home.arpa").matches("Jellyfin.Home.Arpa."));
        assert!(!p("jellyfin.home.arpa").matches("x.jellyfin.home.arpa"));
        assert!(p("192.168.1.5").matches("192.168.1.5"));
        assert!(p("::1").matches("[::1]"));
        assert!(p("[::1]").matches("::1"));
    }

    #[test]
    fn addresses_match_in_every_spelling() {
        assert!(p("0:0:0:0:0:0:0:1").matches("::1"));
        assert!(p("::1").matches("[0:0::1]"));
        assert_eq!(p("0:0:0:0:0:0:0:1").to_string(), "::1");
        assert!(p("192.168.1.5").matches("::ffff:192.168.1.5"));
        assert!(p("::ffff:c0a8:105").matches("192.168.1.5"));
        assert!(p("10.0.0.1").matches("10.1"));
        assert!(p("10.0.0.1").matches("012.0.0.1"));
        assert!(p("10.0.0.1").matches("0xa.0.0.1"));
        assert!(p("10.0.0.1").matches("167772161"));
        assert!(p("10.0.0.1").matches("10.0.0.1."));
        assert!(!p("10.0.0.1").matches("10.0.0.2"));
        assert!(!p("**.example.com").matches("127.0.0.1"));
        // Not addresses: too many parts, a part over 255, a non-number.
        for name in ["1.2.3.4.5", "256.1.1.1", "1.2.3.x", "08.1.1.1", "1..2"] {
            assert!(HostPattern::canonical_ip(name).is_none(), "{name}");
        }
        assert!("*.127.1".parse::<HostPattern>().is_err());
    }

    #[test]
    fn wildcards_follow_okhttp() {
        let one = p("*.example.com");
        assert!(one.matches("www.example.com"));
        for no in [
            "example.com",
            "a.b.example.com",
            ".example.com",
            "wwwexample.com",
        ] {
            assert!(!one.matches(no), "{no}");
        }
        let any = p("**.example.com");
        for yes in ["example.com", "www.example.com", "a.b.example.com"] {
            assert!(any.matches(yes), "{yes}");
        }
        for no in ["xexample.com", "example.com.evil", ".example.com", "com"] {
            assert!(!any.matches(no), "{no}");
        }
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "",
            "*",
            "**",
            "*.",
            "a..b",
            "*.*.example.com",
            "ex ample.com",
            "-a.com",
            "*.1.2.3.4",
            "a.com/x",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad:?}");
        }
        assert_eq!(p("*.Example.COM").to_string(), "*.example.com");
    }
}
