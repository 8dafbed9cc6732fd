//! [`Gate`]: the configured guard and forwarder, served on a listener.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hearth_audit::AuditLog;
use hearth_guard::{LocalGuard, ServeOptions};
use tokio::net::TcpListener;

use crate::audit_events::Recorder;
use crate::forward::Forwarder;
use crate::{Config, Error};

/// A reverse proxy in front of one upstream, applying a [`LocalGuard`] built from a
/// [`Config`].
///
/// ```no_run
/// use hearth_gate::{Config, Gate};
///
/// # async fn run() -> Result<(), hearth_gate::Error> {
/// let config = Config::from_file("gate.toml".as_ref())?
///     .with_listen("127.0.0.1:8080")?
///     .with_upstream("http://127.0.0.1:11434")?;
/// let gate = Gate::new(config, None).await?;
/// let listener = gate.bind().await?;
/// gate.run_until(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub struct Gate {
    listen: SocketAddr,
    upstream: String,
    /// Without its `Host` allowlist, which needs the bound address.
    guard: LocalGuard,
    config: Config,
    options: ServeOptions,
    forwarder: Arc<Forwarder>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("listen", &self.listen)
            .field("upstream", &self.upstream)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// The gate `config` describes (which must have `listen` and `upstream`), recording
    /// to `audit` when given (denials always; admissions when the config's `[audit]` says
    /// `admissions = true`). Reads the files the config names (TLS certificate and key,
    /// session token) and fetches the JWT issuer's keys.
    pub async fn new(config: Config, audit: Option<Arc<AuditLog>>) -> Result<Self, Error> {
        let listen = config.listen_addr().ok_or_else(|| {
            Error::Invalid("no listen address: give --listen or listen in the config".into())
        })?;
        let upstream = config.upstream_authority().ok_or_else(|| {
            Error::Invalid("no upstream: give --upstream or upstream in the config".into())
        })?;
        let authority: http::uri::Authority = upstream
            .parse()
            .map_err(|_| Error::Invalid("the upstream address is not host:port".into()))?;
        let recorder = audit.map(|log| Arc::new(Recorder::new(log, config.audit_admissions())));
        let tls = match &config.raw.tls {
            Some(tls) => Some(crate::tls::acceptor(tls.cert.get_ref(), tls.key.get_ref())?),
            None => None,
        };
        let guard = crate::policy::guard_for(&config, listen, recorder.clone()).await?;
        let shared = shared_state(&config, recorder.clone()).await?;
        let forwarder = Forwarder::new(&config, authority, tls.is_some(), recorder, shared);
        // Checked now, so that a bad `hosts` entry is an error before anything listens.
        // (Port 0, chosen at bind time, stands in as 1.)
        let probe = SocketAddr::new(listen.ip(), listen.port().max(1));
        crate::policy::hosts_for(&config, probe)?;
        Ok(Self {
            listen,
            upstream,
            guard,
            options: crate::policy::serve_options(&config),
            config,
            forwarder: Arc::new(forwarder),
            tls,
        })
    }

    /// Binds the listen address.
    pub async fn bind(&self) -> Result<TcpListener, Error> {
        TcpListener::bind(self.listen).await.map_err(Error::Listen)
    }

    /// The address it listens on (as configured; a port 0 is chosen by [`bind`](Self::bind)).
    #[must_use]
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Serves `listener` until `shutdown` completes, then lets requests in flight finish
    /// (within the drain timeout). The allowed `Host`s are the listener's address (its
    /// loopback forms) and the config's `hosts`.
    pub async fn run_until(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let bound = listener.local_addr().map_err(Error::Listen)?;
        let hosts = crate::policy::hosts_for(&self.config, bound)?;
        let guard = Arc::new(self.guard.hosts(hosts));
        let forwarder = Arc::clone(&self.forwarder);
        let handler = move |request| {
            let forwarder = Arc::clone(&forwarder);
            async move { forwarder.forward(request).await }
        };
        let served = match self.tls {
            Some(tls) => {
                hearth_guard::serve_tls_until(listener, tls, guard, self.options, handler, shutdown)
                    .await
            }
            None => {
                hearth_guard::serve_until(listener, guard, self.options, handler, shutdown).await
            }
        };
        served.map_err(Error::Listen)
    }
}

/// Limits and revocations in Redis, when the config's `state` names it.
#[cfg(feature = "redis")]
async fn shared_state(
    config: &Config,
    recorder: Option<Arc<Recorder>>,
) -> Result<Option<crate::forward::Shared>, Error> {
    use crate::shared_limits::{OnOutage, SharedLimits};
    let Some(url) = config.redis_url() else {
        return Ok(None);
    };
    let redis =
        crate::RedisLimiter::connect(url, &config.redis_prefix(), config.redis_timeout()).await?;
    let on_outage = if config.count_locally_on_outage() {
        OnOutage::Local
    } else {
        OnOutage::Refuse
    };
    let limits = SharedLimits::new(
        crate::policy::limits_of(config)?,
        Arc::clone(&redis),
        on_outage,
        recorder,
        config.raw.case_insensitive_paths,
    )?;
    Ok(Some(crate::forward::Shared { redis, limits }))
}

#[cfg(not(feature = "redis"))]
async fn shared_state(
    config: &Config,
    _: Option<Arc<Recorder>>,
) -> Result<Option<crate::forward::Shared>, Error> {
    match config.redis_url() {
        Some(_) => Err(Error::Invalid(
            "state = \"redis://…\" needs a gate built with the redis feature".into(),
        )),
        None => Ok(None),
    }
}

impl Config {
    /// The audit log file the config names (`[audit] file`), for the caller to open.
    #[must_use]
    pub fn audit_file(&self) -> Option<&Path> {
        self.raw.audit.as_ref().map(|a| a.file.get_ref().as_path())
    }

    pub(crate) fn audit_admissions(&self) -> bool {
        self.raw.audit.as_ref().is_some_and(|a| a.admissions)
    }
}
