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
    assert_eq!(claims.email.as_deref(), Some("alice@hearth.test"));
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
    let session = Session::new(provider.token_client().clone(), signed.tokens)
        .with_persistence(stored.clone())
        .with_refresh_skew(Duration::from_secs(86_400));
    let rotated = session.fresh_tokens().await.unwrap();
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
        .await
        .unwrap();
    assert!(logout.revoked);
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
