//! Hearth quickstart: secret types that cannot leak, log scrubbing, a session token file,
//! tokens kept at rest, and a whole OAuth 2.0 + PKCE sign-in against an in-process
//! authorization server.
//!
//! ```text
//! cargo run -p hearth-examples --example quickstart
//! ```
//!
//! Needs no keyring daemon and no network: without an OS keyring it falls back to the
//! encrypted vault and says why; the sign-in runs against a server on 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hearth_secure_storage::{KeySource, Namespace, SecureStorageExt, Storage};
use hearth_token_guard::private_file::WriteMode;
use hearth_token_guard::{
    AccessToken, Error, Password, Redactor, RefreshToken, SessionToken, SessionTokenFile,
};

/// What a careless app might log: a struct holding tokens.
#[derive(Debug)]
#[allow(dead_code)] // fields are read through Debug
struct Session {
    user: String,
    access: AccessToken,
    refresh: RefreshToken,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Hearth quickstart\n");

    // 1. Secret types: fresh random tokens from the OS CSPRNG; Debug never shows them.
    let session = Session {
        user: "alice".into(),
        access: AccessToken::generate()?,
        refresh: RefreshToken::generate()?,
    };
    let password = Password::new(String::from("correct horse battery staple"));
    println!("1. Secret types");
    println!("   {session:?}");
    println!("   {password:?}");
    println!(
        "   access token: {} characters, reachable only through expose_secret()",
        session.access.expose_secret().len()
    );
    let header = session.access.bearer_header()?;
    println!(
        "   Authorization header: sensitive={} debug={header:?}",
        header.is_sensitive()
    );
    let presented = AccessToken::from_bearer_header(&header)?;
    println!(
        "   parsed back and compared in constant time: equal={}",
        presented == session.access
    );

    // 2. Log scrubbing: built-in shapes plus the app's own live tokens.
    let redactor = Redactor::new();
    redactor.register(&session.access)?;
    redactor.register(&session.refresh)?;
    let raw = format!(
        "refresh failed: POST /token grant_type=refresh_token&refresh_token={} (last access {}) \
         id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        session.refresh.expose_secret(),
        session.access.expose_secret(),
    );
    let clean = redactor.redact(&raw);
    println!(
        "\n2. Log scrubbing ({} registered live tokens)",
        redactor.registered()
    );
    println!(
        "   raw line: {} bytes (not printed: it holds three secrets)",
        raw.len()
    );
    println!("   logged:   {clean}");
    let leaked = clean.contains(session.access.expose_secret())
        || clean.contains(session.refresh.expose_secret());
    println!("   any secret left in the logged line: {leaked}");

    // 3. A per-session token file for local IPC: 0600 in a 0700 directory, atomic.
    let path = runtime_dir().join("session.token");
    let written = SessionTokenFile::create(&path, SessionToken::generate()?, WriteMode::Replace)?;
    let mode = std::fs::metadata(&path)
        .map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?
        .permissions()
        .mode();
    let dir_mode = path
        .parent()
        .and_then(|d| std::fs::metadata(d).ok())
        .map_or(0, |m| m.permissions().mode());
    println!("\n3. Session token file");
    println!(
        "   wrote {} (file {:04o}, directory {:04o})",
        path.display(),
        mode & 0o777,
        dir_mode & 0o777
    );
    let client = SessionTokenFile::open(&path)?;
    println!("   a client read it back: {:?}", client.token());
    println!(
        "   server accepts the client's token: {}",
        written.verify(client.token().expose_secret())
    );
    println!(
        "   server rejects a guess:            {}",
        !written.verify("guess")
    );
    written.remove()?;
    println!("   removed at the end of the session");

    // 4. Tokens at rest: the OS keyring holds the vault key if it answers (hybrid store),
    //    else the encrypted vault with a key file. The report says what was chosen and why.
    let dir = runtime_dir();
    // The chain records its choice in `backend` and keeps it (a locked keyring is then an
    // error, never a switch to the vault). Apps keep that marker; this demo decides afresh
    // on each run, as it may run with or without a keyring daemon.
    let _ = std::fs::remove_file(dir.join("backend"));
    let chain = || {
        Storage::for_app("quickstart")
            .with_marker(dir.join("backend"))
            .with_timeout(std::time::Duration::from_secs(3))
            .prefer_hybrid(Some(dir.join("hybrid.hearth")))
            .fallback_vault(
                Some(dir.join("vault.hearth")),
                Some(KeySource::KeyFile(dir.join("vault.key"))),
            )
            .build()
    };
    let (store, report) = chain()?;
    println!("\n4. Tokens at rest");
    for line in report.to_string().lines() {
        println!("   {line}");
    }
    let account = Namespace::app("quickstart")?.child("server-1")?;
    let access_key = account.key(["alice", "access_token"])?;
    store.store_secret(&access_key, &session.access)?;
    store.store_secret(&account.key(["alice", "refresh_token"])?, &session.refresh)?;
    println!("   stored: {:?}", store.list(&account)?);
    let (reopened, _) = chain()?;
    let back: Option<AccessToken> = reopened.retrieve_secret(&access_key)?;
    println!(
        "   reopened and read back the access token: equal={}",
        back.as_ref() == Some(&session.access)
    );
    let file = store.info().location.unwrap_or_default();
    let file = file.split(" (key in").next().unwrap_or_default().to_owned();
    let bytes = std::fs::read(&file).unwrap_or_default();
    let visible = bytes
        .windows(session.access.expose_secret().len())
        .any(|w| w == session.access.expose_secret().as_bytes());
    println!("   token visible in the bytes of {file}: {visible}");
    println!("   logout cleared {} secrets", reopened.clear(&account)?);

    // 5. Sign in with OAuth 2.0 + PKCE against an in-process authorization server over
    //    pinned HTTPS, through the loopback receiver, with an HTTP client as the browser.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("\n5. Sign-in (authorization code + PKCE S256, loopback redirect, pinned HTTPS)");
    let signed_in = runtime.block_on(sign_in())?;
    println!(
        "   access token:  {:?} ({})",
        signed_in.access_token, signed_in.token_type
    );
    if let Some(at) = signed_in.expires_at {
        let left = at
            .duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs());
        println!("   expires in:    {left} s");
    }
    if let Some(r) = &signed_in.refresh_token {
        println!("   refresh token: {r:?}");
    }
    if let Some(scope) = &signed_in.scope {
        println!("   scope:         {scope}");
    }
    let token_leaked = format!("{signed_in:?}").contains(signed_in.access_token.expose_secret());
    println!("   token text visible in that output: {token_leaked}");

    if leaked || visible || back.is_none() || token_leaked {
        eprintln!("quickstart: a secret leaked or was lost");
        std::process::exit(1);
    }
    println!("\nDone.");
    Ok(())
}

/// Steps of a native app's sign-in; the test server stands in for the real one.
async fn sign_in() -> Result<hearth_pkce::TokenSet, Box<dyn std::error::Error>> {
    use hearth_examples::test_server::TestAuthServer;
    use hearth_net_policy::{HttpsClient, PinPolicy, TlsPolicy};
    use hearth_pkce::{AuthorizationRequest, LoopbackReceiver, TokenClient};

    let receiver = LoopbackReceiver::bind("/callback").await?;
    let redirect = receiver.redirect_uri();
    let server = TestAuthServer::start("quickstart", &redirect).await?;
    let (url, pending) =
        AuthorizationRequest::new(&server.authorize_url(), "quickstart", &redirect)
            .scope("openid")
            .expected_issuer(&server.issuer)
            .build()?;
    println!(
        "   authorization URL: {}",
        url.split('?').next().unwrap_or_default()
    );
    println!("   redirect URI:      {redirect}");
    let wait = tokio::spawn(receiver.wait(pending, std::time::Duration::from_secs(30)));
    let pins = PinPolicy::new().self_signed("127.0.0.1", [server.pin.as_str()])?;
    let browser = HttpsClient::new(
        &TlsPolicy::new()
            .pins(pins.clone())
            .allow_loopback_http()
            .build()?,
    );
    browser.get(&url).await?;
    let grant = wait.await??;
    let tokens = TokenClient::new(
        HttpsClient::new(&TlsPolicy::new().pins(pins).build()?),
        &server.token_url(),
        "quickstart",
    );
    Ok(tokens.exchange(grant).await?)
}

/// `$XDG_RUNTIME_DIR/hearth-quickstart` (per-user, tmpfs) when set, else a directory in the
/// system temp directory named for the user. If another user created that one first, the
/// write is refused (`WrongOwner`) rather than trusted.
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("hearth-quickstart"),
        None => {
            let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
            std::env::temp_dir().join(format!("hearth-quickstart-{user}"))
        }
    }
}
