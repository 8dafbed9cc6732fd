//! A request through `LocalGuard` with a JWT bearer token (cached JWKS) against
//! jsonwebtoken 9's validation of the same ES256 token alone, in the same run; the
//! target is hearth ≤ 1.15× the peer.
//!
//! Run: `cargo bench -p hearth-guard --features jwt --bench jwt`

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::Criterion;
use hearth_guard::{Decision, JwtBearer, LocalGuard};
use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const ISS: &str = "https://id.example/realms/jan";
const AUD: &str = "jan-api";

struct Fixed(Vec<u8>);

impl JwksSource for Fixed {
    fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        Ok(JwksDocument::new(self.0.clone()).with_max_age(Duration::from_secs(3600)))
    }
}

/// The claims as the peer decodes them: a JSON value, as Hearth does.
type Claims = serde_json::Value;

fn main() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
    let jwks =
        format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","x":"{x}","y":"{y}"}}]}}"#);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{},"iat":{now},"scope":"media:read"}}"#,
        now + 3600
    );
    let input = format!(
        "{}.{}",
        B64.encode(r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#),
        B64.encode(&claims)
    );
    let sig = pair.sign(&rng, input.as_bytes()).unwrap();
    let token = format!("{input}.{}", B64.encode(sig.as_ref()));

    let guard = LocalGuard::new().jwt_bearer(JwtBearer::new(
        JwksCache::new(Fixed(jwks.into_bytes())),
        ISS,
        AUD,
    ));
    let request = http::Request::get("/media/1")
        .header("host", "127.0.0.1:8080")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let peer = "127.0.0.1:5000".parse().unwrap();
    assert!(matches!(guard.check(&request, peer), Decision::Allow(_)));

    let key = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    assert!(jsonwebtoken::decode::<Claims>(&token, &key, &validation).is_ok());

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    {
        let mut g = c.benchmark_group("jwt");
        g.bench_function("hearth-guard-request", |b| {
            b.iter(|| guard.check(black_box(&request), peer))
        });
        g.bench_function("jsonwebtoken-decode", |b| {
            b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &key, &validation))
        });
        g.finish();
    }
    c.final_summary();
    if let (Some(ours), Some(peer)) = (
        median_ns("jwt/hearth-guard-request"),
        median_ns("jwt/jsonwebtoken-decode"),
    ) {
        println!(
            "jwt: a guarded request {:.1} µs, jsonwebtoken decode {:.1} µs: hearth is {:.2}x the peer's time (target <= 1.15x)",
            ours / 1e3,
            peer / 1e3,
            ours / peer
        );
    }
}
