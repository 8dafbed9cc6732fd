//! Sign-in against a real, certified provider: panva's oidc-provider (testkit/oidc-provider,
//! `npm ci` there first; README's test command does it) over HTTPS with a pinned rcgen
//! certificate. The "browser" is an HTTP client with a cookie jar that submits the
//! provider's own login and consent forms.
#![cfg(all(feature = "oidc", feature = "storage"))]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy, resolve_location};
use hearth_pkce::{DpopKey, Error, PersistTokens, Provider, Revocable, Session, StoredTokens};
use hearth_secure_storage::{Blocking, EncryptedFileStore, KeySource};
use rcgen::{CertificateParams, KeyPair};

const CLIENT: &str = "hearth-cli";
const REDIRECT: &str = "http://127.0.0.1/callback";
/// How long the provider may take to start (node loading oidc-provider on a busy machine).
const STARTUP: Duration = Duration::from_secs(60);

/// One oidc-provider process, killed when dropped; its files in `dir`.
struct Op {
    child: Child,
    port: u16,
    dir: PathBuf,
    pin: Pin,
}

impl Op {
    /// Starts a provider with a fresh certificate and fresh signing keys.
    fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hearth-op-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        let pin = Pin::of_certificate(cert.der()).unwrap();
        let (child, port) = spawn(&dir, 0);
        Self {
            child,
            port,
            dir,
            pin,
        }
    }

    /// Restarts it on the same port with new signing keys (a key rotation).
    fn restart_with_new_keys(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_file(self.dir.join("keys.json")).unwrap();
        let (child, port) = spawn(&self.dir, self.port);
        assert_eq!(port, self.port);
        self.child = child;
    }

    fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> HttpsClient {
        let pins = PinPolicy::new()
            .self_signed("127.0.0.1", [self.pin.to_string()])
            .unwrap();
        HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).without_proxy()
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/oidc-provider")
}

fn spawn(dir: &Path, port: u16) -> (Child, u16) {
    let fixture = fixture();
    assert!(
        fixture.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: run `npm ci --prefix testkit/oidc-provider` \
         (README's test command does)"
    );
    let mut child = Command::new("node")
        .arg(fixture.join("server.mjs"))
        .env("HEARTH_OP_CERT", dir.join("cert.pem"))
        .env("HEARTH_OP_KEY", dir.join("key.pem"))
        .env("HEARTH_OP_KEYS", dir.join("keys.json"))
        .env("HEARTH_OP_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs (README's test command installs it)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("READY ") {
                let _ = tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(STARTUP)
        .expect("oidc-provider started within a minute");
    (child, port)
}

/// A browser: a cookie jar, redirects followed by hand, forms submitted.
struct Browser {
    http: HttpsClient,
    cookies: BTreeMap<String, String>,
}

struct Page {
    url: http::Uri,
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(http: HttpsClient) -> Self {
        Self {
            http,
            cookies: BTreeMap::new(),
        }
    }

    async fn request(&mut self, method: &str, url: &str, form: Option<String>) -> Page {
        let uri: http::Uri = url.parse().unwrap();
        let mut req = http::Request::builder().method(method).uri(uri.clone());
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        let body = match form {
            Some(f) => {
                req = req.header("content-type", "application/x-www-form-urlencoded");
                Bytes::from(f)
            }
            None => Bytes::new(),
        };
        let response = self.http.send(req.body(body).unwrap()).await.unwrap();
        for value in response.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, v) = pair.split_once('=').unwrap();
            let expired = value
                .to_ascii_lowercase()
                .contains("expires=thu, 01 jan 1970");
            if v.is_empty() || expired {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
        let location = response.headers.get("location").map(|l| {
            resolve_location(&uri, l.to_str().unwrap())
                .unwrap()
                .to_string()
        });
        Page {
            url: uri,
            status: response.status.as_u16(),
            location,
            body: String::from_utf8_lossy(&response.body).into_owned(),
        }
    }

    /// Follows redirects and submits forms (login as `user`, consent, user code) until
    /// the provider sends the browser to `stop`'s prefix; returns that URL, or the last
    /// page when the flow ends on the provider (the device grant's success page).
    async fn sign_in(&mut self, start: &str, user: &str, stop: &str) -> String {
        let mut page = self.request("GET", start, None).await;
        for _ in 0..20 {
            if let Some(next) = page.location.clone() {
                if next.starts_with(stop) {
                    return next;
                }
                page = self.request("GET", &next, None).await;
                continue;
            }
            assert_eq!(page.status, 200, "{}", page.body);
            let Some((action, mut fields)) = form(&page.body) else {
                return page.body;
            };
            if fields.contains_key("login") {
                fields.insert("login".into(), user.into());
                fields.insert("password".into(), "any".into());
            }
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            let target = resolve_location(&page.url, &action).unwrap().to_string();
            page = self.request("POST", &target, Some(body.join("&"))).await;
        }
        panic!("the sign-in did not end: {}", page.body);
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The page's first POST form: its action and its named inputs (values as given).
fn form(html: &str) -> Option<(String, BTreeMap<String, String>)> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>")? + start;
    let form = &html[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action")?;
    let mut fields = BTreeMap::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if let Some(name) = attribute(tag, "name") {
            fields.insert(name, attribute(tag, "value").unwrap_or_default());
        }
    }
    for button in form.split("<button").skip(1) {
        let tag = &button[..button.find('>').unwrap_or(button.len())];
        if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
            fields.insert(name, value);
        }
    }
    Some((action.replace("&amp;", "&"), fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[at..].find('"')?;
    Some(tag[at..at + len].to_owned())
}

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
    // Asked again, the same refusal without another request.
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
