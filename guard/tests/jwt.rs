//! JWT bearer tokens through `LocalGuard`: tokens signed by an in-test issuer whose JWKS
//! rotates, and every refusal RFC 9068 and RFC 8725 ask for.
#![cfg(feature = "jwt")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hearth_guard::{Caller, Decision, DenyReason, JwtBearer, LocalGuard};
use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

const ISS: &str = "https://id.example/realms/jan";
const AUD: &str = "jan-api";

/// An issuer with ES256 keys it can rotate; its JWKS is what `fetch` serves.
struct Issuer {
    keys: Mutex<Vec<(String, EcdsaKeyPair)>>,
    fetches: AtomicUsize,
}

impl Issuer {
    fn new() -> Arc<Self> {
        let issuer = Arc::new(Self {
            keys: Mutex::new(Vec::new()),
            fetches: AtomicUsize::new(0),
        });
        issuer.rotate("k1");
        issuer
    }

    fn rotate(&self, kid: &str) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        self.keys.lock().unwrap().push((kid.to_owned(), pair));
    }

    fn sign(&self, kid: &str, typ: &str, claims: &str) -> String {
        let keys = self.keys.lock().unwrap();
        let (_, pair) = keys.iter().find(|(k, _)| k == kid).unwrap();
        let input = format!(
            "{}.{}",
            B64.encode(format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"{typ}"}}"#)),
            B64.encode(claims)
        );
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }
}

/// The JWKS source: the issuer's current public keys.
struct Jwks(Arc<Issuer>);

impl JwksSource for Jwks {
    fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        self.0.fetches.fetch_add(1, Ordering::SeqCst);
        let keys = self.0.keys.lock().unwrap();
        let jwks: Vec<String> = keys
            .iter()
            .map(|(kid, pair)| {
                let p = pair.public_key().as_ref();
                format!(
                    r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"{}","y":"{}"}}"#,
                    B64.encode(&p[1..33]),
                    B64.encode(&p[33..])
                )
            })
            .collect();
        let body = format!(r#"{{"keys":[{}]}}"#, jwks.join(","));
        Ok(JwksDocument::new(body).with_max_age(Duration::from_secs(3600)))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(extra: &str) -> String {
    format!(
        r#"{{"iss":"{ISS}","aud":["account","{AUD}"],"sub":"alice","exp":{},"iat":{}{extra}}}"#,
        now() + 300,
        now()
    )
}

fn check(guard: &LocalGuard, path: &str, token: &str) -> Decision {
    let request = http::Request::get(path)
        .header("host", "127.0.0.1:8080")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    guard.check(&request, "127.0.0.1:5000".parse().unwrap())
}

fn guard(issuer: &Arc<Issuer>) -> LocalGuard {
    let cache = JwksCache::new(Jwks(Arc::clone(issuer))).min_refetch(Duration::from_millis(200));
    LocalGuard::new()
        .jwt_bearer(JwtBearer::new(cache, ISS, AUD))
        .require("/media", "media:read")
        .unwrap()
        .require("/admin", "admin:write")
        .unwrap()
}

#[test]
fn a_valid_access_token_is_a_caller_with_its_scopes() {
    let issuer = Issuer::new();
    let guard = guard(&issuer);
    let token = issuer.sign("k1", "at+jwt", &claims(r#","scope":"openid media:read""#));
    match check(&guard, "/media/1", &token) {
        Decision::Allow(Caller::Jwt { sub, permissions }) => {
            assert_eq!(sub, "alice");
            assert!(permissions.allows("media:read").unwrap());
        }
        other => panic!("{other:?}"),
    }
    let Decision::Deny(d) = check(&guard, "/admin/x", &token) else {
        panic!("admitted to /admin")
    };
    assert_eq!(d.reason(), DenyReason::Forbidden);
}

#[test]
fn every_bad_token_is_401_invalid_token() {
    let issuer = Issuer::new();
    let guard = guard(&issuer);
    let base = claims("");
    let t = now();
    let cases = [
        (
            "expired",
            issuer.sign(
                "k1",
                "at+jwt",
                &base.replace(
                    &format!("\"exp\":{}", t + 300),
                    &format!("\"exp\":{}", t - 3600),
                ),
            ),
        ),
        (
            "wrong aud",
            issuer.sign("k1", "at+jwt", &base.replace(AUD, "other-api")),
        ),
        (
            "wrong iss",
            issuer.sign("k1", "at+jwt", &base.replace(ISS, "https://evil.example")),
        ),
        ("not an access token", issuer.sign("k1", "JWT", &base)),
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
                B64.encode(&base)
            ),
        ),
        (
            "HS256",
            format!(
                "{}.{}.c2ln",
                B64.encode(r#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#),
                B64.encode(&base)
            ),
        ),
    ];
    for (what, token) in cases {
        let Decision::Deny(d) = check(&guard, "/x", &token) else {
            panic!("{what} admitted")
        };
        assert_eq!(d.reason(), DenyReason::InvalidToken, "{what}");
        let response: http::Response<String> = d.to_response();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
}

#[test]
fn a_rotated_key_is_fetched_once_and_an_unknown_kid_is_refused() {
    let issuer = Issuer::new();
    let guard = guard(&issuer);
    let first = issuer.sign("k1", "at+jwt", &claims(""));
    assert!(matches!(check(&guard, "/x", &first), Decision::Allow(_)));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    // The issuer rotates: a token under the new key triggers one refetch and passes.
    std::thread::sleep(Duration::from_millis(250));
    issuer.rotate("k2");
    let second = issuer.sign("k2", "at+jwt", &claims(""));
    assert!(matches!(check(&guard, "/x", &second), Decision::Allow(_)));
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // Made-up key ids: refused, and no more than one fetch per interval however many.
    let forged = second.replace(
        &B64.encode(r#"{"alg":"ES256","kid":"k2","typ":"at+jwt"}"#),
        &B64.encode(r#"{"alg":"ES256","kid":"k9","typ":"at+jwt"}"#),
    );
    for _ in 0..5 {
        let Decision::Deny(d) = check(&guard, "/x", &forged) else {
            panic!("an unknown kid was admitted")
        };
        assert!(matches!(
            d.reason(),
            DenyReason::InvalidToken | DenyReason::TooManyFailedAttempts
        ));
    }
    assert!(issuer.fetches.load(Ordering::SeqCst) <= 3);
}
