//! The callback checks on arbitrary URLs: never panic, and never yield a code unless the
//! URL carries this sign-in's state (which the fuzzer cannot know) — so never at all.
#![no_main]

use hearth_pkce::AuthorizationRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let (_, pending) = AuthorizationRequest::new(
        "https://as.example/authorize",
        "c",
        "http://127.0.0.1:43123/cb",
    )
    .expected_issuer("https://as.example")
    .build()
    .expect("a valid request");
    assert!(
        pending.complete(url).is_err(),
        "a callback without the state was accepted"
    );
});
