//! The callback path on arbitrary input: `Callback::parse` (a deep link's URL) and
//! `RedirectUri::parse` never panic, and a callback never yields a code unless it carries
//! this sign-in's state (which the fuzzer cannot know) — so never at all. Parsing is
//! linear: inputs are capped at 8 KiB and duplicates found with a set.
#![no_main]

use hearth_pkce::{AuthorizationRequest, Callback, RedirectUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RedirectUri::parse(url);
    for redirect in [
        "http://127.0.0.1:43123/cb",
        "com.example.app:/oauth2redirect",
    ] {
        let (_, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", redirect)
            .expected_issuer("https://as.example")
            .build()
            .expect("a valid request");
        if let Ok(callback) = Callback::parse(url) {
            let _ = format!("{callback:?}");
            assert!(
                pending.complete_callback(callback).is_err(),
                "a callback without the state was accepted"
            );
        }
    }
});
