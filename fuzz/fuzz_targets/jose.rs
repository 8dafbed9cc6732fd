//! Compact JWS verification and JWKS parsing on arbitrary input: never panics; the input
//! is split as a JWKS and a token, and nothing is accepted without a signature made by a
//! key of the set (a random key set cannot sign what the fuzzer writes, so every token is
//! refused).
#![no_main]

use hearth_token_guard::jose::{Algorithm, JwkSet, verify_jws};
use libfuzzer_sys::fuzz_target;

/// A fixed set with one key of every type (none of whose private halves exist).
const FIXED: &str = r#"{"keys":[
  {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
  {"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
]}"#;

fuzz_target!(|data: &[u8]| {
    // Any bytes as a JWKS: a set or an error, never a panic.
    let _ = JwkSet::from_json(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = JwkSet::from_json(FIXED.as_bytes()).expect("the fixed set parses");
    assert!(
        verify_jws(text, &keys, &Algorithm::ALL).is_err(),
        "accepted {text:?}"
    );
});
