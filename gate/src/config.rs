//! [`Config`]: the gate's TOML configuration, checked before anything listens; every
//! error names the line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::Error;

/// The gate's configuration: what to guard, who may call, and how.
///
/// Every setting has a default that fails closed: with an empty file every path needs a
/// credential, and with no credential configured nothing is admitted (401); the allowed
/// `Host`s are the listen address's loopback forms; there is no localhost bypass (behind
/// a gateway every request comes from localhost). See the crate documentation for every
/// setting, and `docs/gate/` for complete examples.
///
/// ```
/// use hearth_gate::Config;
///
/// let config = Config::parse("gate.toml", r#"
/// listen = "127.0.0.1:8080"
/// upstream = "http://127.0.0.1:11434"
/// exempt = ["/api/version"]
///
/// [[limit]]
/// path = "/api"
/// requests = 60
/// per_seconds = 60
/// "#)?;
/// assert_eq!(config.listen_addr().unwrap().port(), 8080);
///
/// let bad = Config::parse("gate.toml", "upstream = \"http://127.0.0.1:1\"\nlimits = 3\n")
///     .unwrap_err();
/// assert!(bad.to_string().starts_with("gate.toml:2:"), "{bad}");
/// # Ok::<(), hearth_gate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) file: String,
    pub(crate) text: String,
    pub(crate) raw: Raw,
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) upstream: Option<Spanned<String>>,
    /// `memory` (the default): limits and key caches in this process.
    pub(crate) state: Option<Spanned<String>>,
    /// `loopback` (the default) or `lan`: which peers may connect.
    pub(crate) network: Option<Spanned<String>>,
    /// Path rules match without regard to case (an upstream that routes so: Jellyfin).
    #[serde(default)]
    pub(crate) case_insensitive_paths: bool,
    #[serde(default)]
    pub(crate) hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) origins: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) exempt: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) credentials: Credentials,
    #[serde(default)]
    pub(crate) roles: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(crate) require: Vec<Require>,
    #[serde(default)]
    pub(crate) limit: Vec<LimitRule>,
    #[serde(default)]
    pub(crate) limits: Limits,
    #[serde(default)]
    pub(crate) forward: Forward,
    pub(crate) tls: Option<Tls>,
    pub(crate) audit: Option<Audit>,
    #[serde(default)]
    pub(crate) redis: RedisSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisSection {
    /// The most a decision may wait for Redis (default 50 ms).
    pub(crate) timeout_ms: Option<Spanned<u64>>,
    /// `refuse` (503, the default) or `local` (count in this gate meanwhile).
    pub(crate) on_outage: Option<Spanned<String>>,
    /// What every key this gate writes starts with (default `hearth:gate:`): gates that
    /// share limits and revocations share it.
    pub(crate) prefix: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    /// An API-key registry file (`hearth apikey`).
    pub(crate) api_keys: Option<Spanned<PathBuf>>,
    /// A session token file (token-guard's `SessionTokenFile`).
    pub(crate) session_token_file: Option<Spanned<PathBuf>>,
    pub(crate) jwt: Option<Jwt>,
    /// Failed credentials a peer may present per minute (default 10).
    pub(crate) failed_per_minute: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Jwt {
    pub(crate) issuer: Spanned<String>,
    pub(crate) audience: Spanned<String>,
    /// The claims whose values are permissions (default `scope`, `scp`, `permissions`).
    #[serde(default)]
    pub(crate) permission_claims: Vec<String>,
    /// A PEM file of CA certificates for the issuer's server (default: the OS roots).
    pub(crate) ca_file: Option<Spanned<PathBuf>>,
    /// The issuer's self-signed certificate, by pin (`sha256/…`, `hearth pin`): a home
    /// server's own identity provider. Its host must be the issuer URL's.
    #[serde(default)]
    pub(crate) pins: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Require {
    pub(crate) path: Spanned<String>,
    pub(crate) permission: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitRule {
    pub(crate) path: Spanned<String>,
    pub(crate) requests: Spanned<u32>,
    pub(crate) per_seconds: Spanned<u64>,
    /// With a burst: a token bucket (`requests` per `per_seconds`, up to `burst` at once);
    /// without: an exact sliding window.
    pub(crate) burst: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) max_connections: Option<Spanned<usize>>,
    pub(crate) max_connections_per_peer: Option<Spanned<usize>>,
    pub(crate) idle_timeout_seconds: Option<Spanned<u64>>,
    /// How long the upstream may take to start its answer (default 300 s).
    pub(crate) upstream_timeout_seconds: Option<Spanned<u64>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forward {
    /// Remove the credential headers the gate checked (default true).
    pub(crate) strip_credentials: Option<bool>,
    /// Add `X-Hearth-Caller` (default true).
    pub(crate) caller_header: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    pub(crate) cert: Spanned<PathBuf>,
    pub(crate) key: Spanned<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Audit {
    pub(crate) file: Spanned<PathBuf>,
    /// Record admitted requests too (default: denials only).
    #[serde(default)]
    pub(crate) admissions: bool,
    /// Where the log's head is anchored: `storage` (the default: secure storage, beside
    /// its key) or `redis` (the shared state's Redis: for hosts without a keyring).
    pub(crate) anchor: Option<Spanned<String>>,
}

/// The largest config file read (a config is a few hundred bytes).
const MAX_CONFIG: usize = 1 << 20;

impl Config {
    /// An empty configuration: every default (and no credential, so nothing is
    /// admitted until one is configured).
    #[must_use]
    pub fn empty() -> Self {
        Self {
            file: "<command line>".into(),
            text: String::new(),
            raw: Raw::default(),
        }
    }

    /// Parses and checks `text`; `file` names it in errors. Checks that need no file or
    /// network (addresses, paths, permissions, numbers) are done here.
    pub fn parse(file: &str, text: &str) -> Result<Self, Error> {
        let config = Self {
            file: file.to_owned(),
            text: text.to_owned(),
            raw: Raw::default(),
        };
        if text.len() > MAX_CONFIG {
            return Err(config.error_at(0..0, "the file is larger than 1 MiB"));
        }
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end_matches('\n').replace('\n', "; ");
            config.error_at(e.span().unwrap_or(0..0), &message)
        })?;
        let config = Self { raw, ..config };
        config.check()?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Sets the listen address (the command line's `--listen`, which wins over the file).
    pub fn with_listen(mut self, listen: &str) -> Result<Self, Error> {
        self.raw.listen = Some(Spanned::new(0..0, listen.to_owned()));
        self.check_listen()?;
        Ok(self)
    }

    /// Sets the upstream (the command line's `--upstream`).
    pub fn with_upstream(mut self, upstream: &str) -> Result<Self, Error> {
        self.raw.upstream = Some(Spanned::new(0..0, upstream.to_owned()));
        self.check_upstream()?;
        Ok(self)
    }

    /// The listen address, once set.
    #[must_use]
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.raw
            .listen
            .as_ref()
            .and_then(|l| l.get_ref().parse().ok())
    }

    /// The upstream's `host:port`, once set.
    #[must_use]
    pub fn upstream_authority(&self) -> Option<String> {
        let upstream = self.raw.upstream.as_ref()?;
        let uri: http::Uri = upstream.get_ref().parse().ok()?;
        uri.authority().map(|a| a.as_str().to_owned())
    }

    pub(crate) fn upstream_timeout(&self) -> Duration {
        let seconds = self.raw.limits.upstream_timeout_seconds.as_ref();
        Duration::from_secs(seconds.map_or(300, |s| *s.get_ref()))
    }

    /// The Redis URL of `state = "redis://…"`, if the state is shared.
    pub(crate) fn redis_url(&self) -> Option<&str> {
        self.raw
            .state
            .as_ref()
            .map(|s| s.get_ref().as_str())
            .filter(|s| s.starts_with("redis://"))
    }

    /// The most a decision waits for Redis (`[redis] timeout_ms`, default 50 ms).
    #[cfg(feature = "redis")]
    pub(crate) fn redis_timeout(&self) -> Duration {
        let ms = self
            .raw
            .redis
            .timeout_ms
            .as_ref()
            .map_or(50, |t| *t.get_ref());
        Duration::from_millis(ms)
    }

    /// What the gate's Redis keys start with (`[redis] prefix`, default `hearth:gate:`).
    #[must_use]
    pub fn redis_prefix(&self) -> String {
        self.raw
            .redis
            .prefix
            .as_ref()
            .map_or_else(|| "hearth:gate:".to_owned(), |p| p.get_ref().clone())
    }

    /// Whether to count limits locally while Redis is out of reach (`on_outage = "local"`).
    #[cfg(feature = "redis")]
    pub(crate) fn count_locally_on_outage(&self) -> bool {
        self.raw
            .redis
            .on_outage
            .as_ref()
            .is_some_and(|o| o.get_ref() == "local")
    }

    /// Where the audit head is anchored in Redis, when `[audit] anchor = "redis"`: the
    /// URL and the key (the prefix, `audit-head:` and the log's namespace `ns`).
    #[must_use]
    pub fn audit_anchor_in_redis(&self, ns: &str) -> Option<(String, String)> {
        let redis = self
            .raw
            .audit
            .as_ref()
            .and_then(|a| a.anchor.as_ref())
            .is_some_and(|a| a.get_ref() == "redis");
        let url = self.redis_url().filter(|_| redis)?;
        Some((
            url.to_owned(),
            format!("{}audit-head:{ns}", self.redis_prefix()),
        ))
    }

    /// The shared state's Redis URL (`state = "redis://…"`), if any.
    #[must_use]
    pub fn shared_state_url(&self) -> Option<&str> {
        self.redis_url()
    }

    pub(crate) fn strip_credentials(&self) -> bool {
        self.raw.forward.strip_credentials.unwrap_or(true)
    }

    pub(crate) fn caller_header(&self) -> bool {
        self.raw.forward.caller_header.unwrap_or(true)
    }

    /// An error at `span` of the file, with its line and column.
    pub(crate) fn error_at(&self, span: Range<usize>, message: &str) -> Error {
        let (line, column) = line_and_column(&self.text, span.start);
        Error::Config {
            file: self.file.clone(),
            line,
            column,
            message: message.to_owned(),
        }
    }

    fn check(&self) -> Result<(), Error> {
        self.check_listen()?;
        self.check_upstream()?;
        let r = &self.raw;
        if let Some(state) = &r.state
            && state.get_ref() != "memory"
            && !state.get_ref().starts_with("redis://")
        {
            return Err(self.error_at(
                state.span(),
                "state is \"memory\" or a redis://[:PASSWORD@]HOST[:PORT][/DB] URL",
            ));
        }
        if let Some(anchor) = r.audit.as_ref().and_then(|a| a.anchor.as_ref()) {
            match anchor.get_ref().as_str() {
                "storage" => {}
                "redis" if self.redis_url().is_some() => {}
                "redis" => {
                    return Err(self.error_at(
                        anchor.span(),
                        "anchor = \"redis\" needs state = \"redis://…\"",
                    ));
                }
                _ => return Err(self.error_at(anchor.span(), "anchor is \"storage\" or \"redis\"")),
            }
        }
        if let Some(v) = &r.redis.on_outage
            && !matches!(v.get_ref().as_str(), "refuse" | "local")
        {
            return Err(self.error_at(v.span(), "on_outage is \"refuse\" or \"local\""));
        }
        if let Some(v) = &r.redis.timeout_ms
            && !(1..=10_000).contains(v.get_ref())
        {
            return Err(self.error_at(v.span(), "timeout_ms is 1 to 10000"));
        }
        if let Some(v) = &r.redis.prefix
            && (v.get_ref().is_empty() || v.get_ref().contains(char::is_whitespace))
        {
            return Err(self.error_at(v.span(), "prefix is a non-empty word"));
        }
        if let Some(network) = &r.network
            && !matches!(network.get_ref().as_str(), "loopback" | "lan")
        {
            return Err(self.error_at(network.span(), "network is \"loopback\" or \"lan\""));
        }
        for path in r
            .exempt
            .iter()
            .chain(r.require.iter().map(|q| &q.path))
            .chain(r.limit.iter().map(|l| &l.path))
        {
            let p = path.get_ref();
            if !p.starts_with('/') || p.contains(['?', '#']) || p.contains(char::is_whitespace) {
                return Err(self.error_at(
                    path.span(),
                    "a path starts with / and has no query, fragment or white space",
                ));
            }
        }
        for rule in &r.limit {
            if *rule.requests.get_ref() == 0 {
                return Err(self.error_at(rule.requests.span(), "requests must be at least 1"));
            }
            if *rule.per_seconds.get_ref() == 0 {
                return Err(
                    self.error_at(rule.per_seconds.span(), "per_seconds must be at least 1")
                );
            }
        }
        for (name, value) in [
            ("max_connections", &r.limits.max_connections),
            (
                "max_connections_per_peer",
                &r.limits.max_connections_per_peer,
            ),
        ] {
            if let Some(v) = value
                && *v.get_ref() == 0
            {
                return Err(self.error_at(v.span(), &format!("{name} must be at least 1")));
            }
        }
        for (name, value) in [
            ("idle_timeout_seconds", &r.limits.idle_timeout_seconds),
            (
                "upstream_timeout_seconds",
                &r.limits.upstream_timeout_seconds,
            ),
        ] {
            if let Some(v) = value
                && !(1..=86_400).contains(v.get_ref())
            {
                return Err(self.error_at(v.span(), &format!("{name} is 1 to 86400")));
            }
        }
        Ok(())
    }

    fn check_listen(&self) -> Result<(), Error> {
        if let Some(listen) = &self.raw.listen
            && listen.get_ref().parse::<SocketAddr>().is_err()
        {
            return Err(self.error_at(
                listen.span(),
                "listen is an IP address and port, such as 127.0.0.1:8080",
            ));
        }
        Ok(())
    }

    fn check_upstream(&self) -> Result<(), Error> {
        let Some(upstream) = &self.raw.upstream else {
            return Ok(());
        };
        let uri: Option<http::Uri> = upstream.get_ref().parse().ok();
        let fine = uri.as_ref().is_some_and(|u| {
            u.scheme_str() == Some("http")
                && u.authority().is_some_and(|a| a.port_u16().is_some())
                && u.authority().is_some_and(|a| !a.as_str().contains('@'))
                && matches!(u.path(), "" | "/")
                && u.query().is_none()
        });
        if !fine {
            return Err(self.error_at(
                upstream.span(),
                "upstream is http://HOST:PORT with no path (such as http://127.0.0.1:11434)",
            ));
        }
        Ok(())
    }
}

/// The line and column (from 1, in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> (usize, String) {
        match Config::parse("g.toml", text).unwrap_err() {
            Error::Config { line, message, .. } => (line, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "listen = \"127.0.0.1:80\"\nupstream = \"https://x:1\"\n",
                2,
                "upstream",
            ),
            ("\n\nlisten = \"localhost\"\n", 3, "listen"),
            ("exempt = [\"/ok\",\n  \"nope\"]\n", 2, "a path"),
            (
                "[[limit]]\npath = \"/a\"\nrequests = 0\nper_seconds = 1\n",
                3,
                "requests",
            ),
            ("[[limit]]\npath = \"/a\"\nrequests = 1\n", 1, "per_seconds"),
            ("unknown = 1\n", 1, "unknown"),
            ("[limits]\nmax_connections = -1\n", 2, ""),
            ("state = \"mysql://127.0.0.1\"\n", 1, "state"),
            ("[redis]\non_outage = \"ignore\"\n", 2, "on_outage"),
            ("[redis]\ntimeout_ms = 0\n", 2, "timeout_ms"),
            (
                "[audit]\nfile = \"a\"\nanchor = \"redis\"\n",
                3,
                "needs state",
            ),
            ("[audit]\nfile = \"a\"\nanchor = \"disk\"\n", 3, "anchor"),
            ("[forward]\nstrip_credentials = \"yes\"\n", 2, ""),
            ("x = \n", 1, ""),
            (
                "[limits]\nidle_timeout_seconds = 18446744073709551615\n",
                2,
                "",
            ),
            (
                "[limits]\nupstream_timeout_seconds = 86401\n",
                2,
                "upstream_timeout",
            ),
        ];
        for (text, want_line, word) in cases {
            let (line, message) = error(text);
            assert_eq!(line, want_line, "{text:?}: {message}");
            assert!(message.contains(word), "{text:?}: {message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn an_empty_file_is_every_default() {
        let config = Config::parse("g.toml", "").unwrap();
        assert!(config.listen_addr().is_none());
        assert!(config.strip_credentials() && config.caller_header());
        assert_eq!(config.upstream_timeout(), Duration::from_secs(300));
    }

    #[test]
    fn the_command_line_wins_and_is_checked() {
        let config = Config::parse("g.toml", "listen = \"127.0.0.1:1\"\n")
            .unwrap()
            .with_listen("127.0.0.1:2")
            .unwrap()
            .with_upstream("http://127.0.0.1:3")
            .unwrap();
        assert_eq!(config.listen_addr().unwrap().port(), 2);
        assert_eq!(config.upstream_authority().as_deref(), Some("127.0.0.1:3"));
        assert!(
            Config::empty()
                .with_upstream("http://u:p@127.0.0.1:3")
                .is_err()
        );
        assert!(
            Config::empty()
                .with_upstream("http://127.0.0.1:3/api")
                .is_err()
        );
        assert!(Config::empty().with_listen("127.0.0.1").is_err());
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_and_column("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 8), (3, 1));
        assert_eq!(line_and_column("ab\ncdé\nf", 6), (2, 3), "inside é");
        assert_eq!(line_and_column("ab", 99), (1, 3));
    }
}
