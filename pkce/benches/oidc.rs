//! OpenID Connect's hot paths, each next to its peer or floor in one run:
//! - ID-token validation with a cached JWKS (`validate_id_token`: signature, `iss`, `aud`,
//!   `exp`/`iat`, `nonce`, typed claims) against jsonwebtoken 9 (ring backend) decoding
//!   the same RS256 and ES256 tokens into a `serde_json::Value` with issuer, audience and
//!   expiry checks (it has no nonce check: that part is Hearth's extra work). Target
//!   ≤ 1.1× the peer's time.
//! - A DPoP proof (`DpopKey::proof` for a token request: a random `jti`, the claims, one
//!   ES256 signature) against its floor: one ES256 signature over a header and claims of
//!   the same size, plus the two base64url encodings of claims and signature. Target ≤ 1.2×.
//!
//! Run: `cargo bench -p hearth-pkce --features oidc --bench oidc` (openssl makes the RSA key)

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::Criterion;
use hearth_pkce::{DpopKey, IdTokenCheck, Nonce, validate_id_token};
use hearth_token_guard::IdToken;
use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::{interleaved, median_ns};

const ISS: &str = "https://id.example";
const CLIENT: &str = "hearth-app";

struct Fixed(Vec<u8>);

impl JwksSource for Fixed {
    fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        Ok(JwksDocument::new(self.0.clone()).with_max_age(Duration::from_secs(3600)))
    }
}

/// A 2048-bit RSA key from `openssl genpkey`, as PKCS#8 DER.
fn rsa_pkcs8() -> Vec<u8> {
    let out = Command::new("sh")
        .args([
            "-c",
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null \
             | openssl pkcs8 -topk8 -nocrypt -outform DER",
        ])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success() && !out.stdout.is_empty());
    out.stdout
}

/// `header.claims` of an ID token for `kid` and `alg`, carrying `nonce`.
fn signing_input(alg: &str, kid: &str, nonce: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = format!(
        r#"{{"iss":"{ISS}","aud":"{CLIENT}","sub":"alice","exp":{},"iat":{now},"nonce":"{nonce}","email":"alice@example.com"}}"#,
        now + 3600
    );
    format!(
        "{}.{}",
        B64.encode(format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)),
        B64.encode(claims)
    )
}

fn main() {
    let rng = SystemRandom::new();
    let nonce = Nonce::generate().unwrap();

    // An ES256 and an RS256 key, one JWKS.
    let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref(), &rng)
        .unwrap();
    let point = ec.public_key().as_ref();
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
    let rsa = RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap();
    let parts = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let (n, e) = (B64.encode(&parts.n), B64.encode(&parts.e));
    let jwks = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"ec","x":"{x}","y":"{y}"}},{{"kty":"RSA","kid":"rsa","n":"{n}","e":"{e}"}}]}}"#
    );
    let keys = JwksCache::new(Fixed(jwks.into_bytes()));

    let es256 = {
        let input = signing_input("ES256", "ec", nonce.expose_secret());
        let sig = ec.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    };
    let rs256 = {
        let input = signing_input("RS256", "rsa", nonce.expose_secret());
        let mut sig = vec![0; rsa.public().modulus_len()];
        rsa.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    };
    let (es256_id, rs256_id) = (IdToken::new(es256.clone()), IdToken::new(rs256.clone()));
    let check = IdTokenCheck::new(ISS, CLIENT).nonce(&nonce);
    for token in [&es256_id, &rs256_id] {
        let claims = validate_id_token(token, &keys, &check).expect("a valid ID token");
        assert_eq!(claims.sub, "alice");
    }

    // The peer, configured for the same checks it has.
    let peer = |alg| {
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_issuer(&[ISS]);
        v.set_audience(&[CLIENT]);
        v
    };
    let (es_validation, rs_validation) = (
        peer(jsonwebtoken::Algorithm::ES256),
        peer(jsonwebtoken::Algorithm::RS256),
    );
    let es_key = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap();
    let rs_key = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap();
    type Claims = serde_json::Value;
    assert!(jsonwebtoken::decode::<Claims>(&es256, &es_key, &es_validation).is_ok());
    assert!(jsonwebtoken::decode::<Claims>(&rs256, &rs_key, &rs_validation).is_ok());

    // DPoP: the proof, and its floor over inputs of the same size.
    let dpop = DpopKey::generate().unwrap();
    const URL: &str = "https://id.example/token";
    let sample = dpop.proof("POST", URL, None, None).unwrap();
    let mut pieces = sample.split('.');
    let header = pieces.next().unwrap().to_owned();
    let claims = B64.decode(pieces.next().unwrap()).unwrap();
    let floor = || {
        let input = format!("{header}.{}", B64.encode(black_box(&claims)));
        let sig = ec.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    };
    assert_eq!(floor().len(), sample.len());

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    {
        let mut g = c.benchmark_group("id_token");
        g.bench_function("hearth-es256", |b| {
            b.iter(|| validate_id_token(black_box(&es256_id), &keys, &check))
        });
        g.bench_function("jsonwebtoken-es256", |b| {
            b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&es256), &es_key, &es_validation))
        });
        g.bench_function("hearth-rs256", |b| {
            b.iter(|| validate_id_token(black_box(&rs256_id), &keys, &check))
        });
        g.bench_function("jsonwebtoken-rs256", |b| {
            b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&rs256), &rs_key, &rs_validation))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("dpop");
        g.bench_function("hearth-proof", |b| {
            b.iter(|| dpop.proof("POST", black_box(URL), None, None))
        });
        g.bench_function("floor", |b| b.iter(floor));
        g.finish();
    }
    c.final_summary();
    println!("criterion medians, one function after the other:");
    for (what, ours, theirs, target) in [
        (
            "ES256 ID token",
            "id_token/hearth-es256",
            "id_token/jsonwebtoken-es256",
            1.1,
        ),
        (
            "RS256 ID token",
            "id_token/hearth-rs256",
            "id_token/jsonwebtoken-rs256",
            1.1,
        ),
        ("DPoP proof", "dpop/hearth-proof", "dpop/floor", 1.2),
    ] {
        if let (Some(ours), Some(theirs)) = (median_ns(ours), median_ns(theirs)) {
            ratio(what, ours, theirs, target);
        }
    }
    // The recorded figures: 31 alternating rounds, medians.
    println!("interleaved, 31 rounds of 500 calls each:");
    let t = interleaved(
        &mut [
            &mut || {
                drop(black_box(validate_id_token(
                    black_box(&es256_id),
                    &keys,
                    &check,
                )))
            },
            &mut || {
                drop(black_box(jsonwebtoken::decode::<Claims>(
                    black_box(&es256),
                    &es_key,
                    &es_validation,
                )))
            },
            &mut || {
                drop(black_box(validate_id_token(
                    black_box(&rs256_id),
                    &keys,
                    &check,
                )))
            },
            &mut || {
                drop(black_box(jsonwebtoken::decode::<Claims>(
                    black_box(&rs256),
                    &rs_key,
                    &rs_validation,
                )))
            },
            &mut || drop(black_box(dpop.proof("POST", black_box(URL), None, None))),
            &mut || drop(black_box(floor())),
        ],
        31,
        500,
    );
    ratio("ES256 ID token", t[0], t[1], 1.1);
    ratio("RS256 ID token", t[2], t[3], 1.1);
    ratio("DPoP proof", t[4], t[5], 1.2);
}

fn ratio(what: &str, ours: f64, theirs: f64, target: f64) {
    println!(
        "{what}: hearth {:.1} µs, peer {:.1} µs: {:.2}x the peer's time (target <= {target}x)",
        ours / 1e3,
        theirs / 1e3,
        ours / theirs
    );
}
