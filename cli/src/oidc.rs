//! `hearth login --issuer URL` (discovery, PAR, DPoP, the ID token validated, or the device
//! grant with `--device`) and `hearth logout`.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use hearth_net_policy::HttpsClient;
use hearth_pkce::{DpopKey, LoopbackReceiver, Provider, Revocable, SignIn, TokenSet};
use hearth_secure_storage::{Key, Namespace, SecureStorage, SecureStorageExt};
use hearth_token_guard::{AccessTokenKind, RefreshTokenKind, SecretBytes};

use crate::exit::Failure;
use crate::net::TrustArgs;
use crate::secret::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The namespace `hearth login` stored the tokens in, such as `app::account`.
    #[arg(long, value_name = "KEY")]
    store: String,
    /// The provider to revoke the tokens at first (found by discovery; its logout page
    /// is printed when it has one). Default: the one `hearth login --issuer` recorded.
    /// It must be that one: the tokens are sent to no other.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The client id the tokens were issued to (default: the one `hearth login` used).
    #[arg(long, value_name = "ID", conflicts_with = "local_only")]
    client_id: Option<String>,
    /// Only remove the secrets here; the provider is not told (its tokens stay valid
    /// there until they expire).
    #[arg(long, conflicts_with = "issuer")]
    local_only: bool,
    /// Trust for the provider's server.
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    storage: StoreArgs,
}

/// What `hearth login --issuer` was asked.
pub(crate) struct Plan<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scopes: &'a [String],
    /// The device grant instead of a loopback redirect.
    pub(crate) device: bool,
    /// How long to wait for the browser.
    pub(crate) wait: Duration,
}

/// Signs in at a discovered provider, with DPoP when it offers ES256 (the key kept under
/// `NS::dpop_key`); the ID token validated.
pub(crate) async fn login(
    http: HttpsClient,
    plan: Plan<'_>,
    ns: &Namespace,
    store: &dyn SecureStorage,
) -> Result<SignIn, Failure> {
    let Plan {
        issuer,
        client_id,
        scopes,
        device,
        wait,
    } = plan;
    let provider = Provider::discover(&http, issuer, client_id).await?;
    let dpop_offered = provider
        .metadata()
        .supported("dpop_signing_alg_values_supported")
        .contains(&"ES256");
    let provider = if dpop_offered {
        provider.with_dpop(dpop_key(ns, store)?)
    } else {
        provider
    };
    let scope = scopes.join(" ");
    let signed = if device {
        let mut device = provider
            .device_authorization(&format!("openid {scope}"))
            .await?;
        // Provider text, shown safely (no escape sequences or direction marks obeyed).
        let (page, code) = (
            printable(&device.verification_uri),
            printable(&device.user_code),
        );
        match &device.verification_uri_complete {
            Some(uri) => eprintln!("Open {}\n(or {page} and enter {code})", printable(uri)),
            None => eprintln!("Open {page} and enter {code}"),
        }
        provider.poll_device(&mut device).await?
    } else {
        let receiver = LoopbackReceiver::bind("/callback").await?;
        let mut request = provider.authorization_request(&receiver.redirect_uri())?;
        for s in scopes {
            request = request.scope(s);
        }
        let (url, pending) = provider.start(request).await?;
        eprintln!("Open this URL in your browser to sign in:\n{url}");
        crate::login::open_browser(&url);
        let grant = receiver.wait(pending, wait).await?;
        provider.exchange(grant).await?
    };
    Ok(signed)
}

/// The DPoP key kept under `NS::dpop_key`, or a new one stored there.
fn dpop_key(ns: &Namespace, store: &dyn SecureStorage) -> Result<DpopKey, Failure> {
    let key = ns.key(["dpop_key"])?;
    if let Some(saved) = store.retrieve(&key)? {
        return Ok(DpopKey::from_pkcs8(saved.expose_secret())?);
    }
    let fresh = DpopKey::generate()?;
    store.store(&key, &SecretBytes::new(fresh.to_pkcs8().to_vec()))?;
    Ok(fresh)
}

/// Prints what the validated ID token says.
pub(crate) fn print_claims(out: &mut impl Write, signed: &SignIn) -> io::Result<()> {
    if let Some(c) = &signed.claims {
        let exp = c.exp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        writeln!(out, "sub: {}", printable(&c.sub))?;
        writeln!(out, "iss: {}", printable(&c.iss))?;
        writeln!(out, "aud: {}", printable(&c.aud.join(" ")))?;
        writeln!(out, "exp: {exp}")?;
    }
    writeln!(out, "token type: {}", signed.tokens.token_type)
}

/// Provider text made safe for a terminal: control characters (escape sequences) and
/// the invisible direction marks that reorder what is shown, written as `\u{…}`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let hidden = c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if hidden {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `hearth logout`: revokes at the provider (the one named, or else the one recorded at
/// sign-in), then removes every secret of the namespace whatever the provider said.
/// Exits non-zero, after clearing, when the provider could not be told.
pub(crate) fn logout(args: LogoutArgs) -> Result<(), Failure> {
    let ns: Namespace = args
        .store
        .parse()
        .map_err(|e| Failure::usage(format!("--store: {e}")))?;
    let store = args
        .storage
        .for_app(crate::secret::app_of(&ns))
        .open_for_write()?;
    // Anything that goes wrong in telling the provider is reported after the clear,
    // never instead of it.
    let told = if args.local_only {
        Ok(None)
    } else {
        tell_provider(
            args.issuer.as_deref(),
            args.client_id.as_deref(),
            &args.trust,
            &ns,
            store.as_ref(),
        )
    };
    // Whatever the provider said: nothing of the sign-in stays here.
    let removed = store.clear(&ns)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "signed out: {removed} secret(s) removed from {}",
        store.info().name
    )?;
    match told {
        Ok(Some(url)) => writeln!(out, "end the provider's session at: {url}")?,
        Ok(None) => {}
        Err(e) => {
            return Err(Failure::with_code(
                format!("signed out here, but the provider could not be told: {e}"),
                e.code(),
            ));
        }
    }
    Ok(())
}

/// Keeps which provider and client a sign-in's tokens belong to, under `NS::issuer` and
/// `NS::client_id`; returns the keys.
pub(crate) fn remember_provider(
    ns: &Namespace,
    store: &dyn SecureStorage,
    issuer: &str,
    client_id: &str,
) -> Result<Vec<Key>, Failure> {
    let mut keys = Vec::new();
    for (name, value) in [("issuer", issuer), ("client_id", client_id)] {
        let key = ns.key([name])?;
        store.store(&key, &SecretBytes::new(value.as_bytes().to_vec()))?;
        keys.push(key);
    }
    Ok(keys)
}

/// Removes the record of which provider and client a namespace's tokens belong to.
pub(crate) fn forget_provider(ns: &Namespace, store: &dyn SecureStorage) -> Result<(), Failure> {
    for name in ["issuer", "client_id"] {
        store.delete(&ns.key([name])?)?;
    }
    Ok(())
}

/// The text stored under `key`, if any.
fn stored_text(store: &dyn SecureStorage, key: &Key) -> Result<Option<String>, Failure> {
    Ok(store
        .retrieve(key)?
        .map(|v| String::from_utf8_lossy(v.expose_secret()).into_owned()))
}

/// Revokes the stored tokens at the provider they were issued by, as `hearth login`
/// recorded it (`issuer`, when given, must be that one); the provider's logout page, if
/// it has one. Nothing recorded and nothing named: there is no one to tell.
fn tell_provider(
    issuer: Option<&str>,
    client_id: Option<&str>,
    trust: &TrustArgs,
    ns: &Namespace,
    store: &dyn SecureStorage,
) -> Result<Option<String>, Failure> {
    let key = |name: &str| -> Result<Key, Failure> { Ok(ns.key([name])?) };
    // Tokens go back only to the provider that issued them, as `hearth login --issuer`
    // recorded it: never to a URL typed (or scripted) later.
    let recorded = stored_text(store, &key("issuer")?)?;
    let issuer = match (issuer, recorded) {
        (None, None) if client_id.is_some() => {
            return Err(Failure::usage(format!(
                "no issuer is recorded for the tokens under {ns}: name it with --issuer \
                 (--client-id alone says nowhere to revoke them)"
            )));
        }
        (None, None) => {
            eprintln!(
                "note: no issuer is recorded for the tokens under {ns} (only `hearth login \
                 --issuer` records one): they were removed here but not revoked"
            );
            return Ok(None);
        }
        (None, Some(signed_in_at)) => signed_in_at,
        (Some(issuer), Some(signed_in_at)) if signed_in_at == issuer => signed_in_at,
        (Some(issuer), Some(signed_in_at)) => {
            return Err(Failure::usage(format!(
                "the tokens under {ns} were issued by {}, not {}: they were not sent",
                printable(&signed_in_at),
                printable(issuer)
            )));
        }
        (Some(issuer), None) => {
            return Err(Failure::usage(format!(
                "no issuer is recorded for the tokens under {ns} (only `hearth login --issuer` \
                 records one): they were not sent to {}",
                printable(issuer)
            )));
        }
    };
    let issuer = issuer.as_str();
    let remembered = stored_text(store, &key("client_id")?)?;
    let client_id = client_id.map(str::to_owned).or(remembered).ok_or_else(|| {
        Failure::usage(
            "no client id was recorded at sign-in: give the one the tokens were issued to with \
             --client-id"
                .into(),
        )
    })?;
    let client_id = client_id.as_str();
    let access = store.retrieve_secret::<AccessTokenKind>(&key("access_token")?)?;
    let refresh = store.retrieve_secret::<RefreshTokenKind>(&key("refresh_token")?)?;
    let policy = trust.policy(issuer)?.build()?;
    let http = HttpsClient::new(&policy);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Only the metadata: signing out needs no keys.
        let provider = Provider::discover_without_keys(&http, issuer, client_id).await?;
        let page = provider
            .metadata()
            .end_session_endpoint()
            .map(str::to_owned);
        let revoked = match (access, refresh) {
            // The printed URL carries no ID token: the provider asks the user to
            // confirm instead.
            (Some(access), refresh) => {
                let mut tokens = TokenSet::new(access);
                tokens.refresh_token = refresh;
                let logout = provider.logout(&tokens, None).await;
                match logout.error {
                    Some(e) => Err(e),
                    None => Ok(logout.end_session_url),
                }
            }
            (None, Some(refresh)) => provider
                .revoke(Revocable::Refresh(&refresh))
                .await
                .map(|_| page.clone()),
            (None, None) => Ok(page.clone()),
        };
        revoked.map_err(|e| match &page {
            // The provider's page is still worth opening.
            Some(url) => Failure::with_code(
                format!("{e}; end the provider's session at: {url}"),
                crate::exit::code(e.kind()),
            ),
            None => e.into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_and_direction_marks_are_shown_not_obeyed() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("zoë"), "zoë");
    }
}
