//! `hearth pkce`, `hearth state` and `hearth login`.

use std::io::{self, Write};
use std::time::Duration;

use clap::Args;
use hearth_net_policy::HttpsClient;
use hearth_pkce::{AuthorizationRequest, CodeVerifier, LoopbackReceiver, State, TokenClient};
use hearth_secure_storage::{Namespace, SecureStorageExt};
use hearth_token_guard::SecretBytes;

use crate::exit::Failure;
use crate::net::TrustArgs;
use crate::secret::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct PkceArgs {
    /// Compute the challenge of this verifier instead of generating one.
    #[arg(long, value_name = "VERIFIER", conflicts_with = "bytes")]
    verifier: Option<String>,
    /// Random bytes in a generated verifier (32 to 96).
    #[arg(long, default_value_t = 32)]
    bytes: usize,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The authorization endpoint (with --token-url; without both, --issuer is
    /// discovered).
    #[arg(
        long,
        value_name = "URL",
        requires = "token_url",
        required_unless_present = "issuer"
    )]
    authorize_url: Option<String>,
    /// The token endpoint.
    #[arg(long, value_name = "URL", requires = "authorize_url")]
    token_url: Option<String>,
    /// The client id.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// A scope to ask for; repeat for more.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The provider. Alone, it is discovered (OpenID Connect Discovery or RFC 8414) and
    /// everything it offers is used: PAR, DPoP, the ID token validated, RFC 9207 `iss`.
    /// With --authorize-url and --token-url: the callback's `iss` must be this issuer.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Sign in with the device grant (RFC 8628): print a code to enter on another
    /// device, instead of a browser redirect here. Needs --issuer alone.
    #[arg(long, requires = "issuer", conflicts_with = "authorize_url")]
    device: bool,
    /// Trust for the token endpoint's server.
    #[command(flatten)]
    trust: TrustArgs,
    /// Seconds to wait for the browser to come back.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    wait: u64,
    /// Where to keep the tokens: a namespace such as `app::account`; the tokens go under
    /// `KEY::access_token`, `KEY::refresh_token` and `KEY::id_token`.
    #[arg(long, value_name = "KEY")]
    store: String,
    #[command(flatten)]
    storage: StoreArgs,
}

pub(crate) fn pkce(args: PkceArgs) -> Result<(), Failure> {
    let verifier = match &args.verifier {
        Some(v) => CodeVerifier::parse(v).map_err(|e| Failure::usage(e.to_string()))?,
        // A length out of range is a usage error (2), a failed OS generator a failure (1).
        None => CodeVerifier::generate_with_len(args.bytes)?,
    };
    let challenge = verifier.challenge();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        r#"{{"code_verifier":"{}","code_challenge":"{}","code_challenge_method":"{}"}}"#,
        verifier.expose_secret(),
        challenge.as_str(),
        challenge.method()
    )?;
    Ok(())
}

pub(crate) fn state() -> Result<(), Failure> {
    let state = State::generate()?;
    writeln!(io::stdout().lock(), "{}", state.expose_secret())?;
    Ok(())
}

pub(crate) fn login(args: LoginArgs) -> Result<(), Failure> {
    let ns: Namespace = args
        .store
        .parse()
        .map_err(|e| Failure::usage(format!("--store: {e}")))?;
    let (Some(authorize_url), Some(token_url)) = (&args.authorize_url, &args.token_url) else {
        return login_discovered(args, &ns);
    };
    // Every URL is checked before anything is printed or a browser opened: a typo in
    // --token-url must not surface only after the user signed in.
    let token_uri: http::Uri = token_url
        .parse()
        .map_err(|_| Failure::usage("--token-url: not a URL".into()))?;
    let policy = args.trust.policy(token_url)?.build()?;
    policy
        .url_policy()
        .check(&token_uri)
        .map_err(|e| Failure::usage(format!("--token-url: {e}")))?;
    let http = HttpsClient::new(&policy);
    // `--store APP::account` keeps the tokens in APP's store (unless --app says otherwise).
    let store = args
        .storage
        .for_app(crate::secret::app_of(&ns))
        .open_for_write()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tokens = runtime.block_on(async {
        let receiver = LoopbackReceiver::bind("/callback")
            .await
            .map_err(Failure::from)?;
        let mut request =
            AuthorizationRequest::new(authorize_url, &args.client_id, &receiver.redirect_uri());
        for s in &args.scopes {
            request = request.scope(s);
        }
        if let Some(iss) = &args.issuer {
            request = request.expected_issuer(iss);
        }
        let (url, pending) = request.build().map_err(|e| match e {
            // An --authorize-url that already carries client_id, redirect_uri, … is a
            // usage error: the request would send them twice.
            hearth_pkce::Error::DuplicateParameter { .. }
            | hearth_pkce::Error::InvalidUrl { .. } => {
                Failure::usage(format!("--authorize-url: {e}"))
            }
            e => Failure::from(e),
        })?;
        eprintln!("Open this URL in your browser to sign in:\n{url}");
        open_browser(&url);
        let grant = receiver
            .wait(pending, Duration::from_secs(args.wait))
            .await
            .map_err(Failure::from)?;
        TokenClient::new(http, token_url, &args.client_id)
            .exchange(grant)
            .await
            .map_err(Failure::from)
    })?;
    // Without discovery there are no issuer keys to check an ID token with: one left
    // unchecked is not kept (use --issuer for OpenID sign-in).
    let mut tokens = tokens;
    tokens.id_token = None;
    // No issuer here: what an earlier `login --issuer` recorded is not these tokens',
    // and goes first, so that no moment (or crash) pairs these tokens with it.
    crate::oidc::forget_provider(&ns, &*store)?;
    let stored = store_tokens(&ns, &*store, &tokens)?;
    let mut out = io::stdout().lock();
    writeln!(out, "signed in; stored in {}:", store.info().name)?;
    for k in stored {
        writeln!(out, "  {k}")?;
    }
    Ok(())
}

/// `hearth login --issuer URL [--device]`: the provider discovered and all it offers used.
fn login_discovered(args: LoginArgs, ns: &Namespace) -> Result<(), Failure> {
    let issuer = args.issuer.as_deref().unwrap_or_default();
    let policy = args.trust.policy(issuer)?.build()?;
    let http = HttpsClient::new(&policy);
    let store = args
        .storage
        .for_app(crate::secret::app_of(ns))
        .open_for_write()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let plan = crate::oidc::Plan {
        issuer,
        client_id: &args.client_id,
        scopes: &args.scopes,
        device: args.device,
        wait: Duration::from_secs(args.wait),
    };
    let signed = runtime.block_on(crate::oidc::login(http, plan, ns, &*store))?;
    // Which provider and client the tokens belong to: `hearth logout` sends them there
    // and nowhere else. The old record goes first and the new one is written last, so a
    // failure (or a crash) in between leaves tokens with no issuer (not revoked at
    // logout), never tokens paired with another provider.
    crate::oidc::forget_provider(ns, &*store)?;
    let mut stored = store_tokens(ns, &*store, &signed.tokens)?;
    stored.extend(crate::oidc::remember_provider(
        ns,
        &*store,
        issuer,
        &args.client_id,
    )?);
    let mut out = io::stdout().lock();
    writeln!(out, "signed in; stored in {}:", store.info().name)?;
    for k in stored {
        writeln!(out, "  {k}")?;
    }
    crate::oidc::print_claims(&mut out, &signed)?;
    Ok(())
}

/// Stores a sign-in's tokens under `ns`. A new sign-in replaces the whole set: a token
/// this response lacks is deleted, so an old refresh or ID token never outlives the
/// sign-in that replaced it.
fn store_tokens(
    ns: &Namespace,
    store: &dyn hearth_secure_storage::SecureStorage,
    tokens: &hearth_pkce::TokenSet,
) -> Result<Vec<hearth_secure_storage::Key>, Failure> {
    let key = |name: &str| ns.key([name]).map_err(Failure::from);
    store.store_secret(&key("access_token")?, &tokens.access_token)?;
    // How to present it: `Bearer`, or `DPoP` with a proof of `NS::dpop_key`.
    let token_type = SecretBytes::new(tokens.token_type.as_bytes().to_vec());
    store.store(&key("token_type")?, &token_type)?;
    let mut stored = vec![key("access_token")?, key("token_type")?];
    match &tokens.refresh_token {
        Some(r) => {
            store.store_secret(&key("refresh_token")?, r)?;
            stored.push(key("refresh_token")?);
        }
        None => {
            store.delete(&key("refresh_token")?)?;
        }
    }
    match &tokens.id_token {
        Some(i) => {
            store.store_secret(&key("id_token")?, i)?;
            stored.push(key("id_token")?);
        }
        None => {
            store.delete(&key("id_token")?)?;
        }
    }
    Ok(stored)
}

/// Opens the system browser when there is a desktop to show it on; otherwise the printed
/// URL is the way.
pub(crate) fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    };
    if let Some(cmd) = opener {
        let _ = std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
