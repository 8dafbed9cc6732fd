use super::*;

const REDIRECT: &str = "http://127.0.0.1:43123/callback";

fn pending() -> (String, PendingAuthorization) {
    AuthorizationRequest::new(
        "https://as.example/authorize?tenant=x",
        "client-1",
        REDIRECT,
    )
    .scope("openid")
    .scope("profile")
    .expected_issuer("https://as.example")
    .oidc_nonce()
    .build()
    .unwrap()
}

fn state_of(p: &PendingAuthorization) -> String {
    p.state.expose_secret().to_owned()
}

#[test]
fn the_url_carries_challenge_state_and_nonce_but_never_the_verifier() {
    let (url, p) = pending();
    assert!(url.starts_with("https://as.example/authorize?tenant=x&response_type=code&client_id=client-1&redirect_uri=http%3A%2F%2F127.0.0.1%3A43123%2Fcallback&scope=openid%20profile&state="), "{url}");
    assert!(url.contains(&format!(
        "code_challenge={}",
        p.verifier.challenge().as_str()
    )));
    assert!(url.contains("code_challenge_method=S256"));
    assert!(url.contains(&format!(
        "nonce={}",
        p.nonce.as_ref().unwrap().expose_secret()
    )));
    assert!(!url.contains(p.verifier.expose_secret()));
}

#[test]
fn a_good_callback_yields_the_code() {
    let (_, p) = pending();
    let s = state_of(&p);
    let grant = p
        .complete(&format!(
            "{REDIRECT}?code=abc%2Fdef&state={s}&iss=https%3A%2F%2Fas.example"
        ))
        .unwrap();
    assert_eq!(grant.code.expose_secret(), "abc/def");
    assert_eq!(grant.redirect_uri, REDIRECT);
    assert!(grant.nonce.is_some());
}

#[test]
fn checks_run_in_order() {
    let s = |p: &PendingAuthorization| state_of(p);
    // Redirect first: the right state on another path is still refused.
    let (_, p) = pending();
    let st = s(&p);
    assert!(matches!(
        p.complete(&format!("http://127.0.0.1:43123/other?code=c&state={st}")),
        Err(Error::RedirectMismatch)
    ));
    let (_, p) = pending();
    let st = s(&p);
    assert!(matches!(
        p.complete(&format!("http://127.0.0.1:9999/callback?code=c&state={st}")),
        Err(Error::RedirectMismatch)
    ));
    // State before error: a forged error= callback is a state mismatch, not a denial.
    let (_, p) = pending();
    assert!(matches!(
        p.complete(&format!("{REDIRECT}?error=access_denied&state=forged")),
        Err(Error::StateMismatch)
    ));
    let (_, p) = pending();
    assert!(matches!(
        p.complete(&format!("{REDIRECT}?error=access_denied")),
        Err(Error::MissingState)
    ));
    // With the right state, the error is reported.
    let (_, p) = pending();
    let st = s(&p);
    match p.complete(&format!(
        "{REDIRECT}?error=access_denied&error_description=User+said+no&state={st}"
    )) {
        Err(Error::Denied { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("User said no"));
        }
        other => panic!("{other:?}"),
    }
    // Issuer (RFC 9207): wrong or missing.
    let (_, p) = pending();
    let st = s(&p);
    assert!(matches!(
        p.complete(&format!(
            "{REDIRECT}?code=c&state={st}&iss=https%3A%2F%2Fevil.example"
        )),
        Err(Error::IssuerMismatch { .. })
    ));
    let (_, p) = pending();
    let st = s(&p);
    assert!(matches!(
        p.complete(&format!("{REDIRECT}?code=c&state={st}")),
        Err(Error::IssuerMismatch { got: None, .. })
    ));
    // Then the code.
    let (_, p) = pending();
    let st = s(&p);
    assert!(matches!(
        p.complete(&format!(
            "{REDIRECT}?state={st}&iss=https%3A%2F%2Fas.example"
        )),
        Err(Error::MissingCode)
    ));
}

#[test]
fn repeated_parameters_and_bad_encoding_are_refused() {
    let (_, p) = pending();
    let st = state_of(&p);
    assert!(matches!(
        p.complete(&format!("{REDIRECT}?code=a&state={st}&state={st}")),
        Err(Error::DuplicateParameter { .. })
    ));
    let (_, p) = pending();
    assert!(matches!(
        p.complete(&format!("{REDIRECT}?code=%zz&state=x")),
        Err(Error::MalformedCallback { .. })
    ));
}

#[test]
fn an_expired_sign_in_is_refused() {
    let (_, p) = pending();
    let st = state_of(&p);
    let later = p.deadline + Duration::from_secs(1);
    assert!(matches!(
        p.check_at(
            Callback::parse(&format!("{REDIRECT}?code=c&state={st}")).unwrap(),
            later
        ),
        Err(Error::Expired)
    ));
}

#[test]
fn save_and_restore_keep_everything_and_reject_garbage() {
    let (_, p) = pending();
    let st = state_of(&p);
    let saved = p.save();
    assert!(!format!("{saved:?}").contains(&st));
    let restored = PendingAuthorization::restore(&saved).unwrap();
    drop(p);
    let grant = restored
        .complete(&format!(
            "{REDIRECT}?code=c&state={st}&iss=https%3A%2F%2Fas.example"
        ))
        .unwrap();
    assert_eq!(grant.code.expose_secret(), "c");
    for bad in [
        &b""[..],
        b"hearth-pending-v1\n",
        b"hearth-pending-v2\na\nb\n\n\n\n1\n",
        b"\xff",
    ] {
        assert!(PendingAuthorization::restore(&SecretBytes::from_slice(bad)).is_err());
    }
}

#[test]
fn max_age_goes_in_the_url_and_survives_save_and_restore_into_the_grant() {
    let (url, p) = AuthorizationRequest::new("https://as.example/authorize", "c", REDIRECT)
        .oidc_nonce()
        .max_age(Duration::from_millis(300_900))
        .build()
        .unwrap();
    assert!(url.ends_with("&max_age=300"), "{url}");
    let st = state_of(&p);
    let restored = PendingAuthorization::restore(&p.save()).unwrap();
    let grant = restored
        .complete(&format!("{REDIRECT}?code=c&state={st}"))
        .unwrap();
    assert_eq!(grant.max_age, Some(Duration::from_secs(300)));
    assert!(grant.nonce.is_some());
    // Only through the typed method, so that it is always checked.
    assert!(matches!(
        AuthorizationRequest::new("https://as.example/authorize", "c", REDIRECT)
            .param("max_age", "60")
            .build(),
        Err(Error::DuplicateParameter { .. })
    ));
    let garbled = "hearth-pending-v3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nb\n\nhttp://127.0.0.1:1/cb\n\noff\n1\nsoon\n";
    assert!(PendingAuthorization::restore(&SecretBytes::from_slice(garbled.as_bytes())).is_err());
}

#[test]
fn reserved_parameters_and_bad_endpoints_are_refused() {
    assert!(
        AuthorizationRequest::new("https://as/authorize", "c", REDIRECT)
            .param("state", "x")
            .build()
            .is_err()
    );
    assert!(
        AuthorizationRequest::new("http://as.example/authorize", "c", REDIRECT)
            .build()
            .is_err()
    );
    assert!(
        AuthorizationRequest::new("http://127.0.0.1:8080/authorize", "c", REDIRECT)
            .build()
            .is_ok()
    );
    assert!(
        AuthorizationRequest::new("https://as/authorize", "c", "/relative")
            .build()
            .is_err()
    );
    assert!(
        AuthorizationRequest::new("https://as/authorize", "c", "http://127.0.0.1/cb?x=1")
            .build()
            .is_err()
    );
}

#[test]
fn a_parameter_given_twice_is_refused_by_name() {
    let cases = [
        (
            "https://as.example/authorize",
            vec![("dpop_jkt", "b")],
            true,
            "dpop_jkt",
        ),
        (
            "https://as.example/authorize",
            vec![("request_uri", "urn:x")],
            false,
            "request_uri",
        ),
        (
            "https://as.example/authorize",
            vec![("prompt", "login"), ("prompt", "none")],
            false,
            "prompt",
        ),
        (
            "https://as.example/authorize?tenant=a",
            vec![("tenant", "b")],
            false,
            "tenant",
        ),
        (
            "https://as.example/authorize?tenant=a&tenant=b",
            vec![],
            false,
            "tenant",
        ),
    ];
    for (endpoint, extra, jkt, duplicated) in cases {
        let mut request = AuthorizationRequest::new(endpoint, "c", REDIRECT);
        if jkt {
            request = request.dpop_jkt("a");
        }
        for (name, value) in extra {
            request = request.param(name, value);
        }
        match request.build() {
            Err(Error::DuplicateParameter { name }) => assert_eq!(name, duplicated),
            other => panic!("{endpoint}: {:?}", other.map(|(url, _)| url)),
        }
    }
    let (url, _) =
        AuthorizationRequest::new("https://as.example/authorize?tenant=a", "c", REDIRECT)
            .dpop_jkt("thumb")
            .param("prompt", "login")
            .build()
            .unwrap();
    assert!(
        url.starts_with("https://as.example/authorize?tenant=a&response_type=code&"),
        "{url}"
    );
    assert_eq!(url.matches("dpop_jkt=thumb").count(), 1, "{url}");
    // RFC 8707: one `resource` per resource server.
    let (url, _) = AuthorizationRequest::new("https://as.example/authorize", "c", REDIRECT)
        .param("resource", "https://a.example")
        .param("resource", "https://b.example")
        .build()
        .unwrap();
    assert_eq!(url.matches("resource=").count(), 2, "{url}");
}

#[test]
fn debug_shows_no_secret() {
    let (_, p) = pending();
    let st = state_of(&p);
    let dbg = format!("{p:?}");
    assert!(
        !dbg.contains(&st) && !dbg.contains(p.verifier.expose_secret()),
        "{dbg}"
    );
}

#[test]
fn private_use_and_claimed_https_redirects_round_trip_through_callback() {
    for redirect in [
        "com.example.app:/oauth2redirect",
        "com.example.app://oauth2redirect/provider",
        "https://app.example.com/auth/callback",
    ] {
        let (url, p) = AuthorizationRequest::new("https://as.example/authorize", "c", redirect)
            .build()
            .unwrap();
        assert!(url.contains(&format!("redirect_uri={}", {
            let mut q = String::new();
            form::append(&mut q, "x", redirect);
            q[2..].to_owned()
        })));
        let st = state_of(&p);
        // What the app's deep-link handler receives, scheme and host in another case.
        let back = format!(
            "{}?code=the-code&state={st}",
            redirect.replacen("com.example.app", "COM.Example.App", 1)
        );
        let cb = Callback::parse(&back).unwrap();
        assert!(p.accepts(&cb), "{redirect}");
        let grant = p.complete_callback(cb).unwrap();
        assert_eq!(grant.code.expose_secret(), "the-code");
        assert_eq!(grant.redirect_uri, redirect);
        // Another path, another app, or another form is refused.
        let (_, p) = AuthorizationRequest::new("https://as.example/authorize", "c", redirect)
            .build()
            .unwrap();
        let st = state_of(&p);
        for wrong in [
            format!("{redirect}x?code=c&state={st}"),
            format!(
                "{}?code=c&state={st}",
                redirect.replacen("example", "evil", 1)
            ),
        ] {
            assert!(
                matches!(p_complete(&p, &wrong), Some(Error::RedirectMismatch)),
                "{wrong}"
            );
        }
    }
}

/// The error `complete` would give for `url`, without consuming `p`.
fn p_complete(p: &PendingAuthorization, url: &str) -> Option<Error> {
    PendingAuthorization::restore(&p.save())
        .unwrap()
        .complete(url)
        .err()
}
