//! `hearth redact`

use std::io::{self, BufWriter};

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

pub(crate) fn run(args: &RedactArgs) -> Result<(), Failure> {
    let stdin = io::stdin().lock();
    let stdout = BufWriter::new(io::stdout().lock());
    let tally = match Redactor::new().redact_stream(stdin, stdout) {
        // The reader went away (`hearth redact | head`): not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        other => other?,
    };
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
