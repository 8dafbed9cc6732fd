//! [`Proxy`]: HTTPS through an HTTP CONNECT proxy, from the environment or set explicitly.
//! The proxy only carries bytes: the URL policy, TLS and pins apply to the target server.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use hearth_token_guard::Password;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, HostPattern};

/// Longest proxy reply head read.
const MAX_REPLY: usize = 8 * 1024;

/// An HTTP proxy that HTTPS requests tunnel through with `CONNECT` (RFC 9110 §9.3.6),
/// with optional Basic credentials from its URL, and the hosts that bypass it.
///
/// Loopback targets (`localhost`, `127.0.0.0/8`, `::1`) never go through a proxy: it could
/// not reach them. Credentials never appear in `Debug`, `Display` or errors.
///
/// ```
/// use hearth_net_policy::Proxy;
///
/// let proxy = Proxy::new("http://alice:s3cret@proxy.corp:3128")?.no_proxy(".internal,10.0.0.7");
/// assert!(proxy.applies_to("api.example.com"));
/// assert!(!proxy.applies_to("git.internal") && !proxy.applies_to("127.0.0.1"));
/// assert!(!format!("{proxy:?}").contains("s3cret"));
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    host: String,
    port: u16,
    credentials: Option<Password>,
    bypass: Vec<Bypass>,
}

#[derive(Clone, Debug)]
enum Bypass {
    All,
    Ip(IpAddr),
    /// A name and its subdomains.
    Domain(String),
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .field("bypass", &self.bypass)
            .finish()
    }
}

impl Proxy {
    /// A proxy at `url`: `http://[user:password@]host[:port]` (port 80 if none).
    ///
    /// Errors: [`Error::InvalidProxy`] for another scheme (an `https://` or SOCKS proxy
    /// is not supported), a missing host, or a path.
    pub fn new(url: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidProxy { reason };
        let rest = url
            .strip_prefix("http://")
            .ok_or(bad("only http:// proxies are supported"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a proxy URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (
                h,
                p.parse()
                    .map_err(|_| bad("the proxy port is not a number"))?,
            ),
            _ => (hostport, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the proxy URL has no host"));
        }
        let credentials = userinfo.map(|u| Password::new(percent_decode(u)));
        Ok(Self {
            host: host.to_owned(),
            port,
            credentials,
            bypass: Vec::new(),
        })
    }

    /// The proxy the environment names for HTTPS: `HTTPS_PROXY`, else `ALL_PROXY` (upper
    /// or lower case, as curl reads them), with `NO_PROXY`; `None` if unset or empty.
    /// `HTTP_PROXY` is not used: plain HTTP goes only to loopback, which bypasses proxies.
    ///
    /// Errors: a proxy variable that does not parse ([`Error::InvalidProxy`]): a typo is
    /// reported, not silently ignored.
    pub fn from_env() -> Result<Option<Self>, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let get = |name: &str| {
            var(name)
                .or_else(|| var(&name.to_ascii_lowercase()))
                .filter(|v| !v.trim().is_empty())
        };
        let Some(url) = get("HTTPS_PROXY").or_else(|| get("ALL_PROXY")) else {
            return Ok(None);
        };
        let proxy = Self::new(url.trim())?;
        Ok(Some(match get("NO_PROXY") {
            Some(list) => proxy.no_proxy(&list),
            None => proxy,
        }))
    }

    /// Hosts that bypass the proxy, as `NO_PROXY` lists them: comma-separated names (each
    /// also covering its subdomains; a leading `.` or `*.` is the same), IP addresses, or
    /// `*` for every host.
    pub fn no_proxy(mut self, list: &str) -> Self {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bypass = if entry == "*" {
                Bypass::All
            } else if let Some(ip) = HostPattern::canonical_ip(entry) {
                Bypass::Ip(ip)
            } else {
                let name = entry.trim_start_matches("*.").trim_start_matches('.');
                Bypass::Domain(name.trim_end_matches('.').to_ascii_lowercase())
            };
            self.bypass.push(bypass);
        }
        self
    }

    /// Whether a request to `host` goes through this proxy.
    #[must_use]
    pub fn applies_to(&self, host: &str) -> bool {
        let ip = HostPattern::canonical_ip(host);
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if ip.is_some_and(|ip| ip.is_loopback())
            || name == "localhost"
            || name.ends_with(".localhost")
        {
            return false;
        }
        !self.bypass.iter().any(|b| match b {
            Bypass::All => true,
            Bypass::Ip(a) => ip == Some(*a),
            Bypass::Domain(d) => name == *d || name.ends_with(&format!(".{d}")),
        })
    }

    /// Opens a tunnel to `host:port` through the proxy, within `timeout` (connect and the
    /// proxy's answer).
    pub(crate) async fn tunnel(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, Error> {
        let timed_out = || Error::Timeout {
            stage: "proxy CONNECT",
            after: timeout,
        };
        tokio::time::timeout(timeout, self.connect(host, port))
            .await
            .map_err(|_| timed_out())?
    }

    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, Error> {
        let refused = |reason: String| Error::Proxy {
            proxy: format!("{}:{}", self.host, self.port),
            reason,
        };
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| refused(format!("cannot connect: {e}")))?;
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(credentials) = &self.credentials {
            let b64 = base64::engine::general_purpose::STANDARD
                .encode(credentials.expose_secret().as_bytes());
            head.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
        }
        head.push_str("\r\n");
        let written = tcp.write_all(head.as_bytes()).await;
        zeroize::Zeroize::zeroize(&mut head);
        written.map_err(|e| refused(format!("cannot send CONNECT: {e}")))?;
        // Read the reply head byte by byte: nothing past it (the server's TLS) is consumed.
        let mut reply = Vec::with_capacity(256);
        while !reply.ends_with(b"\r\n\r\n") {
            if reply.len() >= MAX_REPLY {
                return Err(refused("its reply is too long".into()));
            }
            let b = tcp
                .read_u8()
                .await
                .map_err(|_| refused("it closed the connection before answering".into()))?;
            reply.push(b);
        }
        let status = reply
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(200..=299) => Ok(tcp),
            Some(407) => Err(refused("it requires credentials (407)".into())),
            Some(code) => Err(refused(format!("it answered CONNECT with status {code}"))),
            None => Err(refused("its reply is not HTTP".into())),
        }
    }
}

/// `%XX` escapes decoded (userinfo in a proxy URL); invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_is_read_like_curl() {
        assert!(Proxy::from_vars(env(&[])).unwrap().is_none());
        assert!(
            Proxy::from_vars(env(&[("HTTPS_PROXY", " ")]))
                .unwrap()
                .is_none()
        );
        let p = Proxy::from_vars(env(&[
            ("https_proxy", "http://p:3128"),
            ("NO_PROXY", "a.test"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((p.host.as_str(), p.port), ("p", 3128));
        assert!(!p.applies_to("a.test") && !p.applies_to("x.a.test") && p.applies_to("b.test"));
        let all = Proxy::from_vars(env(&[("ALL_PROXY", "http://q")]))
            .unwrap()
            .unwrap();
        assert_eq!(all.port, 80);
        assert!(matches!(
            Proxy::from_vars(env(&[("HTTPS_PROXY", "socks5://q:1080")])),
            Err(Error::InvalidProxy { .. })
        ));
    }

    #[test]
    fn urls_and_bypass_lists() {
        let p = Proxy::new("http://al%40ice:p%3Aw@[::1]:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        assert_eq!(
            p.credentials.as_ref().unwrap().expose_secret(),
            "al@ice:p:w"
        );
        for bad in ["https://p:1", "http://", "http://p:x", "http://p/path"] {
            assert!(Proxy::new(bad).is_err(), "{bad}");
        }
        let p = Proxy::new("http://p")
            .unwrap()
            .no_proxy("*.corp, 10.1.2.3,.example.org");
        for direct in [
            "x.corp",
            "corp",
            "10.1.2.3",
            "example.org",
            "a.example.org",
            "localhost",
            "127.0.0.5",
            "::1",
        ] {
            assert!(!p.applies_to(direct), "{direct}");
        }
        for proxied in ["corp.evil", "10.1.2.4", "notexample.org"] {
            assert!(p.applies_to(proxied), "{proxied}");
        }
        assert!(
            !Proxy::new("http://p")
                .unwrap()
                .no_proxy("*")
                .applies_to("any.test")
        );
    }
}
