//! [`UrlPolicy`]: HTTPS only, with an explicit, narrow exception for loopback.

use std::net::IpAddr;

use http::Uri;

use crate::Error;

/// Which URLs the client may fetch: `https://` always; `http://` only to a loopback IP
/// literal (`127.0.0.0/8`, `[::1]`) after [`allow_loopback_http`](Self::allow_loopback_http),
/// and to `localhost` only after [`allow_localhost_http`](Self::allow_localhost_http) too
/// (a name can be re-pointed; an IP literal cannot).
///
/// ```
/// use hearth_net_policy::{Error, UrlPolicy};
///
/// let strict = UrlPolicy::default();
/// assert!(strict.check(&"https://api.spotify.com/v1/me".parse().unwrap()).is_ok());
/// assert!(matches!(strict.check(&"http://127.0.0.1:8096/".parse().unwrap()), Err(Error::PlainHttpRefused { .. })));
///
/// let local = UrlPolicy::default().allow_loopback_http();
/// assert!(local.check(&"http://127.0.0.1:8096/".parse().unwrap()).is_ok());
/// assert!(local.check(&"http://[::1]:8096/".parse().unwrap()).is_ok());
/// assert!(local.check(&"http://localhost:8096/".parse().unwrap()).is_err());
/// assert!(local.check(&"http://192.168.1.5/".parse().unwrap()).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct UrlPolicy {
    loopback_http: bool,
    localhost_http: bool,
}

impl UrlPolicy {
    /// Also allow `http://` to loopback IP literals.
    pub fn allow_loopback_http(mut self) -> Self {
        self.loopback_http = true;
        self
    }

    /// Also allow `http://localhost` (implies [`allow_loopback_http`](Self::allow_loopback_http)).
    pub fn allow_localhost_http(mut self) -> Self {
        self.loopback_http = true;
        self.localhost_http = true;
        self
    }

    /// Checks `uri` before any socket opens: [`Error::InvalidUrl`] for a URL that is not
    /// absolute `https://` or `http://` with a host, [`Error::PlainHttpRefused`] for plain
    /// HTTP the policy does not allow.
    pub fn check(&self, uri: &Uri) -> Result<(), Error> {
        let host = uri.host().ok_or(Error::InvalidUrl {
            reason: "no host (an absolute http:// or https:// URL is needed)",
        })?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(Error::InvalidUrl {
                reason: "credentials in the URL are not accepted",
            });
        }
        match uri.scheme_str() {
            Some("https") => Ok(()),
            Some("http") => self.check_plain(host),
            _ => Err(Error::InvalidUrl {
                reason: "the scheme must be https (or http to loopback when allowed)",
            }),
        }
    }

    fn check_plain(&self, host: &str) -> Result<(), Error> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let loopback_ip = bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let localhost = bare.eq_ignore_ascii_case("localhost");
        let allowed = (loopback_ip && self.loopback_http) || (localhost && self.localhost_http);
        if allowed {
            return Ok(());
        }
        let hint = if loopback_ip {
            " (plain HTTP to a loopback address can be allowed)"
        } else if localhost {
            " (plain HTTP to localhost can be allowed)"
        } else {
            ""
        };
        Err(Error::PlainHttpRefused {
            host: host.to_owned(),
            hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: UrlPolicy, u: &str) -> Result<(), Error> {
        p.check(&u.parse().unwrap())
    }

    #[test]
    fn plain_http_only_to_allowed_loopback() {
        let any = UrlPolicy::default().allow_localhost_http();
        for ok in [
            "http://127.0.0.1/",
            "http://127.8.9.10:1/",
            "http://[::1]:80/x",
            "http://LOCALHOST/",
        ] {
            assert!(check(any, ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://128.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost.evil.com/",
            "http://10.0.0.1/",
            "http://example.com/",
        ] {
            assert!(
                matches!(check(any, bad), Err(Error::PlainHttpRefused { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_schemes_and_relative_urls_are_invalid() {
        let p = UrlPolicy::default();
        for bad in [
            "ftp://example.com/",
            "/relative",
            "wss://example.com/",
            "https://user:pw@example.com/",
        ] {
            assert!(
                matches!(check(p, bad), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
