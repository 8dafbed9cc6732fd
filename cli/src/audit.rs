//! `hearth audit verify|tail`: read an audit log written by hearth-audit.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use hearth_audit::{AuditKey, Head, verify};
use hearth_secure_storage::Namespace;

use crate::exit::Failure;
use crate::secret::StoreArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every record of FILE and its rotated files: canonical lines, numbered
    /// without gaps, each MAC chained to the one before, and the head anchored in --store.
    /// Prints the first bad record and why, and exits 5.
    Verify(VerifyArgs),
    /// Print the last records of FILE (the active file), then, with --follow, each new
    /// one as it is appended. Does not check them: use `hearth audit verify`.
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The log's active file, e.g. /var/lib/app/audit/audit.jsonl.
    file: PathBuf,
    /// Where the log's MAC key and anchored head are kept: the namespace its writer was
    /// given (`NS::key` and `NS::head`), such as `app::audit`.
    #[arg(long, value_name = "NS")]
    store: String,
    /// The `hearth gate` config of a gate whose log is anchored in Redis
    /// (`[audit] anchor = "redis"`): the head is read from there.
    #[arg(long, value_name = "FILE")]
    gate_config: Option<PathBuf>,
    #[command(flatten)]
    storage: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The log's active file.
    file: PathBuf,
    /// How many of the last records to print first.
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    lines: usize,
    /// Keep printing records as they are appended (across rotations) until interrupted.
    #[arg(short, long)]
    follow: bool,
}

pub(crate) fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify(args) => verify_log(args),
        AuditCommand::Tail(args) => tail(&args),
    }
}

fn verify_log(args: VerifyArgs) -> Result<(), Failure> {
    let ns: Namespace = args
        .store
        .parse()
        .map_err(|e| Failure::usage(format!("--store: {e}")))?;
    let store = args
        .storage
        .for_app(crate::secret::app_of(&ns))
        .open(false)?
        .ok_or_else(|| Failure::not_found(format!("no store holds {ns}::key")))?;
    let key = AuditKey::load(store.as_ref(), &ns.key(["key"])?)?
        .ok_or_else(|| Failure::not_found(format!("no audit key under {ns}::key")))?;
    let in_redis = match &args.gate_config {
        Some(path) => hearth_gate::Config::from_file(path)?.audit_anchor_in_redis(&args.store),
        None => None,
    };
    let anchored = if let Some((url, key)) = in_redis {
        let anchor = hearth_gate::RedisAnchor::new(&url, &key)?;
        hearth_audit::Anchor::load(&anchor)?
    } else {
        stored_head(store.as_ref(), &ns)?
    };
    let found = verify(&args.file, &key, anchored.as_ref())?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "ok: {} record(s) in {} file(s); head seq {}{}",
        found.records,
        found.files.len(),
        found.head.seq,
        if anchored.is_some() {
            ", as anchored"
        } else {
            " (no anchored head in the store)"
        }
    )?;
    if let Some(torn) = found.torn_tail {
        writeln!(
            out,
            "note: {} ends in an unfinished line after byte {} (an append cut short by a \
             crash, never acknowledged); the writer removes it when it opens the log",
            torn.file.display(),
            torn.valid_len
        )?;
    }
    Ok(())
}

/// The head anchored under `NS::head` in `store`, if any.
fn stored_head(
    store: &dyn hearth_secure_storage::SecureStorage,
    ns: &Namespace,
) -> Result<Option<Head>, Failure> {
    match store.retrieve(&ns.key(["head"])?)? {
        Some(value) => Ok(Some(
            std::str::from_utf8(value.expose_secret())
                .ok()
                .and_then(Head::parse)
                .ok_or_else(|| {
                    Failure::with_code(format!("{ns}::head is not an anchored head"), 5)
                })?,
        )),
        None => Ok(None),
    }
}

fn tail(args: &TailArgs) -> Result<(), Failure> {
    let mut file = open(&args.file)?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Failure::from_io_at(&args.file, e))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let lines: Vec<&str> = text[..complete].lines().collect();
    let mut out = io::stdout().lock();
    for line in &lines[lines.len().saturating_sub(args.lines)..] {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    let mut offset = complete as u64;
    let mut pending = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let (len, rotated) = match (std::fs::metadata(&args.file), file.metadata()) {
            (Ok(now), Ok(open)) => (now.len(), !same_file(&now, &open) || now.len() < offset),
            // Between a rotation's rename and the new file.
            (Err(_), _) => continue,
            (_, Err(e)) => return Err(Failure::from_io_at(&args.file, e)),
        };
        if rotated {
            // Finish the rotated file, then start on the new one.
            print_new(&mut file, &mut pending, &mut out, &args.file)?;
            file = open(&args.file)?;
            offset = 0;
            pending.clear();
            continue;
        }
        if len > offset {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| Failure::from_io_at(&args.file, e))?;
            offset += print_new(&mut file, &mut pending, &mut out, &args.file)?;
        }
    }
}

/// Prints the complete lines from the file's position on; returns the bytes read.
fn print_new(
    file: &mut std::fs::File,
    pending: &mut String,
    out: &mut impl Write,
    path: &Path,
) -> Result<u64, Failure> {
    let mut chunk = String::new();
    let read = file
        .read_to_string(&mut chunk)
        .map_err(|e| Failure::from_io_at(path, e))?;
    pending.push_str(&chunk);
    if let Some(end) = pending.rfind('\n') {
        for line in pending[..end].lines() {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        pending.drain(..=end);
    }
    Ok(read as u64)
}

fn open(path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::open(path).map_err(|e| Failure::from_io_at(path, e))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}
