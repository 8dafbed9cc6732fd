//! `hearth gate`: hearth-gate's reverse proxy, run until interrupted.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use hearth_audit::{AuditLog, AuditOptions};
use hearth_gate::{Config, Gate};
use hearth_secure_storage::{Namespace, SecureStorage};

use crate::exit::Failure;
use crate::secret::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct GateArgs {
    /// The address to listen on, such as 127.0.0.1:8080 (wins over the config's).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The server to guard, http://HOST:PORT (wins over the config's).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// The TOML configuration (see hearth-gate's README). Without one every path needs
    /// a credential and none is configured: every request gets 401.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the audit log's MAC key and anchored head are kept (with `[audit]` in the
    /// config): a namespace such as `gate::audit`.
    #[arg(long, value_name = "NS", default_value = "hearth-gate::audit")]
    audit_store: String,
    /// Check the configuration (and the files it names) and exit without listening.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    storage: StoreArgs,
}

pub(crate) fn run(args: GateArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::empty(),
    };
    if let Some(listen) = &args.listen {
        config = config.with_listen(listen)?;
    }
    if let Some(upstream) = &args.upstream {
        config = config.with_upstream(upstream)?;
    }
    // `--check` changes nothing: the audit log (and its key) is not created by it.
    let audit = match config.audit_file() {
        Some(file) if !args.check => {
            let anchor = config.audit_anchor_in_redis(&args.audit_store);
            Some(Arc::new(open_audit(
                file,
                &args.audit_store,
                anchor,
                args.storage,
            )?))
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let gate = Gate::new(config, audit).await?;
        if args.check {
            eprintln!("hearth gate: the configuration is valid");
            return Ok(());
        }
        let listener = gate.bind().await?;
        let local = listener.local_addr()?;
        eprintln!("hearth gate: listening on {local}");
        gate.run_until(listener, stop_signal()).await?;
        eprintln!("hearth gate: stopped");
        Ok(())
    })
}

fn open_audit(
    file: &std::path::Path,
    namespace: &str,
    redis_anchor: Option<(String, String)>,
    storage: StoreArgs,
) -> Result<AuditLog, Failure> {
    let ns: Namespace = namespace
        .parse()
        .map_err(|e| Failure::usage(format!("--audit-store: {e}")))?;
    let store: Arc<dyn SecureStorage> = storage
        .for_app(crate::secret::app_of(&ns))
        .open_for_write()?
        .into();
    Ok(match redis_anchor {
        Some((url, key)) => AuditLog::open_in_with_anchor(
            file,
            store,
            &ns,
            Box::new(hearth_gate::RedisAnchor::new(&url, &key)?),
            AuditOptions::default(),
        )?,
        None => AuditLog::open_in(file, store, &ns, AuditOptions::default())?,
    })
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
