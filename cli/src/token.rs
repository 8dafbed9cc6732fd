//! `hearth token …`

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hearth_token_guard::private_file::WriteMode;
use hearth_token_guard::{
    DEFAULT_SECRET_BYTES, MAX_SECRET_BYTES, MIN_SECRET_BYTES, SessionToken, SessionTokenFile,
};

use crate::exit::{self, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Generate a random token (URL-safe base64, no padding) from the OS generator.
    ///
    /// Without --out the token is printed on standard output. With --out it is written to
    /// FILE only (mode 0600, created atomically, missing directories created 0700) and
    /// nothing is printed.
    #[command(after_help = exit::HELP)]
    New(NewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Random bytes in the token (16 to 1024); 32 bytes give 43 characters.
    #[arg(long, default_value_t = DEFAULT_SECRET_BYTES as u16,
          value_parser = clap::value_parser!(u16).range(MIN_SECRET_BYTES as i64..=MAX_SECRET_BYTES as i64))]
    bytes: u16,
    /// Write the token to this file instead of printing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace FILE if it exists (atomically).
    #[arg(long, requires = "out")]
    force: bool,
}

pub(crate) fn run(cmd: TokenCommand) -> Result<(), Failure> {
    match cmd {
        TokenCommand::New(args) => new(args),
    }
}

fn new(args: NewArgs) -> Result<(), Failure> {
    let token = SessionToken::generate_with_len(usize::from(args.bytes))?;
    match args.out {
        Some(path) => {
            let mode = if args.force {
                WriteMode::Replace
            } else {
                WriteMode::CreateNew
            };
            SessionTokenFile::create(path, token, mode)?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", token.expose_secret())?;
            out.flush()?;
        }
    }
    Ok(())
}
