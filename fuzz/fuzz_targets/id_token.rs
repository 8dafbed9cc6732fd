//! ID-token header and claims parsing on arbitrary input, behind a valid signature: the
//! input is `header JSON \n claims JSON` (or claims alone, under a fixed ES256 header),
//! signed with a key the fixed JWKS holds, so the fuzzer reaches every claim check. Never
//! panics; a token that is accepted has this issuer, names this client in `aud`, has not
//! expired, and its header is a JSON object naming ES256. With a nonce check (a fresh
//! nonce the input cannot know) nothing is accepted.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hearth_pkce::{IdTokenCheck, Nonce, validate_id_token};
use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
use hearth_token_guard::{AccessToken, IdToken};
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

const ISS: &str = "https://id.example";
const CLIENT: &str = "app";
/// The checks' clock: 2027-01-15.
const NOW: u64 = 1_800_000_000;

struct Fixed(Vec<u8>);

impl JwksSource for Fixed {
    fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        Ok(JwksDocument::new(self.0.clone()).with_max_age(Duration::from_secs(3600)))
    }
}

struct Fixture {
    key: EcdsaKeyPair,
    keys: JwksCache,
    nonce: Nonce,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = key.public_key().as_ref();
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k","x":"{}","y":"{}"}}]}}"#,
            B64.encode(&point[1..33]),
            B64.encode(&point[33..])
        );
        Fixture {
            key,
            keys: JwksCache::new(Fixed(jwks.into_bytes())),
            nonce: Nonce::generate().unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let (header, claims) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&br#"{"alg":"ES256","kid":"k"}"#[..], data),
    };
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let sig = f.key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = IdToken::new(format!("{input}.{}", B64.encode(sig.as_ref())));
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let access = AccessToken::new("at");

    if let Ok(claims) = validate_id_token(&token, &f.keys, &IdTokenCheck::new(ISS, CLIENT).at(now))
    {
        assert_eq!(claims.iss, ISS);
        assert!(claims.aud.iter().any(|a| a == CLIENT), "{:?}", claims.aud);
        let exp = claims.exp.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(exp + 60 >= NOW, "expired at {exp}");
        let header: serde_json::Value = serde_json::from_slice(header).expect("a JSON header");
        assert_eq!(header["alg"], "ES256", "accepted under {header}");
    }
    let with_nonce = IdTokenCheck::new(ISS, CLIENT)
        .at(now)
        .nonce(&f.nonce)
        .access_token(&access)
        .code("c")
        .max_age(Duration::from_secs(600));
    assert!(validate_id_token(&token, &f.keys, &with_nonce).is_err());
});
