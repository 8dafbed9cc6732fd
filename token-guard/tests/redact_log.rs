//! The `log` integration in front of the real env_logger: records reach its output
//! scrubbed, with level and target kept. One test per process: it installs the global
//! logger.
#![cfg(feature = "log")]

mod common;

use std::sync::Arc;

use common::Captured;

use hearth_token_guard::{RedactingLogger, Redactor, RefreshToken};

#[test]
fn env_logger_output_is_scrubbed() {
    let captured = Captured::default();
    let inner = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .format_timestamp(None)
        .target(env_logger::Target::Pipe(Box::new(captured.clone())))
        .build();
    let redactor = Arc::new(Redactor::new());
    let live = RefreshToken::new("rt.live-refresh-0123");
    redactor.register(&live).unwrap();
    log::set_boxed_logger(Box::new(RedactingLogger::new(inner, Arc::clone(&redactor)))).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    log::info!(target: "jellytau::auth", "POST /token refresh_token={} ok", "rt.live-refresh-0123");
    log::warn!("DB_PASSWORD={} rejected", "hunter2");
    log::debug!("filtered out by env_logger: password=zzz");
    log::error!("upstream said: Set-Cookie: session=abcdef123456; Path=/");
    log::logger().flush();

    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        out,
        "[INFO  jellytau::auth] POST /token refresh_token=[REDACTED] ok\n\
         [WARN  redact_log] DB_PASSWORD=[REDACTED] rejected\n\
         [ERROR redact_log] upstream said: Set-Cookie: session=[REDACTED]; Path=/\n"
    );
}
