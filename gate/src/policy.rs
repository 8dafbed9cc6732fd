//! The [`LocalGuard`] and [`ServeOptions`] a [`Config`] describes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hearth_guard::{HostAllowlist, JwtBearer, Limit, LocalGuard, Network, ServeOptions};
use hearth_net_policy::{HttpsClient, IssuerKeys, IssuerMetadata, TlsPolicy};
use hearth_token_guard::SessionTokenFile;
use hearth_token_guard::apikey::{KeyRegistry, PermissionSet, Role, Roles};
use hearth_token_guard::jose::JwksCache;
use toml::Spanned;

use crate::Error;
use crate::audit_events::Recorder;
use crate::config::Config;

/// The guard for `config` listening on `listen`: every rule of the file, on top of
/// [`LocalGuard::new`]'s fail-closed defaults, but the `Host` allowlist ([`hosts_for`]
/// the bound address). Fetches the JWT issuer's keys, if one is configured.
pub(crate) async fn guard_for(
    config: &Config,
    listen: SocketAddr,
    recorder: Option<Arc<Recorder>>,
) -> Result<LocalGuard, Error> {
    let r = &config.raw;
    // First, so that every rule below is matched as the upstream routes.
    let mut guard = LocalGuard::new().case_insensitive_paths(r.case_insensitive_paths);
    let lan = r.network.as_ref().is_some_and(|n| n.get_ref() == "lan");
    if lan {
        guard = guard.network(Network::Lan);
    } else if !listen.ip().is_loopback() && !listen.ip().is_unspecified() {
        return Err(Error::Invalid(format!(
            "the gate listens on {listen}, which only loopback peers may reach by default: \
             set network = \"lan\" to admit the home network"
        )));
    }
    for origin in &r.origins {
        guard = at(config, origin, guard.allow_origin(origin.get_ref()))?;
    }
    for path in &r.exempt {
        guard = guard.exempt(path.get_ref());
    }
    if let Some(path) = &r.credentials.api_keys {
        // Read now, so that a mistyped path or a broken file is an error before anything
        // listens (a registry that is not there would refuse every key).
        if !path.get_ref().is_file() {
            return Err(config.error_at(
                path.span(),
                "api_keys: no registry file there (create keys with `hearth apikey new --registry FILE`)",
            ));
        }
        let registry = KeyRegistry::open(path.get_ref());
        registry
            .list()
            .map_err(|e| config.error_at(path.span(), &format!("api_keys: {e}")))?;
        guard = guard.key_registry(registry);
    }
    if let Some(path) = &r.credentials.session_token_file {
        let file = SessionTokenFile::open(path.get_ref())
            .map_err(|e| config.error_at(path.span(), &format!("session_token_file: {e}")))?;
        guard = guard.session_token(file.token().clone());
    }
    if let Some(jwt) = &r.credentials.jwt {
        guard = guard.jwt_bearer(jwt_bearer(config, jwt).await?);
    }
    if let Some(n) = &r.credentials.failed_per_minute {
        let limit = Limit::sliding_window(*n.get_ref(), Duration::from_secs(60));
        guard = at(config, n, limit.and_then(|l| guard.failed_auth_limit(l)))?;
    }
    let mut roles = Roles::builtin();
    for (name, permissions) in &r.roles {
        let role = Role::parse(name)
            .map_err(|e| config.error_at(permissions.span(), &format!("role {name}: {e}")))?;
        let set = PermissionSet::parse(permissions.get_ref().iter().map(|p| p.get_ref().as_str()))
            .map_err(|e| config.error_at(permissions.span(), &format!("role {name}: {e}")))?;
        roles.define(role, set);
    }
    guard = guard.roles(roles);
    for rule in &r.require {
        guard = at(
            config,
            &rule.permission,
            guard.require(rule.path.get_ref(), rule.permission.get_ref()),
        )?;
    }
    let limits = limits_of(config)?;
    // Shared limits are counted by the gate in Redis, not by each guard in memory.
    if config.redis_url().is_none() {
        for (path, limit) in limits {
            guard = guard.rate_limit(&path, limit)?;
        }
    }
    if let Some(bytes) = r.limits.max_body_bytes {
        guard = guard.max_body(bytes);
    }
    if let Some(recorder) = recorder {
        guard = guard.on_denial(move |denied| recorder.denied(denied));
    }
    Ok(guard)
}

/// The `[[limit]]` rules as (path prefix, limit), each checked where it is written.
pub(crate) fn limits_of(config: &Config) -> Result<Vec<(String, Limit)>, Error> {
    let mut limits = Vec::new();
    for rule in &config.raw.limit {
        let per = Duration::from_secs(*rule.per_seconds.get_ref());
        let limit = match &rule.burst {
            Some(burst) => Limit::token_bucket(*rule.requests.get_ref(), per, *burst.get_ref()),
            None => Limit::sliding_window(*rule.requests.get_ref(), per),
        };
        let limit = at(config, &rule.requests, limit)?;
        // The path is checked as the guard checks prefixes.
        at(
            config,
            &rule.path,
            LocalGuard::new().rate_limit(rule.path.get_ref(), limit),
        )?;
        limits.push((rule.path.get_ref().clone(), limit));
    }
    Ok(limits)
}

/// The Hosts a request may name: the listen address's loopback forms (`localhost`,
/// `127.0.0.1`, `[::1]` with its port), the address itself, and the file's `hosts`.
pub(crate) fn hosts_for(config: &Config, listen: SocketAddr) -> Result<HostAllowlist, Error> {
    let port = listen.port();
    let mut hosts = HostAllowlist::empty();
    let mut entries = vec![
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ];
    if !listen.ip().is_unspecified() {
        entries.push(listen.to_string());
    }
    for entry in entries {
        hosts = hosts.allow(&entry)?;
    }
    for entry in &config.raw.hosts {
        hosts = at(config, entry, hosts.allow(entry.get_ref()))?;
    }
    Ok(hosts)
}

/// The connection caps and timeouts.
pub(crate) fn serve_options(config: &Config) -> ServeOptions {
    let l = &config.raw.limits;
    let mut options = ServeOptions::default();
    if let Some(n) = &l.max_connections {
        options.max_connections = *n.get_ref();
    }
    if let Some(n) = &l.max_connections_per_peer {
        options.max_connections_per_peer = *n.get_ref();
    }
    if let Some(s) = &l.idle_timeout_seconds {
        options.idle_timeout = Duration::from_secs(*s.get_ref());
    }
    options
}

async fn jwt_bearer(config: &Config, jwt: &crate::config::Jwt) -> Result<JwtBearer, Error> {
    let mut policy = TlsPolicy::new();
    if let Some(ca) = &jwt.ca_file {
        for der in read_certificates(ca.get_ref())? {
            policy = policy.add_root_der(der);
        }
    }
    if !jwt.pins.is_empty() {
        let host = http::Uri::try_from(jwt.issuer.get_ref().as_str())
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .ok_or_else(|| config.error_at(jwt.issuer.span(), "the issuer is not an https URL"))?;
        let pins = hearth_net_policy::PinPolicy::new()
            .self_signed(&host, jwt.pins.iter().map(|p| p.get_ref().as_str()))
            .map_err(|e| config.error_at(jwt.pins[0].span(), &format!("pins: {e}")))?;
        policy = policy.pins(pins);
    }
    let policy = policy.build().map_err(|e| {
        config.error_at(jwt.issuer.span(), &format!("the issuer's TLS policy: {e}"))
    })?;
    let client = HttpsClient::new(&policy);
    let issuer = jwt.issuer.get_ref();
    let metadata = IssuerMetadata::discover(&client, issuer).await?;
    let jwks_uri = metadata.jwks_uri().ok_or_else(|| {
        config.error_at(
            jwt.issuer.span(),
            "the issuer publishes no jwks_uri to check tokens with",
        )
    })?;
    let keys = IssuerKeys::start(&client, jwks_uri).await?;
    let mut bearer = JwtBearer::new(JwksCache::new(keys), issuer, jwt.audience.get_ref());
    if !jwt.permission_claims.is_empty() {
        let claims: Vec<&str> = jwt.permission_claims.iter().map(String::as_str).collect();
        bearer = bearer.permission_claims(&claims);
    }
    Ok(bearer)
}

/// The DER certificates of a PEM file.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    use rustls_pki_types::pem::PemObject as _;
    let problem = |e| {
        Error::Tls(format!(
            "{}: {}",
            path.display(),
            crate::tls::pem_problem(&e)
        ))
    };
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(problem)?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(problem)?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `result`, its error placed at `value`'s line.
fn at<T, V, E: std::fmt::Display>(
    config: &Config,
    value: &Spanned<V>,
    result: Result<T, E>,
) -> Result<T, Error> {
    result.map_err(|e| config.error_at(value.span(), &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented examples are valid, rules and all.
    #[test]
    fn the_example_configs_build() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("hearth-gate-examples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let registry = dir.join("keys");
        KeyRegistry::open(&registry)
            .create(Role::parse("runner").unwrap(), "test", None)
            .unwrap();
        for (name, text, path) in [
            (
                "ollama.toml",
                include_str!("../../docs/gate/ollama.toml"),
                "/var/lib/hearth/ollama-keys",
            ),
            (
                "jellyfin.toml",
                include_str!("../../docs/gate/jellyfin.toml"),
                "/var/lib/hearth/jellyfin-keys",
            ),
        ] {
            assert!(text.contains(path));
            let text = text.replace(path, &registry.display().to_string());
            let config = Config::parse(name, &text).unwrap();
            let listen = config.listen_addr().unwrap();
            runtime
                .block_on(guard_for(&config, listen, None))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            hosts_for(&config, listen).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_registry_that_is_not_there_is_an_error_at_its_line() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = Config::parse(
            "g.toml",
            "\n[credentials]\napi_keys = \"/nonexistent/keys\"\n",
        )
        .unwrap();
        let e = runtime
            .block_on(guard_for(&config, "127.0.0.1:8080".parse().unwrap(), None))
            .unwrap_err();
        assert!(matches!(e, Error::Config { line: 3, .. }), "{e}");
    }

    #[test]
    fn a_rule_the_guard_refuses_names_its_line() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listen = "127.0.0.1:8080".parse().unwrap();
        for (text, line) in [
            (
                "\n[[require]]\npath = \"/a\"\npermission = \"nocolon\"\n",
                4,
            ),
            ("[roles]\nrunner = [\"a:b\", \"bad perm\"]\n", 2),
            (
                "origins = [\"https://ok.example\",\n  \"not an origin\"]\n",
                2,
            ),
            ("hosts = [\"ok.example\", \"bad host/\"]\n", 1),
        ] {
            let config = Config::parse("g.toml", text).unwrap();
            let e = runtime
                .block_on(guard_for(&config, listen, None))
                .and_then(|_| hosts_for(&config, listen).map(|_| ()))
                .unwrap_err();
            match e {
                Error::Config { line: got, .. } => assert_eq!(got, line, "{text}: {e}"),
                other => panic!("{text}: {other}"),
            }
        }
    }

    #[test]
    fn a_lan_address_needs_network_lan() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listen = "192.168.1.10:8080".parse().unwrap();
        let config = Config::parse("g.toml", "").unwrap();
        let e = runtime
            .block_on(guard_for(&config, listen, None))
            .unwrap_err();
        assert!(e.to_string().contains("network = \"lan\""), "{e}");
        let config = Config::parse("g.toml", "network = \"lan\"\n").unwrap();
        runtime.block_on(guard_for(&config, listen, None)).unwrap();
    }
}
