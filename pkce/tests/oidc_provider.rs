//! Sign-in against a real, certified provider: panva's oidc-provider (testkit/oidc-provider,
//! `npm ci` there first; README's test command does it) over HTTPS with a pinned rcgen
//! certificate. The "browser" is an HTTP client with a cookie jar that submits the
//! provider's own login and consent forms.
#![cfg(all(feature = "oidc", feature = "storage"))]

use std::sync::Arc;
use std::time::Duration;

use hearth_pkce::{DpopKey, Error, PersistTokens, Provider, Revocable, Session, StoredTokens};
use hearth_secure_storage::{Blocking, EncryptedFileStore, KeySource};
use hearth_testkit::oidc_provider::{Browser, CLIENT, OidcProvider as Op};

const REDIRECT: &str = "http://127.0.0.1/callback";

/// Signs `user` in: discovery, PAR, PKCE, DPoP, `iss`, the ID token validated.
async fn sign_in(op: &Op, provider: &Provider, user: &str) -> hearth_pkce::SignIn {
    let request = provider
        .authorization_request(REDIRECT)
        .unwrap()
        .scope("email");
    let (url, pending) = provider.start(request).await.unwrap();
    assert!(url.contains("request_uri="), "pushed (PAR): {url}");
    assert!(
        !url.contains("code_challenge"),
        "nothing but client_id and request_uri: {url}"
    );
    let mut browser = Browser::new(op.client());
    let callback = browser.sign_in(&url, user, REDIRECT).await;
    assert!(callback.contains("iss="), "RFC 9207 iss: {callback}");
    let grant = pending.complete(&callback).unwrap();
    provider.exchange(grant).await.unwrap()
}

async fn provider(op: &Op) -> Provider {
    Provider::discover(&op.client(), &op.issuer(), CLIENT)
        .await
        .unwrap()
        .with_dpop(DpopKey::generate().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_discovery_par_pkce_dpop_and_a_validated_id_token() {
    let op = Op::start("signin");
    let provider = provider(&op).await;
    let signed = sign_in(&op, &provider, "alice").await;
    let claims = signed.claims.expect("an ID token");
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.iss, op.issuer());
    assert_eq!(claims.aud, [CLIENT]);
    // The email scope's claims come from userinfo (the access token can be used there):
    // see `userinfo_with_the_dpop_bound_token_and_the_servers_nonce`.
    assert_eq!(signed.tokens.token_type, "dpop", "bound to the DPoP key");
    assert!(signed.tokens.refresh_token.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_refresh_token_revokes_the_chain_and_the_session_clears_the_store() {
    let op = Op::start("replay");
    let provider = provider(&op).await;
    let signed = sign_in(&op, &provider, "bob").await;
    let first = signed.tokens.refresh_token.clone().unwrap();

    // The tokens in a vault file, through a session that persists every rotation.
    let vault = EncryptedFileStore::open(
        op.dir.join("tokens.hearth"),
        KeySource::KeyFile(op.dir.join("vault.key")),
    )
    .unwrap();
    let stored = StoredTokens::new(
        Arc::new(Blocking::new(vault)),
        "app::bob::tokens".parse().unwrap(),
    );
    stored.save(&signed.tokens).await.unwrap();
    let auth_time = signed.claims.as_ref().unwrap().auth_time;
    let session = Session::for_provider(&provider, signed)
        .with_persistence(stored.clone())
        .with_refresh_skew(Duration::from_secs(86_400));
    let rotated = session.fresh_tokens().await.unwrap();
    // The provider's refreshed ID token was validated as the same sign-in's.
    assert!(rotated.id_token.is_some());
    let claims = session.claims().unwrap();
    assert_eq!((claims.sub.as_str(), claims.auth_time), ("bob", auth_time));
    let second = rotated.refresh_token.clone().unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret(), "rotated");
    let saved = stored.load().await.unwrap().unwrap();
    assert_eq!(
        saved.refresh_token.unwrap().expose_secret(),
        second.expose_secret()
    );

    // The spent token again (a stolen copy, say): the provider revokes the grant, and says so.
    let replay = provider.refresh(&first, None).await.unwrap_err();
    assert!(matches!(&replay, Error::SignInRevoked { .. }), "{replay}");
    assert_eq!(replay.kind(), hearth_pkce::ErrorKind::Refused);
    assert!(!replay.is_retryable());
    assert!(!replay.to_string().contains(first.expose_secret()));

    // The rotated token went with the chain: the session reports it, typed, and the
    // stored tokens are gone.
    let after = session.fresh_tokens().await.unwrap_err();
    assert!(matches!(&after, Error::SignInRevoked { .. }), "{after}");
    assert!(
        stored.load().await.unwrap().is_none(),
        "the store was cleared"
    );
    // Asked again, the same refusal without another request, though the access token
    // has minutes left: the session no longer hands it out.
    let session = session.with_refresh_skew(Duration::ZERO);
    let again = session.fresh_tokens().await.unwrap_err();
    assert!(matches!(&again, Error::SignInRevoked { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_refresh_token_cannot_refresh_and_logout_gives_the_end_session_url() {
    let op = Op::start("revoke");
    let provider = provider(&op).await;
    let signed = sign_in(&op, &provider, "carol").await;
    let refresh = signed.tokens.refresh_token.clone().unwrap();
    assert!(provider.revoke(Revocable::Refresh(&refresh)).await.unwrap());
    let e = provider.refresh(&refresh, None).await.unwrap_err();
    assert!(matches!(&e, Error::SignInRevoked { .. }), "{e}");

    let signed = sign_in(&op, &provider, "carol").await;
    let logout = provider
        .logout(&signed.tokens, Some("http://127.0.0.1/logged-out"))
        .await;
    assert!(logout.revoked, "{:?}", logout.error);
    assert!(logout.error.is_none());
    let url = logout.end_session_url.unwrap();
    assert!(
        url.starts_with(&format!("{}/session/end?", op.issuer())),
        "{url}"
    );
    assert!(url.contains("id_token_hint=") && url.contains("post_logout_redirect_uri="));
    let refresh = signed.tokens.refresh_token.unwrap();
    assert!(
        provider.refresh(&refresh, None).await.is_err(),
        "logged out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_restarted_with_new_keys_is_followed_by_one_refetch() {
    let mut op = Op::start("rotate");
    let provider = provider(&op).await;
    sign_in(&op, &provider, "dave").await;
    op.restart_with_new_keys();
    // The same Provider (its keys cached): the new ID token names an unknown kid, the
    // JWKS is fetched again once, and the token validates.
    let signed = sign_in(&op, &provider, "dave").await;
    assert_eq!(signed.claims.unwrap().sub, "dave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_grant_pending_then_approved_in_another_browser() {
    let op = Op::start("device");
    let provider = provider(&op).await;
    let mut device = provider.device_authorization("openid email").await.unwrap();
    assert!(!device.user_code.is_empty());
    assert!(!format!("{device:?}").contains("device_code"));
    // Before the user has approved: pending. (oidc-provider never answers slow_down; the
    // hostile provider test covers it.)
    assert!(matches!(
        provider.poll_device_once(&mut device).await.unwrap(),
        hearth_pkce::DevicePoll::Pending
    ));
    // The user approves on another device.
    let page = device.verification_uri_complete.clone().unwrap();
    let mut browser = Browser::new(op.client());
    let end = browser.sign_in(&page, "erin", "http://never.example").await;
    assert!(end.to_lowercase().contains("success"), "{end}");
    let signed = provider.poll_device(&mut device).await.unwrap();
    assert_eq!(signed.claims.unwrap().sub, "erin");
    assert_eq!(signed.tokens.token_type, "dpop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_with_the_dpop_bound_token_and_the_servers_nonce() {
    let op = Op::start("userinfo");
    let provider = provider(&op).await;
    let signed = sign_in(&op, &provider, "frank").await;
    let userinfo = provider.metadata().userinfo_endpoint().unwrap().to_owned();
    let get = || {
        http::Request::get(userinfo.as_str())
            .body(bytes::Bytes::new())
            .unwrap()
    };
    // The provider requires a nonce of its own in every proof: the first request is
    // answered `use_dpop_nonce`, the client retries once with it.
    let api = provider.dpop_client(&op.client()).unwrap();
    let reply = api.send(get(), &signed.tokens.access_token).await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let claims: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(claims["sub"], "frank");
    assert_eq!(claims["email"], "frank@hearth.test");
    // The nonce learned is used next time; a second call also succeeds.
    let again = api.send(get(), &signed.tokens.access_token).await.unwrap();
    assert_eq!(again.status, 200);

    // The token is useless without the key: as a bearer token, or with another key.
    let mut bearer = get();
    hearth_net_policy::with_bearer(&mut bearer, &signed.tokens.access_token).unwrap();
    assert_eq!(op.client().send(bearer).await.unwrap().status, 401);
    let thief = hearth_pkce::DpopClient::new(op.client(), Arc::new(DpopKey::generate().unwrap()));
    let stolen = thief
        .send(get(), &signed.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(stolen.status, 401);
    let challenge = stolen.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("invalid_token"),
        "not a nonce request: {challenge}"
    );
    // Without a DPoP key there is no DPoP client.
    let plain = Provider::discover(&op.client(), &op.issuer(), CLIENT)
        .await
        .unwrap();
    assert!(plain.dpop_client(&op.client()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_access_token_for_a_resource_passes_hearth_guard_unless_it_is_key_bound() {
    use hearth_guard::{Caller, Decision, JwtBearer, LocalGuard};
    use hearth_net_policy::IssuerKeys;
    use hearth_token_guard::jose::JwksCache;

    const API: &str = "https://api.hearth.test";
    let op = Op::start("resource");
    let guard = |jwks: JwksCache| {
        LocalGuard::new()
            .jwt_bearer(JwtBearer::new(jwks, &op.issuer(), API))
            .require("/items", "api:read")
            .unwrap()
    };
    let jwks_uri = format!("{}/jwks", op.issuer());
    let keys = IssuerKeys::start(&op.client(), &jwks_uri).await.unwrap();
    let guard = guard(JwksCache::new(keys));
    let call = |token: &hearth_token_guard::AccessToken| {
        let mut req = http::Request::get("/items")
            .header("host", "127.0.0.1:8080")
            .body(())
            .unwrap();
        hearth_net_policy::with_bearer(&mut req, token).unwrap();
        guard.check_request(&req, "127.0.0.1:50000".parse().unwrap())
    };

    // A Bearer sign-in for the API: a JWT access token (RFC 9068) that hearth-guard admits.
    for (dpop, user) in [(false, "gina"), (true, "hank")] {
        let mut provider = Provider::discover(&op.client(), &op.issuer(), CLIENT)
            .await
            .unwrap();
        if dpop {
            provider = provider.with_dpop(DpopKey::generate().unwrap());
        }
        let request = provider
            .authorization_request(REDIRECT)
            .unwrap()
            .scope("api:read")
            .param("resource", API);
        let (url, pending) = provider.start(request).await.unwrap();
        let mut browser = Browser::new(op.client());
        let callback = browser.sign_in(&url, user, REDIRECT).await;
        let signed = provider
            .exchange(pending.complete(&callback).unwrap())
            .await
            .unwrap();
        assert_eq!(
            signed
                .tokens
                .access_token
                .expose_secret()
                .split('.')
                .count(),
            3,
            "a JWT"
        );
        match (dpop, call(&signed.tokens.access_token)) {
            (false, Decision::Allow(Caller::Jwt { sub, permissions })) => {
                assert_eq!(sub, user);
                assert!(permissions.allows("api:read").unwrap());
            }
            // A DPoP-bound token (cnf.jkt) presented as a bearer token: refused, as the
            // guard checks no proof.
            (true, Decision::Deny(denial)) => {
                assert_eq!(denial.reason(), hearth_guard::DenyReason::InvalidToken);
                assert_eq!(denial.status(), 401);
                // The one difference from the admitted token: it is bound to a key.
                let payload = signed.tokens.access_token.expose_secret().split('.').nth(1);
                let payload = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    payload.unwrap(),
                )
                .unwrap();
                assert!(String::from_utf8_lossy(&payload).contains("\"cnf\""));
            }
            (_, other) => panic!("dpop={dpop}: {other:?}"),
        }
    }
}
