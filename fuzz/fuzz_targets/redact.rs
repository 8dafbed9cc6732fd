//! `redact`, `Redactor` and `redact_stream` on arbitrary input: never panic, borrow when
//! nothing changes, never let a registered secret through, and a stream of one line
//! scrubs exactly as one call does (bytes need not be UTF-8).
#![no_main]

use std::borrow::Cow;

use hearth_token_guard::{ApiKey, MIN_REGISTERED_LEN, Redactor, redact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the next bytes form a secret to register.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (secret, text) = rest.split_at(n);
    if !text.contains(&b'\n') {
        let mut streamed = Vec::new();
        Redactor::new().redact_stream(text, &mut streamed).unwrap();
        assert_eq!(streamed, Redactor::new().redact_bytes(text).as_ref());
    }
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };

    let plain = redact(text);
    if let Cow::Owned(s) = &plain {
        assert_ne!(s, text, "an unchanged result must be borrowed");
    }

    let redactor = Redactor::new();
    // Alphanumeric secrets cannot be rebuilt from pieces of "[REDACTED]" and its
    // neighbours, so for them the output must not contain the secret at all.
    let checkable = secret.len() >= MIN_REGISTERED_LEN
        && secret.iter().all(u8::is_ascii_alphanumeric)
        && secret != b"REDACTED";
    if let Ok(secret) = std::str::from_utf8(secret) {
        let key = ApiKey::new(secret);
        if redactor.register(&key).is_ok() {
            let out = redactor.redact(text);
            if checkable {
                assert!(!out.contains(secret), "registered secret survived");
            }
        }
    }
});
