//! [`RedirectUri`]: the three redirect URI forms a native app may use (RFC 8252 §7), checked
//! once, and compared exactly with a callback's scheme, authority and path.

use crate::Error;

/// Which of RFC 8252's three forms a redirect URI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectKind {
    /// `http://127.0.0.1:PORT/path` or `http://[::1]:PORT/path` (§7.3), served by
    /// [`LoopbackReceiver`](crate::LoopbackReceiver). Never `localhost` (§8.3).
    Loopback,
    /// `com.example.app:/path`, a private-use scheme named after a domain the app owns
    /// (§7.1, the form AppAuth uses); the app's deep-link handler passes the URL to
    /// [`PendingAuthorization::complete`](crate::PendingAuthorization::complete).
    PrivateUse,
    /// `https://app.example.com/path`, an https URL the app has claimed (App Links,
    /// Universal Links; §7.2); completed the same way.
    ClaimedHttps,
}

/// A checked redirect URI.
///
/// ```
/// use hearth_pkce::{RedirectKind, RedirectUri};
///
/// assert_eq!(RedirectUri::parse("com.example.app:/oauth2redirect")?.kind(), RedirectKind::PrivateUse);
/// assert_eq!(RedirectUri::parse("http://127.0.0.1:8123/cb")?.kind(), RedirectKind::Loopback);
/// assert_eq!(RedirectUri::parse("https://app.example.com/cb")?.kind(), RedirectKind::ClaimedHttps);
/// assert!(RedirectUri::parse("http://localhost:8123/cb").is_err()); // RFC 8252 §8.3
/// assert!(RedirectUri::parse("javascript:alert(1)").is_err());
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    text: String,
    kind: RedirectKind,
    target: Target,
}

/// A URL's scheme (lowercase), authority (lowercase, default port removed) and path: what
/// a redirect URI and a callback must have in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) scheme: String,
    pub(crate) authority: Option<String>,
    pub(crate) path: String,
}

/// Longest redirect URI or callback base accepted.
pub(crate) const MAX_URL_LEN: usize = 8 << 10;

impl RedirectUri {
    /// Checks `text` as a native app's redirect URI: one of [`RedirectKind`]'s forms, with
    /// no query, fragment, user information or white space.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidUrl { reason };
        if text.contains(['?', '#']) {
            return Err(bad("the redirect URI must not have a query or fragment"));
        }
        let target = Target::parse(text)?;
        let kind = match target.scheme.as_str() {
            "http" => {
                let host = target.host().unwrap_or_default();
                if host != "127.0.0.1" && host != "[::1]" {
                    return Err(bad(
                        "an http redirect URI must be a loopback IP literal, http://127.0.0.1:PORT/ or http://[::1]:PORT/ (RFC 8252 §7.3, §8.3)",
                    ));
                }
                RedirectKind::Loopback
            }
            "https" => {
                if target.host().is_none_or(str::is_empty) {
                    return Err(bad("an https redirect URI needs a host"));
                }
                RedirectKind::ClaimedHttps
            }
            scheme => {
                // RFC 8252 §7.1: a reverse domain name, so never a scheme of the web
                // platform (`javascript`, `data`, `file`, none of which has a dot).
                if !scheme.contains('.') {
                    return Err(bad(
                        "a private-use redirect scheme must be a reverse domain name the app owns, such as com.example.app (RFC 8252 §7.1)",
                    ));
                }
                if !target.path.starts_with('/') {
                    return Err(bad(
                        "a private-use redirect URI needs a path, such as com.example.app:/oauth2redirect",
                    ));
                }
                RedirectKind::PrivateUse
            }
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
            target,
        })
    }

    /// Which form it is.
    #[must_use]
    pub fn kind(&self) -> RedirectKind {
        self.kind
    }

    /// The URI as given (what the authorization and token requests repeat).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a callback arrived on exactly this URI: same scheme, authority (host in
    /// any case, default port implied) and path.
    pub(crate) fn matches(&self, target: &Target) -> bool {
        self.target == *target
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Target {
    /// Splits `scheme:[//authority]path` (no query or fragment). Linear in the input.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidUrl { reason };
        if text.len() > MAX_URL_LEN {
            return Err(bad("the URL is longer than 8 KiB"));
        }
        if text.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') {
            return Err(bad(
                "the URL contains white space, a control character or '\\'",
            ));
        }
        let (scheme, rest) = text.split_once(':').ok_or(bad("the URL has no scheme"))?;
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(bad("the URL's scheme is not valid (RFC 3986 §3.1)"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find('/').unwrap_or(after.len());
                let (authority, path) = after.split_at(end);
                if authority.contains('@') {
                    return Err(bad("the URL must not carry user information"));
                }
                (Some(normalize_authority(&scheme, authority)?), path)
            }
            None => (None, rest),
        };
        let path = if path.is_empty() && authority.is_some() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        Ok(Self {
            scheme,
            authority,
            path,
        })
    }

    /// The host part of the authority (an IPv6 literal keeps its brackets).
    fn host(&self) -> Option<&str> {
        let authority = self.authority.as_deref()?;
        Some(match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => &authority[..i],
            _ => authority,
        })
    }
}

/// Lowercases the host and drops the scheme's default port, so that `HTTP://127.0.0.1:80`
/// and `http://127.0.0.1` compare equal; a port must be digits.
fn normalize_authority(scheme: &str, authority: &str) -> Result<String, Error> {
    let lower = authority.to_ascii_lowercase();
    let (host, port) = match lower.rfind(':') {
        Some(i) if !lower[i..].contains(']') => (&lower[..i], Some(&lower[i + 1..])),
        _ => (lower.as_str(), None),
    };
    let default = match scheme {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    };
    // A host is a name, an IPv4 address or a bracketed IPv6 literal: never a second
    // `:` (`127.0.0.1:8123:80`), never empty.
    let host_ok = !host.is_empty()
        && if host.starts_with('[') {
            host.ends_with(']')
                && host[1..host.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()
        } else {
            !host.contains([':', '[', ']'])
        };
    // A private-use URI may have an empty authority (`com.example.app:///cb`).
    let empty_ok = host.is_empty() && port.is_none() && !matches!(scheme, "http" | "https");
    if !(host_ok || empty_ok) {
        return Err(Error::InvalidUrl {
            reason: "the URL's host is not a name or an IP address",
        });
    }
    match port {
        Some(p)
            if !p.bytes().all(|b| b.is_ascii_digit()) || !matches!(p.parse::<u16>(), Ok(1..)) =>
        {
            Err(Error::InvalidUrl {
                reason: "the URL's port is not a number from 1 to 65535",
            })
        }
        Some(p) if Some(p) != default => Ok(format!("{host}:{p}")),
        _ => Ok(host.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_and_what_is_refused() {
        for (uri, kind) in [
            ("http://127.0.0.1:8123/cb", RedirectKind::Loopback),
            ("http://[::1]:8123/cb", RedirectKind::Loopback),
            ("http://127.0.0.1/", RedirectKind::Loopback),
            ("com.example.app:/oauth2redirect", RedirectKind::PrivateUse),
            (
                "com.example.app:/oauth2redirect/provider",
                RedirectKind::PrivateUse,
            ),
            (
                "com.example.app://oauth2redirect/x",
                RedirectKind::PrivateUse,
            ),
            ("https://app.example.com/cb", RedirectKind::ClaimedHttps),
        ] {
            assert_eq!(RedirectUri::parse(uri).unwrap().kind(), kind, "{uri}");
        }
        for bad in [
            "http://localhost:8123/cb",
            "http://example.com/cb",
            "http://127.0.0.1:8123/cb?x=1",
            "http://127.0.0.1:8123/cb#f",
            "http://user@127.0.0.1:8123/cb",
            "http://127.0.0.1:80x/cb",
            "http://127.0.0.1:8123:80/cb",
            "https://app.example.com:x.evil.com:443/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:99999/cb",
            "http://[::1/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
            "com.example.app:cb",
            "https:///cb",
            "com.example.app:/o auth",
            "1com.example:/cb",
            "/relative",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_compare_scheme_and_host_in_any_case_and_default_ports() {
        let r = RedirectUri::parse("https://App.Example.com/cb").unwrap();
        assert!(r.matches(&Target::parse("HTTPS://app.example.com:443/cb").unwrap()));
        assert!(!r.matches(&Target::parse("https://app.example.com/CB").unwrap()));
        assert!(!r.matches(&Target::parse("https://app.example.com:8443/cb").unwrap()));
        let p = RedirectUri::parse("com.example.app:/oauth2redirect").unwrap();
        assert!(p.matches(&Target::parse("COM.EXAMPLE.APP:/oauth2redirect").unwrap()));
        assert!(!p.matches(&Target::parse("com.example.app://oauth2redirect").unwrap()));
        assert!(!p.matches(&Target::parse("com.evil.app:/oauth2redirect").unwrap()));
    }
}
