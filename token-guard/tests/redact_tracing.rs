//! The tracing integration driven by the real tracing-subscriber fmt layer: every event
//! reaches the writer scrubbed, fields and messages, patterns and registered secrets.
#![cfg(feature = "tracing")]

mod common;

use std::sync::Arc;

use common::Captured;

use hearth_token_guard::{AccessToken, RedactingMakeWriter, Redactor};
use tracing_subscriber::fmt::MakeWriter;

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn the_fmt_layer_writes_every_event_scrubbed() {
    let captured = Captured::default();
    let redactor = Arc::new(Redactor::new());
    let live = AccessToken::new("opaque-live-token-7f3a");
    redactor.register(&live).unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(RedactingMakeWriter::new(
            captured.clone(),
            Arc::clone(&redactor),
        ))
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("login with password=hunter2 ok");
        tracing::warn!(
            token = "opaque-live-token-7f3a",
            user = "alice",
            "refreshed"
        );
        tracing::error!(
            header = "Authorization: Bearer abcdefgh12345678",
            "upstream 401"
        );
        tracing::info!(url = "https://bob:s3cr3t@db.example/x", "connect");
        tracing::debug!("not shown at the default level: password=zzz");
        tracing::info!("plain event 42");
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    for secret in [
        "hunter2",
        "opaque-live-token-7f3a",
        "abcdefgh12345678",
        "s3cr3t",
    ] {
        assert!(!out.contains(secret), "{secret} reached the log:\n{out}");
    }
    assert!(
        lines[0].ends_with("login with password=[REDACTED] ok"),
        "{out}"
    );
    assert!(
        lines[1].contains("token=\"[REDACTED]\"") && lines[1].contains("user=\"alice\""),
        "{out}"
    );
    assert!(lines[2].contains("Bearer [REDACTED]"), "{out}");
    assert!(lines[3].contains("bob:[REDACTED]@db.example"), "{out}");
    assert!(lines[4].ends_with("plain event 42"), "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
    );
}

/// tracing-subscriber's default: ANSI colours, which put escape codes between a field's
/// name, `=` and value. The fields are masked all the same.
#[test]
fn fields_are_masked_with_ansi_colours_on() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(RedactingMakeWriter::new(
            captured.clone(),
            Arc::new(Redactor::new()),
        ))
        .with_ansi(true)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(password = "hunter2", api_key = %"k-abcdef123456", "x");
        let span = tracing::info_span!("req", token = "abcdefghijk12345");
        let _in = span.enter();
        tracing::info!("inside");
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for secret in ["hunter2", "k-abcdef123456", "abcdefghijk12345"] {
        assert!(!out.contains(secret), "{secret} leaked: {out:?}");
    }
    assert!(!out.contains('\u{1b}'), "colours are removed: {out:?}");
}

#[test]
fn a_pending_event_is_not_in_debug() {
    use std::io::Write as _;
    let make = RedactingMakeWriter::new(Captured::default(), Arc::new(Redactor::new()));
    let mut w = make.make_writer();
    w.write_all(b"password=hunter2").unwrap();
    let debug = format!("{w:?}");
    assert!(
        !debug.contains("104, 117") && debug.contains("16"),
        "{debug}"
    );
}

#[test]
fn a_secret_split_across_writes_is_masked_whole() {
    use std::io::Write as _;
    let captured = Captured::default();
    let make = RedactingMakeWriter::new(captured.clone(), Arc::new(Redactor::new()));
    {
        let mut w = make.make_writer();
        w.write_all(b"password=hun").unwrap();
        w.write_all(b"ter2 end\n").unwrap();
    }
    assert_eq!(
        &captured.0.lock().unwrap()[..],
        b"password=[REDACTED] end\n"
    );
}
