//! [`IssuerMetadata`]: an authorization server's metadata (RFC 8414) or an OpenID
//! Provider's configuration (OpenID Connect Discovery 1.0), fetched from its issuer URL and
//! validated before anything in it is used.

use http::{StatusCode, Uri};
use serde_json::{Map, Value};

use crate::{Error, HttpsClient, UrlPolicy};

/// The largest metadata document accepted.
pub const MAX_METADATA_LEN: usize = 256 << 10;

/// An issuer's metadata, validated:
///
/// - `issuer` in the document equals the issuer asked for, byte for byte (RFC 8414 §3.3,
///   OIDC Discovery §4.3): a document copied from another issuer is refused;
/// - every endpoint is a URL the client's [`UrlPolicy`] allows (`https://`, or plain HTTP
///   to loopback only where the policy says), with no fragment;
/// - the fields below have their JSON types; anything else is kept for
///   [`get`](Self::get).
///
/// ```
/// use hearth_net_policy::{IssuerMetadata, UrlPolicy};
///
/// let doc = br#"{"issuer":"https://id.example","token_endpoint":"https://id.example/token",
///               "jwks_uri":"https://id.example/jwks"}"#;
/// let meta = IssuerMetadata::from_json("https://id.example", doc, &UrlPolicy::default())?;
/// assert_eq!(meta.jwks_uri(), Some("https://id.example/jwks"));
///
/// let forged = IssuerMetadata::from_json("https://other.example", doc, &UrlPolicy::default());
/// assert!(forged.is_err(), "the document names another issuer");
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct IssuerMetadata {
    issuer: String,
    document: Map<String, Value>,
}

/// The members that are endpoint URLs.
const ENDPOINTS: [&str; 10] = [
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
    "pushed_authorization_request_endpoint",
    "device_authorization_endpoint",
];

/// The members that are lists of strings.
const LISTS: [&str; 12] = [
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "id_token_signing_alg_values_supported",
    "dpop_signing_alg_values_supported",
    "subject_types_supported",
    "claims_supported",
    "revocation_endpoint_auth_methods_supported",
    "prompt_values_supported",
];

/// The members that are booleans.
const FLAGS: [&str; 3] = [
    "require_pushed_authorization_requests",
    "authorization_response_iss_parameter_supported",
    "backchannel_logout_supported",
];

fn bad(reason: &'static str) -> Error {
    Error::InvalidMetadata { reason }
}

impl IssuerMetadata {
    /// Fetches and validates `issuer`'s metadata: first OpenID Connect's
    /// `{issuer}/.well-known/openid-configuration`, then, if that is 404, RFC 8414's
    /// `/.well-known/oauth-authorization-server{path}`. The issuer must be an `https://`
    /// URL (or one the client's policy allows) without query or fragment.
    ///
    /// ```no_run
    /// use hearth_net_policy::{HttpsClient, IssuerMetadata, TlsPolicy};
    ///
    /// # async fn demo() -> Result<(), hearth_net_policy::Error> {
    /// let client = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
    /// let meta = IssuerMetadata::discover(&client, "https://accounts.google.com").await?;
    /// println!("{:?}", meta.token_endpoint());
    /// # Ok(()) }
    /// ```
    pub async fn discover(client: &HttpsClient, issuer: &str) -> Result<Self, Error> {
        let uri = issuer_uri(issuer, &client.url_policy())?;
        let client = client.clone().with_max_body(MAX_METADATA_LEN);
        let oidc = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let response = client.get(&oidc).await?;
        let response = if response.status == StatusCode::NOT_FOUND {
            let path = uri.path().trim_end_matches('/');
            let authority = uri.authority().map_or("", |a| a.as_str());
            let scheme = uri.scheme_str().unwrap_or("https");
            let rfc8414 =
                format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}");
            client.get(&rfc8414).await?
        } else {
            response
        };
        if response.status != StatusCode::OK {
            return Err(Error::HttpStatus {
                status: response.status,
            });
        }
        Self::from_json(issuer, &response.body, &client.url_policy())
    }

    /// Validates a metadata document said to be `issuer`'s (see the type's rules).
    pub fn from_json(issuer: &str, document: &[u8], policy: &UrlPolicy) -> Result<Self, Error> {
        issuer_uri(issuer, policy)?;
        if document.len() > MAX_METADATA_LEN {
            return Err(bad("the document is larger than 256 KiB"));
        }
        let Ok(Value::Object(document)) = serde_json::from_slice(document) else {
            return Err(bad("the document is not a JSON object"));
        };
        match document.get("issuer") {
            Some(Value::String(named)) if named == issuer => {}
            Some(Value::String(_)) => return Err(bad("the document names another issuer")),
            _ => return Err(bad("the document has no issuer")),
        }
        for name in ENDPOINTS {
            match document.get(name) {
                None => {}
                Some(Value::String(url)) => endpoint(url, policy)?,
                Some(_) => return Err(bad("an endpoint is not a string")),
            }
        }
        for name in LISTS {
            match document.get(name) {
                None => {}
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
                Some(_) => return Err(bad("a *_supported member is not a list of strings")),
            }
        }
        for name in FLAGS {
            if document.get(name).is_some_and(|v| !v.is_boolean()) {
                return Err(bad("a boolean member is not true or false"));
            }
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            document,
        })
    }

    /// The issuer, as asked for and as the document states it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `authorization_endpoint`.
    pub fn authorization_endpoint(&self) -> Option<&str> {
        self.string("authorization_endpoint")
    }

    /// `token_endpoint`.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.string("token_endpoint")
    }

    /// `jwks_uri`: where the issuer's signing keys are ([`IssuerKeys`](crate::IssuerKeys)).
    pub fn jwks_uri(&self) -> Option<&str> {
        self.string("jwks_uri")
    }

    /// `userinfo_endpoint`.
    pub fn userinfo_endpoint(&self) -> Option<&str> {
        self.string("userinfo_endpoint")
    }

    /// `revocation_endpoint` (RFC 7009).
    pub fn revocation_endpoint(&self) -> Option<&str> {
        self.string("revocation_endpoint")
    }

    /// `introspection_endpoint` (RFC 7662).
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.string("introspection_endpoint")
    }

    /// `end_session_endpoint` (OpenID Connect RP-Initiated Logout).
    pub fn end_session_endpoint(&self) -> Option<&str> {
        self.string("end_session_endpoint")
    }

    /// `pushed_authorization_request_endpoint` (RFC 9126).
    pub fn pushed_authorization_request_endpoint(&self) -> Option<&str> {
        self.string("pushed_authorization_request_endpoint")
    }

    /// `require_pushed_authorization_requests` (RFC 9126 §5; false when absent).
    pub fn require_pushed_authorization_requests(&self) -> bool {
        self.document
            .get("require_pushed_authorization_requests")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `device_authorization_endpoint` (RFC 8628).
    pub fn device_authorization_endpoint(&self) -> Option<&str> {
        self.string("device_authorization_endpoint")
    }

    /// A list member such as `code_challenge_methods_supported` or
    /// `dpop_signing_alg_values_supported`; empty when absent.
    pub fn supported(&self, name: &str) -> Vec<&str> {
        match self.document.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Any member, as JSON (not validated unless it is one of the typed ones).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.document.get(name)
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.document.get(name).and_then(Value::as_str)
    }
}

/// The issuer as a URI: allowed by the policy, with no query or fragment (RFC 8414 §2).
fn issuer_uri(issuer: &str, policy: &UrlPolicy) -> Result<Uri, Error> {
    if issuer.contains(['?', '#']) {
        return Err(bad("an issuer has no query or fragment"));
    }
    let uri: Uri = issuer.parse().map_err(|_| bad("the issuer is not a URL"))?;
    policy.check(&uri)?;
    Ok(uri)
}

/// An endpoint: a URL the policy allows, with no fragment.
fn endpoint(url: &str, policy: &UrlPolicy) -> Result<(), Error> {
    if url.contains('#') {
        return Err(bad("an endpoint has a fragment"));
    }
    let uri: Uri = url.parse().map_err(|_| bad("an endpoint is not a URL"))?;
    policy.check(&uri).map_err(|e| match e {
        Error::PlainHttpRefused { .. } => bad("an endpoint is plain HTTP"),
        _ => bad("an endpoint is not a URL the policy allows"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://id.example/realms/a";

    fn parse(doc: &str) -> Result<IssuerMetadata, Error> {
        IssuerMetadata::from_json(ISS, doc.as_bytes(), &UrlPolicy::default())
    }

    #[test]
    fn a_valid_document_gives_its_endpoints() {
        let meta = parse(
            r#"{"issuer":"https://id.example/realms/a",
                "authorization_endpoint":"https://id.example/auth",
                "token_endpoint":"https://id.example/token",
                "require_pushed_authorization_requests":true,
                "code_challenge_methods_supported":["S256"],
                "x-extra":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(meta.token_endpoint(), Some("https://id.example/token"));
        assert_eq!(meta.revocation_endpoint(), None);
        assert!(meta.require_pushed_authorization_requests());
        assert_eq!(meta.supported("code_challenge_methods_supported"), ["S256"]);
        assert!(meta.get("x-extra").is_some());
    }

    #[test]
    fn refusals() {
        let cases = [
            ("[]", "not a JSON object"),
            ("{}", "no issuer"),
            (
                r#"{"issuer":"https://id.example/realms/a/"}"#,
                "another issuer",
            ),
            (
                r#"{"issuer":"https://ID.example/realms/a"}"#,
                "another issuer",
            ),
            (
                r#"{"issuer":"https://id.example/realms/a","token_endpoint":"http://id.example/t"}"#,
                "plain HTTP",
            ),
            (
                r#"{"issuer":"https://id.example/realms/a","jwks_uri":"https://id.example/k#x"}"#,
                "fragment",
            ),
            (
                r#"{"issuer":"https://id.example/realms/a","jwks_uri":7}"#,
                "not a string",
            ),
            (
                r#"{"issuer":"https://id.example/realms/a","scopes_supported":"openid"}"#,
                "list of strings",
            ),
            (
                r#"{"issuer":"https://id.example/realms/a","require_pushed_authorization_requests":"yes"}"#,
                "true or false",
            ),
        ];
        for (doc, why) in cases {
            let e = parse(doc).unwrap_err();
            assert!(e.to_string().contains(why), "{doc}: {e}");
            assert_eq!(e.kind(), crate::ErrorKind::Integrity);
        }
        for issuer in [
            "http://id.example",
            "https://id.example?x=1",
            "https://id.example#f",
        ] {
            assert!(
                IssuerMetadata::from_json(issuer, b"{}", &UrlPolicy::default()).is_err(),
                "{issuer}"
            );
        }
    }
}
