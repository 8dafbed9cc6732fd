//! JWS verification against tokens signed by ring and by the `openssl` command (an
//! independent signer), and every refusal a relying party needs.
#![cfg(feature = "jose")]

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hearth_token_guard::Error;
use hearth_token_guard::jose::{Algorithm, JwkSet, verify_jws};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

/// A 2048-bit RSA key made by `openssl genpkey`, as PKCS#8 DER and PEM.
fn openssl_rsa(dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf) {
    let pem = dir.join("rsa.pem");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .status()
        .expect("openssl is installed");
    assert!(status.success());
    let der = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(der.status.success());
    (der.stdout, pem)
}

fn input(header: &str, payload: &str) -> String {
    format!("{}.{}", B64.encode(header), B64.encode(payload))
}

struct Keys {
    rsa: RsaKeyPair,
    rsa_pem: std::path::PathBuf,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    set: JwkSet,
    dir: std::path::PathBuf,
}

fn keys(test: &str) -> Keys {
    let dir = std::env::temp_dir().join(format!("hearth-jose-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rng = SystemRandom::new();
    let (der, rsa_pem) = openssl_rsa(&dir);
    let rsa = RsaKeyPair::from_pkcs8(&der).unwrap();
    let ec_pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ec_pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let ed =
        Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let point = ec.public_key().as_ref();
    let rsa_public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let jwks = format!(
        r#"{{"keys":[
          {{"kty":"RSA","kid":"rsa","n":"{n}","e":"{e}"}},
          {{"kty":"EC","crv":"P-256","kid":"ec","x":"{x}","y":"{y}","use":"sig"}},
          {{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"{ed}","alg":"EdDSA"}},
          {{"kty":"RSA","kid":"enc","use":"enc","n":"{n}","e":"{e}"}},
          {{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}}
        ]}}"#,
        n = B64.encode(&rsa_public.n),
        e = B64.encode(&rsa_public.e),
        x = B64.encode(&point[1..33]),
        y = B64.encode(&point[33..]),
        ed = B64.encode(ed.public_key().as_ref()),
    );
    let set = JwkSet::from_json(jwks.as_bytes()).unwrap();
    Keys {
        rsa,
        rsa_pem,
        ec,
        ed,
        set,
        dir,
    }
}

impl Keys {
    fn sign(&self, alg: Algorithm, header: &str, payload: &str) -> String {
        let rng = SystemRandom::new();
        let msg = input(header, payload);
        let sig = match alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                let padding: &dyn signature::RsaEncoding = if alg == Algorithm::RS256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(padding, &rng, msg.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            Algorithm::ES256 => self
                .ec
                .sign(&rng, msg.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Algorithm::EdDSA => self.ed.sign(msg.as_bytes()).as_ref().to_vec(),
            _ => unreachable!(),
        };
        format!("{msg}.{}", B64.encode(sig))
    }
}

fn reason(r: Result<hearth_token_guard::jose::Verified, Error>) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_supported_algorithm_verifies_and_the_unusable_keys_were_skipped() {
    let k = keys("all");
    assert_eq!(
        k.set.keys().len(),
        3,
        "the encryption and symmetric keys are skipped"
    );
    for (alg, kid) in [
        (Algorithm::RS256, "rsa"),
        (Algorithm::PS256, "rsa"),
        (Algorithm::ES256, "ec"),
        (Algorithm::EdDSA, "ed"),
    ] {
        let header = format!(r#"{{"alg":"{}","kid":"{kid}","typ":"at+jwt"}}"#, alg.name());
        let token = k.sign(alg, &header, r#"{"sub":"alice"}"#);
        let v = verify_jws(&token, &k.set, &Algorithm::ALL).unwrap();
        assert_eq!(v.payload, br#"{"sub":"alice"}"#);
        assert_eq!(
            (v.header.alg, v.header.typ.as_deref()),
            (alg, Some("at+jwt"))
        );
        // Any flipped bit of the signature or the payload fails.
        let (msg, sig) = token.rsplit_once('.').unwrap();
        let mut bad_sig = B64.decode(sig).unwrap();
        bad_sig[0] ^= 1;
        let forged = format!("{msg}.{}", B64.encode(&bad_sig));
        assert!(
            verify_jws(&forged, &k.set, &Algorithm::ALL).is_err(),
            "{alg:?}"
        );
        let other_payload = format!(
            "{}.{}.{sig}",
            msg.split('.').next().unwrap(),
            B64.encode(r#"{"sub":"mallory"}"#)
        );
        assert!(
            verify_jws(&other_payload, &k.set, &Algorithm::ALL).is_err(),
            "{alg:?}"
        );
    }
    std::fs::remove_dir_all(&k.dir).unwrap();
}

#[test]
fn a_token_signed_by_openssl_verifies() {
    let k = keys("openssl");
    let msg = input(r#"{"alg":"RS256","kid":"rsa"}"#, r#"{"iss":"openssl"}"#);
    let data = k.dir.join("msg");
    std::fs::write(&data, &msg).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&k.rsa_pem)
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = format!("{msg}.{}", B64.encode(&out.stdout));
    assert_eq!(
        verify_jws(&token, &k.set, &[Algorithm::RS256])
            .unwrap()
            .payload,
        br#"{"iss":"openssl"}"#
    );
    std::fs::remove_dir_all(&k.dir).unwrap();
}

#[test]
fn what_a_relying_party_must_refuse_is_refused() {
    let k = keys("refuse");
    let good = k.sign(Algorithm::ES256, r#"{"alg":"ES256","kid":"ec"}"#, "{}");
    let (msg, sig) = good.rsplit_once('.').unwrap();
    let payload = msg.split('.').nth(1).unwrap();
    // `none`, and HMAC keyed with the RSA public key (the classic confusion).
    let none = format!("{}.{payload}.", B64.encode(r#"{"alg":"none"}"#));
    let n_bytes = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.rsa.public()).n;
    let hs_input = input(r#"{"alg":"HS256","kid":"rsa"}"#, "{}");
    let hs_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &n_bytes);
    let hs = format!(
        "{hs_input}.{}",
        B64.encode(ring::hmac::sign(&hs_key, hs_input.as_bytes()))
    );
    let hs_oct = k.sign(Algorithm::ES256, r#"{"alg":"HS256","kid":"hmac"}"#, "{}");
    // The EC signature under an RSA key id, and a key declared for another algorithm.
    let wrong_key = format!(
        "{}.{payload}.{sig}",
        B64.encode(r#"{"alg":"ES256","kid":"rsa"}"#)
    );
    let declared = k.sign(Algorithm::EdDSA, r#"{"alg":"ES256","kid":"ed"}"#, "{}");
    let crit = k.sign(
        Algorithm::ES256,
        r#"{"alg":"ES256","kid":"ec","crit":["exp"]}"#,
        "{}",
    );
    let cases: Vec<(&str, String)> = vec![
        ("none", none),
        ("HS256 keyed with the public key", hs),
        ("HS256 with a symmetric JWK", hs_oct),
        ("a key of another type", wrong_key),
        ("a key declared for another alg", declared),
        ("crit", crit),
        ("padding", format!("{good}=")),
        ("four parts", format!("{good}.x")),
        ("two parts", msg.to_owned()),
        (
            "standard base64",
            good.replace('-', "+").replace('_', "/") + "+",
        ),
        (
            "a header that is not an object",
            format!("{}.{payload}.{sig}", B64.encode("[1]")),
        ),
        (
            "no alg",
            format!("{}.{payload}.{sig}", B64.encode(r#"{"kid":"ec"}"#)),
        ),
        ("oversized", format!("{good}{}", "A".repeat(16 << 10))),
    ];
    for (what, token) in cases {
        let r = verify_jws(&token, &k.set, &Algorithm::ALL);
        assert!(
            matches!(r, Err(Error::InvalidJose { .. })),
            "{what}: {}",
            reason(r)
        );
    }
    // Not on this verifier's allowlist.
    assert!(verify_jws(&good, &k.set, &[Algorithm::RS256]).is_err());
    // An unknown kid says so, so that a cache can refetch.
    let unknown = k.sign(Algorithm::ES256, r#"{"alg":"ES256","kid":"rotated"}"#, "{}");
    assert!(matches!(
        verify_jws(&unknown, &k.set, &Algorithm::ALL),
        Err(Error::UnknownSigningKey)
    ));
    // No kid: the one key that fits, else refused.
    let bare = k.sign(Algorithm::ES256, r#"{"alg":"ES256"}"#, "{}");
    assert!(verify_jws(&bare, &k.set, &Algorithm::ALL).is_ok());
    std::fs::remove_dir_all(&k.dir).unwrap();
}

#[test]
fn malformed_key_sets_are_errors_not_silently_short() {
    for (what, doc) in [
        ("not JSON", "nope"),
        ("no keys", r#"{"k":[]}"#),
        (
            "EC without y",
            r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA"}]}"#,
        ),
        (
            "bad base64",
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"***"}]}"#,
        ),
        (
            "short Ed25519",
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}"#,
        ),
    ] {
        assert!(
            matches!(
                JwkSet::from_json(doc.as_bytes()),
                Err(Error::InvalidJose { .. })
            ),
            "{what}"
        );
    }
    // A 1024-bit RSA key is skipped (ring verifies 2048 bits and up).
    let short = format!(
        r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
        B64.encode([0xC5u8; 128])
    );
    assert!(
        JwkSet::from_json(short.as_bytes())
            .unwrap()
            .keys()
            .is_empty()
    );
}
