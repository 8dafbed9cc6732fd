//! A `log::Log` wrapper that scrubs every record before another logger (env_logger, ...)
//! formats it.

use std::sync::Arc;

use super::Redactor;

/// Wraps a `log::Log` so that every record's message is scrubbed with a [`Redactor`]
/// (the built-in patterns and its registered live secrets) before the inner logger sees
/// it. Level, target, module, file and line are passed on unchanged.
///
/// ```
/// use std::sync::Arc;
/// use hearth_token_guard::{Redactor, RedactingLogger};
///
/// let inner = env_logger::Builder::new().filter_level(log::LevelFilter::Info).build();
/// let level = log::Log::enabled(&inner, &log::Metadata::builder().level(log::Level::Info).build());
/// let logger = RedactingLogger::new(inner, Arc::new(Redactor::new()));
/// log::set_boxed_logger(Box::new(logger)).unwrap();
/// log::set_max_level(log::LevelFilter::Info);
/// log::info!("login with password=hunter2"); // stderr: ... login with password=[REDACTED]
/// # assert!(level);
/// ```
#[derive(Debug)]
pub struct RedactingLogger<L> {
    inner: L,
    redactor: Arc<Redactor>,
}

impl<L> RedactingLogger<L> {
    /// Scrubs what reaches `inner` with `redactor`.
    pub fn new(inner: L, redactor: Arc<Redactor>) -> Self {
        Self { inner, redactor }
    }
}

impl<L: log::Log> log::Log for RedactingLogger<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let mut text = zeroize::Zeroizing::new(record.args().to_string());
        let clean = self.redactor.redact(&text).into_owned();
        zeroize::Zeroize::zeroize(&mut *text);
        self.inner.log(
            &log::Record::builder()
                .metadata(record.metadata().clone())
                .args(format_args!("{clean}"))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}
