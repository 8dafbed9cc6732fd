//! The crate's one error type.

/// Everything the network policy can refuse or fail with.
///
/// ```
/// use hearth_net_policy::{Error, Pin};
///
/// assert!(matches!("sha1/abc".parse::<Pin>(), Err(Error::InvalidPin { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pin string that is not `sha256/` and the base64 of 32 bytes.
    #[error("invalid pin: {reason}")]
    InvalidPin {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A host pattern that is not a host name, `*.name` or `**.name`.
    #[error("invalid host pattern: {reason}")]
    InvalidHostPattern {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A private file or directory check failed (wrong owner, loose mode, symlink, I/O).
    #[error(transparent)]
    LocalFile(#[from] hearth_token_guard::Error),

    /// A URL the client cannot use.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `http://` to a host that is not an allowed loopback address: refused before any
    /// socket opens.
    #[error("plain HTTP refused for {host}: only HTTPS is allowed{hint}")]
    PlainHttpRefused {
        /// The host of the refused URL.
        host: String,
        /// What would allow it, if anything.
        hint: &'static str,
    },

    /// No trust anchor could be loaded: the OS store is empty or unreadable and no extra
    /// root or pin was given.
    #[error("no trusted root certificate could be loaded ({failures} failed to load)")]
    NoRoots {
        /// How many certificates or stores failed to load.
        failures: usize,
    },

    /// A PEM file or certificate that could not be read.
    #[error("bad certificate data: {reason}")]
    BadCertificate {
        /// What is wrong with it.
        reason: String,
    },

    /// The server's certificate chain did not match the pins; the failure lists the
    /// chain's pins (to bootstrap a configuration) and the expected ones.
    #[error("{0}")]
    PinMismatch(crate::PinFailure),

    /// Trust on first use: the server's key is not the one remembered for it.
    #[error("the key of {host} changed: remembered {old}, now {new}")]
    PinChanged {
        /// `host:port`.
        host: String,
        /// The remembered pin.
        old: crate::Pin,
        /// The pin the server presents now.
        new: crate::Pin,
        /// The chain presented now, to show the user.
        chain: Vec<crate::CertInfo>,
    },

    /// The pin store could not be read or written.
    #[error("pin store: {0}")]
    PinStore(String),

    /// The TLS handshake failed (untrusted certificate, wrong name, expired, protocol
    /// version refused, ...).
    #[error("TLS handshake failed: {}", handshake_sentence(.0))]
    Handshake(rustls::Error),

    /// The server closed the connection during the TLS handshake, before it was verified
    /// (it refused this client, or is not a TLS server that answers this way).
    #[error("{host} closed the connection during the TLS handshake, before sending a certificate")]
    HandshakeClosed {
        /// The server.
        host: String,
    },

    /// The server's certificate was refused: why, in a sentence, with the facts.
    #[error("{0}")]
    UntrustedCertificate(crate::CertificateProblem),

    /// The TCP connection failed.
    #[error("cannot connect to {host}: {source}")]
    Connect {
        /// The host.
        host: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A stage took longer than its bound.
    #[error("{stage} timed out after {after:?}")]
    Timeout {
        /// `"connect"`, `"TLS handshake"` or `"request"`.
        stage: &'static str,
        /// The bound.
        after: std::time::Duration,
    },

    /// HTTP protocol failure.
    #[error("HTTP: {}", chain_sentence(.0))]
    Http(#[source] hyper::Error),

    /// A redirect the client will not follow (see
    /// [`HttpsClient::send_following_redirects`](crate::HttpsClient::send_following_redirects)).
    #[error("redirect refused: {reason}")]
    RedirectRefused {
        /// Why.
        reason: &'static str,
    },

    /// A proxy URL (explicit or from `HTTPS_PROXY`/`ALL_PROXY`) that cannot be used.
    #[error("invalid proxy: {reason}")]
    InvalidProxy {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The proxy refused or failed the tunnel (its credentials never appear here).
    #[error("the proxy {proxy} did not open a tunnel: {reason}")]
    Proxy {
        /// The proxy's host and port.
        proxy: String,
        /// What happened.
        reason: String,
    },

    /// More redirects than allowed.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The limit.
        limit: usize,
    },

    /// The connection ended before the response body did (a `Content-Length` or chunked
    /// body cut short).
    #[error("the response body was cut short: the connection ended before its end")]
    BodyTruncated,

    /// The response body is not valid HTTP framing (bad chunk sizes, bad trailers).
    #[error("the response body is malformed: its HTTP framing is invalid")]
    BodyMalformed,

    /// A response body over the cap.
    #[error("the response body is larger than the {limit}-byte limit")]
    BodyTooLarge {
        /// The cap.
        limit: usize,
    },

    /// The server answered with a status the call cannot use (a JWKS or metadata
    /// document that is not 200).
    #[error("the server answered {status}")]
    HttpStatus {
        /// The status.
        status: http::StatusCode,
    },

    /// An issuer's metadata or key set that is not acceptable (another issuer named, a
    /// plain-HTTP endpoint, malformed JSON).
    #[error("the issuer's metadata is not acceptable: {reason}")]
    InvalidMetadata {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The thread that keeps an issuer's keys fresh could not start.
    #[error("the background refresh of the issuer's keys could not start: {0}")]
    KeyRefresh(#[source] std::io::Error),

    /// TLS configuration rejected by rustls (e.g. no protocol version left).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

impl Error {
    /// What kind of failure this is ([`ErrorKind`](crate::ErrorKind)): what a caller can do.
    ///
    /// ```
    /// use hearth_net_policy::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::BodyTruncated.kind(), ErrorKind::Network);
    /// ```
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Self::InvalidPin { .. }
            | Self::InvalidHostPattern { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidProxy { .. }
            | Self::BadCertificate { .. }
            | Self::Tls(_) => K::InvalidInput,
            Self::LocalFile(e) => e.kind(),
            Self::PlainHttpRefused { .. }
            | Self::PinMismatch(_)
            | Self::PinChanged { .. }
            | Self::Handshake(_)
            | Self::UntrustedCertificate(_)
            | Self::RedirectRefused { .. }
            | Self::TooManyRedirects { .. }
            | Self::BodyTooLarge { .. } => K::Refused,
            Self::NoRoots { .. } => K::Unavailable,
            Self::HandshakeClosed { .. }
            | Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Http(_)
            | Self::Proxy { .. }
            | Self::BodyTruncated
            | Self::BodyMalformed => K::Network,
            Self::HttpStatus { status } if *status == http::StatusCode::NOT_FOUND => K::NotFound,
            Self::HttpStatus { .. } => K::Network,
            Self::InvalidMetadata { .. } => K::Integrity,
            Self::PinStore(_) | Self::KeyRefresh(_) => K::Other,
        }
    }
}

/// An error and its causes, "outer: inner", each said once (hyper's HTTP/2 errors keep the
/// reason — a reset stream, GOAWAY — in their source).
fn chain_sentence(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What a failed handshake means, in words a person can act on (rustls's own messages
/// name its enum variants).
fn handshake_sentence(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "the server did not answer in TLS (is it plain HTTP, or another protocol, on this port?)"
                .into()
        }
        E::AlertReceived(rustls::AlertDescription::ProtocolVersion) | E::PeerIncompatible(_) => {
            "the server and this client have no TLS version or cipher suite in common".into()
        }
        E::AlertReceived(alert) => format!(
            "the server ended the handshake with the TLS alert \"{}\"",
            alert_name(*alert)
        ),
        E::PeerMisbehaved(_) => "the server broke the TLS protocol".into(),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        E::InvalidCertificate(_) => "the server's certificate was refused".into(),
        E::General(reason) => reason.clone(),
        _ => "the connection was refused during the TLS handshake".into(),
    }
}

/// An alert's name as RFC 8446 §6 spells it (`handshake_failure`), from its Debug form
/// (`HandshakeFailure`).
fn alert_name(alert: rustls::AlertDescription) -> String {
    let mut out = String::new();
    for (i, c) in format!("{alert:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_failures_read_as_sentences() {
        let e = Error::Handshake(rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(
            e.to_string(),
            "TLS handshake failed: the server ended the handshake with the TLS alert \"handshake_failure\""
        );
        let e = Error::Handshake(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert!(e.to_string().contains("did not answer in TLS"), "{e}");
        let e = Error::Handshake(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoCipherSuitesInCommon,
        ));
        assert!(
            e.to_string().contains("no TLS version or cipher suite"),
            "{e}"
        );
    }
}
