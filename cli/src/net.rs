//! `hearth pin` and `hearth fetch`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use hearth_net_policy::{
    CertInfo, Error, HttpsClient, Pin, PinPolicy, Timeouts, TlsPolicy, fetch_chain,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::exit::Failure;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["cert", "server"])))]
pub(crate) struct PinArgs {
    /// A certificate file, PEM (every certificate in it) or DER.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// A server, HOST:PORT: connects without trusting it and prints its chain.
    #[arg(value_name = "HOST:PORT")]
    server: Option<String>,
}

/// Which servers to trust: shared by `fetch` and `login`.
#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// Require this pin (`sha256/…`) for the server's host; repeat for backup pins.
    #[arg(long = "pin", value_name = "PIN")]
    pins: Vec<String>,
    /// The pins alone establish trust (a self-signed server): no CA needed.
    #[arg(long, requires = "pins")]
    self_signed: bool,
    /// Trust the certificates in this PEM file (instead of the OS roots).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

impl TrustArgs {
    /// A TLS policy trusting what these options say, with the pins applied to `url`'s host.
    pub(crate) fn policy(&self, url: &str) -> Result<TlsPolicy, Failure> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| Failure::usage(format!("{url}: not a URL")))?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut policy = TlsPolicy::new();
        match &self.ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| Failure::from_io_at(path, e))?;
                policy = policy.add_root_pem(&pem)?;
            }
            None if !self.self_signed => policy = policy.native_roots(),
            None => {}
        }
        if !self.pins.is_empty() {
            for p in &self.pins {
                p.parse::<Pin>()?;
            }
            let pins = if self.self_signed {
                PinPolicy::new().self_signed(&host, &self.pins)?
            } else {
                PinPolicy::new().pin(&host, &self.pins)?
            };
            policy = policy.pins(pins);
        }
        Ok(policy)
    }
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The URL (https://, or http:// to loopback with --allow-loopback-http).
    url: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Refuse TLS 1.2.
    #[arg(long)]
    tls13: bool,
    /// Allow http:// to loopback IP addresses.
    #[arg(long)]
    allow_loopback_http: bool,
    /// Largest response body accepted, in bytes (default 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_body: u64,
    /// Seconds for the whole request (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

/// A self-signed or unknown-issuer server: the refusal, the server's pin, and the exact
/// command that trusts it — as ssh shows a host key's fingerprint. One line.
fn explain_untrusted(e: Error, url: &str) -> Failure {
    use hearth_net_policy::UntrustedReason;
    if let Error::UntrustedCertificate(problem) = &e
        && matches!(
            problem.reason,
            UntrustedReason::SelfSigned | UntrustedReason::UnknownIssuer
        )
        && let Some(pin) = problem.leaf_pin()
    {
        return Failure::with_code(
            format!(
                "{problem}; its pin is {pin}; if that is your server's key, trust it with: \
                 hearth fetch --self-signed --pin {pin} {}",
                shown_url(url)
            ),
            4,
        );
    }
    if let Error::PlainHttpRefused { host, .. } = &e {
        return Failure::with_code(
            format!(
                "plain HTTP refused for {host}: only HTTPS is allowed (for a loopback address, \
                 pass --allow-loopback-http)"
            ),
            4,
        );
    }
    Failure::from(e)
}

/// A URL as messages show it: secrets masked, at most 200 characters.
pub(crate) fn shown_url(url: &str) -> String {
    let masked = hearth_token_guard::redact(url);
    match masked.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &masked[..cut]),
        None => masked.into_owned(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn pin(args: PinArgs) -> Result<(), Failure> {
    let infos: Vec<CertInfo> = match (&args.cert, &args.server) {
        (Some(path), _) => {
            let data = std::fs::read(path).map_err(|e| Failure::from_io_at(path, e))?;
            let ders: Vec<CertificateDer<'static>> = if data.starts_with(b"-----BEGIN") {
                CertificateDer::pem_slice_iter(&data)
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        Failure::from(Error::BadCertificate {
                            reason: format!("PEM: {e}"),
                        })
                    })?
            } else {
                vec![CertificateDer::from(data)]
            };
            ders.iter()
                .map(|d| CertInfo::from_der(d))
                .collect::<Result<_, _>>()?
        }
        (None, Some(server)) => {
            let (host, port) = server
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .ok_or_else(|| Failure::usage(format!("{server}: expected HOST:PORT")))?;
            runtime()?.block_on(fetch_chain(host, port, Timeouts::default()))?
        }
        (None, None) => return Err(Failure::usage("give --cert FILE or HOST:PORT".into())),
    };
    let mut out = io::stdout().lock();
    for info in infos {
        writeln!(out, "{}  {}", info.pin, info.subject)?;
    }
    out.flush()?;
    Ok(())
}

pub(crate) fn fetch(args: FetchArgs) -> Result<(), Failure> {
    let mut policy = args.trust.policy(&args.url)?;
    if args.tls13 {
        policy = policy.tls13_only();
    }
    if args.allow_loopback_http {
        policy = policy.allow_loopback_http();
    }
    let client = HttpsClient::new(&policy.build()?)
        .with_timeouts(Timeouts {
            overall: Duration::from_secs(args.timeout),
            ..Timeouts::default()
        })
        .with_max_body(usize::try_from(args.max_body).unwrap_or(usize::MAX));
    let response = runtime()?
        .block_on(client.get(&args.url))
        .map_err(|e| explain_untrusted(e, &args.url))?;
    let mut out = io::stdout().lock();
    out.write_all(&response.body)?;
    out.flush()?;
    if response.status.is_client_error() || response.status.is_server_error() {
        return Err(Failure::from(io::Error::other(format!(
            "HTTP status {}",
            response.status
        ))));
    }
    Ok(())
}
