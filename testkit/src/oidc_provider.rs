//! panva's oidc-provider (OpenID Certified), run by node from `testkit/oidc-provider`
//! (`npm ci` there first; README's test command does it) on 127.0.0.1 over HTTPS with a
//! fresh rcgen certificate that tests pin, and a [`Browser`] that signs a user in through
//! the provider's own login and consent forms.
//!
//! Configured (see `oidc-provider/server.mjs`) with the public native client `hearth-cli`
//! (loopback redirects, PKCE), PAR, DPoP, refresh-token rotation, revocation, the device
//! grant, RFC 9207 `iss`, end-session and JWT access tokens for a resource indicator.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy, resolve_location};
use rcgen::{CertificateParams, KeyPair};

/// The public native client the provider knows.
pub const CLIENT: &str = "hearth-cli";
/// How long the provider may take to start (node loading oidc-provider on a busy machine).
const STARTUP: Duration = Duration::from_secs(60);

/// One oidc-provider process, killed when dropped; its files in `dir`.
pub struct OidcProvider {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Its files (certificate, keys); removed when dropped. Tests may put theirs here.
    pub dir: PathBuf,
    /// The pin of its self-signed certificate.
    pub pin: Pin,
}

impl OidcProvider {
    /// Starts a provider with a fresh certificate and fresh signing keys.
    #[must_use]
    pub fn start(name: &str) -> Self {
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
    pub fn restart_with_new_keys(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_file(self.dir.join("keys.json")).unwrap();
        let (child, port) = spawn(&self.dir, self.port);
        assert_eq!(port, self.port);
        self.child = child;
    }

    /// `https://127.0.0.1:PORT`.
    #[must_use]
    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// An HTTPS client that trusts it by its pin.
    #[must_use]
    pub fn client(&self) -> HttpsClient {
        let pins = PinPolicy::new()
            .self_signed("127.0.0.1", [self.pin.to_string()])
            .unwrap();
        HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).without_proxy()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
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
pub struct Browser {
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
    /// A browser with an empty cookie jar.
    #[must_use]
    pub fn new(http: HttpsClient) -> Self {
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
    pub async fn sign_in(&mut self, start: &str, user: &str, stop: &str) -> String {
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
