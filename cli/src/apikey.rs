//! `hearth apikey …`: issue, list, verify and revoke API keys for a local server.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use hearth_secure_storage::Key;
use hearth_token_guard::Error;
use hearth_token_guard::SecretBytes;
use hearth_token_guard::apikey::{KeyId, KeyRecord, KeyRegistry, Role};
use zeroize::Zeroizing;

use crate::exit::{self, Failure};
use crate::secret::StoreArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Issue a key and print it once on standard output (only its SHA-256 is stored).
    #[command(after_help = exit::HELP)]
    New(NewArgs),
    /// One key per line, tab-separated: id, role, label, created, last used, prefix and
    /// last four characters, status (active, revoked or expired). Never the secret.
    #[command(after_help = exit::HELP)]
    List(RegistryArgs),
    /// Read a key from standard input and print its id and role (exit 0); an unknown,
    /// revoked or expired key exits 4, a malformed one 2.
    #[command(after_help = exit::HELP)]
    Verify(RegistryArgs),
    /// Revoke one key by id; the others keep working. An unknown id exits 3.
    #[command(after_help = exit::HELP)]
    Revoke(RevokeArgs),
    /// Seal the registry: every later write carries an HMAC-SHA256 of the whole file
    /// under a 32-byte key kept in secure storage (`hearth::api-keys::seal`, created now if
    /// missing), and every read checks it, so an edit made outside Hearth (a role raised,
    /// a revocation undone) is refused (exit 5). Run once, on a file you trust; afterwards
    /// pass --sealed to every command.
    #[command(after_help = exit::HELP)]
    Seal(RegistryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// The registry file [default: DATA_DIR/hearth/api-keys, e.g.
    /// ~/.local/share/hearth/api-keys].
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// The registry is sealed (see `seal`): check and write its seal with the key kept
    /// in secure storage.
    #[arg(long)]
    sealed: bool,
    /// Where the seal key is kept (with --sealed, and for `seal`).
    #[command(flatten)]
    storage: StoreArgs,
}

/// The seal key's name in secure storage.
const SEAL_KEY: &str = "hearth::api-keys::seal";

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// administrator, curator, consumer, or a custom role name (1-32 of a-z 0-9 _ -).
    #[arg(long, value_name = "ROLE")]
    role: String,
    /// A label for people: which device or tool holds the key.
    #[arg(long, value_name = "TEXT")]
    label: String,
    /// Make the key stop working after this many days.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    expires_in_days: Option<u32>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The key id (first column of `list`).
    id: String,
    /// Also revoke it for every `hearth gate` sharing this Redis (`state` in their
    /// config): they refuse it within a second. The key is revoked in the registry
    /// first; a Redis that cannot be told is an error (exit 6).
    /// (A password in the URL is visible to other local users in the process list:
    /// prefer --gate-config.)
    #[arg(long, value_name = "REDIS_URL", conflicts_with = "gate_config")]
    state: Option<String>,
    /// The gates' `[redis] prefix`.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "hearth:gate:",
        requires = "state"
    )]
    state_prefix: String,
    /// Take the Redis URL and prefix from a `hearth gate` config file (its `state` and
    /// `[redis] prefix`), instead of --state.
    #[arg(long, value_name = "FILE")]
    gate_config: Option<std::path::PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn run(cmd: ApiKeyCommand) -> Result<(), Failure> {
    match cmd {
        ApiKeyCommand::New(args) => new(args),
        ApiKeyCommand::List(args) => list(args),
        ApiKeyCommand::Verify(args) => verify(args),
        ApiKeyCommand::Revoke(args) => revoke(args),
        ApiKeyCommand::Seal(args) => seal(args),
    }
}

fn unsealed(args: &RegistryArgs) -> Result<KeyRegistry, Failure> {
    let path = match &args.registry {
        Some(p) => p.clone(),
        None => hearth_secure_storage::default_vault_path("hearth")
            .map_err(Failure::from)?
            .with_file_name("api-keys"),
    };
    Ok(KeyRegistry::open(path))
}

fn registry(args: &RegistryArgs) -> Result<KeyRegistry, Failure> {
    let registry = unsealed(args)?;
    if !args.sealed {
        return Ok(registry);
    }
    let key: Key = SEAL_KEY.parse().map_err(Failure::from)?;
    let seal = args
        .storage
        .clone()
        .for_app("hearth")
        .open(false)?
        .map(|store| store.retrieve(&key))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            Failure::not_found(format!(
                "the registry's seal key ({SEAL_KEY}) is not in secure storage: seal the \
                 registry first with `hearth apikey seal`"
            ))
        })?;
    Ok(registry.with_seal_key(&seal)?)
}

fn seal(args: RegistryArgs) -> Result<(), Failure> {
    let key: Key = SEAL_KEY.parse().map_err(Failure::from)?;
    let store = args.storage.clone().for_app("hearth").open_for_write()?;
    let seal = match store.retrieve(&key)? {
        Some(seal) => seal,
        None => {
            let fresh = SecretBytes::generate(32)?;
            store.store(&key, &fresh)?;
            fresh
        }
    };
    unsealed(&args)?.seal(&seal)?;
    eprintln!("hearth: the registry is sealed; pass --sealed from now on");
    Ok(())
}

fn new(args: NewArgs) -> Result<(), Failure> {
    let role = Role::parse(&args.role).map_err(|e| Failure::usage(e.to_string()))?;
    let expires = args
        .expires_in_days
        .map(|d| SystemTime::now() + Duration::from_secs(u64::from(d) * 86_400));
    let (key, record) = registry(&args.registry)?.create(role, &args.label, expires)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", key.expose_secret())?;
    out.flush()?;
    eprintln!(
        "hearth: issued key {} ({}); it is shown only this once",
        record.id, record.role
    );
    Ok(())
}

fn list(args: RegistryArgs) -> Result<(), Failure> {
    let now = unix_now();
    let mut out = std::io::stdout().lock();
    for r in registry(&args)?.list()? {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.id,
            r.role,
            r.label,
            utc(r.created),
            r.last_used.map_or_else(|| "never".to_owned(), utc),
            r.hint,
            status(&r, now)
        )?;
    }
    out.flush()?;
    Ok(())
}

fn status(r: &KeyRecord, now: u64) -> &'static str {
    if r.revoked {
        "revoked"
    } else if r.expires.is_some_and(|e| now >= e) {
        "expired"
    } else {
        "active"
    }
}

fn verify(args: RegistryArgs) -> Result<(), Failure> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| Failure::with_code(format!("reading the key from standard input: {e}"), 1))?;
    // Unknown, revoked and expired keys are refused (4); a malformed one is bad input (2).
    let registry = registry(&args)?;
    let principal = registry.verify(input.trim())?;
    // One-shot: record the use now (best effort; a failed write does not refuse the key).
    let _ = registry.flush_last_used();
    println!("{}\t{}", principal.key_id, principal.role);
    Ok(())
}

fn revoke(args: RevokeArgs) -> Result<(), Failure> {
    let id: KeyId = args
        .id
        .parse()
        .map_err(|e: Error| Failure::usage(e.to_string()))?;
    let revoked_here = registry(&args.registry)?.revoke(&id)?;
    if revoked_here {
        eprintln!("hearth: revoked key {id}");
    }
    // The gates are told even when this registry had it revoked already (or lacks it):
    // another host's copy may not.
    let shared = match (&args.state, &args.gate_config) {
        (Some(url), _) => Some((url.clone(), args.state_prefix.clone())),
        (None, Some(path)) => {
            let config = hearth_gate::Config::from_file(path)?;
            let url = config
                .shared_state_url()
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::usage(format!("{} has no state = \"redis://…\"", path.display()))
                })?;
            Some((url, config.redis_prefix()))
        }
        (None, None) => None,
    };
    if let Some((url, prefix)) = &shared {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let redis =
                hearth_gate::RedisLimiter::connect(url, prefix, std::time::Duration::from_secs(2))
                    .await?;
            redis.revoke(id.as_str()).await
        })?;
        eprintln!("hearth: revoked key {id} for every gate sharing that state");
        return Ok(());
    }
    if revoked_here {
        Ok(())
    } else {
        Err(Failure::not_found(format!("no active key with id {id}")))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), shifted to start years in March.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        // Expected values from Python's datetime.fromtimestamp(s, datetime.UTC).
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_392_000), "2026-11-23T00:00:00Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
