//! Issuer metadata and `Cache-Control` on arbitrary input: never panics; a document that
//! is accepted names the issuer asked for, and every endpoint it gives passes the URL
//! policy (so never plain HTTP to another host).
#![no_main]

use hearth_net_policy::{IssuerMetadata, UrlPolicy, cache_max_age};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://id.example/realms/a";

fuzz_target!(|data: &[u8]| {
    let policy = UrlPolicy::default();
    if let Ok(meta) = IssuerMetadata::from_json(ISSUER, data, &policy) {
        assert_eq!(meta.issuer(), ISSUER);
        for endpoint in [
            meta.authorization_endpoint(),
            meta.token_endpoint(),
            meta.jwks_uri(),
            meta.revocation_endpoint(),
            meta.end_session_endpoint(),
            meta.pushed_authorization_request_endpoint(),
            meta.device_authorization_endpoint(),
        ]
        .into_iter()
        .flatten()
        {
            let uri: http::Uri = endpoint.parse().expect("an accepted endpoint parses");
            assert!(policy.check(&uri).is_ok(), "accepted {endpoint}");
            assert!(!endpoint.contains('#'), "accepted a fragment: {endpoint}");
        }
    }
    // The same bytes as a Cache-Control value.
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CACHE_CONTROL, value);
        let _ = cache_max_age(&headers);
    }
});
