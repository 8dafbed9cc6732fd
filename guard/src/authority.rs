//! Strict parsing of the `Host` and `Origin` request headers, and their allowlists.
//!
//! A DNS-rebinding page reaches a loopback server under its own name, so the `Host` header
//! is the one thing that tells the two apart: it must be present, non-empty, name a host
//! (not `:port` alone), and be on the allowlist. Anything odd (whitespace, userinfo, a
//! path, percent signs, an unclosed IPv6 bracket) is refused rather than normalized.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Error;

/// A parsed `Host` value: the lowercase host (IPv6 without brackets) and the port if given.
///
/// ```
/// use hearth_guard::Authority;
///
/// let host = Authority::parse_host("LocalHost:8080").unwrap();
/// assert_eq!((host.host(), host.port()), ("localhost", Some(8080)));
/// assert_eq!(Authority::parse_host("[::1]:80").unwrap().host(), "::1");
/// for bad in ["", ":8080", "evil.example:80/x", "a b", "[::1", "user@localhost", "host:"] {
///     assert!(Authority::parse_host(bad).is_none(), "{bad:?}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    host: String,
    port: Option<u16>,
}

/// The longest `Host` or `Origin` value looked at; longer ones are refused.
const MAX_LEN: usize = 300;

impl Authority {
    /// Parses a `Host` header value (`name`, `IPv4`, or `[IPv6]`, each with an optional
    /// `:port`); `None` for anything else.
    pub fn parse_host(value: &str) -> Option<Self> {
        if value.is_empty() || value.len() > MAX_LEN {
            return None;
        }
        let (host, rest) = if let Some(inner) = value.strip_prefix('[') {
            let (inside, rest) = inner.split_once(']')?;
            let ip: Ipv6Addr = inside.parse().ok()?;
            (ip.to_string(), rest)
        } else {
            let end = value.find(':').unwrap_or(value.len());
            let name = &value[..end];
            (parse_name(name)?, &value[end..])
        };
        let port = match rest {
            "" => None,
            _ => Some(parse_port(rest.strip_prefix(':')?)?),
        };
        Some(Self { host, port })
    }

    /// The host: a lowercase name, a dotted IPv4 address, or an IPv6 address without
    /// brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when the value named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// A DNS name (labels of `[a-z0-9-]`, no leading or trailing hyphen, no trailing dot) or a
/// dotted IPv4 address, lowercased.
fn parse_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return name.parse::<Ipv4Addr>().ok().map(|ip| ip.to_string());
    }
    let name = name.to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    name.split('.').all(label_ok).then_some(name)
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p != 0)
}

/// A parsed `Origin` value: scheme, host and port (the scheme's default when absent).
///
/// ```
/// use hearth_guard::Origin;
///
/// let o = Origin::parse("tauri://localhost").unwrap();
/// assert_eq!((o.scheme(), o.host(), o.port()), ("tauri", "localhost", None));
/// assert_eq!(Origin::parse("http://127.0.0.1:1420").unwrap().port(), Some(1420));
/// assert_eq!(Origin::parse("https://app.test").unwrap().port(), Some(443));
/// for bad in ["null", "http://", "http://a/", "localhost", "http://a:0", "HTTP ://a"] {
///     assert!(Origin::parse(bad).is_none(), "{bad:?}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    authority: Authority,
}

impl Origin {
    /// Parses `scheme://host[:port]` (no path, no userinfo); `None` for anything else,
    /// including the opaque origin `null`.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() > MAX_LEN {
            return None;
        }
        let (scheme, rest) = value.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let mut bytes = scheme.bytes();
        let scheme_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
        if !scheme_ok {
            return None;
        }
        let mut authority = Authority::parse_host(rest)?;
        if authority.port.is_none() {
            authority.port = match scheme.as_str() {
                "http" | "ws" => Some(80),
                "https" | "wss" => Some(443),
                _ => None,
            };
        }
        Some(Self { scheme, authority })
    }

    /// The lowercase scheme.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The lowercase host.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The port: explicit, or 80/443 for `http`/`ws` and `https`/`wss`, else `None`.
    pub fn port(&self) -> Option<u16> {
        self.authority.port()
    }
}

/// Which ports an allowlist entry accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ports {
    Any,
    Only(Option<u16>),
}

impl Ports {
    fn admits(&self, port: Option<u16>) -> bool {
        match self {
            Ports::Any => true,
            Ports::Only(p) => *p == port,
        }
    }
}

/// Hosts the server answers to: `name` (any port), `name:port`, `[::1]`, `[::1]:port`.
///
/// ```
/// use hearth_guard::HostAllowlist;
///
/// let hosts = HostAllowlist::loopback();
/// assert!(hosts.admits("127.0.0.1:8080"));
/// assert!(hosts.admits("localhost"));
/// assert!(hosts.admits("[::1]:8080"));
/// assert!(!hosts.admits("evil.example:8080"), "DNS rebinding");
/// assert!(!hosts.admits(""), "an empty Host is not a local one");
/// assert!(!hosts.admits(":8080"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostAllowlist(Vec<(String, Ports)>);

impl HostAllowlist {
    /// No host at all: every request is refused until one is added.
    pub fn empty() -> Self {
        Self::default()
    }

    /// `localhost`, `127.0.0.1` and `[::1]`, any port.
    pub fn loopback() -> Self {
        let mut list = Self::default();
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            list = list.allow(host).expect("valid loopback hosts");
        }
        list
    }

    /// Adds a host (`name` for any port, or `name:port`).
    pub fn allow(mut self, entry: &str) -> Result<Self, Error> {
        let parsed = Authority::parse_host(entry).ok_or(Error::InvalidConfig {
            reason: "a Host allowlist entry is name, name:port, [ipv6] or [ipv6]:port",
        })?;
        let ports = match parsed.port {
            None => Ports::Any,
            port => Ports::Only(port),
        };
        self.0.push((parsed.host, ports));
        Ok(self)
    }

    /// Whether a `Host` header value names an allowed host.
    pub fn admits(&self, host_header: &str) -> bool {
        Authority::parse_host(host_header).is_some_and(|a| self.admits_authority(&a))
    }

    pub(super) fn admits_authority(&self, a: &Authority) -> bool {
        self.0
            .iter()
            .any(|(host, ports)| *host == a.host && ports.admits(a.port))
    }
}

/// Origins allowed to call the server from a browser or webview.
///
/// An entry is `scheme://host` (the scheme's default port only, as browsers compare
/// origins), `scheme://host:port`, or `scheme://host:*` (any port: convenient for dev
/// servers, and it admits pages from any other local server, so say so in your docs).
///
/// ```
/// use hearth_guard::OriginAllowlist;
///
/// let origins = OriginAllowlist::empty()
///     .allow("tauri://localhost")?
///     .allow("http://localhost:1420")?
///     .allow("http://127.0.0.1:*")?;
/// assert!(origins.admits("tauri://localhost"));
/// assert!(origins.admits("http://localhost:1420"));
/// assert!(!origins.admits("http://localhost:3000"));
/// assert!(origins.admits("http://127.0.0.1:5173"));
/// assert!(!origins.admits("https://evil.example"));
/// assert!(!origins.admits("null"));
/// # Ok::<(), hearth_guard::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OriginAllowlist(Vec<(String, String, Ports)>);

impl OriginAllowlist {
    /// No origin: any request that carries an `Origin` header is refused.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds an origin entry.
    pub fn allow(mut self, entry: &str) -> Result<Self, Error> {
        let invalid = Error::InvalidConfig {
            reason: "an Origin allowlist entry is scheme://host, scheme://host:port or scheme://host:*",
        };
        let (text, ports) = match entry.strip_suffix(":*") {
            Some(base) => (base, Some(Ports::Any)),
            None => (entry, None),
        };
        let origin = Origin::parse(text).ok_or(invalid)?;
        let ports = ports.unwrap_or(Ports::Only(origin.port()));
        self.0.push((origin.scheme, origin.authority.host, ports));
        Ok(self)
    }

    /// Whether an `Origin` header value is allowed.
    pub fn admits(&self, origin_header: &str) -> bool {
        Origin::parse(origin_header).is_some_and(|o| {
            self.0.iter().any(|(scheme, host, ports)| {
                *scheme == o.scheme && *host == o.authority.host && ports.admits(o.port())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_rebinding_and_malformed_hosts_are_refused() {
        let hosts = HostAllowlist::loopback();
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
            " ",
            ":8080",
            "localhost:",
            "localhost:0",
            "localhost:65536",
            "localhost:80:80",
            "localhost.",
            "localhost:80 ",
            " localhost",
            "localhost/",
            "localhost\0",
            "local%68ost",
            "user@localhost",
            "[::1",
            "::1",
            "[::1]x",
            "[::2]",
            "[::ffff:127.0.0.1]",
            "[127.0.0.1]",
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "127.0.0.01",
            "0.0.0.0",
        ] {
            assert!(!hosts.admits(bad), "{bad:?} admitted");
        }
        for good in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:65535",
            "[::1]",
            "[::1]:1",
            "[0:0:0:0:0:0:0:1]:80",
        ] {
            assert!(hosts.admits(good), "{good:?} refused");
        }
    }

    #[test]
    fn a_host_entry_with_a_port_admits_only_that_port() {
        let hosts = HostAllowlist::empty().allow("media.local:8096").unwrap();
        assert!(hosts.admits("media.local:8096"));
        assert!(!hosts.admits("media.local"));
        assert!(!hosts.admits("media.local:8097"));
        assert!(HostAllowlist::empty().allow(":80").is_err());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let origins = OriginAllowlist::empty().allow("http://localhost").unwrap();
        assert!(origins.admits("http://localhost"));
        assert!(origins.admits("http://localhost:80"));
        assert!(origins.admits("HTTP://LocalHost"));
        assert!(!origins.admits("https://localhost"));
        assert!(!origins.admits("http://localhost:8080"));
        assert!(!origins.admits("http://localhost/"));
        assert!(!origins.admits("http://localhost.evil.example"));
        assert!(!origins.admits(""));
        assert!(OriginAllowlist::empty().allow("localhost").is_err());
        assert!(OriginAllowlist::empty().allow("http://a/b").is_err());
    }

    #[test]
    fn ipv6_origins_use_brackets() {
        let origins = OriginAllowlist::empty().allow("http://[::1]:*").unwrap();
        assert!(origins.admits("http://[::1]:3000"));
        assert!(!origins.admits("http://::1:3000"));
    }
}
