//! Verifier parsing on arbitrary text: never panics; what parses is 43-128 unreserved
//! characters, and its challenge is 43 base64url characters.
#![no_main]

use hearth_pkce::CodeVerifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = CodeVerifier::parse(text) {
        assert!((43..=128).contains(&text.len()));
        let c = v.challenge();
        assert_eq!(c.as_str().len(), 43);
        assert!(
            c.as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
});
