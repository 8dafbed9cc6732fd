//! `hearth redact`

use std::io::{self, BufWriter};

use hearth_token_guard::Redactor;

use crate::exit::Failure;

pub(crate) fn run() -> Result<(), Failure> {
    let stdin = io::stdin().lock();
    let stdout = BufWriter::new(io::stdout().lock());
    match Redactor::new().redact_stream(stdin, stdout) {
        // The reader went away (`hearth redact | head`): not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
