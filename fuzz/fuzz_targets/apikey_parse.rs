//! API key parsing on arbitrary text: never panics; an accepted key has the exact format
//! and an id that is its 8 characters after the prefix.
#![no_main]

use hearth_token_guard::apikey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = apikey::parse(text, apikey::DEFAULT_PREFIX) {
        assert_eq!(text.len(), 50);
        assert_eq!(&text[4..12], id.as_str());
    }
});
