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
}

impl HostPattern {
    /// Whether `host` (a DNS name, or an IP address with or without brackets) matches.
    #[must_use]
    pub fn matches(&self, host: &str) -> bool {
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
        let base = normalize(rest);
        let is_ip = base.parse::<IpAddr>().is_ok();
        if is_ip && kind != Kind::Exact {
            return Err(Error::InvalidHostPattern {
                reason: "wildcards apply to DNS names, not IP addresses",
            });
        }
        if !is_ip && !valid_dns_name(&base) {
            return Err(Error::InvalidHostPattern {
                reason: "not a host name, '*.name', '**.name' or an IP address",
            });
        }
        Ok(Self { kind, base })
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
