//! A whole sign-in, end to end, against the in-process test authorization server over
//! pinned HTTPS: the real loopback receiver, an HTTP client playing the browser (which
//! follows the authorization server's redirect to the receiver), the token exchange, and
//! the tokens stored in the vault.

use std::time::Duration;

use hearth_examples::test_server::TestAuthServer;
use hearth_net_policy::{HttpsClient, PinPolicy, TlsPolicy};
use hearth_pkce::{AuthorizationRequest, Error, LoopbackReceiver, TokenClient};
use hearth_secure_storage::{
    EncryptedFileStore, KeySource, Namespace, SecureStorage, SecureStorageExt,
};
use hearth_token_guard::{AccessToken, RefreshToken};

fn pinned(server: &TestAuthServer, loopback_http: bool) -> HttpsClient {
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [server.pin.as_str()])
        .unwrap();
    let mut policy = TlsPolicy::new().pins(pins);
    if loopback_http {
        policy = policy.allow_loopback_http();
    }
    HttpsClient::new(&policy.build().unwrap())
}

#[tokio::test]
async fn a_full_sign_in_ends_with_tokens_in_the_vault() {
    let receiver = LoopbackReceiver::bind("/callback").await.unwrap();
    let redirect = receiver.redirect_uri();
    let server = TestAuthServer::start("demo-app", &redirect).await.unwrap();
    let (url, pending) = AuthorizationRequest::new(&server.authorize_url(), "demo-app", &redirect)
        .scope("openid")
        .expected_issuer(&server.issuer)
        .build()
        .unwrap();
    let flow = tokio::spawn(receiver.wait(pending, Duration::from_secs(30)));

    // The browser: a stray request first, then the authorization URL, following the
    // authorization server's redirect back to the receiver.
    let browser = pinned(&server, true);
    let stray = browser
        .get(&redirect.replace("/callback", "/favicon.ico"))
        .await
        .unwrap();
    assert_eq!(stray.status, 404);
    let page = browser.get(&url).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("signed in"));

    let grant = flow.await.unwrap().unwrap();
    let tokens = TokenClient::new(pinned(&server, false), &server.token_url(), "demo-app");
    let set = tokens.exchange(grant).await.unwrap();
    assert!(set.access_token.expose_secret().starts_with("at-"));

    let dir = std::env::temp_dir().join(format!("hearth-signin-{}", std::process::id()));
    let vault =
        EncryptedFileStore::open(dir.join("vault"), KeySource::KeyFile(dir.join("key"))).unwrap();
    let account = Namespace::app("demo").unwrap().child("as").unwrap();
    vault
        .store_secret(&account.key(["access_token"]).unwrap(), &set.access_token)
        .unwrap();
    vault
        .store_secret(
            &account.key(["refresh_token"]).unwrap(),
            set.refresh_token.as_ref().unwrap(),
        )
        .unwrap();
    let back: AccessToken = vault
        .retrieve_secret(&account.key(["access_token"]).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(back, set.access_token);
    let refresh: RefreshToken = vault
        .retrieve_secret(&account.key(["refresh_token"]).unwrap())
        .unwrap()
        .unwrap();
    assert!(refresh.expose_secret().starts_with("rt-"));
    assert_eq!(vault.list(&account).unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_callback_from_another_issuer_is_refused() {
    let receiver = LoopbackReceiver::bind("/callback").await.unwrap();
    let redirect = receiver.redirect_uri();
    let server = TestAuthServer::start("demo-app", &redirect).await.unwrap();
    let (url, pending) = AuthorizationRequest::new(&server.authorize_url(), "demo-app", &redirect)
        .expected_issuer("https://accounts.example")
        .build()
        .unwrap();
    let flow = tokio::spawn(receiver.wait(pending, Duration::from_secs(30)));
    let page = pinned(&server, true).get(&url).await.unwrap();
    assert_eq!(page.status, 400);
    assert!(matches!(
        flow.await.unwrap(),
        Err(Error::IssuerMismatch { .. })
    ));
    assert_eq!(server.token_requests(), 0, "no code was exchanged");
}
