//! `AccessToken::from_bearer_header` on arbitrary bytes: never panics, accepts only
//! well-formed values, and what it accepts round-trips through `bearer_header`.
#![no_main]

use hearth_token_guard::{AccessToken, Error, MAX_BEARER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match AccessToken::from_bearer_header(data) {
        Ok(token) => {
            assert!(data.len() <= MAX_BEARER_LEN);
            assert!(data[..7].eq_ignore_ascii_case(b"bearer "));
            assert_eq!(token.expose_secret().as_bytes(), &data[7..]);
            let header = token.bearer_header().expect("an accepted token re-encodes");
            assert!(header.is_sensitive());
            assert_eq!(AccessToken::from_bearer_header(&header).unwrap(), token);
            assert_eq!(format!("{token:?}"), "AccessToken([REDACTED])");
        }
        Err(Error::MalformedBearer { at }) => assert!(at <= data.len()),
        Err(Error::NotBearer | Error::TooLong { .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
