//! Secrets never appear in Debug output, error messages or panic messages, whatever the
//! formatting path.

use std::panic;

use hearth_token_guard::{
    AccessToken, ApiKey, AuthorizationCode, ClientSecret, Error, IdToken, Password, RefreshToken,
    SecretBytes, SessionToken,
};

const TEXT: &str = "LEAKCANARY-9f8e7d6c5b4a";

/// Every way a secret could end up formatted, as seen by a careless caller.
fn renderings<T: std::fmt::Debug>(secret: T) -> Vec<String> {
    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    struct Session<T> {
        user: &'static str,
        token: T,
        nested: Option<Vec<T>>,
    }
    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    enum Failure<T> {
        Rejected { credential: T },
    }

    let mut out = vec![
        format!("{secret:?}"),
        format!("{secret:#?}"),
        format!("{secret:>40?}"),
    ];
    let opt = Some(&secret);
    out.push(format!("{opt:?}"));
    out.push(format!("{opt:#?}"));
    let res: Result<(), Failure<&T>> = Err(Failure::Rejected {
        credential: &secret,
    });
    out.push(format!("{res:?}"));
    out.push(format!("{res:#?}"));
    let ok: Result<&T, ()> = Ok(&secret);
    out.push(format!("{ok:?}"));
    let s = Session {
        user: "alice",
        token: &secret,
        nested: Some(vec![&secret]),
    };
    out.push(format!("{s:?}"));
    out.push(format!("{s:#?}"));
    out.push(format!("{:?}", (1, &secret, [&secret])));

    // A panic message built from the secret, caught as a caller's panic handler sees it.
    let prev = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let payload = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        panic!("request failed with {secret:?} / {:#?}", Some(&secret));
    }))
    .expect_err("the closure panics");
    panic::set_hook(prev);
    out.push(
        payload
            .downcast_ref::<String>()
            .cloned()
            .expect("formatted panic payload"),
    );
    out
}

fn assert_clean(name: &str, rendered: Vec<String>) {
    for r in rendered {
        assert!(!r.contains(TEXT), "{name} leaked: {r}");
        assert!(!r.contains("LEAKCANARY"), "{name} leaked part: {r}");
        assert!(r.contains("[REDACTED]"), "{name} not marked: {r}");
    }
}

#[test]
fn no_secret_type_leaks_through_any_formatting_path() {
    assert_clean("AccessToken", renderings(AccessToken::new(TEXT)));
    assert_clean("RefreshToken", renderings(RefreshToken::new(TEXT)));
    assert_clean("IdToken", renderings(IdToken::new(TEXT)));
    assert_clean(
        "AuthorizationCode",
        renderings(AuthorizationCode::new(TEXT)),
    );
    assert_clean("ClientSecret", renderings(ClientSecret::new(TEXT)));
    assert_clean("ApiKey", renderings(ApiKey::new(TEXT)));
    assert_clean("SessionToken", renderings(SessionToken::new(TEXT)));
    assert_clean("Password", renderings(Password::new(TEXT)));
    assert_clean(
        "SecretBytes",
        renderings(SecretBytes::from_slice(TEXT.as_bytes())),
    );
}

#[test]
fn the_debug_text_is_exactly_the_type_name() {
    assert_eq!(format!("{:?}", IdToken::new(TEXT)), "IdToken([REDACTED])");
    assert_eq!(
        format!("{:?}", AuthorizationCode::new(TEXT)),
        "AuthorizationCode([REDACTED])"
    );
    assert_eq!(
        format!("{:?}", SecretBytes::from_slice(b"x")),
        "SecretBytes([REDACTED])"
    );
}

#[test]
fn generated_secrets_do_not_leak_either() {
    let t = SessionToken::generate().unwrap();
    let text = t.expose_secret().to_owned();
    for r in renderings(t) {
        assert!(!r.contains(&text), "{r}");
    }
}

#[test]
fn errors_from_parsing_a_secret_never_contain_it() {
    let inputs = [
        format!("Basic {TEXT}"),
        format!("Bearer  {TEXT}"),
        format!("Bearer {TEXT} trailing"),
        format!("Bearer {TEXT}\u{e9}"),
        format!("Bearer {}", TEXT.repeat(1000)),
    ];
    for input in inputs {
        let err: Error = AccessToken::from_bearer_header(&input).unwrap_err();
        for r in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!r.contains("LEAKCANARY"), "{r}");
        }
    }
    let bad = AccessToken::new(format!("{TEXT} space"));
    let err = bad.bearer_header().unwrap_err();
    assert!(!format!("{err} {err:?}").contains("LEAKCANARY"));
}

#[test]
fn bearer_header_values_are_sensitive_in_debug() {
    let h = AccessToken::new(TEXT).bearer_header().unwrap();
    assert!(!format!("{h:?}").contains("LEAKCANARY"));
    let mut map = http::HeaderMap::new();
    map.insert(http::header::AUTHORIZATION, h);
    assert!(!format!("{map:?}").contains("LEAKCANARY"));
}
