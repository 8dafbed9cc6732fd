//! Token endpoint responses on arbitrary bytes: never panic, and an accepted response
//! always has a non-empty access token and a lowercase token type.
#![no_main]

use hearth_pkce::parse_token_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let status = 100 + u16::from(status) * 2;
    if let Ok(set) = parse_token_response(status, body) {
        assert!(!set.access_token.expose_secret().is_empty());
        assert_eq!(set.token_type, set.token_type.to_ascii_lowercase());
        assert!((200..300).contains(&status));
    }
});
