//! `hearth redact`

use std::io::{self, BufWriter, Write};

use clap::Args;
use hearth_token_guard::Redactor;

use crate::exit::Failure;

#[derive(Debug, Args)]
pub(crate) struct RedactArgs {
    /// Exit 1 if anything was masked (to scan CI logs for leaked secrets); the masked
    /// text is still written.
    #[arg(long)]
    check: bool,
    /// Print to standard error how many secrets each detector masked.
    #[arg(long)]
    stats: bool,
}

/// Standard output that, once its reader went away (`hearth redact | head`), drops what
/// follows instead of failing: the input is still read to its end, so `--check` and
/// `--stats` count all of it.
struct Output<W> {
    inner: W,
    gone: bool,
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.gone {
            match self.inner.write_all(buf) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.gone = true,
                other => other?,
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.gone {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            other => other,
        }
    }
}

pub(crate) fn run(args: &RedactArgs) -> Result<(), Failure> {
    let stdin = io::stdin().lock();
    let stdout = Output {
        inner: BufWriter::new(io::stdout().lock()),
        gone: false,
    };
    let tally = Redactor::new().redact_stream(stdin, stdout)?;
    if args.stats {
        if tally.total() == 0 {
            eprintln!("nothing masked");
        } else {
            eprintln!("{tally}");
        }
    }
    if args.check && tally.total() > 0 {
        return Err(Failure::with_code(
            format!(
                "{} secret{} masked",
                tally.total(),
                if tally.total() == 1 { "" } else { "s" }
            ),
            1,
        ));
    }
    Ok(())
}
