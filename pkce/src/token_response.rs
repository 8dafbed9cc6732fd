//! [`TokenSet`] and [`parse_token_response`]: token endpoint answers (RFC 6749 §5) read
//! into token-guard types, every odd-but-common form accepted and every unusable one typed.

use std::time::{Duration, SystemTime};

use hearth_token_guard::{AccessToken, IdToken, RefreshToken};
use serde_json::{Map, Value};

use crate::Error;

/// Largest token response read: 64 KiB.
pub(crate) const MAX_RESPONSE: usize = 64 << 10;

/// Longest lifetime believed from `expires_in`: ten years.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The tokens a sign-in or refresh yields, as token-guard secret types (`Debug` shows
/// none of them).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// `token_type`, lowercased: `bearer`, or `dpop` for a client that sends DPoP proofs
    /// (others are refused).
    pub token_type: String,
    /// When the access token expires (from `expires_in`), if the server said.
    pub expires_at: Option<SystemTime>,
    /// The refresh token: the new one if the server rotated it, else the one used.
    pub refresh_token: Option<RefreshToken>,
    /// The OpenID Connect ID token.
    pub id_token: Option<IdToken>,
    /// The granted scope, if the server said.
    pub scope: Option<String>,
}

impl TokenSet {
    /// A bearer token set with only an access token (e.g. restored from elsewhere).
    ///
    /// ```
    /// use hearth_pkce::TokenSet;
    /// use hearth_token_guard::AccessToken;
    ///
    /// let set = TokenSet::new(AccessToken::new("at"));
    /// assert_eq!(set.token_type, "bearer");
    /// assert!(!set.expires_within(std::time::Duration::from_secs(60)));
    /// ```
    #[must_use]
    pub fn new(access_token: AccessToken) -> Self {
        Self {
            access_token,
            token_type: "bearer".to_owned(),
            expires_at: None,
            refresh_token: None,
            id_token: None,
            scope: None,
        }
    }

    /// Whether the access token expires within `skew` from now (never, if the server gave
    /// no lifetime).
    #[must_use]
    pub fn expires_within(&self, skew: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| SystemTime::now() + skew >= at)
    }
}

/// Parses a token endpoint response (status and body): a success into a [`TokenSet`], an
/// OAuth error body into [`Error::TokenRequest`] (with the status), another non-2xx answer
/// into [`Error::TokenEndpointStatus`], a 2xx that is not a usable token response into
/// [`Error::MalformedTokenResponse`], a token that is not a bearer token into
/// [`Error::UnsupportedTokenType`]. No message contains a token.
///
/// Accepted as servers send them: `expires_in` as a number or a numeric string; any case
/// of `Bearer`; empty strings for optional fields mean absent; unknown fields ignored.
///
/// ```
/// use hearth_pkce::{Error, parse_token_response};
///
/// let set = parse_token_response(200, br#"{"access_token":"at","token_type":"Bearer","expires_in":"3600"}"#)?;
/// assert_eq!(set.access_token.expose_secret(), "at");
/// let err = parse_token_response(400, br#"{"error":"invalid_grant"}"#).unwrap_err();
/// assert!(matches!(err, Error::TokenRequest { status: 400, .. }));
/// let err = parse_token_response(502, b"<html>Bad Gateway</html>").unwrap_err();
/// assert!(matches!(err, Error::TokenEndpointStatus { status: 502 }) && err.is_retryable());
/// # Ok::<(), Error>(())
/// ```
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenSet, Error> {
    parse(status, body, false)
}

/// [`parse_token_response`], also taking `DPoP` tokens when `dpop` (the request carried a
/// proof).
pub(crate) fn parse(status: u16, body: &[u8], dpop: bool) -> Result<TokenSet, Error> {
    let malformed = |reason| Error::MalformedTokenResponse { reason };
    let success = (200..300).contains(&status);
    if body.len() > MAX_RESPONSE {
        return Err(if success {
            malformed("larger than 64 KiB")
        } else {
            Error::TokenEndpointStatus { status }
        });
    }
    let json = serde_json::from_slice::<Value>(body).ok();
    let Some(obj) = json.as_ref().and_then(Value::as_object) else {
        return Err(if success {
            malformed("not a JSON object")
        } else {
            Error::TokenEndpointStatus { status }
        });
    };
    if !success || obj.contains_key("error") {
        let Some(error) = obj.get("error").and_then(Value::as_str) else {
            return Err(if success {
                malformed("an error response without 'error'")
            } else {
                Error::TokenEndpointStatus { status }
            });
        };
        return Err(Error::TokenRequest {
            status,
            error: error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect(),
            description: obj
                .get("error_description")
                .and_then(Value::as_str)
                .map(|d| d.chars().filter(|c| !c.is_control()).take(256).collect()),
        });
    }
    let access = text(obj, "access_token")?.ok_or(malformed("no access_token"))?;
    let token_type = text(obj, "token_type")?.ok_or(malformed("no token_type"))?;
    let dpop_token = dpop && token_type.eq_ignore_ascii_case("dpop");
    if dpop && !dpop_token && token_type.eq_ignore_ascii_case("bearer") {
        // The proof was sent and the binding dropped: a downgrade, not a choice.
        return Err(malformed(
            "a Bearer token was issued for a DPoP request: the key binding was dropped",
        ));
    }
    if !token_type.eq_ignore_ascii_case("bearer") && !dpop_token {
        return Err(Error::UnsupportedTokenType {
            token_type: token_type
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(32)
                .collect(),
        });
    }
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        token_type: if dpop_token { "dpop" } else { "bearer" }.to_owned(),
        expires_at: expires_in(obj.get("expires_in"))?
            .map(|secs| SystemTime::now() + Duration::from_secs(secs).min(MAX_LIFETIME)),
        refresh_token: text(obj, "refresh_token")?.map(RefreshToken::new),
        id_token: text(obj, "id_token")?.map(IdToken::new),
        scope: text(obj, "scope")?.map(str::to_owned),
    })
}

/// A string field; absent, `null` and `""` are all "not given".
fn text<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, Error> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        // A token with a line break would split the header it is sent in.
        Some(Value::String(s)) if !s.contains(|c: char| c.is_control()) => Ok(Some(s)),
        Some(_) => Err(Error::MalformedTokenResponse {
            reason: match name {
                "access_token" => "access_token is not a string without control characters",
                "token_type" => "token_type is not a string without control characters",
                "refresh_token" => "refresh_token is not a string without control characters",
                "id_token" => "id_token is not a string without control characters",
                _ => "scope is not a string without control characters",
            },
        }),
    }
}

/// `expires_in` in seconds: a non-negative integer, or a string of one (as some servers
/// send it); a fraction is rounded down.
fn expires_in(v: Option<&Value>) -> Result<Option<u64>, Error> {
    let bad = Error::MalformedTokenResponse {
        reason: "expires_in is not a non-negative number of seconds",
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f.min(u64::MAX as f64) as u64)
            })
            .map(Some)
            .ok_or(bad),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad),
        Some(_) => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> TokenSet {
        parse_token_response(200, body.as_bytes()).unwrap()
    }

    #[test]
    fn a_dpop_client_refuses_a_bearer_token() {
        let body = br#"{"access_token":"a","token_type":"Bearer"}"#;
        assert!(matches!(
            parse(200, body, true),
            Err(Error::MalformedTokenResponse { .. })
        ));
        assert_eq!(parse(200, body, false).unwrap().token_type, "bearer");
        let bound = br#"{"access_token":"a","token_type":"DPoP"}"#;
        assert_eq!(parse(200, bound, true).unwrap().token_type, "dpop");
    }

    #[test]
    fn the_response_matrix() {
        let base = r#""access_token":"at","token_type":"bearer""#;
        assert!(
            ok(&format!(r#"{{{base},"expires_in":3600}}"#))
                .expires_at
                .is_some()
        );
        assert!(
            ok(&format!(r#"{{{base},"expires_in":"3600"}}"#))
                .expires_at
                .is_some()
        );
        assert!(
            ok(&format!(r#"{{{base},"expires_in":3600.5}}"#))
                .expires_at
                .is_some()
        );
        assert!(
            ok(&format!(r#"{{{base},"expires_in":null}}"#))
                .expires_at
                .is_none()
        );
        for bad in [r#""-1""#, "-1", r#""soon""#, "true", "[]"] {
            let err =
                parse_token_response(200, format!(r#"{{{base},"expires_in":{bad}}}"#).as_bytes())
                    .unwrap_err();
            assert!(
                matches!(err, Error::MalformedTokenResponse { .. }),
                "{bad}: {err}"
            );
        }
        let set = ok(&format!(
            r#"{{{base},"refresh_token":"","id_token":"","scope":"","x":1}}"#
        ));
        assert!(set.refresh_token.is_none() && set.id_token.is_none() && set.scope.is_none());
        for tt in ["Bearer", "BEARER", "bearer"] {
            assert_eq!(
                ok(&format!(r#"{{"access_token":"a","token_type":"{tt}"}}"#)).token_type,
                "bearer"
            );
        }
        for tt in ["mac", "DPoP", "N_A"] {
            let err = parse_token_response(
                200,
                format!(r#"{{"access_token":"a","token_type":"{tt}"}}"#).as_bytes(),
            )
            .unwrap_err();
            assert!(
                matches!(&err, Error::UnsupportedTokenType { token_type } if token_type == tt),
                "{err}"
            );
        }
        let err = parse_token_response(
            200,
            b"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"token_type\":\"bearer\"}",
        )
        .unwrap_err();
        assert!(matches!(err, Error::MalformedTokenResponse { .. }), "{err}");
        for missing in [
            r#"{"token_type":"bearer"}"#,
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"","token_type":"bearer"}"#,
        ] {
            assert!(matches!(
                parse_token_response(200, missing.as_bytes()).unwrap_err(),
                Error::MalformedTokenResponse { .. }
            ));
        }
    }

    #[test]
    fn statuses_are_kept() {
        let err = parse_token_response(502, b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(matches!(err, Error::TokenEndpointStatus { status: 502 }) && err.is_retryable());
        let err = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"spent"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::TokenRequest { status: 400, error, .. } if error == "invalid_grant")
        );
        assert!(!err.is_retryable());
        let err = parse_token_response(503, br#"{"error":"temporarily_unavailable"}"#).unwrap_err();
        assert!(err.is_retryable());
        let err = parse_token_response(404, b"").unwrap_err();
        assert!(matches!(err, Error::TokenEndpointStatus { status: 404 }) && !err.is_retryable());
        assert!(matches!(
            parse_token_response(200, b"<html>").unwrap_err(),
            Error::MalformedTokenResponse { .. }
        ));
    }
}
